"""The int8 OCR recogniser: that it reads what RapidOCR's fp32 recogniser reads (lone glyphs by fp32
itself), that the embedding cache keeps its vectors apart, and that the build step reproduces a working
model (a bad copy refused: test_ocr_int8_assets.py).

No timing here: bench/bench_ranking.py shows the speed (docs/OCR_RECOGNISER.md)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import ImageOps
from sensorium.tools.backends.local.ocr import REC_GLYPH_WIDTH, OcrEngine
from sensorium.tools.backends.local.ocr_detector import int8_is_fast
from sensorium.tools.backends.local.ocr_recogniser import REC_INT8_FILE, recogniser_model
from sensorium.tools.config import LocalSettings
from media_support import ui_screen

from ocr_support import assert_reads_the_app_screen_as_fp32, calibration_screens, scenes

NOT_EXACT = (
    "this CPU has no exact int8 dot products (x86 without VNNI/AMX): `auto` never uses the int8 recogniser "
    "here, and forcing it may read worse (the detector's case, docs/OCR_DETECTOR.md)"
)


def test_the_embedding_cache_keeps_int8_and_fp32_readings_apart() -> None:
    """Vectors made from int8 readings are other vectors: the perception version says which."""
    from sensorium.tools.backends.local.backend import LocalBackend

    fp32 = LocalBackend(LocalSettings(ocr_recogniser="fp32"))
    int8 = LocalBackend(LocalSettings(ocr_recogniser="int8"))
    assert int8.perception_version == fp32.perception_version + "+rec-int8"
    assert "+rec-int8" not in fp32.perception_version


@pytest.mark.slow
@pytest.mark.skipif(not int8_is_fast(), reason=NOT_EXACT)
def test_int8_reads_the_lines_fp32_reads_and_leaves_lone_glyphs_to_fp32() -> None:
    """A terminal desktop (a seed not used for calibration: those are 100+) in dark and light: nearly
    every line reads the same, and every calculator key (a lone glyph, read by fp32 on purpose) exactly
    the same; on an app screen every label does."""
    fp32 = OcrEngine(detector="fp32", recogniser="fp32", cache_size=0)
    int8 = OcrEngine(detector="fp32", recogniser="int8", cache_size=0)
    scene = scenes.desktop((1280, 800), seed=7)
    keys = [e for e in scene.elements if e.kind == "key"]
    for image in (scene.image.convert("RGB"), ImageOps.invert(scene.image.convert("RGB"))):
        a = {line.box: line.text for line in fp32.read(image).lines}
        b = {line.box: line.text for line in int8.read(image).lines}  # same detector: the same boxes
        same = sum(b.get(box) == text for box, text in a.items())
        assert same >= 0.9 * len(a), [(text, b.get(box)) for box, text in a.items() if b.get(box) != text]
        glyphs = [(text, b.get(box)) for box, text in a.items()
                  if any(k.box[0] <= (box[0] + box[2]) / 2 <= k.box[2] and k.box[1] <= (box[1] + box[3]) / 2 <= k.box[3]
                         for k in keys) and (box[2] - box[0]) * 48 < REC_GLYPH_WIDTH * (box[3] - box[1])]
        assert len(glyphs) >= 10 and all(x == y for x, y in glyphs), glyphs
    assert_reads_the_app_screen_as_fp32(int8)


@pytest.mark.slow
def test_the_build_step_makes_a_recogniser_that_reads(tmp_path: Path) -> None:
    """`quantize_recogniser` end to end on two small calibration screens: the model it writes is listed
    in its manifest, loads beside RapidOCR's and reads the same lines of an unseen screen (the same text
    where int8 is exact)."""
    pytest.importorskip("onnx")
    from sensorium.tools.backends.local import quantize_recogniser

    screens = calibration_screens(tmp_path / "screens")
    out = tmp_path / "out"
    assert quantize_recogniser.main(["--screens", str(screens), "--out", str(out), "--batches", "40"]) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["ocr_recogniser"]["calibration"]["screens"] == ["s100.png", "s101.png"]
    assert 0 < manifest["ocr_recogniser"]["calibration"]["batches"] <= 40
    assert recogniser_model("int8", out) == out / REC_INT8_FILE
    engine = OcrEngine(detector="fp32", recogniser="int8", int8_assets=out, cache_size=0)
    app, _ = ui_screen()
    ours = engine.read(app)
    theirs = OcrEngine(detector="fp32", recogniser="fp32", cache_size=0).read(app)
    assert len(ours.lines) + len(ours.dropped) == len(theirs.lines) + len(theirs.dropped)  # the same lines detected
    if int8_is_fast():
        assert [(line.box, line.text) for line in ours.lines] == [(line.box, line.text) for line in theirs.lines]
    else:  # where int8 is inexact the text may differ, but the model runs and reads
        assert ours.lines
    assert quantize_recogniser.main(["--screens", str(tmp_path / "nothing"), "--out", str(out)]) == 2

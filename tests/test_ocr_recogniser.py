"""The int8 OCR recogniser: when it is used, that it reads what RapidOCR's fp32 recogniser reads (lone
glyphs by fp32 itself), that a bad copy is refused with a clear error, that the embedding cache keeps
its vectors apart, and that the build step reproduces a working model.

No timing here: bench/bench_ranking.py shows the speed (docs/OCR_RECOGNISER.md)."""

from __future__ import annotations

import json
import shutil
import sys
from collections import Counter
from pathlib import Path

import pytest
from PIL import Image, ImageOps
from sensorium.tools.backends.local.ocr import REC_GLYPH_WIDTH, OcrEngine
from sensorium.tools.backends.local.ocr_detector import ASSETS, int8_is_fast
from sensorium.tools.backends.local.ocr_recogniser import REC_INT8_FILE, recogniser_model
from sensorium.tools.config import LocalSettings
from sensorium.tools.errors import BackendUnavailable
from media_support import ui_screen

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench"))

import scenes  # noqa: E402

NOT_EXACT = (
    "this CPU has no exact int8 dot products (x86 without VNNI/AMX): `auto` never uses the int8 recogniser "
    "here, and forcing it may read worse (the detector's case, docs/OCR_DETECTOR.md)"
)


def _texts(engine: OcrEngine, image: Image.Image) -> Counter[str]:
    return Counter(line.text for line in engine.read(image).lines)


def test_the_packaged_int8_recogniser_matches_its_manifest_and_a_bad_copy_is_refused(tmp_path: Path) -> None:
    assert recogniser_model("fp32") is None
    assert recogniser_model("int8") == ASSETS / REC_INT8_FILE
    manifest = json.loads((ASSETS / "manifest.json").read_text())
    assert manifest["files"][REC_INT8_FILE]["bytes"] == (ASSETS / REC_INT8_FILE).stat().st_size < 8_000_000
    assert manifest["ocr_recogniser"]["source"]["file"] == "PP-OCRv6_rec_small.onnx"
    copy = tmp_path / "assets"
    shutil.copytree(ASSETS, copy)
    raw = (copy / REC_INT8_FILE).read_bytes()
    (copy / REC_INT8_FILE).write_bytes(raw[:-16] + bytes(16))
    with pytest.raises(BackendUnavailable, match=r"ocr_rec_int8\.onnx is corrupt \(sha256 [0-9a-f]{64}, expected .*OCR_RECOGNISER=fp32"):
        recogniser_model("int8", copy)
    (copy / REC_INT8_FILE).unlink()
    with pytest.raises(BackendUnavailable, match=r"ocr_rec_int8\.onnx is missing"):
        recogniser_model("int8", copy)


def test_a_corrupt_int8_recogniser_fails_the_read_with_the_fix_not_a_traceback(tmp_path: Path) -> None:
    copy = tmp_path / "assets"
    shutil.copytree(ASSETS, copy)
    (copy / REC_INT8_FILE).write_bytes(b"not a model")
    image, _ = ui_screen(size=(640, 400))
    with pytest.raises(BackendUnavailable, match="int8 OCR recogniser: .* is corrupt"):
        OcrEngine(recogniser="int8", int8_assets=copy, cache_size=0).read(image)
    assert OcrEngine(detector="fp32", recogniser="fp32", cache_size=0).read(image).lines  # the named way out works


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
    app, elements = ui_screen()
    got = _texts(int8, app)
    assert got == _texts(fp32, app)
    for el in elements:
        if el["text"]:
            assert any(el["text"] in t for t in got), el["text"]


@pytest.mark.slow
def test_the_build_step_makes_a_recogniser_that_reads(tmp_path: Path) -> None:
    """`quantize_recogniser` end to end on two small calibration screens: the model it writes is listed
    in its manifest, loads beside RapidOCR's and reads the same lines of an unseen screen (the same text
    where int8 is exact)."""
    pytest.importorskip("onnx")
    from sensorium.tools.backends.local import quantize_recogniser

    screens = tmp_path / "screens"
    screens.mkdir()
    for seed in (100, 101):
        scenes.desktop((800, 500), seed=seed).image.save(screens / f"s{seed}.png")
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

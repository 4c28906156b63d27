"""The int8 OCR detector: when it is used, that it reads what RapidOCR's fp32 detector reads, and that the
build step reproduces a working model (a bad copy refused: test_ocr_int8_assets.py).

No timing here: bench/bench_ranking.py shows the speed (docs/OCR_DETECTOR.md)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import ImageOps
from sensorium.tools.backends.local.ocr import OcrEngine
from sensorium.tools.backends.local.ocr_detector import INT8_FILE, detector_model, int8_is_fast, uses_int8
from media_support import ui_screen

from ocr_support import assert_reads_the_app_screen_as_fp32, calibration_screens, scenes, texts


def test_auto_uses_int8_only_where_int8_dot_products_are_exact() -> None:
    assert int8_is_fast("x86_64", {"avx2", "avx512f", "avx512_vnni"})
    assert int8_is_fast("x86_64", {"avx2", "avx_vnni"})
    assert int8_is_fast("x86_64", {"amx_int8", "avx2"})
    assert not int8_is_fast("x86_64", {"avx2", "fma", "avx512f"})  # AVX2/AVX-512 without VNNI: u8s8 can saturate
    assert int8_is_fast("aarch64", set()) and int8_is_fast("arm64", set())
    assert not int8_is_fast("riscv64", set())
    assert uses_int8("int8", "x86_64", set()) and not uses_int8("fp32", "aarch64", set())
    assert uses_int8("auto", "x86_64", {"avx512_vnni"}) and not uses_int8("auto", "x86_64", {"avx2"})
    assert detector_model("fp32") is None




@pytest.mark.slow
@pytest.mark.skipif(
    not int8_is_fast(),
    reason="this CPU has no exact int8 dot products (x86 without VNNI/AMX): its u8s8 kernels saturate, `auto` never "
    "uses the int8 detector here, and forcing it reads worse (measured, docs/OCR_DETECTOR.md)",
)
def test_int8_reads_the_lines_fp32_reads() -> None:
    """On a busy terminal desktop most lines come out identical (a long line may be split or joined
    differently); on an app screen every label does. Seeds not used for calibration (100+). Only where
    the model is used: on an AVX2 CPU without VNNI the same comparison kept 109 of 136 lines (session 10)."""
    fp32, int8 = OcrEngine(detector="fp32", cache_size=0), OcrEngine(detector="int8", cache_size=0)
    desk = scenes.desktop((1280, 800), seed=7).image
    for image in (desk, ImageOps.invert(desk.convert("RGB"))):
        a, b = texts(fp32, image), texts(int8, image)
        same = sum((a & b).values())
        assert same >= 0.85 * sum(a.values()) and same >= 0.85 * sum(b.values()), (a - b, b - a)
    read = [t.lower() for t in texts(int8, desk)]
    for label in ("sin", "cos", "tan", "calculator", "terminal"):
        assert any(label in t for t in read), label
    assert_reads_the_app_screen_as_fp32(int8)


@pytest.mark.slow
def test_the_build_step_makes_a_detector_that_reads(tmp_path: Path) -> None:
    """`quantize_detector` end to end on two small calibration screens: the model it writes is
    listed in its manifest, loads in RapidOCR and finds the labels of an unseen screen."""
    pytest.importorskip("onnx")
    from sensorium.tools.backends.local import quantize_detector

    screens = calibration_screens(tmp_path / "screens")
    out = tmp_path / "out"
    assert quantize_detector.main(["--screens", str(screens), "--out", str(out)]) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["ocr_detector"]["calibration"] == ["s100.png", "s101.png"]
    path = detector_model("int8", out)
    assert path == out / INT8_FILE
    engine = OcrEngine(detector="int8", recogniser="fp32", int8_assets=out, cache_size=0)
    app, _ = ui_screen()
    assert texts(engine, app) == texts(OcrEngine(detector="fp32", cache_size=0), app)
    assert quantize_detector.main(["--screens", str(tmp_path / "nothing"), "--out", str(out)]) == 2


def test_the_detector_input_is_rapidocrs_normalisation_in_float32() -> None:
    """ocr._det_tensor replaces RapidOCR's float64 DetPreProcess.normalize (speed): same tensor."""
    import numpy as np
    from sensorium.tools.backends.local.ocr import _det_tensor

    engine = OcrEngine(detector="fp32", cache_size=0)
    det = engine._load()._load_det_model()  # noqa: SLF001 - RapidOCR's detector, as _detect uses it
    app, _ = ui_screen(size=(800, 480))
    bgr = np.ascontiguousarray(np.asarray(app.convert("RGB"))[:, :, ::-1])
    ours = _det_tensor(det.get_preprocess().resize(bgr), det.mean, det.std)
    theirs = det.get_preprocess()(bgr)
    assert ours.dtype == np.float32 and ours.shape == theirs.shape
    assert np.allclose(ours, theirs, atol=1e-6)

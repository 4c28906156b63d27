"""`db_boxes` returns exactly RapidOCR's DB post-processing (tools/backends/local/db_boxes.py).

The detector's output map of real and generated screens (light, dark, slightly rotated text, with the
int8 and the fp32 detector) through both: the same quads, in the same order, same dtype.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageOps
from sensorium.tools.backends.local.db_boxes import db_boxes
from sensorium.tools.backends.local.ocr import OcrEngine, _detector_tensor
from media_support import ui_screen
from server_support import eval_dir

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))

import scenes  # noqa: E402


def _screens() -> Iterator[tuple[str, Image.Image]]:
    for seed, size in ((3, (1920, 1080)), (4, (1280, 800))):
        desktop = scenes.desktop(size, seed=seed).image.convert("RGB")
        yield f"desktop-{seed}", desktop
        yield f"desktop-{seed}-dark", ImageOps.invert(desktop)
        yield f"desktop-{seed}-rotated", desktop.rotate(3, expand=True, fillcolor=(255, 255, 255))
    app, _ = ui_screen()
    yield "app", app
    yield "blank", Image.new("RGB", (640, 400), "white")  # no text: both give nothing
    real = sorted((eval_dir() / "ui_grounding" / "images").glob("*.jpg"))[:4]  # when the sets are there
    for path in real:
        yield path.stem, Image.open(path).convert("RGB")


@pytest.mark.parametrize("detector", ["int8", "fp32"])
def test_db_boxes_equals_rapidocr_postprocessing(detector: str) -> None:
    engine = OcrEngine(detector=detector, cache_size=0)
    engine.load()
    rapid = engine._engine
    det = rapid._load_det_model()
    compared = 0
    for name, image in _screens():
        bgr = np.ascontiguousarray(np.asarray(engine._work_image(image))[:, :, ::-1])
        img, _ = rapid.preprocess_img(bgr)
        pred = det.session(_detector_tensor(det, img))
        want, _ = det.postprocess_op(pred, img.shape[:2])
        got = db_boxes(det.postprocess_op, pred, img.shape[:2])
        if len(want) == 0:
            assert len(got) == 0, name
            continue
        assert got.dtype == want.dtype and got.shape == want.shape, name
        assert np.array_equal(got, want), name
        compared += len(want)
    assert compared > 500  # the busy desktops alone hold hundreds of lines

"""What the int8 OCR models' tests share: a calibration folder for their build steps, and the app-screen
check that a model reads every label as RapidOCR's fp32 models do."""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

from PIL import Image
from sensorium.tools.backends.local.ocr import OcrEngine
from media_support import ui_screen

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))

import scenes  # noqa: E402


def texts(engine: OcrEngine, image: Image.Image) -> Counter[str]:
    return Counter(line.text for line in engine.read(image).lines)


def calibration_screens(folder: Path) -> Path:
    """Two small generated desktops (seeds 100, 101, as the real builds' calibration screens are numbered)."""
    folder.mkdir()
    for seed in (100, 101):
        scenes.desktop((800, 500), seed=seed).image.save(folder / f"s{seed}.png")
    return folder


def assert_reads_the_app_screen_as_fp32(engine: OcrEngine) -> None:
    """Every label of an app screen read, and every line the same as the fp32 models read it."""
    app, elements = ui_screen()
    got = texts(engine, app)
    assert got == texts(OcrEngine(detector="fp32", recogniser="fp32", cache_size=0), app)
    for el in elements:
        if el["text"]:
            assert any(el["text"] in t for t in got), el["text"]

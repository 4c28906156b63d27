"""The packaged int8 OCR models (detector and recogniser): each matches its manifest, a bad copy is refused
with the fix named, and a corrupt one fails a read with that fix, never a traceback, while the named way
out (the fp32 model) still reads."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sensorium.tools.backends.local.ocr import OcrEngine
from sensorium.tools.backends.local.ocr_detector import ASSETS, INT8_FILE, detector_model
from sensorium.tools.backends.local.ocr_recogniser import REC_INT8_FILE, recogniser_model
from sensorium.tools.errors import BackendUnavailable
from media_support import ui_screen

MODELS = [
    pytest.param(INT8_FILE, detector_model, "detector", "OCR_DETECTOR=fp32", 4_000_000, id="detector"),
    pytest.param(REC_INT8_FILE, recogniser_model, "recogniser", "OCR_RECOGNISER=fp32", 8_000_000, id="recogniser"),
]


@pytest.mark.parametrize(("name", "model", "part", "fix", "max_bytes"), MODELS)
def test_the_packaged_model_matches_its_manifest_and_a_bad_copy_is_refused(
    tmp_path: Path, name: str, model: Callable[..., Path | None], part: str, fix: str, max_bytes: int
) -> None:
    assert model("fp32") is None
    assert model("int8") == ASSETS / name
    manifest = json.loads((ASSETS / "manifest.json").read_text())
    assert manifest["files"][name]["bytes"] == (ASSETS / name).stat().st_size < max_bytes
    copy = tmp_path / "assets"
    shutil.copytree(ASSETS, copy)
    raw = (copy / name).read_bytes()
    (copy / name).write_bytes(raw[:-16] + bytes(16))
    escaped = re.escape(name)
    with pytest.raises(BackendUnavailable, match=rf"{escaped} is corrupt \(sha256 [0-9a-f]{{64}}, expected .*{fix}"):
        model("int8", copy)
    (copy / name).unlink()
    with pytest.raises(BackendUnavailable, match=rf"{escaped} is missing"):
        model("int8", copy)


@pytest.mark.parametrize(("name", "model", "part", "fix", "max_bytes"), MODELS)
def test_a_corrupt_model_fails_the_read_with_the_fix_not_a_traceback(
    tmp_path: Path, name: str, model: Any, part: str, fix: str, max_bytes: int
) -> None:
    copy = tmp_path / "assets"
    shutil.copytree(ASSETS, copy)
    (copy / name).write_bytes(b"not a model")
    image, _ = ui_screen(size=(640, 400))
    with pytest.raises(BackendUnavailable, match=f"int8 OCR {part}: .* is corrupt.*{fix}"):
        OcrEngine(int8_assets=copy, cache_size=0, **{part: "int8"}).read(image)
    assert OcrEngine(detector="fp32", recogniser="fp32", cache_size=0).read(image).lines  # the named way out works

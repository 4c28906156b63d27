"""Which text recogniser OCR runs: RapidOCR's own PP-OCR recogniser (fp32) or this project's int8 copy.

WHY: with the detector in int8 (`ocr_detector.py`), recognising the chosen lines is most of what is
left of a cold read (`embed_screenshot`'s bounded read; everything a full read does after detection).
The same model with int8 convolutions and head (static QDQ quantisation, per-channel weights,
activation ranges averaged over calibration batches; `quantize_recogniser.py`, docs/OCR_RECOGNISER.md)
runs in ~0.6x the time (session 11: `embed_screenshot` 1080p cold 0.80-1.08 s against 1.01-1.27 s).
It reads slightly worse than fp32 (figures in the model card), so it follows the detector's rule: used
by `auto` only where int8 dot products are fast and exact (`ocr_detector.int8_is_fast`); `fp32` keeps
RapidOCR's file everywhere. `OcrEngine` runs it in a session of its own beside RapidOCR's, which still
reads lone glyphs.
"""

from __future__ import annotations

from pathlib import Path

from ...checksums import verified_files
from .ocr_detector import ASSETS, DetectorChoice, uses_int8

REC_INT8_FILE = "ocr_rec_int8.onnx"
RecogniserChoice = DetectorChoice
_FIX = (
    "reinstall sensorium-mcp, rebuild it with `python -m sensorium.tools.backends.local.quantize_recogniser`, "
    "or run RapidOCR's own recogniser with SENSORIUM_LOCAL__OCR_RECOGNISER=fp32"
)


def recogniser_model(choice: RecogniserChoice, root: Path = ASSETS) -> Path | None:
    """The int8 model file `OcrEngine` opens beside RapidOCR's recogniser, or None for fp32 only; the
    file is checked against its manifest first (BackendUnavailable if missing or corrupt)."""
    if not uses_int8(choice):
        return None
    return verified_files(root, (REC_INT8_FILE,), "int8 OCR recogniser", _FIX)[REC_INT8_FILE]

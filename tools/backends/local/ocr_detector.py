"""Which text-line detector OCR runs: RapidOCR's own PP-OCR DB model (fp32) or this project's int8 copy.

WHY: once issue 14's budgeted first read recognised only the labels an instruction can name, the
DB detector became most of a cold `rank_ui_elements`: 1.0-1.3 s of a 1.8-2.2 s call on a busy
1920x1080 screen (session 8, bench/bench_ranking.py). The same model with int8 convolutions
(static QDQ quantisation, per-channel weights, activation ranges calibrated on generated
screens; `quantize_detector.py`, docs/OCR_DETECTOR.md) runs in ~0.3x the time and finds the
same text lines (agreement figures in the model card).

It is used only where int8 arithmetic is fast *and exact*: x86 CPUs with VNNI or AMX (their
dot-product instructions accumulate in 32 bits; onnxruntime's AVX2 path without them uses a
16-bit intermediate that can saturate, so a model quantised as ours may lose accuracy there) and
arm64 (dot-product instructions). Elsewhere `auto` keeps RapidOCR's fp32 model; `int8` and `fp32`
force either.
"""

from __future__ import annotations

import platform
from pathlib import Path
from typing import Literal

from ...checksums import verified_files
from ...errors import BackendUnavailable

ASSETS = Path(__file__).resolve().parent / "assets"
INT8_FILE = "ocr_det_int8.onnx"
DetectorChoice = Literal["auto", "int8", "fp32"]
_FIX = (
    "reinstall sensorium-mcp, rebuild it with `python -m sensorium.tools.backends.local.quantize_detector`, "
    "or run RapidOCR's own detector with SENSORIUM_LOCAL__OCR_DETECTOR=fp32"
)
INT8_BOX_THRESH = 0.4
"""DB's box threshold (mean text probability inside a box) with the int8 model; RapidOCR's is 0.5.
WHY: int8 probability maps run slightly lower on lone glyphs (a calculator's x, a '>' button), so at
0.5 it kept 83 % of the one- and two-character lines fp32 finds, at 0.4 86 %; on held-out generated
screens (bench/heldout_grounding.py, seeds 6000 x16 and 7000 x24, 480 items) hit@1 was fp32 0.698,
int8 at 0.5 0.685, int8 at 0.4 0.694. Chosen there, never on the evaluation sets."""
_X86_INT8 = ("avx512_vnni", "avx_vnni", "amx_int8")
"""/proc/cpuinfo flags of x86 int8 dot products that accumulate in 32 bits (no saturation)."""


def cpu_flags() -> set[str]:
    """This machine's CPU feature flags as Linux lists them (empty elsewhere: unknown)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return set()
    for line in text.splitlines():
        if line.startswith(("flags", "Features")):
            return set(line.split(":", 1)[1].split())
    return set()


def int8_is_fast(machine: str | None = None, flags: set[str] | None = None) -> bool:
    """Whether int8 convolutions are fast and exact here (module docstring)."""
    machine = (machine if machine is not None else platform.machine()).lower()
    if machine in ("arm64", "aarch64"):
        return True
    if machine in ("x86_64", "amd64"):
        flags = cpu_flags() if flags is None else flags
        return any(f in flags for f in _X86_INT8)
    return False


def uses_int8(choice: DetectorChoice, machine: str | None = None, flags: set[str] | None = None) -> bool:
    return choice == "int8" or (choice == "auto" and int8_is_fast(machine, flags))


def detector_model(choice: DetectorChoice, root: Path = ASSETS) -> Path | None:
    """The model file to hand RapidOCR (`Det.model_path`), or None for its own fp32 model; the
    int8 file is checked against its manifest first (BackendUnavailable if missing or corrupt)."""
    if not uses_int8(choice):
        return None
    return verified_files(root, (INT8_FILE,), "int8 OCR detector", _FIX)[INT8_FILE]


def rapidocr_model(kind: str) -> Path:
    """RapidOCR's packaged model of `kind` ("det", "rec": the ones its default configuration loads)."""
    import rapidocr

    found = sorted((Path(rapidocr.__file__).parent / "models").glob(f"*_{kind}_*.onnx"))
    if len(found) != 1:
        raise BackendUnavailable(
            f"expected one {kind} model in rapidocr's models folder, found {[p.name for p in found]}; "
            "reinstall `pip install --force-reinstall rapidocr`"
        )
    return found[0]

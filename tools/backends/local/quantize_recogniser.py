"""Rebuild the int8 OCR recogniser (assets/ocr_rec_int8.onnx) from RapidOCR's own PP-OCR recogniser.

    python bench/scenes.py calibration /tmp/ocr-calibration      # the generated screens (seeds 100+)
    python -m sensorium.tools.backends.local.quantize_recogniser --screens /tmp/ocr-calibration [--out DIR]

Needs `onnx` (the `test` or `train` extra). The same steps as the detector's build
(`quantize_detector.py`: opset 17, static QDQ, int8 per-channel weights, uint8 activations) on the
recogniser, fed exactly as a full read feeds it: every detected line of each calibration screen,
cropped, resized to 48 px and batched by `OcrEngine._rec_batches` (`OcrEngine.recogniser_inputs`),
with the fp32 detector so the lines do not depend on which detector is shipped.

Two choices differ from the detector's, both measured on generated desktops that are not calibration
screens (docs/OCR_RECOGNISER.md): WHY only Conv and MatMul nodes: they are the work (convolutions 70 %
of recognition, the head's MatMul 9 %); quantising every node as well read no better and no faster.
WHY moving-average activation ranges: min/max over all batches let a few outlier activations stretch
the ranges, and the recogniser (unlike the detector) turns small errors into other characters; averaged
ranges kept 0.737 of ground-truth lines exact against min/max's 0.701 (fp32: 0.751). The calibration
batches are a fixed sample (seeded) of at most --batches.
"""

from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path

import numpy as np
from PIL import Image

from ...checksums import sha256_file
from .ocr import OcrEngine
from .ocr_detector import ASSETS
from .ocr_recogniser import REC_INT8_FILE
from .quantize_detector import OPSET, calibration_screens, quantize, source_model, write_manifest

OP_TYPES = ["Conv", "MatMul"]
SAMPLE_SEED = 0


def calibration_inputs(screens: list[Path], batches: int) -> list[np.ndarray]:
    engine = OcrEngine(detector="fp32", recogniser="fp32", cache_size=0)
    inputs = [x for p in screens for x in engine.recogniser_inputs(Image.open(p).convert("RGB"))]
    random.Random(SAMPLE_SEED).shuffle(inputs)
    return inputs[:batches]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m sensorium.tools.backends.local.quantize_recogniser", description=__doc__.split("\n")[0])
    p.add_argument("--screens", type=Path, required=True, help="folder of calibration screenshots (python bench/scenes.py calibration DIR)")
    p.add_argument("--out", type=Path, default=ASSETS, help="where the model and manifest.json go (default: the package's assets)")
    p.add_argument("--batches", type=int, default=300, help="recogniser batches sampled for calibration (default 300)")
    args = p.parse_args(argv)
    screens = calibration_screens(args.screens)
    if not screens:
        print(f"no screenshots in {args.screens}", file=sys.stderr)
        return 2
    source = source_model("rec")
    args.out.mkdir(parents=True, exist_ok=True)
    target = args.out / REC_INT8_FILE
    inputs = calibration_inputs(screens, args.batches)
    print(f"quantising {source.name} on {len(inputs)} batches of {len(screens)} screens -> {target}", file=sys.stderr)
    quantize(source, inputs, target, op_types=OP_TYPES, moving_average=True)
    manifest_path = write_manifest(args.out, target, "ocr_recogniser", {
        "source": {"file": source.name, "sha256": sha256_file(source)},
        "opset": OPSET,
        "quantisation": "static QDQ of Conv and MatMul, int8 per-channel weights, uint8 activations, "
                        "MinMax calibration with moving average",
        "calibration": {"screens": [s.name for s in screens], "batches": len(inputs), "sample_seed": SAMPLE_SEED},
    })
    print(f"wrote {target} ({target.stat().st_size} bytes) and {manifest_path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

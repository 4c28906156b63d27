"""Rebuild the int8 OCR detector (assets/ocr_det_int8.onnx) from RapidOCR's own DB model.

    python bench/scenes.py calibration /tmp/det-calibration      # the generated screens (seeds 100+)
    python -m sensorium.tools.backends.local.quantize_detector --screens /tmp/det-calibration [--out DIR]

Needs `onnx` (the `test` or `train` extra). Steps: RapidOCR's detector (the fp32 file in its wheel)
is converted to opset 17 (per-channel DequantizeLinear needs its `axis`), then statically quantised
with onnxruntime's tool: QDQ format, int8 weights per output channel, uint8 activations whose
ranges are the min/max seen on the calibration screens, each fed exactly as a full read feeds the
detector (`OcrEngine.detector_input`). WHY static and not dynamic: the DB detector is convolutions,
which dynamic quantisation leaves in fp32. WHY min/max over generated screens: the ranges only
have to cover what screens produce; the calibration screens are the bench's generated desktops
and their colour-inverted copies (light themes), never an evaluation set.

Writes the model and manifest.json (its sha256 and bytes, the source file's sha256, the
calibration files' names) into --out (default: this package's assets).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

from ...checksums import sha256_file
from .ocr import OcrEngine
from ...errors import BackendUnavailable
from .ocr_detector import ASSETS, INT8_FILE, rapidocr_model

OPSET = 17
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")


def source_model(kind: str = "det") -> Path:
    """RapidOCR's packaged model of `kind` (det, rec: the ones its default configuration loads)."""
    try:
        return rapidocr_model(kind)
    except BackendUnavailable as exc:
        raise SystemExit(str(exc)) from exc


def calibration_inputs(screens: list[Path]) -> list[np.ndarray]:
    engine = OcrEngine(detector="fp32", cache_size=0)
    return [engine.detector_input(Image.open(p).convert("RGB")) for p in screens]


def quantize(
    source: Path, inputs: list[np.ndarray], out: Path, exclude: tuple[str, ...] = (), *,
    op_types: list[str] | None = None, moving_average: bool = False,
) -> None:
    """Static QDQ quantisation of `source` into `out` (module docstring); `op_types` None = every
    node, `moving_average` = activation ranges averaged over the calibration batches instead of
    their extremes (the recogniser's build, `quantize_recogniser.py`)."""
    import onnx
    from onnx import version_converter
    from onnxruntime.quantization import CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    class Feed(CalibrationDataReader):
        def __init__(self) -> None:
            self._it = iter(inputs)

        def get_next(self) -> dict[str, np.ndarray] | None:
            x = next(self._it, None)
            return None if x is None else {name: x}

    model = onnx.load(str(source))
    name = model.graph.input[0].name
    with tempfile.TemporaryDirectory() as tmp:
        converted, prepared = Path(tmp) / "opset.onnx", Path(tmp) / "prepared.onnx"
        onnx.save(version_converter.convert_version(model, OPSET), str(converted))
        quant_pre_process(str(converted), str(prepared), skip_symbolic_shape=True)
        quantize_static(
            str(prepared), str(out), Feed(), quant_format=QuantFormat.QDQ, per_channel=True,
            activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8, calibrate_method=CalibrationMethod.MinMax,
            nodes_to_exclude=list(exclude), op_types_to_quantize=op_types,
            extra_options={"CalibMovingAverage": moving_average},
        )


def write_manifest(out: Path, target: Path, key: str, info: dict[str, object]) -> Path:
    """Record `target`'s sha256 and size, and how it was built under `key`, in out/manifest.json
    (the file `checksums.verified_files` checks before the model is used)."""
    manifest_path = out / "manifest.json"
    manifest = json.loads(manifest_path.read_text()) if manifest_path.is_file() else {}
    manifest.setdefault("files", {})[target.name] = {"sha256": sha256_file(target), "bytes": target.stat().st_size}
    manifest[key] = info
    manifest_path.write_text(json.dumps(manifest, indent=1) + "\n")
    return manifest_path


def calibration_screens(folder: Path) -> list[Path]:
    return sorted(f for f in folder.iterdir() if f.suffix.lower() in IMAGE_SUFFIXES) if folder.is_dir() else []


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m sensorium.tools.backends.local.quantize_detector", description=__doc__.split("\n")[0])
    p.add_argument("--screens", type=Path, required=True, help="folder of calibration screenshots (python bench/scenes.py calibration DIR)")
    p.add_argument("--out", type=Path, default=ASSETS, help="where the model and manifest.json go (default: the package's assets)")
    p.add_argument("--exclude", default="", help="comma-separated node names kept in fp32 (an experiment; the shipped model has none)")
    args = p.parse_args(argv)
    screens = calibration_screens(args.screens)
    if not screens:
        print(f"no screenshots in {args.screens}", file=sys.stderr)
        return 2
    source = source_model()
    args.out.mkdir(parents=True, exist_ok=True)
    target = args.out / INT8_FILE
    print(f"quantising {source.name} on {len(screens)} screens -> {target}", file=sys.stderr)
    exclude = tuple(x for x in args.exclude.split(",") if x)
    quantize(source, calibration_inputs(screens), target, exclude)
    manifest_path = write_manifest(args.out, target, "ocr_detector", {
        "source": {"file": source.name, "sha256": sha256_file(source)},
        "opset": OPSET,
        "quantisation": "static QDQ, int8 per-channel weights, uint8 activations, MinMax calibration",
        **({"kept_fp32": list(exclude)} if exclude else {}),
        "calibration": [s.name for s in screens],
    })
    print(f"wrote {target} ({target.stat().st_size} bytes) and {manifest_path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

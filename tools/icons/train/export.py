"""Export the trained CNN to ONNX (int8 when it keeps accuracy) + the word vocabulary.

Writes into the package's assets/ folder:
  icon_reader.onnx   input `image` (n, 1, 32, 32) float32 0..1; outputs `embedding` (n, 384)
                     unit vectors and `icon_logit` (n,)
  vocab.json         the terms, in row order
  vocab.npy          (V, 384) float16 MiniLM vectors of the terms (project TextEncoder)
  manifest.json      sha256 + size of each file, checked by the reader before loading

WHY int8 only "when it keeps accuracy": static QDQ quantisation is calibrated on training
renders and then compared with the float model on the held-out sets; if held-out hit@1 drops
by more than 0.02 the float model is shipped instead.
WHY this vocabulary: the words people use for icons are the names, aliases and tags of the
training sets; terms used by at least two concepts (or a concept's own name) are kept, most
frequent first, capped so the shipped matrix stays small.
"""

from __future__ import annotations

import json
import logging
import re
from collections import Counter
from pathlib import Path

import numpy as np

from ...checksums import sha256_file

log = logging.getLogger(__name__)

VOCAB_SIZE = 4000
_STOP = frozenset("a an and or of the to for with in on at by from up down is it as be this that".split())


def vocabulary(concepts: list[dict], size: int = VOCAB_SIZE) -> list[str]:
    """Most used names/aliases/tags of the TRAINING sets (held-out sets contribute nothing)."""
    counts: Counter[str] = Counter()
    for c in concepts:
        if c["role"] != "train":
            continue
        terms = {c["name"]} | {w.strip().lower() for w in c["words"]}
        for t in terms:
            t = re.sub(r"[\s_-]+", " ", t).strip()
            if len(t) < 2 or t in _STOP or len(t) > 24 or len(t.split()) > 2 or not re.search(r"[a-z]", t):
                continue
            if re.fullmatch(r"[a-z]?\d+[a-z]?", t):
                continue
            counts[t] += 1
    ranked = [t for t, n in counts.most_common() if n >= 2]
    return ranked[:size]


def export(data_dir: Path, out: Path | None, *, threads: int = 2, extra: list[Path] | tuple[Path, ...] = (), work: Path | None = None) -> Path:
    """model.pt of `work` (default data_dir) -> ONNX files in `work`, assets into `out`."""
    import onnxruntime as ort
    import torch
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    from ..reader import ASSETS
    from .data import text_encoder
    from .fit import Data
    from .model import IconNet

    out = out or ASSETS
    out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(threads)
    work = work or data_dir
    ckpt = torch.load(work / "model.pt", map_location="cpu")
    model = IconNet(tuple(ckpt["widths"]))
    model.load_state_dict(ckpt["model"])
    model.eval()
    fp32 = work / "icon_reader.fp32.onnx"
    torch.onnx.export(
        model, (torch.zeros(1, 1, 32, 32),), str(fp32), input_names=["image"], output_names=["embedding", "icon_logit"],
        dynamic_axes={"image": {0: "n"}, "embedding": {0: "n"}, "icon_logit": {0: "n"}}, opset_version=17, dynamo=False,
    )
    data = Data(data_dir, extra)
    rng = np.random.default_rng(1)
    # icons AND non-icons: the icon logit's int8 range must cover negative values too
    calib = np.concatenate([
        data.images[rng.choice(np.flatnonzero(data.role[data.image_concept]), size=448, replace=False)],
        data.negatives[rng.choice(len(data.negatives), size=64, replace=False)],
    ])[rng.permutation(512)]

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.batches = iter([{"image": calib[i : i + 64, None].astype(np.float32) / 255} for i in range(0, len(calib), 64)])

        def get_next(self):  # noqa: ANN201 - onnxruntime's interface
            return next(self.batches, None)

    int8 = work / "icon_reader.int8.onnx"
    quantize_static(str(fp32), str(int8), Reader(), quant_format=QuantFormat.QDQ, activation_type=QuantType.QUInt8,
                    weight_type=QuantType.QInt8, per_channel=True)

    def score(path: Path) -> float:
        sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        vc = data.val_concepts
        imgs = np.stack([data.images[data.images_of[c][1 if len(data.images_of[c]) > 1 else 0]] for c in vc])
        zi = np.concatenate([sess.run(None, {"image": imgs[s : s + 256, None].astype(np.float32) / 255})[0] for s in range(0, len(imgs), 256)])
        zt = data.text_emb[[data.texts_of[c][0] for c in vc]]
        sim = zt @ zi.T
        return float(np.mean(np.argmax(sim, axis=1) == np.arange(len(vc))))

    s32, s8 = score(fp32), score(int8)
    chosen = int8 if s8 >= s32 - 0.02 else fp32
    log.info("held-out full-set name->image hit@1: fp32 %.3f, int8 %.3f -> shipping %s", s32, s8, chosen.name)
    (out / "icon_reader.onnx").write_bytes(chosen.read_bytes())

    terms = vocabulary(data.concepts)
    vecs = text_encoder(threads).encode(terms, batch_size=256).astype(np.float16)
    (out / "vocab.json").write_text(json.dumps(terms, indent=0))
    np.save(out / "vocab.npy", vecs)
    files = ["icon_reader.onnx", "vocab.json", "vocab.npy"]
    manifest = {
        "files": {f: {"sha256": sha256_file(out / f), "bytes": (out / f).stat().st_size} for f in files},
        "input_size": 32,
        "quantised": chosen is int8,
        "held_out_hit1_fp32": s32,
        "held_out_hit1_int8": s8,
        "train": {k: ckpt.get(k) for k in ("steps", "minutes", "val_clean", "val_ui", "val_wild", "init", "lr", "wild") if k in ckpt},
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1))
    log.info("exported to %s: %s", out, {f: v["bytes"] for f, v in manifest["files"].items()})
    return out

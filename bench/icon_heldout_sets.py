"""The icon reader's ONNX model on the HELD-OUT icon sets (iconoir, heroicons): name -> image, 200-way.

    python bench/icon_heldout_sets.py --model-dir A [--model-dir B ...] [--data /work/icon-data --extra /work/icon-data/s5]

Pictures come from the training data folders (never trained on: the sets' role is "val"):
clean 96 px, one UI-style render and, with an `extend` folder, one wild render (notification
badge, a neighbour's edge or a cropped side, focus ring, low contrast, 12-16 px). Same protocol
as training's validation (20 random draws of 200 concepts, seed 0, only exact-name matches count),
but through the shipped ONNX file, so two asset folders can be compared side by side in one run.
Needs the `train` extra (the data folder's loader lives in the training code).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import onnxruntime as ort

from sensorium.tools.icons.train.fit import Data


def score(sess: ort.InferenceSession, data: Data, concepts: np.ndarray, variant: int, seed: int = 0) -> dict[str, float]:
    if variant < 0:
        concepts = np.array([c for c in concepts if data.wild_of[c]])
        imgs = np.stack([data.images[data.wild_of[c][0]] for c in concepts])
    else:
        imgs = np.stack([data.images[data.images_of[c][min(variant, len(data.images_of[c]) - 1)]] for c in concepts])
    zi = np.concatenate([sess.run(None, {"image": imgs[s : s + 256, None].astype(np.float32) / 255})[0] for s in range(0, len(imgs), 256)])
    zt = data.text_emb[[data.texts_of[c][0] for c in concepts]]
    rng = np.random.default_rng(seed)
    h1, h5, rr = [], [], []
    for _ in range(20):
        idx = rng.choice(len(concepts), size=min(200, len(concepts)), replace=False)
        names = [data.concepts[c]["name"] for c in concepts[idx]]
        sim = zt[idx] @ zi[idx].T
        for i in range(len(idx)):
            order = np.argsort(-sim[i])
            rank = next(k for k, j in enumerate(order) if names[j] == names[i]) + 1
            h1.append(rank == 1)
            h5.append(rank <= 5)
            rr.append(1 / rank)
    return {"n": len(concepts), "hit@1": round(float(np.mean(h1)), 3), "hit@5": round(float(np.mean(h5)), 3), "mrr": round(float(np.mean(rr)), 3)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--model-dir", type=Path, action="append", required=True)
    ap.add_argument("--data", type=Path, default=Path("/work/icon-data"))
    ap.add_argument("--extra", type=Path, action="append", default=[])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args(argv)
    data = Data(args.data, args.extra)
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = args.threads
    out: dict[str, dict] = {}
    for md in args.model_dir:
        sess = ort.InferenceSession(str(md / "icon_reader.onnx"), opts, providers=["CPUExecutionProvider"])
        res = {}
        for group in ("iconoir", "heroicons", "both"):
            cs = np.array([c for c in data.val_concepts if group == "both" or data.concepts[c]["set"] == group])
            for name, v in (("clean", 0), ("ui", 1), ("wild", -1)):
                if v < 0 and not any(data.wild_of[c] for c in cs):
                    continue
                res[f"{group}/{name}"] = score(sess, data, cs, v)
        out[str(md)] = res
        for k, v in res.items():
            print(f"{md}\t{k}\t{v}")
    if args.json:
        args.json.write_text(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Score the icon reader on an `icons/` eval folder: description -> image, name -> image, image -> description.

    python bench/eval_icon_reader.py [--eval /work/shared/eval/icons] [--model-dir DIR] [--json PATH]

Text goes through the project's MiniLM TextEncoder, images through IconReader, both into
`local/minilm-l6@384`; every description ranks all images of the set by cosine. Metrics are the
evaluation harness's own (exact under ties), per `set` as well. The reader was NOT tuned on
this data; use it as a final check only.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from PIL import Image

from sensorium.tools.backends.local.models import MINILM, ModelStore
from sensorium.tools.backends.local.text_encoder import TextEncoder
from sensorium.tools.config import LocalSettings
from sensorium.tools.evaluation.datasets import load_icons
from sensorium.tools.evaluation.metrics import Metrics, outcome_from_scores, summarise_by_group
from sensorium.tools.icons import IconReader


def evaluate(folder: Path, *, model_dir: Path | None = None, threads: int = 2) -> dict[str, dict[str, Metrics]]:
    """{task: {group: Metrics}} for description->image, name->image and image->description."""
    data = load_icons(folder)
    items = data.items
    store = ModelStore(LocalSettings())
    enc = TextEncoder(lambda: store.path(MINILM), threads=threads)
    reader = IconReader(threads=threads, model_dir=model_dir)
    images = []
    for it in items:
        with Image.open(folder / it.image) as im:
            images.append(im.copy())
    img = np.stack([r.vector for r in reader.read(images)])
    desc = enc.encode([it.description for it in items])
    names = enc.encode([it.name.replace("-", " ") for it in items])
    out: dict[str, dict[str, Metrics]] = {}
    for task, sims in (("description->image", desc @ img.T), ("name->image", names @ img.T), ("image->description", img @ desc.T)):
        outcomes = [outcome_from_scores(sims[i], [i], group=items[i].set) for i in range(len(items))]
        out[task] = summarise_by_group(outcomes)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--eval", type=Path, default=Path("/work/shared/eval/icons"))
    ap.add_argument("--model-dir", type=Path, default=None)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args(argv)
    res = evaluate(args.eval, model_dir=args.model_dir)
    for task, groups in res.items():
        for g, m in groups.items():
            print(f"{task:20s} {g:15s} n={m.n:4d}  hit@1 {m.hit_at_1:.3f}  hit@5 {m.hit_at_5:.3f}  MRR {m.mrr:.3f}", file=sys.stderr)
    if args.json:
        args.json.write_text(json.dumps({t: {g: m.model_dump() for g, m in gs.items()} for t, gs in res.items()}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

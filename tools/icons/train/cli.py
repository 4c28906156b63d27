"""Reproduce the icon reader: fetch pinned npm icon sets, render, embed texts, train, export.

    python -m sensorium.tools.icons.train all --data /work/icon-data --steps 2400 --threads 1
    python -m sensorium.tools.icons.train data|fit|export|evaluate --data DIR
    python -m sensorium.tools.icons.train lexicon --data DIR   # the ranking's UI lexicon (needs npm only)

Needs the `train` extra (torch, resvg-py, onnx) and `npm` on PATH.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m sensorium.tools.icons.train", description=__doc__)
    ap.add_argument("step", choices=["data", "extend", "fit", "export", "all", "lexicon"])
    ap.add_argument("--data", type=Path, default=Path("/work/icon-data"), help="data folder (outside the repo)")
    ap.add_argument("--out", type=Path, default=None, help="asset folder to export into (default: the package's assets/)")
    ap.add_argument("--minutes", type=float, default=25.0, help="training time budget (used when --steps is not given)")
    ap.add_argument("--steps", type=int, default=None, help="train exactly this many steps (reproducible; overrides --minutes)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--extra", type=Path, action="append", default=[],
                    help="an extension folder from `extend` (more sets + wild renders); `extend` writes into the first one")
    ap.add_argument("--work", type=Path, default=None, help="where fit/export write model.pt and ONNX files (default: --data)")
    ap.add_argument("--init", type=Path, default=None, help="fine-tune from this model.pt instead of training from scratch")
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--wild", type=float, default=0.0, help="share of training pictures drawn from the wild renders")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(name)s %(message)s")
    if args.step == "lexicon":  # needs only npm and snowballstemmer, not the train extra
        from .lexicon import build as build_lexicon

        print(build_lexicon(args.data, args.out))
        return 0
    from .data import build

    if args.step in ("data", "all"):
        build(args.data, workers=args.threads, threads=args.threads, seed=args.seed)
    if args.step == "extend":
        from .extend import extend

        extend(args.data, args.extra[0], workers=args.threads, threads=args.threads, seed=args.seed)
    work = args.work or args.data
    if args.step in ("fit", "all"):
        from .fit import fit

        fit(args.data, minutes=args.minutes, steps=args.steps, threads=args.threads, seed=args.seed, extra=args.extra,
            work=work, init=args.init, lr=args.lr, wild=args.wild)
    if args.step in ("export", "all"):
        from .export import export

        export(args.data, args.out, threads=args.threads, extra=args.extra, work=work)
    return 0

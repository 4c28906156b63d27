"""Choose rank_states' seen_before threshold on the screen_states DEV set, and say how it was chosen.

    python bench/tune_seen_before.py [--eval DIR] [--backend local] [--json PATH]

For every revisit screenshot (scrolled, resized, interacted) the positive is its similarity to
its own stored state, the negative its best similarity to any OTHER state (what rank_states
would see if the state had never been stored). The threshold is the one of the sweep
with the best balanced accuracy (the middle of the longest run of best values). Similarity is what rank_states uses: cosine of the vectors,
fused half-and-half with the local backend's visual descriptor when both sides carry one.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from pathlib import Path

import numpy as np
from rich.console import Console

console = Console(stderr=True)


async def run(eval_dir: Path, backend_name: str) -> dict:
    from sensorium.server.app import build_backend
    from sensorium.server.settings import Settings
    from sensorium.tools.backends.base import EmbedItem
    from sensorium.tools.ranking.states import seen_before_threshold, state_similarity, visual_cue
    from sensorium.tools.media import Media

    settings = Settings(backend=backend_name)
    backend = build_backend(settings)
    folder = eval_dir / "screen_states"
    states = [json.loads(x) for x in (folder / "states.jsonl").read_text().splitlines() if x.strip()]
    queries = [json.loads(x) for x in (folder / "image_queries.jsonl").read_text().splitlines() if x.strip()]

    def item(rel: str) -> EmbedItem:
        return EmbedItem.of(Media.from_bytes((folder / rel).read_bytes()))

    s_emb = await backend.embed([item(s["image"]) for s in states], "document")
    q_emb = await backend.embed([item(q["image"]) for q in queries], "query")
    await backend.aclose()
    ids = [s["id"] for s in states]
    pos, neg = [], []
    for q, qe in zip(queries, q_emb, strict=True):
        sims = []
        for se in s_emb:
            cos = float(np.dot(qe.vector, se.vector))
            sims.append(state_similarity(cos, visual_cue(qe.extras.get("visual"), se.extras.get("visual"))))
        own = ids.index(q["expected_state_id"])
        pos.append(sims[own])
        neg.append(max(s for i, s in enumerate(sims) if i != own))
    pos_a, neg_a = np.array(pos), np.array(neg)
    grid = np.round(np.arange(0.50, 1.0, 0.005), 3)
    bal = [((pos_a >= t).mean() + (neg_a < t).mean()) / 2 for t in grid]
    best = max(bal)
    # the middle of the longest contiguous run of best thresholds: the most room on both sides
    runs: list[list[float]] = []
    for t, b in zip(grid, bal, strict=True):
        if b == best:
            if runs and abs(runs[-1][-1] + 0.005 - float(t)) < 1e-9:
                runs[-1].append(float(t))
            else:
                runs.append([float(t)])
    longest = max(runs, key=len)
    best_ts = [longest[0], longest[-1]]
    chosen = round(longest[len(longest) // 2], 3)
    shipped = seen_before_threshold(backend.space if hasattr(backend, "space") else backend_name)

    def at(t: float) -> dict[str, float]:
        tpr, fpr = float((pos_a >= t).mean()), float((neg_a >= t).mean())
        return {"threshold": t, "true_positive_rate": tpr, "false_positive_rate": fpr, "balanced_accuracy": (tpr + 1 - fpr) / 2}

    return {
        "backend": backend.space if hasattr(backend, "space") else backend_name,
        "n_queries": len(queries),
        "positives": {"min": float(pos_a.min()), "mean": float(pos_a.mean())},
        "best_wrong": {"max": float(neg_a.max()), "mean": float(neg_a.mean())},
        "best_balanced_accuracy": float(best),
        "threshold_range": [best_ts[0], best_ts[-1]],
        "chosen_threshold": chosen,
        "at_chosen": {"true_positive_rate": float((pos_a >= chosen).mean()), "false_positive_rate": float((neg_a >= chosen).mean())},
        # the threshold the server ships (states.SEEN_BEFORE_BY_BACKEND): what a change of perception does to it
        "at_shipped": at(shipped),
    }


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--eval", type=Path, default=Path(os.environ.get("SENSORIUM_EVAL_DIR", Path(__file__).resolve().parents[2] / "shared" / "eval")))
    p.add_argument("--backend", default="local")
    p.add_argument("--json", type=Path, default=None)
    args = p.parse_args()
    result = asyncio.run(run(args.eval, args.backend))
    console.print_json(json.dumps(result))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

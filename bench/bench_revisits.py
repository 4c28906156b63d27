"""Seen-before on generated, held-out revisits: how a line-choice rule for the bounded embed read compares
with the full read (docs/RANKING.md, "Session 6").

    python bench/bench_revisits.py [--budgets 6000,12000] [--rules full,s5,salience] [--sizes 1920x1080,1280x800]
                                   [--seeds 1,2] [--detector db|hybrid] [--cache DIR] [--json PATH]

States: every kind of bench/revisit_scenes.py at every size and seed. Revisits of each state: scrolled a
little (64 px) and a lot (a quarter of the height), resized (0.85x the capture, reflowed) and one
interaction. For every revisit the positive is its similarity to its own state, the negative its best
similarity to any OTHER state; similarity is rank_states' (cosine fused half-and-half with the visual
descriptor), and seen-before is similarity >= the shipped local threshold (states.seen_before_threshold);
"best (at)" is the best balanced accuracy over thresholds 0.5-0.995 (the separation a retuned threshold
could reach: a change of what the vector is made of would be re-thresholded).

A rule's read is the full read restricted to the boxes it chooses (revisit_reads.py: same detection and
crops; recogniser batching aside, what `OcrEngine.read_chosen` recognises). Cost per image is the cost
model's recogniser columns (`ocr.line_costs`) of the chosen lines and their share of the full read's.
Nothing here reads the evaluation sets.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import revisit_rules  # noqa: E402
from revisit_reads import Read, full_read  # noqa: E402
from revisit_scenes import KINDS, Screen  # noqa: E402

from sensorium.tools.backends.local import screen_read  # noqa: E402
from sensorium.tools.backends.local.ocr import OcrLine, OcrResult, line_costs, reading_order  # noqa: E402

Rule = Callable[[list[tuple[int, int, int, int]], tuple[int, int], int], list[int]]


def revisits(state: Screen) -> list[tuple[str, Screen]]:
    w, h = state.size
    return [
        ("scroll-small", Screen(state.kind, state.seed, state.size, scroll=64)),
        ("scroll-large", Screen(state.kind, state.seed, state.size, scroll=h // 4)),
        ("resized", Screen(state.kind, state.seed, (round(w * 0.85), round(h * 0.85)))),
        ("interact", Screen(state.kind, state.seed, state.size, interact=True)),
    ]


def _prefix(text: str, box: tuple[int, int, int, int], columns: int) -> str:
    """What recognising only the first `columns` recogniser columns of a line would read (simulated: the
    same share of its characters, whole words only)."""
    full = float(line_costs(np.asarray([box], dtype=np.float64))[0]) - 35
    if full <= columns:
        return text
    cut = text[: int(len(text) * columns / full)]
    return cut.rsplit(" ", 1)[0] if " " in cut else cut


def chosen_text(read: Read, idx: list[int], prefix: int = 0) -> str:
    lines = [OcrLine(text=_prefix(read.texts[i], read.boxes[i], prefix) if prefix else read.texts[i], box=read.boxes[i],
                     score=read.scores[i]) for i in idx if read.texts[i]]
    return OcrResult(lines=reading_order(lines), width=read.size[0], height=read.size[1], ms=0.0).text


def rules() -> dict[str, Rule]:
    out: dict[str, Rule] = {"full": lambda boxes, size, budget: list(range(len(boxes)))}
    out["shipped"] = screen_read.choose_lines
    out.update(revisit_rules.RULES)  # the candidates measured in session 6
    return out


def measure(reads: dict[str, Read], visuals: dict[str, list[float]], states: list[Screen],
            queries: list[tuple[str, Screen, int]], rule: Rule, budget: int, encode: Callable[[list[str]], list[np.ndarray]],
            threshold: float) -> dict:
    from sensorium.tools.ranking.states import state_similarity, visual_cue

    names = [s.name for s in states] + [q.name for _, q, _ in queries]
    texts, cols, share, nread = {}, [], [], []
    for n in names:
        rd = reads[n]
        idx = rule(rd.boxes, rd.size, budget)
        prefix = getattr(rule, "prefix", 0)
        texts[n] = chosen_text(rd, idx, prefix)
        c = line_costs(np.asarray(rd.boxes, dtype=np.float64).reshape(-1, 4)) if rd.boxes else np.zeros(0)
        if prefix:
            c = np.minimum(c, prefix + 35)
        cols.append(float(c[idx].sum()) if len(idx) else 0.0)
        share.append(float(c[idx].sum() / max(c.sum(), 1.0)))
        nread.append(len(idx))
    if getattr(rule, "split", False) or getattr(rule, "perline", False):  # parts, equally weighted
        from sensorium.tools.backends.local.ocr import stacked_lines
        parts: dict[str, list[str]] = {}
        for n in names:
            rd = reads[n]
            idx = rule(rd.boxes, rd.size, budget)
            dense = stacked_lines(np.asarray(rd.boxes, dtype=np.float64).reshape(-1, 4))
            if getattr(rule, "perline", False):  # a bag of lines: each line its own vector, equal weights
                parts[n] = [rd.texts[i] for i in idx if rd.texts[i]]
            else:
                parts[n] = [t for t in (chosen_text(rd, [i for i in idx if not dense[i]]), chosen_text(rd, [i for i in idx if dense[i]])) if t]
        flat = [t for n in names for t in parts[n]]
        enc = iter(encode(flat))
        vec = {}
        for n in names:
            v = sum((next(enc) for _ in parts[n]), np.zeros(384, dtype=np.float32))
            vec[n] = v / max(float(np.linalg.norm(v)), 1e-9)
    else:
        vec = dict(zip(names, encode([texts[n] for n in names]), strict=True))
    pos, neg, by_how = [], [], {}
    for how, q, own in queries:
        sims = [state_similarity(float(np.dot(vec[q.name], vec[s.name])), visual_cue(visuals[q.name], visuals[s.name])) for s in states]
        pos.append(sims[own])
        neg.append(max(x for i, x in enumerate(sims) if i != own))
        by_how.setdefault(how, []).append(sims[own])
    p, ng = np.array(pos), np.array(neg)
    tpr, fpr = float((p >= threshold).mean()), float((ng >= threshold).mean())
    # separation whatever the threshold (a change of perception is re-thresholded): the best over a sweep
    grid = np.round(np.arange(0.5, 1.0, 0.005), 3)
    bal = [((p >= t).mean() + (ng < t).mean()) / 2 for t in grid]
    best = int(np.argmax(bal))
    return {
        "revisit_min": float(p.min()), "revisit_mean": float(p.mean()), "best_wrong_max": float(ng.max()),
        "best_wrong_mean": float(ng.mean()), "tpr": tpr, "fpr": fpr, "balanced_accuracy": (tpr + 1 - fpr) / 2,
        "best_balanced_accuracy": float(bal[best]), "best_threshold": float(grid[best]),
        "missed": [q.name for (_, q, _), x in zip(queries, pos, strict=True) if x < threshold],
        "by_revisit_min": {k: float(min(v)) for k, v in by_how.items()},
        "columns_mean": statistics.fmean(cols), "columns_share_mean": statistics.fmean(share), "lines_mean": statistics.fmean(nread),
    }


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--budgets", default="6000,12000")
    p.add_argument("--rules", default="full,shipped,cell-sal,cell-sal-lng,global-sal,s5-split,iso,iso-cap15,prefix480,free-all,s5-lines",
                   help="comma-separated names (bench/revisit_rules.py); 'all' for every candidate")
    p.add_argument("--sizes", default="1920x1080,1280x800")
    p.add_argument("--seeds", default="1,2")
    p.add_argument("--kinds", default=",".join(KINDS))
    p.add_argument("--detector", default="db", choices=("db", "hybrid"))
    p.add_argument("--cache", type=Path, default=Path("/tmp/sensorium-revisit-reads"))
    p.add_argument("--json", type=Path, default=None)
    args = p.parse_args()

    from sensorium.tools.backends.local.backend import LocalBackend
    from sensorium.tools.backends.local.ocr import OcrEngine
    from sensorium.tools.config import LocalSettings
    from sensorium.tools.ranking.states import seen_before_threshold
    from sensorium.tools.visual import visual_descriptor

    sizes = [tuple(int(v) for v in s.split("x")) for s in args.sizes.split(",")]
    # another size is another screen (seed + 10 per size): the same page at two sizes would be one state twice
    states = [Screen(k, int(sd) + 10 * j, sz) for k in args.kinds.split(",") for j, sz in enumerate(sizes)  # type: ignore[arg-type]
              for sd in args.seeds.split(",")]
    queries = [(how, q, i) for i, s in enumerate(states) for how, q in revisits(s)]
    engine = OcrEngine(history=0, cache_size=1, text_detector=args.detector)
    reads: dict[str, Read] = {}
    visuals: dict[str, list[float]] = {}
    t0 = time.time()
    for sc in states + [q for _, q, _ in queries]:
        img = sc.render()
        reads[sc.name] = full_read(engine, img, args.cache)
        visuals[sc.name] = [float(x) for x in visual_descriptor(img)]
        print(f"read {sc.name}: {len(reads[sc.name].boxes)} lines, {reads[sc.name].cpu_s:.1f} CPU-s ({time.time() - t0:.0f} s)",
              file=sys.stderr, flush=True)
    engine.close()
    backend = LocalBackend(LocalSettings())
    threshold = seen_before_threshold(backend.space)
    wanted = rules()
    if args.rules != "all":
        wanted = {k: v for k, v in wanted.items() if k in args.rules.split(",")}
    budgets = [int(b) for b in args.budgets.split(",")]
    results = []
    for name, rule in wanted.items():
        for budget in ([0] if name == "full" else budgets):
            r = measure(reads, visuals, states, queries, rule, budget, backend._encode_items, threshold)
            results.append({"rule": name, "budget": budget, **r})
    print(f"{len(states)} states, {len(queries)} revisits, detector {args.detector}, threshold {threshold}")
    print(f"{'rule':<14}{'budget':>7}{'rev min':>9}{'rev mean':>9}{'wrong max':>10}{'TPR':>6}{'FPR':>6}{'bal acc':>8}"
          f"{'best (at)':>14}{'cols':>7}{'share':>7}{'lines':>6}  min by revisit")
    for r in results:
        mins = " ".join(f"{k}={v:.3f}" for k, v in r["by_revisit_min"].items())
        print(f"{r['rule']:<14}{r['budget']:>7}{r['revisit_min']:>9.3f}{r['revisit_mean']:>9.3f}{r['best_wrong_max']:>10.3f}"
              f"{r['tpr']:>6.3f}{r['fpr']:>6.3f}{r['balanced_accuracy']:>8.3f}{r['best_balanced_accuracy']:>7.3f} ({r['best_threshold']:.3f})"
              f"{r['columns_mean']:>7.0f}{r['columns_share_mean']:>7.2f}"
              f"{r['lines_mean']:>6.0f}  {mins}")
    if args.json:
        args.json.write_text(json.dumps({"states": len(states), "revisits": len(queries), "detector": args.detector,
                                         "threshold": threshold, "results": results}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

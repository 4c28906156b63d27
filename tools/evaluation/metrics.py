"""Ranking metrics, computed exactly under random tie-breaking.

A ranking is a score per candidate (higher is better). Ties are real here: a backend that
sees nothing in a crop gives every such crop the same score, and a uniform random ranking is
simply "every score tied". Rather than break ties by list order (which would reward whatever
order the manifest happens to use), every metric is the exact expectation over a uniformly
random order of the tied candidates. That makes the `random` baseline exact too: it is the
same formula applied to a constant score vector, no seed involved.

An item whose correct answers are all missing from the ranking (the backend refused them, or
refused the query: `rank is None`) contributes 0 to every metric and is counted as not found.
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from .datasets import Box

KS: tuple[int, ...] = (1, 5)


@dataclass(frozen=True)
class Outcome:
    """One query's result: the expected hit@k and reciprocal rank, plus its grouping key."""

    group: str
    hits: dict[int, float]
    rr: float
    found: bool
    point_in_box: float | None = None
    best_rank: float | None = None
    """Expected 1-based rank of the first correct answer (None when not found)."""


def first_correct_distribution(scores: Sequence[float] | np.ndarray, correct: Iterable[int]) -> dict[int, float] | None:
    """P(rank of the first correct candidate = r), for r = 1..n, under random tie-breaking.

    Candidates scoring -inf (refused by the backend) are never correct answers. Returns None
    when no correct candidate has a finite score (not found)."""
    s = np.asarray(scores, dtype=np.float64)
    ok = [i for i in set(correct) if 0 <= i < len(s) and np.isfinite(s[i])]
    if not ok:
        return None
    top = max(s[i] for i in ok)
    greater = int(np.sum(s > top))  # all wrong: nothing correct scores above `top`
    tied = int(np.sum(s == top))
    c = sum(1 for i in ok if s[i] == top)
    # First correct at position j of the tied block: the first j-1 are wrong and j is correct.
    total = math.comb(tied, c)
    dist: dict[int, float] = {}
    for j in range(1, tied - c + 2):
        p = math.comb(tied - j, c - 1) / total
        if p > 0:
            dist[greater + j] = p
    return dist


def outcome_from_scores(
    scores: Sequence[float] | np.ndarray,
    correct: Iterable[int],
    group: str = "all",
    *,
    boxes: Sequence[Box] | None = None,
    ks: Sequence[int] = KS,
) -> Outcome:
    """hit@k / reciprocal rank of one ranking; point-in-box when candidate boxes are given.

    Point-in-box predicts a click at the centre of the top-ranked candidate's box and is correct
    when that point lies inside ANY correct candidate's box (nested or overlapping elements
    count, as they would for a real click)."""
    correct = list(correct)
    dist = first_correct_distribution(scores, correct)
    pib: float | None = None
    if boxes is not None:
        pib = expected_point_in_box(scores, boxes, [boxes[i] for i in correct])
    if dist is None:
        return Outcome(group=group, hits={k: 0.0 for k in ks}, rr=0.0, found=False, point_in_box=pib)
    hits = {k: sum(p for r, p in dist.items() if r <= k) for k in ks}
    rr = sum(p / r for r, p in dist.items())
    mean_rank = sum(p * r for r, p in dist.items())
    return Outcome(group=group, hits=hits, rr=rr, found=True, point_in_box=pib, best_rank=mean_rank)


def not_found(group: str = "all", *, with_point: bool = False, ks: Sequence[int] = KS) -> Outcome:
    """The outcome of a query the backend refused to embed."""
    return Outcome(group=group, hits={k: 0.0 for k in ks}, rr=0.0, found=False, point_in_box=0.0 if with_point else None)


def box_centre(box: Box) -> tuple[float, float]:
    x1, y1, x2, y2 = box
    return (x1 + x2) / 2.0, (y1 + y2) / 2.0


def point_in_box(point: tuple[float, float], box: Box) -> bool:
    """x1 <= x < x2 and y1 <= y < y2 (x2/y2 exclusive, as the manifests define boxes)."""
    x, y = point
    x1, y1, x2, y2 = box
    return x1 <= x < x2 and y1 <= y < y2


def expected_point_in_box(scores: Sequence[float] | np.ndarray, boxes: Sequence[Box], targets: Sequence[Box]) -> float:
    """Chance that the centre of the top-ranked box lies in a target box (ties: uniform pick)."""
    s = np.asarray(scores, dtype=np.float64)
    finite = np.isfinite(s)
    if not finite.any():
        return 0.0
    top = s[finite].max()
    winners = [i for i in range(len(s)) if finite[i] and s[i] == top]
    good = sum(1 for i in winners if any(point_in_box(box_centre(boxes[i]), t) for t in targets))
    return good / len(winners)


class Metrics(BaseModel):
    """Means over the queries of a group (the JSON uses the keys `hit@1`, `hit@5`, `mrr`)."""

    model_config = ConfigDict(populate_by_name=True, serialize_by_alias=True)

    n: int
    hit_at_1: float = Field(alias="hit@1")
    hit_at_5: float = Field(alias="hit@5")
    mrr: float
    point_in_box: float | None = None
    not_found: int = Field(0, description="queries whose correct answer was not in the ranking (refused)")


def summarise(outcomes: Sequence[Outcome]) -> Metrics:
    n = len(outcomes)
    if n == 0:
        return Metrics(n=0, hit_at_1=0.0, hit_at_5=0.0, mrr=0.0)
    pib_values = [o.point_in_box for o in outcomes if o.point_in_box is not None]
    return Metrics(
        n=n,
        hit_at_1=round(sum(o.hits.get(1, 0.0) for o in outcomes) / n, 4),
        hit_at_5=round(sum(o.hits.get(5, 0.0) for o in outcomes) / n, 4),
        mrr=round(sum(o.rr for o in outcomes) / n, 4),
        point_in_box=round(sum(pib_values) / len(pib_values), 4) if pib_values else None,
        not_found=sum(1 for o in outcomes if not o.found),
    )


def summarise_by_group(outcomes: Sequence[Outcome], overall: str = "all") -> dict[str, Metrics]:
    """`all` first, then each group in sorted order (one group only: just `all`)."""
    groups: dict[str, list[Outcome]] = defaultdict(list)
    for o in outcomes:
        groups[o.group].append(o)
    out = {overall: summarise(outcomes)}
    if len(groups) > 1 or (len(groups) == 1 and next(iter(groups)) != overall):
        for g in sorted(groups):
            out[g] = summarise(groups[g])
    return out


# ---------------------------------------------------------------- text baselines and WER
_NON_WORD = re.compile(r"[^\w']+", re.UNICODE)


def normalise_words(text: str) -> list[str]:
    """Lower-case words without punctuation: what WER and string similarity compare."""
    return [w.strip("'") for w in _NON_WORD.split(text.lower()) if w.strip("'")]


def _trigrams(text: str) -> set[str]:
    grams: set[str] = set()
    for word in normalise_words(text):
        padded = f" {word} "
        grams.update(padded[i : i + 3] for i in range(len(padded) - 2))
    return grams


def string_similarity(a: str, b: str) -> float:
    """Dice coefficient over word-padded character trigrams, in [0, 1].

    The text-only baseline: no model, just how much the two strings share, which is what a
    label or OCR string match gives an agent for free. Trigrams tolerate inflection
    ("calendar" vs "calendars") that exact word overlap would miss."""
    ga, gb = _trigrams(a), _trigrams(b)
    if not ga or not gb:
        return 0.0
    return 2.0 * len(ga & gb) / (len(ga) + len(gb))


def word_errors(reference: str, hypothesis: str) -> tuple[int, int]:
    """(edit distance in words, reference length) after normalise_words."""
    ref, hyp = normalise_words(reference), normalise_words(hypothesis)
    prev = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, start=1):
        cur = [i] + [0] * len(hyp)
        for j, h in enumerate(hyp, start=1):
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (r != h))
        prev = cur
    return prev[-1], len(ref)


def wer(pairs: Sequence[tuple[str, str]]) -> float:
    """Corpus word error rate: total word edits / total reference words over (reference, hypothesis)."""
    edits = words = 0
    for ref, hyp in pairs:
        e, n = word_errors(ref, hyp)
        edits += e
        words += n
    return edits / words if words else 0.0


def similarity_matrix(queries: np.ndarray, documents: np.ndarray) -> np.ndarray:
    """Cosine similarity of L2-normalised rows (dot product), float64 for stable tie tests."""
    return np.asarray(queries, dtype=np.float64) @ np.asarray(documents, dtype=np.float64).T


def text_similarity_matrix(queries: Sequence[str], documents: Sequence[str], fn: Callable[[str, str], float] = string_similarity) -> np.ndarray:
    return np.array([[fn(q, d) for d in documents] for q in queries], dtype=np.float64).reshape(len(queries), len(documents))


def gap_stats(sims: np.ndarray, correct: Sequence[int]) -> dict[str, float]:
    """Similarity of the correct document vs the best wrong one, over queries.

    What a "seen this before?" threshold is chosen from: a threshold between the lowest
    correct similarity and the highest best-wrong similarity separates them perfectly."""
    right: list[float] = []
    wrong: list[float] = []
    for row, c in zip(sims, correct, strict=True):
        if not np.isfinite(row[c]):
            continue
        others = np.delete(row, c)
        others = others[np.isfinite(others)]
        right.append(float(row[c]))
        wrong.append(float(others.max()) if len(others) else float("-inf"))
    if not right:
        return {}
    r, w = np.array(right), np.array(wrong)
    gap = r - w
    return {
        "n": float(len(r)),
        "correct_min": round(float(r.min()), 4),
        "correct_mean": round(float(r.mean()), 4),
        "best_wrong_max": round(float(w.max()), 4),
        "best_wrong_mean": round(float(w.mean()), 4),
        "gap_min": round(float(gap.min()), 4),
        "gap_median": round(float(np.median(gap)), 4),
        "gap_mean": round(float(gap.mean()), 4),
        "gap_positive": round(float((gap > 0).mean()), 4),
    }

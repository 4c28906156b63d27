"""How similar the current screen is to a remembered one: the score `rank_states`, its threshold tuner and the eval share.

    similarity = (1 - VISUAL_WEIGHT) * cosine + VISUAL_WEIGHT * visual_similarity   (when both have a visual descriptor)
    similarity = cosine                                                            (otherwise)
    score      = similarity + RECENCY_WEIGHT * 0.5 ** (age / half_life)               (recency prior, when asked)

The visual descriptor (tools/visual.py) is the local backend's cue for "the same screen": two
pages of one site share most of their words, so the text-bridged cosine alone sits high for
both. VISUAL_WEIGHT 0.5 and RECENCY_WEIGHT 0.1 are untuned defaults; the seen-before threshold
for the local backend was tuned on the screen_states DEV set (`python bench/tune_seen_before.py`).
"""

from __future__ import annotations

from collections.abc import Sequence

from ..visual import visual_similarity

VISUAL_WEIGHT = 0.5
RECENCY_WEIGHT = 0.1
SEEN_BEFORE_THRESHOLD = 0.9
"""Default seen_before threshold for spaces not tuned yet (Gemini: no key here to measure it)."""
SEEN_BEFORE_BY_BACKEND = {"local": 0.82}
"""Tuned on the screen_states DEV set with `python bench/tune_seen_before.py` (this module's similarity):
local 0.82 -> every revisit recognised, 5 of 78 best-wrong states above it (balanced accuracy 0.97)."""


def seen_before_threshold(space: str) -> float:
    return SEEN_BEFORE_BY_BACKEND.get(space.split("/", 1)[0], SEEN_BEFORE_THRESHOLD)


def visual_cue(a: Sequence[float] | None, b: Sequence[float] | None) -> float | None:
    """Similarity of two visual descriptors, or None when either side has none."""
    if not a or not b:
        return None
    return float(visual_similarity(a, b))


def state_similarity(cosine: float, visual: float | None) -> float:
    return cosine if visual is None else (1 - VISUAL_WEIGHT) * cosine + VISUAL_WEIGHT * visual


def recency_prior(age_seconds: float, half_life_s: float | None) -> float | None:
    return 0.5 ** (max(0.0, age_seconds) / half_life_s) if half_life_s else None


def state_score(similarity: float, recency: float | None) -> float:
    return similarity + (RECENCY_WEIGHT * recency if recency is not None else 0.0)

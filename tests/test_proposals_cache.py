"""Cached proposals equal proposals from scratch, and duplicates are removed by the plain greedy rule.

`ProposalCache` keeps each screen's edge regions and proposals (a repeat, and each round of a
progressive read, reuses them); after a small change (a character typed at a prompt, the calculator
display, a notification badge, a moved cursor block) the new screen's proposals are its own, exactly
those made without a cache. `_dedupe` works in blocks and skips columns by area; it keeps what the
one-box-at-a-time rule keeps.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from sensorium.tools.ranking import proposals
from sensorium.tools.ranking.proposals import OcrWord, ProposalCache, WordList

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench"))

import scenes  # noqa: E402


def _words(scene: scenes.Scene) -> WordList:
    """The scene's labelled elements as OCR words (no OCR run: the change under test is in the pixels)."""
    return WordList(OcrWord(text=e.label, box=e.box) for e in scene.elements if e.label)


CHANGES = scenes.SMALL_CHANGES


@pytest.fixture(scope="module")
def scene() -> scenes.Scene:
    return scenes.desktop((1280, 800), seed=0)


def test_cached_proposals_equal_proposals_from_scratch(scene: scenes.Scene) -> None:
    cache = ProposalCache()
    words = _words(scene)
    first = proposals.propose(scene.image, words, cache=cache, key="before")
    assert first == proposals.propose(scene.image, words)
    assert proposals.propose(scene.image, words, cache=cache, key="before") is first  # a repeat costs nothing
    for name, change in sorted(CHANGES.items()):
        after = change(scene)
        got = proposals.propose(after, words, cache=cache, key=f"after-{name}")
        assert got == proposals.propose(after, words), name


@pytest.mark.parametrize("by_area", [True, False])
def test_dedupe_keeps_exactly_what_the_greedy_rule_keeps(by_area: bool) -> None:
    """`_dedupe` in blocks (and, for boxes sorted by area, only the columns that can repeat a row)
    keeps what the plain rule keeps: each box unless its IoU with a box kept before it is >= 0.7."""
    import random

    rnd = random.Random(7)
    boxes = []
    for _ in range(700):  # clusters of near-copies among boxes of every size, > DEDUPE_BLOCK of them
        x, y, w, h = rnd.randrange(0, 1800), rnd.randrange(0, 1000), rnd.randrange(4, 300), rnd.randrange(4, 120)
        boxes.append((x, y, x + w, y + h))
        if rnd.random() < 0.5:
            d = rnd.randrange(0, 6)
            boxes.append((x + d, y, x + w + d, y + h - d // 2))
    if by_area:
        boxes.sort(key=lambda b: (b[2] - b[0]) * (b[3] - b[1]))
    props = [proposals.Proposal(box=b, source="region") for b in boxes]
    expected: list[tuple[int, int, int, int]] = []
    for b in boxes:
        if all(proposals.iou(b, k) < 0.7 for k in expected):
            expected.append(b)
    got = [p.box for p in proposals._dedupe(props, 0.7)]
    assert got == expected and len(got) < len(boxes)

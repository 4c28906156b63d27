"""Proposals after a small change are computed incrementally and equal a full recompute.

A capture that differs from a recent one in a few pixels (a character typed at a prompt, the
calculator display, a notification badge, a moved cursor block) recomputes the gradient only in the
changed box and the connected components only around edge pixels that flipped (the edge threshold
is global, so a few flip far from the change). What is checked: the regions, and the proposals made
from them, are exactly those of a full recompute; a repeat returns the cached proposals; a changed
screen of another size, or one changed all over, is recomputed from scratch.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from PIL import Image
from sensorium.tools.ranking import proposals
from sensorium.tools.ranking.proposals import OcrWord, ProposalCache, WordList, edge_regions

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


@pytest.mark.parametrize("change", sorted(CHANGES))
def test_edge_regions_after_a_small_change_equal_a_full_recompute(scene: scenes.Scene, change: str) -> None:
    before = edge_regions(scene.image)
    after = CHANGES[change](scene)
    incremental = edge_regions(after, before)
    assert incremental.rgb is not before.rgb and incremental.regions  # the new pixels, really recomputed
    full = edge_regions(after)
    assert incremental.regions == full.regions
    assert incremental.threshold == full.threshold
    # and again from the incremental state: a second change keeps it exact
    second = "cursor" if change == "badge" else "badge"
    again = CHANGES[second](scenes.Scene(after, scene.elements, scene.size, scene.seed))
    assert edge_regions(again, incremental).regions == edge_regions(again).regions


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
    assert cache.incremental >= len(CHANGES)


def test_other_sizes_and_large_changes_are_recomputed_from_scratch(scene: scenes.Scene) -> None:
    before = edge_regions(scene.image)
    other = scene.image.resize((1000, 625))
    assert edge_regions(other, before).regions == edge_regions(other).regions
    inverted = Image.eval(scene.image, lambda v: 255 - v)
    assert edge_regions(inverted, before).regions == edge_regions(inverted).regions
    assert edge_regions(scene.image, before) is before  # nothing changed

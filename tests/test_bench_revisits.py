"""The revisit benchmark's generated screens (bench/revisit_scenes.py) are reproducible and their revisits
are what they claim: a scroll moves the content and leaves the chrome, an interaction is small, a resize
is another size, another seed is another screen. Nothing here measures seen-before (the bench's job).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from PIL import ImageChops

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench"))

from revisit_scenes import KINDS, Screen  # noqa: E402

SIZE = (1280, 800)


@pytest.mark.parametrize("kind", KINDS)
def test_a_screen_and_its_revisits(kind: str) -> None:
    base = Screen(kind, 1, SIZE).render()
    assert base.tobytes() == Screen(kind, 1, SIZE).render().tobytes()  # same arguments, same pixels

    scrolled = Screen(kind, 1, SIZE, scroll=SIZE[1] // 4).render()
    moved = ImageChops.difference(base, scrolled).getbbox()
    assert moved is not None and moved[1] >= 28  # the desktop panel (chrome) is untouched, the content moved

    touched = ImageChops.difference(base, Screen(kind, 1, SIZE, interact=True).render()).getbbox()
    assert touched is not None
    assert (touched[2] - touched[0]) * (touched[3] - touched[1]) < 0.5 * SIZE[0] * SIZE[1]  # one interaction: a part

    assert Screen(kind, 1, (1088, 680)).render().size == (1088, 680)
    other = Screen(kind, 2, SIZE).render()
    assert ImageChops.difference(base, other).getbbox() is not None

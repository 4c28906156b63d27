"""General ranking cues added for issue 14's accuracy bars (docs/RANKING.md, "Session 4"):
the kind of element an instruction's verbs ask for (roles.py), the words an element shows when its
accessible name says something else, and notification badges erased before the icon reader looks.

Behaviour through the real local backend (MiniLM + the icon reader); candidates are given, as a
caller with an accessibility tree gives them (boxes, names and roles). No OCR runs: the words on
screen are given as OCR words."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw
from sensorium.server.settings import LocalSettings
from sensorium.tools.backends.base import EmbedItem
from sensorium.tools.backends.local.backend import LocalBackend
from sensorium.tools.icons.badges import badge_boxes, erase_badges
from sensorium.tools.ranking import score
from sensorium.tools.ranking.proposals import OcrWord, Proposal
from sensorium.tools.ranking.roles import role_fit, wanted_roles
from ui_support import font

FIXTURES = Path(__file__).parent / "fixtures" / "icons"


@pytest.fixture(scope="module")
def backend() -> LocalBackend:
    return LocalBackend(LocalSettings())


async def _top(backend: LocalBackend, image: Image.Image, instruction: str, cands: list[Proposal], words=None) -> int:
    [q] = await backend.embed([EmbedItem.of(instruction)], "query")
    ranked = await score.rank_elements(backend, image, q, instruction, cands, words=words)
    return ranked[0].index


# -- roles -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("instruction", "role", "fit"),
    [
        ("Type your email", "textbox", 1.0),
        ("Type your email", "link", 0.0),
        ("Fill in the company name", "searchbox", 1.0),
        ("Submit the search", "textbox", -1.0),
        ("Submit the search", "button", 1.0),
        ("Tick 'Remember me'", "checkbox", 1.0),
        ("Uncheck the newsletter", "checkbox", 1.0),
        ("Choose a country from the list", "combobox", 1.0),
        ("Open the reports tab", "tab", 1.0),
        ("Type your email", None, 0.0),
    ],
)
def test_instruction_verbs_name_the_kind_of_element(instruction: str, role: str | None, fit: float) -> None:
    assert role_fit(instruction, role) == fit


def test_ambiguous_verbs_ask_for_no_kind() -> None:
    """'check my schedule' is not a checkbox, 'pick a date' not a dropdown, 'enter full screen' not typing."""
    for instruction in ("Check my schedule", "Pick a date", "Enter full screen", "Show my notifications", "press the equals key"):
        assert wanted_roles(instruction) == (frozenset(), frozenset()), instruction


def _form() -> tuple[Image.Image, list[Proposal]]:
    img = Image.new("RGB", (700, 200), (250, 250, 250))
    d = ImageDraw.Draw(img)
    d.text((30, 20), "Email", font=font(15), fill=(37, 99, 235))
    d.rectangle((300, 15, 600, 45), outline=(150, 150, 150), fill=(255, 255, 255))
    d.rectangle((300, 80, 318, 98), outline=(90, 90, 90))
    d.text((330, 80), "Remember me", font=font(15), fill=(20, 20, 20))
    d.text((30, 80), "Remember the date", font=font(15), fill=(37, 99, 235))
    d.rectangle((300, 130, 360, 160), fill=(37, 99, 235))
    d.rectangle((400, 130, 600, 160), outline=(150, 150, 150), fill=(255, 255, 255))
    return img, [
        Proposal(box=(25, 15, 160, 42), label="Email", role="link", source="given"),
        Proposal(box=(300, 15, 600, 45), label="Email address", role="textbox", source="given"),
        Proposal(box=(300, 80, 318, 98), label="Remember me", role="checkbox", source="given"),
        Proposal(box=(25, 78, 200, 100), label="Remember the date", role="link", source="given"),
        Proposal(box=(300, 130, 360, 160), label="Search", role="button", source="given"),
        Proposal(box=(400, 130, 600, 160), label="Search", role="searchbox", source="given"),
    ]


async def test_type_your_email_prefers_the_text_field_over_a_link_named_email(backend: LocalBackend) -> None:
    img, cands = _form()
    assert await _top(backend, img, "Type your email", cands) == 1
    no_roles = [c.model_copy(update={"role": None}) for c in cands]
    assert await _top(backend, img, "Type your email", no_roles) == 0  # words alone pick the link


async def test_tick_prefers_the_checkbox_and_submit_prefers_the_button_over_a_same_named_field(backend: LocalBackend) -> None:
    img, cands = _form()
    assert await _top(backend, img, "Tick remember me", cands) == 2
    assert await _top(backend, img, "Submit the search", cands) == 4


# -- the words an element shows -----------------------------------------------------------------


async def test_a_link_named_by_its_target_is_found_by_the_word_it_shows(backend: LocalBackend) -> None:
    """Documentation 'next' links are named by the next chapter's title; the screen shows 'next'."""
    img = Image.new("RGB", (600, 100), (255, 255, 255))
    d = ImageDraw.Draw(img)
    d.text((20, 30), "previous", font=font(15), fill=(37, 99, 235))
    d.text((300, 30), "next", font=font(15), fill=(37, 99, 235))
    cands = [
        Proposal(box=(15, 25, 100, 52), label="What's New in Python", role="link", source="given"),
        Proposal(box=(295, 25, 350, 52), label="Whetting Your Appetite", role="link", source="given"),
        Proposal(box=(400, 25, 560, 52), label="Table of contents", role="link", source="given"),
    ]
    words = [OcrWord(text="previous", box=(20, 30, 90, 48)), OcrWord(text="next", box=(300, 30, 340, 48))]
    assert score.seen_words(cands[1], words) == "next"
    assert score.seen_words(cands[2], words) is None  # nothing shown inside
    assert await _top(backend, img, "Go back to the previous chapter", cands, words) == 0
    assert await _top(backend, img, "Click 'next'", cands, words) == 1


def test_shown_words_the_label_already_has_add_nothing() -> None:
    c = Proposal(box=(0, 0, 100, 30), label="Calendar", source="given")
    assert score.seen_words(c, [OcrWord(text="Calendar", box=(5, 5, 60, 25)), OcrWord(text="2", box=(70, 5, 80, 25))]) is None


# -- badges ------------------------------------------------------------------------------------------


def _bell(badge: bool) -> Image.Image:
    img = Image.new("RGB", (44, 40), (255, 255, 255))
    img.paste(Image.open(FIXTURES / "bell.png").convert("RGB").resize((20, 20)), (10, 12))
    if badge:
        d = ImageDraw.Draw(img)
        d.rounded_rectangle((24, 2, 42, 16), 7, fill=(220, 38, 38))
        d.text((28, 3), "15", font=font(10), fill=(255, 255, 255))
    return img


def test_a_badge_is_erased_and_a_bare_icon_is_left_alone() -> None:
    assert badge_boxes(_bell(badge=False)) == []
    assert erase_badges(_bell(badge=False)) is not None
    [box] = badge_boxes(_bell(badge=True))
    assert box[0] >= 22 and box[3] <= 18
    clean, erased = _bell(badge=False), erase_badges(_bell(badge=True))
    diff = np.abs(np.asarray(clean, dtype=np.int16) - np.asarray(erased, dtype=np.int16)).mean()
    assert diff < 3.0  # what is left is the bare bell


def test_a_coloured_icon_in_the_middle_is_not_a_badge() -> None:
    img = Image.new("RGB", (40, 40), (255, 255, 255))
    ImageDraw.Draw(img).ellipse((10, 10, 30, 30), fill=(37, 99, 235))  # a filled blue record button
    assert badge_boxes(img) == []


async def test_the_icon_reader_reads_a_badged_bell_as_a_bell(backend: LocalBackend) -> None:
    from sensorium.tools.regions import RegionItem

    [doc] = await backend.embed_regions(_bell(badge=True), [RegionItem(box=(0, 0, 44, 40), text=None)])
    assert any("bell" in w or "notification" in w or "alarm" in w for w in doc.extras["icon_words"]), doc.extras


def test_the_eval_passes_roles_with_names_only() -> None:
    """`boxes+names` is what a caller with an accessibility tree passes (name and role); `boxes` neither."""
    from sensorium.tools.evaluation.datasets import UICandidate
    from sensorium.tools.evaluation.runner import given_candidates

    cands = [UICandidate(box=(0, 0, 10, 10), role="textbox", name="Email"), UICandidate(box=(0, 20, 10, 30), role="", name="")]
    named = given_candidates(cands, "boxes+names")
    assert [(p.label, p.role) for p in named] == [("Email", "textbox"), (None, None)]
    assert [(p.label, p.role) for p in given_candidates(cands, "boxes")] == [(None, None), (None, None)]

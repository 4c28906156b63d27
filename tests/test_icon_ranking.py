"""Icon-only elements on a screen: found by what they do, among text elements, with the local backend.

The icons are iconoir renders (tests/fixtures/icons), a set held out of the icon reader's training,
so these check generalisation, not memory. No OCR runs here: the candidates are given, as a caller
with an accessibility tree gives them (icon buttons have an empty name). The last tests rank them as
a read of the screen (`screen.rank_read`, the proposed path): words first, icons when words do not answer."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw
from sensorium.server.settings import LocalSettings
from sensorium.tools.backends.base import EmbedItem
from sensorium.tools.backends.local.backend import LocalBackend, icon_document
from sensorium.tools.ranking import score
from sensorium.tools.ranking.proposals import Proposal, Proposals, WordList
from sensorium.tools.ranking.screen import rank_read
from sensorium.tools.regions import RegionItem, icon_crop
from sensorium.tools.symbols import symbol_of
from ui_support import font

FIXTURES = Path(__file__).parent / "fixtures" / "icons"
ICONS = ["trash", "search", "settings", "bell", "printer", "download", "home", "lock"]
LINKS = ["Dashboard", "Reports", "Members", "Billing", "Activity", "Invoices", "Projects"]


@pytest.fixture(scope="module")
def backend() -> LocalBackend:
    return LocalBackend(LocalSettings())


@pytest.fixture(scope="module")
def screen() -> tuple[Image.Image, list[Proposal], dict[str, int]]:
    """A top bar of text links and a toolbar of eight textless icon buttons, given as candidates."""
    img = Image.new("RGB", (1100, 220), (248, 249, 251))
    draw = ImageDraw.Draw(img)
    cands: list[Proposal] = []
    for n, word in enumerate(LINKS):
        x = 20 + n * 130
        draw.text((x + 8, 22), word, font=font(16), fill=(30, 34, 44))
        cands.append(Proposal(box=(x, 12, x + 120, 48), label=word, source="given"))
    where = {}
    for n, name in enumerate(ICONS):
        icon = Image.open(FIXTURES / f"{name}.png").convert("RGB").resize((24, 24))
        x = 40 + n * 56
        img.paste(icon, (x + 8, 128))
        where[name] = len(cands)
        cands.append(Proposal(box=(x, 120, x + 40, 160), label=None, source="given"))
    return img, cands, where


def test_a_spelled_out_symbol_is_judged_by_what_ocr_read() -> None:
    """'X close times multiply' is OCR's 'X' plus its words: still a weak reading for the icon reader."""
    assert symbol_of("X close times multiply") == "X"
    assert symbol_of("= equals") == "=" and symbol_of("三 menu") == "三"
    assert symbol_of("Save changes") == "Save changes" and symbol_of("x") == "x"


def test_icon_words_count_as_the_element_words_for_matching() -> None:
    extras = {"icon_words": ["magnifying glass", "search", "zoom"]}
    assert score.element_match("search the site", None, extras) >= 0.5
    assert score.element_match("search the site", None, {}) == 0.0
    assert score.element_match("click Save", "Save", extras) == 1.0


def test_the_icon_crop_is_the_box_not_its_neighbours() -> None:
    img = Image.new("RGB", (100, 40), (255, 255, 255))
    assert icon_crop(img, (40, 10, 60, 30)).size == (24, 24)  # 2 px margin, no context padding


async def test_a_weak_symbol_reading_still_reaches_the_icon_reader(backend: LocalBackend) -> None:
    img = Image.new("RGB", (60, 60), (255, 255, 255))
    img.paste(Image.open(FIXTURES / "trash.png").convert("RGB").resize((40, 40)), (10, 10))
    [doc] = await backend.embed_regions(img, [RegionItem(box=(0, 0, 60, 60), text="X close times multiply")])
    assert doc.extras.get("icon_words"), doc.extras


def test_an_icon_document_mixes_the_reading_with_its_words() -> None:
    a, b = np.eye(384, dtype=np.float32)[0], np.eye(384, dtype=np.float32)[1]
    v = icon_document(a, b)
    assert np.isclose(np.linalg.norm(v), 1.0) and np.isclose(v[0], v[1])


FUNCTIONS = [
    ("delete this item", "trash"), ("search the site", "search"), ("show my notifications", "bell"),
    ("print the invoice", "printer"), ("download the file", "download"), ("go to the home page", "home"),
]


async def test_icon_only_buttons_win_for_what_they_do(backend: LocalBackend, screen) -> None:
    """Described by function, never by name, among text links that are near in meaning."""
    img, cands, where = screen
    found = []
    for instruction, icon in FUNCTIONS:
        [q] = await backend.embed([EmbedItem.of(instruction)], "query")
        ranked = await score.rank_elements(backend, img, q, instruction, cands)
        top = ranked[0]
        print(instruction, "->", cands[top.index].label, top.words, round(top.score, 3))
        found.append(top.index == where[icon])
        if top.index == where[icon]:
            assert top.words and "icon:" in top.words  # what the reader saw is shown
    assert sum(found) >= 4, found  # 4 of 6 when written: the search icon reads "magnifying glass" below "Projects",
    # and "print the invoice" goes to the "Invoices" link by its words (fair: the words match)


async def test_a_text_element_still_wins_for_its_own_words(backend: LocalBackend, screen) -> None:
    img, cands, _ = screen
    [q] = await backend.embed([EmbedItem.of("open the billing page")], "query")
    ranked = await score.rank_elements(backend, img, q, "open the billing page", cands)
    assert cands[ranked[0].index].label == "Billing"


# -- words first (screen.rank_read): icons are looked at only when the words do not answer --------------------


def _as_read(cands: list[Proposal], *, partial: bool) -> tuple[WordList, Proposals]:
    words = WordList()
    words.deferred = ((0, 200, 10, 210),) if partial else ()  # a line a budgeted read left unread
    return words, Proposals(items=cands, found=len(cands), truncated=False)


async def test_words_that_answer_the_instruction_decide_without_looking_at_icons(backend: LocalBackend, screen) -> None:
    img, cands, _ = screen
    [q] = await backend.embed([EmbedItem.of("open the billing page")], "query")
    for partial in (False, True):
        words, found = _as_read(cands, partial=partial)
        ranked, done = await rank_read(backend, img, q, "open the billing page", words, found)
        assert done and cands[ranked[0].index].label == "Billing"
        assert not any(s.extras.get("icon_words") for s in ranked)  # no icon reading was made (or used)
    # the same elements ranked with icons do carry readings: the check above can fail
    with_icons = await score.rank_elements(backend, img, q, "open the billing page", cands)
    assert any(s.extras.get("icon_words") for s in with_icons)


async def test_an_icon_answers_on_the_complete_read_when_no_words_do(backend: LocalBackend, screen) -> None:
    img, cands, where = screen
    [q] = await backend.embed([EmbedItem.of("delete this item")], "query")
    ranked, done = await rank_read(backend, img, q, "delete this item", *_as_read(cands, partial=False))
    assert done and ranked[0].index == where["trash"] and ranked[0].extras.get("icon_words")
    # on a partial read the words did not answer, so the next read decides (icons are not read yet)
    ranked, done = await rank_read(backend, img, q, "delete this item", *_as_read(cands, partial=True))
    assert not done and not any(s.extras.get("icon_words") for s in ranked)
    # ... unless the caller says this read is the last it will make
    ranked, done = await rank_read(backend, img, q, "delete this item", *_as_read(cands, partial=True), last=True)
    assert done and ranked[0].index == where["trash"]

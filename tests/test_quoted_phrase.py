"""A quoted phrase names an element's whole text (docs/RANKING.md, "Session 7: quoted phrases").

'Click the "Nimbus" link' must find the link that says exactly "Nimbus", not "Nimbus.io" beside it;
'Click "Vertex 7"' the logo named "Vertex Logo" that shows "Vertex 7"; an apostrophe inside a word
("Don't", "user's") is not a quote; an unquoted instruction scores exactly as before the rule.

Rankings go through the real local backend (MiniLM); candidates are given with names, as from an
accessibility tree, and the words on screen are given as OCR words (no OCR runs). The names are this
file's own (generated-probe vocabulary, bench/lexical_probe.py), not dev items."""

from __future__ import annotations

import pytest
from PIL import Image
from sensorium.server.settings import LocalSettings
from sensorium.tools.backends.base import EmbedItem
from sensorium.tools.backends.local.backend import LocalBackend
from sensorium.tools.ranking import score, text
from sensorium.tools.ranking.proposals import OcrWord, Proposal


@pytest.fixture(scope="module")
def backend() -> LocalBackend:
    return LocalBackend(LocalSettings())


def _links(names: list[str], shown: list[str] | None = None) -> tuple[list[Proposal], list[OcrWord]]:
    """One row of links 150 px apart; each shows `shown[i]` (default: its name)."""
    cands, words = [], []
    for i, name in enumerate(names):
        x = 20 + 150 * i
        cands.append(Proposal(box=(x, 20, x + 130, 50), label=name, role="link", source="given"))
        words.append(OcrWord(text=(shown or names)[i], box=(x + 5, 25, x + 120, 45)))
    return cands, words


async def _ranked(backend: LocalBackend, instruction: str, cands: list[Proposal], words: list[OcrWord], **kw: bool) -> list[score.ScoredElement]:
    [q] = await backend.embed([EmbedItem.of(instruction)], "query")
    return await score.rank_elements(backend, Image.new("RGB", (800, 80), "white"), q, instruction, cands, words=words, **kw)


# -- the text match --------------------------------------------------------------------------------


@pytest.mark.parametrize("longer", ["Nimbus.io", "Nimbus Pro", "My Nimbus", "Nimbus settings", "Nimbus 2"])
def test_a_quoted_phrase_matches_the_exact_label_better_than_one_containing_it(longer: str) -> None:
    """Before: 1.0 for both (the overlap only asked whether the label contains the phrase)."""
    exact = text.text_similarity("Click the 'Nimbus' link", "Nimbus")
    assert exact == 1.0
    assert text.text_similarity("Click the 'Nimbus' link", longer) < exact - 0.2


def test_an_ocr_slip_of_the_quoted_words_still_beats_a_missing_word() -> None:
    """The F1 counts a slip ('Leam' for 'Learn', the rule seen_words uses) partly, never fully."""
    exact = text.text_similarity('Click "Learn more"', "Learn more")
    slipped = text.text_similarity('Click "Learn more"', "Leam more")
    assert exact == 1.0
    assert text.text_similarity('Click "Learn more"', "more") < slipped < exact
    assert text.text_similarity("Click 'Log in'", "Login") == 1.0  # the same letters without the space


@pytest.mark.parametrize(
    ("instruction", "quoted"),
    [
        ("Don't save the user's changes", []),
        ("Open the users' list and don't wait", []),
        ("Don’t close the team’s board", []),  # typographic apostrophes
        ("Click 'Don't save'", ["Don't save"]),
        ("Open the user's 'Billing' page", ["Billing"]),
        ('Press "Sign in" then ‘Next’', ["Sign in", "Next"]),
    ],
)
def test_an_apostrophe_inside_a_word_is_not_a_quote(instruction: str, quoted: list[str]) -> None:
    """Before: "'t save the user'" was read as the quoted phrase, and 'Don't save' as "Don"."""
    assert text.quoted_phrases(instruction) == quoted


def test_an_instruction_with_apostrophes_is_matched_by_its_content_words() -> None:
    assert text.instruction_terms("Don't save the user's changes") == ["don", "t", "save", "user", "s", "changes"]


# -- ranking ---------------------------------------------------------------------------------------


async def test_quoted_exact_name_beats_the_name_that_contains_it(backend: LocalBackend) -> None:
    """The encoder alone put "Nimbus.io" first (the probe's miss before the rule)."""
    cands, words = _links(["Nimbus settings", "Nimbus.io", "Nimbus", "Juniper Pro"])
    assert (await _ranked(backend, "Click the 'Nimbus' link", cands, words))[0].index == 2


async def test_quoted_shown_words_beat_the_shorter_name(backend: LocalBackend) -> None:
    """A logo named "Vertex Logo" shows "Vertex 7": 'Click "Vertex 7"' is it, not the "Vertex" link.
    Before, the shown words were ignored (they add only a number, like a badge counter) and "Vertex"
    matched the quoted words as well as anything."""
    cands, words = _links(["Vertex settings", "Vertex Logo", "Vertex"], shown=["Vertex settings", "Vertex 7", "Vertex"])
    assert (await _ranked(backend, 'Click "Vertex 7"', cands, words))[0].index == 1


async def test_a_badge_counter_still_adds_nothing_to_an_unquoted_ask(backend: LocalBackend) -> None:
    """Shown numbers count only for a quoted phrase; unquoted, a 'Calendar 2' box is read by its name."""
    cands, words = _links(["Calendar", "Calendar settings"], shown=["Calendar 2", "Calendar settings"])
    ranked = await _ranked(backend, "Open the calendar", cands, words)
    assert ranked[0].index == 0 and ranked[0].words.split(" | ")[0] == "Calendar"
    assert "shown:" not in ranked[0].words  # the lexicon may add its words; the shown "2" never counts
    assert (await _ranked(backend, "Click 'Calendar'", cands, words))[0].index == 0


@pytest.mark.parametrize("instruction", ["Open Nimbus", "Go to Nimbus Pro", "show my nimbus settings", "Click the 2nd Nimbus link"])
async def test_an_unquoted_instruction_scores_exactly_as_before(backend: LocalBackend, instruction: str) -> None:
    """A guard, not a change: `exact_quotes=False` is the rule before session 7."""
    cands, words = _links(["Nimbus", "Nimbus.io", "Nimbus Pro", "Nimbus settings", "Nimbus Logo"],
                          shown=["Nimbus", "Nimbus.io", "Nimbus Pro", "Nimbus settings", "Nimbus 3"])
    new = [(e.index, e.score, e.text_match) for e in await _ranked(backend, instruction, cands, words)]
    old = [(e.index, e.score, e.text_match) for e in await _ranked(backend, instruction, cands, words, exact_quotes=False)]
    assert new == old
    for c in cands:
        assert text.text_similarity(instruction, c.label) == text.text_similarity(instruction, c.label, exact_quotes=False)


async def test_a_proposed_ocr_line_still_answers_a_quote_it_contains(backend: LocalBackend) -> None:
    """A guard: a proposal's words are a whole OCR line, which may hold several inline links, so the
    quoted phrase is matched by containment there (the dev 'proposed' variant lost such items to F1)."""
    line = Proposal(box=(20, 20, 700, 50), label="Copyright 2014-2021 Nimbus.io. All rights reserved.", source="ocr")
    named = Proposal(box=(20, 20, 700, 50), label="Copyright 2014-2021 Nimbus.io. All rights reserved.", source="given")
    ranked = await _ranked(backend, "Click the 'Nimbus.io' link", [line, named], [])
    by_index = {e.index: e.text_match for e in ranked}
    assert by_index[0] == 1.0 and by_index[1] < 0.5

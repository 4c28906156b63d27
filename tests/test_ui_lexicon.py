"""The UI lexicon (session 7, docs/RANKING.md "Session 7: UI lexicon"): words icon sets attach to a
UI concept let a label answer an instruction in other words, discounted so an exact word still wins.

Ranking goes through the real local backend (MiniLM); candidates are given with their names, as a
caller with an accessibility tree gives them. The instructions are written for this test (general UI
vocabulary), not taken from any evaluation set."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from PIL import Image
from sensorium.server.settings import LocalSettings
from sensorium.tools.backends.base import EmbedItem
from sensorium.tools.backends.local.backend import LocalBackend
from sensorium.tools.errors import BackendUnavailable
from sensorium.tools.icons.train import lexicon as build
from sensorium.tools.icons.train.sources import EXCLUDED, PACKAGES
from sensorium.tools.ranking import score
from sensorium.tools.ranking.lexicon import ASSETS, FILE, UiLexicon, load_lexicon
from sensorium.tools.ranking.proposals import Proposal


@pytest.fixture(scope="module")
def backend() -> LocalBackend:
    return LocalBackend(LocalSettings())


async def _order(backend: LocalBackend, instruction: str, labels: list[str], lexicon: UiLexicon | None = None) -> list[str]:
    image = Image.new("RGB", (160 * len(labels), 60), "white")
    cands = [Proposal(box=(10 + 160 * k, 10, 150 + 160 * k, 50), label=lab, source="given") for k, lab in enumerate(labels)]
    [q] = await backend.embed([EmbedItem.of(instruction)], "query")
    ranked = await score.rank_elements(backend, image, q, instruction, cands, lexicon=lexicon)
    return [labels[e.index] for e in ranked]


def test_the_packaged_lexicon_matches_its_manifest_and_a_corrupt_copy_is_refused(tmp_path: Path) -> None:
    lex = load_lexicon()
    assert "magnifier" in lex.related("Search", 4)  # icon sets tag their search icons with the magnifier they draw
    manifest = json.loads((ASSETS / "manifest.json").read_text())
    assert manifest["files"][FILE]["bytes"] == (ASSETS / FILE).stat().st_size < 400_000
    copy = tmp_path / "assets"
    shutil.copytree(ASSETS, copy)
    raw = (copy / FILE).read_bytes()
    (copy / FILE).write_bytes(raw[:-10] + b"0123456789")
    with pytest.raises(BackendUnavailable, match=r"ui_lexicon.json is corrupt \(sha256 [0-9a-f]{64}, expected"):
        load_lexicon(copy)
    (copy / FILE).unlink()
    with pytest.raises(BackendUnavailable, match="is missing"):
        load_lexicon(copy)


async def test_a_label_is_found_by_a_word_its_icons_are_tagged_with(backend: LocalBackend) -> None:
    # without the lexicon "Finder" wins on shared letters; icon sets tag search with "magnifier"
    assert (await _order(backend, "find the magnifier", ["Finder", "Search", "Manifest"]))[0] == "Search"
    # the mechanism, with a lexicon of one entry: the Snowball stem of "settings" is "set"
    one = UiLexicon(entries={"set": [("cog", 3, 12)]})
    assert (await _order(backend, "open the cog", ["Cognac", "Settings", "Logs"], one))[0] == "Settings"


async def test_an_exact_word_still_beats_a_lexicon_only_match(backend: LocalBackend) -> None:
    # "Search" relates to "magnifier" only through the lexicon: it comes second, never above the word itself
    assert (await _order(backend, "find the magnifier", ["Finder", "Search", "Magnifier"]))[:2] == ["Magnifier", "Search"]


def test_excluded_and_held_out_icon_sets_never_feed_the_lexicon() -> None:
    sources = build.lexicon_packages()
    assert sources, "the lexicon reads at least one set"
    for p in sources:
        assert p.key not in EXCLUDED and p.npm not in EXCLUDED and p.role == "train", p
        assert not any(x in p.npm.lower() for x in ("lucide", "feather", "bootstrap")), p
    held_out = {p.key for p in PACKAGES if p.role == "val"}
    assert held_out and not held_out & {p.key for p in sources}  # the held-out bench draws its icons from them
    shipped = json.loads((ASSETS / "manifest.json").read_text())["sources"]
    assert shipped == [f"{p.spec} ({p.licence})" for p in sources]
    assert not any(x in s.lower() for s in shipped for x in ("lucide", "feather", "bootstrap", "iconoir", "heroicons"))


async def test_a_quoted_phrase_is_never_answered_through_the_lexicon(backend: LocalBackend) -> None:
    """A quote names the words shown on the element: a field whose icon-set tags hold the quoted word
    gets no lexicon match for it (the password field is tagged 'login' in the icon sets)."""
    assert "login" in score.default_lexicon().related("Password", score.LEXICON_TOP)
    image = Image.new("RGB", (480, 60), "white")
    cands = [Proposal(box=(10 + 160 * k, 10, 150 + 160 * k, 50), label=lab, source="given") for k, lab in enumerate(["Email", "Password"])]
    for instruction, quoted_match in [("Click 'Login'", 0.0), ("Log in", None)]:
        [q] = await backend.embed([EmbedItem.of(instruction)], "query")
        ranked = {e.index: e for e in await score.rank_elements(backend, image, q, instruction, cands)}
        if quoted_match is not None:
            assert ranked[1].text_match == quoted_match and "lexicon" not in ranked[1].words
        else:  # unquoted, the related word counts (discounted)
            assert ranked[1].text_match > 0 and "lexicon" in ranked[1].words

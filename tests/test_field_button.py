"""A field's own button (tools/ranking/forms.py, docs/RANKING.md "Session 7"): a press instruction
whose words name a field ("run the quick search") means the button that acts on that field (the
one right after it in its row, or the one under its column of fields), not the field itself.

Behaviour through the real local backend (MiniLM + the icon reader) and the real `rank_elements`;
candidates are given with roles, as a caller with an accessibility tree gives them."""

from __future__ import annotations

import pytest
from PIL import Image, ImageDraw
from sensorium.server.settings import LocalSettings
from sensorium.tools.backends.base import EmbedItem
from sensorium.tools.backends.local.backend import LocalBackend
from sensorium.tools.ranking import score
from sensorium.tools.ranking.forms import own_buttons
from sensorium.tools.ranking.proposals import Proposal
from ui_support import font


@pytest.fixture(scope="module")
def backend() -> LocalBackend:
    return LocalBackend(LocalSettings())


async def _top(backend: LocalBackend, image: Image.Image, instruction: str, cands: list[Proposal]) -> int:
    [q] = await backend.embed([EmbedItem.of(instruction)], "query")
    ranked = await score.rank_elements(backend, image, q, instruction, cands)
    return ranked[0].index


def _draw(boxes: list[tuple[tuple[int, int, int, int], str]], size: tuple[int, int] = (900, 400)) -> Image.Image:
    img = Image.new("RGB", size, (250, 250, 250))
    d = ImageDraw.Draw(img)
    for box, text in boxes:
        d.rectangle(box, outline=(150, 150, 150), fill=(255, 255, 255))
        d.text((box[0] + 8, box[1] + 8), text, font=font(15), fill=(20, 20, 20))
    return img


def _search_row(button_box: tuple[int, int, int, int] = (412, 40, 462, 76)) -> tuple[Image.Image, list[Proposal]]:
    """A 'Quick search' field with a 'Go' button, and an unrelated button further down the page."""
    field, other = (100, 40, 400, 76), (100, 300, 220, 336)
    img = _draw([(field, "Quick search"), (button_box, "Go"), (other, "Export")])
    return img, [
        Proposal(box=field, label="Quick search", role="searchbox", source="given"),
        Proposal(box=button_box, label="Go", role="button", source="given"),
        Proposal(box=other, label="Export", role="button", source="given"),
    ]


async def test_a_press_on_a_named_field_goes_to_the_button_beside_it(backend: LocalBackend) -> None:
    """Before: the field's words won over its 'Go' button by far; role fit (0.15) could not flip it."""
    img, cands = _search_row()
    assert await _top(backend, img, "Run the quick search", cands) == 1
    assert await _top(backend, img, "Submit the quick search", cands) == 1


async def test_a_typing_instruction_still_wants_the_field(backend: LocalBackend) -> None:
    img, cands = _search_row()
    assert await _top(backend, img, "Type in the quick search box", cands) == 0


async def test_the_near_button_inherits_not_one_in_another_row(backend: LocalBackend) -> None:
    """Two unnamed-looking buttons: only the one in the field's row, right after it, takes its match."""
    field, near, far = (100, 40, 400, 76), (410, 40, 460, 76), (600, 200, 650, 236)
    img = _draw([(field, "Quick search"), (near, "OK"), (far, "Go")])
    cands = [
        Proposal(box=field, label="Quick search", role="searchbox", source="given"),
        Proposal(box=far, label="Go", role="button", source="given"),
        Proposal(box=near, label="OK", role="button", source="given"),
    ]
    assert await _top(backend, img, "Run the quick search", cands) == 2


def test_which_buttons_belong_to_a_field() -> None:
    field = Proposal(box=(100, 40, 400, 76), label="Quick search", role="searchbox", source="given")

    def button(box: tuple[int, int, int, int]) -> Proposal:
        return Proposal(box=box, label="Go", role="button", source="given")

    assert own_buttons([field, button((408, 40, 460, 76))]) == {0: [1]}  # right after it
    assert own_buttons([field, button((520, 40, 570, 76))]) == {}  # same row, too far (> one field height)
    assert own_buttons([field, button((408, 140, 460, 176))]) == {}  # another row, not under the field
    assert own_buttons([field, button((100, 300, 160, 336))]) == {}  # under it, but far below (> 3 heights)
    assert own_buttons([field, button((100, 90, 160, 126))]) == {0: [1]}  # under it: the form's button
    no_roles = [c.model_copy(update={"role": None}) for c in (field, button((408, 40, 460, 76)))]
    assert own_buttons(no_roles) == {}  # kinds unknown: nothing inherits


async def test_a_press_on_a_form_field_goes_to_the_button_under_the_form(backend: LocalBackend) -> None:
    """A column of fields ends in its button row: 'Post' (and 'Cancel') act on the comment above."""
    name, comment, post, cancel = (100, 40, 500, 76), (100, 110, 500, 190), (100, 210, 170, 246), (190, 210, 280, 246)
    link = (650, 40, 800, 70)
    img = _draw([(name, "Your name"), (comment, "Comment"), (post, "Post"), (cancel, "Cancel"), (link, "Comments")])
    cands = [
        Proposal(box=name, label="Your name", role="textbox", source="given"),
        Proposal(box=comment, label="Comment", role="textbox", source="given"),
        Proposal(box=post, label="Post", role="button", source="given"),
        Proposal(box=cancel, label="Cancel", role="button", source="given"),
        Proposal(box=link, label="Comments", role="link", source="given"),
    ]
    assert own_buttons(cands) == {0: [2, 3], 1: [2, 3]}
    assert await _top(backend, img, "Submit my comment", cands) == 2
    assert await _top(backend, img, "Type your comment", cands) == 1

"""A label's own control among proposed candidates: "Tick the 'Remember me' checkbox" clicks the box.

Unit level: which instructions ask for a control, which element is the label, which wordless element
beside it is its control, that candidates with roles are left to their roles, and that a partial read
showing the label and its box can answer. End to end: a generated form read by the real OCR and edge
regions, ranked by the tool through an MCP client; the click lands in the checkbox and in the field.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from mcp.client import Client
from PIL import Image, ImageDraw
from server_support import make_settings
from ui_support import font

from sensorium.server.app import build_server
from sensorium.tools.ranking import screen
from sensorium.tools.ranking.labels import control_kind, label_control, lift_label_control, shows_in_field
from sensorium.tools.ranking.proposals import OcrWord, Proposal, WordList, merge, text_proposals
from sensorium.tools.ranking.score import ScoredElement, element_words


def test_which_instructions_ask_for_a_control() -> None:
    assert control_kind("Tick the 'Check me out' checkbox") == "tick"
    assert control_kind("check the remember me box") == "tick"
    assert control_kind("Choose the 'Green' option") == "option"  # a radio button beside its label, else a dropdown
    assert control_kind("Enter text in the 'Subject' box") == "type"
    assert control_kind("type your email") == "type"
    assert control_kind("Open the settings") is None
    assert control_kind("Submit the comment") == "press"  # the button of the field it names
    assert control_kind("click the Sign in button") == "press"


FORM = [
    Proposal(box=(100, 92, 240, 124), label="Remember me", text="Remember me", source="ocr"),  # 0 label (padded line)
    Proposal(box=(72, 99, 90, 117), source="region"),  # 1 its checkbox, just before it
    Proposal(box=(400, 99, 418, 117), source="region"),  # 2 a square far to the right: not its
    Proposal(box=(100, 192, 230, 224), label="Project Name", text="Project Name", source="ocr"),  # 3 label
    Proposal(box=(98, 230, 500, 264), source="region"),  # 4 the field under it
    Proposal(box=(600, 300, 700, 330), label="Remember", text="Remember", source="ocr"),  # 5 a word elsewhere
]
TEXTS = ["Remember me", None, None, "Project Name", None, "Remember"]


def test_the_box_beside_the_label_is_lifted_above_it() -> None:
    scores = np.array([0.9, 0.0, 0.0, 0.3, 0.0, 0.5])
    assert label_control("tick", 0, FORM, TEXTS) == 1
    assert label_control("type", 3, FORM, TEXTS) == 4
    assert label_control("tick", 5, FORM, TEXTS) is None  # nothing beside that one
    lifted = lift_label_control("Tick the 'Remember me' checkbox", FORM, TEXTS, scores)
    assert int(np.argmax(lifted)) == 1 and lifted[1] > lifted[0] > lifted[5]
    assert int(np.argmax(lift_label_control("Enter text in the 'Project Name' box", FORM, TEXTS, scores))) == 4
    # no control asked for, or no label showing the words: the scores as they were
    for same in ("Open 'Remember me'", "Tick the 'Newsletter' checkbox"):
        assert np.array_equal(lift_label_control(same, FORM, TEXTS, scores), scores)
    # candidates with roles: their roles say which is the checkbox (roles.role_fit), nothing lifted here
    with_roles = [c.model_copy(update={"role": "checkbox" if i == 1 else "label"}) for i, c in enumerate(FORM)]
    assert np.array_equal(lift_label_control("Tick the 'Remember me' checkbox", with_roles, TEXTS, scores), scores)


def test_a_partial_read_showing_the_label_and_its_box_can_answer() -> None:
    words = WordList([OcrWord(text="Remember me", box=(108, 100, 232, 116))])
    words.deferred = ((10, 400, 600, 416),)  # a paragraph left unread
    ask = "Tick the 'Remember me' checkbox"
    cands = FORM[:3]

    def winner(i: int) -> list[ScoredElement]:
        return [ScoredElement(index=i, score=1.0, cosine=0.0, text_match=0.0)]

    assert screen.holds_instruction(winner(1), cands, words, ask)  # the checkbox: the answer
    assert not screen.holds_instruction(winner(2), cands, words, ask)  # a square elsewhere is not
    assert screen.holds_instruction(winner(0), cands, words, ask)  # the label holds the words (as before)


@pytest.mark.anyio
async def test_the_tool_clicks_the_checkbox_and_the_field(tmp_path: Path) -> None:
    img = Image.new("RGB", (1280, 800), "white")
    draw = ImageDraw.Draw(img)
    f = font(20)
    draw.text((60, 40), "Account settings", font=font(30), fill=(20, 20, 20))
    draw.rectangle((60, 122, 78, 140), outline=(90, 90, 90), width=2)  # the checkbox
    draw.text((90, 119), "Remember me", font=f, fill=(30, 30, 30))
    draw.text((60, 200), "Project Name", font=f, fill=(30, 30, 30))
    draw.rectangle((60, 232, 460, 268), outline=(150, 150, 150), width=1)  # the field under its label
    draw.text((60, 330), "Your settings are saved when you leave this page.", font=f, fill=(30, 30, 30))
    targets = {"Tick the 'Remember me' checkbox": (60, 122, 79, 141), "Enter text in the 'Project Name' box": (60, 232, 461, 269)}
    await _clicks_land_in(tmp_path, img, targets)


def test_an_outline_around_a_placeholder_is_kept_and_a_block_it_heads_is_not() -> None:
    # a dropdown showing 'Select...': the ink region tight around the words takes them (the text
    # element's outline), and the dropdown's own outline around them, 19x its area, stays an element
    words = WordList([OcrWord(text="Select...", box=(328, 405, 395, 430))])
    regions = [
        Proposal(box=(333, 410, 391, 425), source="region"),  # ink of 'Select...'
        Proposal(box=(322, 398, 727, 439), source="region"),  # the dropdown
    ]
    boxes = {p.box: p for p in merge(text_proposals(words, (1280, 800)), regions, words)}
    assert boxes[(333, 410, 391, 425)].label == "Select..."
    assert boxes[(322, 398, 727, 439)].label == "Select..." and not boxes[(322, 398, 727, 439)].container
    assert shows_in_field(boxes[(322, 398, 727, 439)], words)  # the field itself, showing its value
    assert not shows_in_field(boxes[(333, 410, 391, 425)], words)  # the words' ink is no field
    # a label 'Full name' over an empty field, and a region around both (the label at its top): the
    # label's ink takes its words, the field stays wordless, the block around them is no element
    words = WordList([OcrWord(text="Full name", box=(318, 290, 401, 317))])
    regions = [
        Proposal(box=(320, 299, 396, 316), source="region"),  # ink of 'Full name'
        Proposal(box=(322, 320, 727, 361), source="region"),  # the empty field
        Proposal(box=(316, 297, 733, 364), source="region"),  # label and field together
    ]
    boxes = {p.box: p for p in merge(text_proposals(words, (1280, 800)), regions, words)}
    assert boxes[(320, 299, 396, 316)].label == "Full name" and boxes[(322, 320, 727, 361)].text is None
    assert (316, 297, 733, 364) not in boxes


def test_a_field_showing_the_label_words_is_the_control_and_a_link_outline_is_no_field() -> None:
    # 'Username' above a field whose placeholder also says 'Username', a second field under it, and a
    # sidebar link whose one-line outline is as wide as a field
    words = WordList([
        OcrWord(text="Username", box=(317, 138, 401, 165)), OcrWord(text="Username", box=(327, 170, 411, 197)),
        OcrWord(text="Name badges", box=(955, 130, 1062, 154)), OcrWord(text="Password help", box=(955, 164, 1064, 188)),
    ])
    cands = [
        Proposal(box=(323, 145, 397, 159), label="Username", text="Username", source="region"),  # 0 the label
        Proposal(box=(333, 177, 407, 191), label="Username", text="Username", source="region"),  # 1 the placeholder's ink
        Proposal(box=(322, 164, 727, 205), text="Username", source="region"),  # 2 the field, showing it
        Proposal(box=(322, 242, 727, 283), source="region"),  # 3 the next field
        Proposal(box=(956, 135, 1062, 150), label="Name badges", text="Name badges", source="region"),  # 4 a link
        Proposal(box=(955, 168, 1057, 186), text="Password help", source="region"),  # 5 the next link's outline
    ]
    texts = [element_words(c, words) for c in cands]
    # the field ranked first among the words' holders: it is its own control, never the field under it
    scores = np.array([0.99, 0.99, 1.0, 0.3, 0.5, 0.4])
    lifted = lift_label_control("Type your username", cands, texts, scores, words)
    assert lifted[2] > max(lifted[0], lifted[3]) and lifted[1] > lifted[0]  # the field and its placeholder inside it
    assert label_control("type", 0, cands, texts, words) == 2
    assert label_control("type", 4, cands, texts, words) is None  # a link's outline under a link is no field


def test_a_press_naming_a_field_lifts_the_button_that_sends_it() -> None:
    # 'Quick search' over a field with 'Go' right after it; 'Comment' over a text area with 'Post' under it
    words = WordList([
        OcrWord(text="Quick search", box=(956, 424, 1062, 448)), OcrWord(text="Go", box=(1176, 458, 1206, 482)),
        OcrWord(text="Comment", box=(956, 514, 1030, 540)), OcrWord(text="Post", box=(972, 642, 1012, 666)),
    ])
    cands = [
        Proposal(box=(960, 429, 1058, 444), label="Quick search", text="Quick search", source="region"),  # 0
        Proposal(box=(960, 452, 1160, 488), source="region"),  # 1 its field
        Proposal(box=(1170, 452, 1220, 488), label="Go", text="Go", source="region"),  # 2 its button
        Proposal(box=(960, 519, 1028, 536), label="Comment", text="Comment", source="region"),  # 3
        Proposal(box=(960, 542, 1240, 622), source="region"),  # 4 the text area (3.5x as wide as tall)
        Proposal(box=(960, 636, 1024, 672), label="Post", text="Post", source="region"),  # 5 its button
        Proposal(box=(400, 300, 560, 330), label="Comment rules", text="Comment rules", source="region"),  # 6 a link
    ]
    texts = [element_words(c, words) for c in cands]
    scores = np.array([0.9, 0.0, 0.1, 0.9, 0.0, 0.1, 0.8])
    assert int(np.argmax(lift_label_control("Run the quick search", cands, texts, scores, words))) == 2
    assert int(np.argmax(lift_label_control("Submit the comment", cands, texts, scores, words))) == 5
    # a press naming nothing with a field, or a button named by its own words: the scores as they were
    for same in ("Submit the rules", "Press Post"):
        assert np.array_equal(lift_label_control(same, cands, texts, scores, words), scores)
    # the search box showing its placeholder is its own field: its button is the one after it
    words.append(OcrWord(text="Search", box=(866, 16, 924, 40)))
    bar = [
        Proposal(box=(869, 20, 919, 35), label="Search", text="Search", source="region"),  # 0 the placeholder's ink
        Proposal(box=(860, 12, 1164, 44), text="Search", source="region"),  # 1 the field around it
        Proposal(box=(1170, 12, 1220, 44), source="region"),  # 2 a magnifier button, no words
        Proposal(box=(1240, 12, 1270, 44), source="region"),  # 3 a bell further on
    ]
    texts = [element_words(c, words) for c in bar]
    lifted = lift_label_control("Submit the search", bar, texts, np.array([0.9, 0.9, 0.2, 0.2]), words)
    assert int(np.argmax(lifted)) == 2


@pytest.mark.anyio
async def test_the_tool_presses_the_button_of_the_field_named(tmp_path: Path) -> None:
    img = Image.new("RGB", (1280, 800), (248, 249, 251))
    draw = ImageDraw.Draw(img)
    f = font(16)
    draw.text((60, 40), "Support", font=font(30), fill=(20, 20, 20))
    draw.text((960, 100), "Comment guidelines", font=f, fill=(37, 99, 235))  # a link sharing the noun
    draw.text((60, 120), "Quick search", font=f, fill=(30, 34, 44))
    draw.rounded_rectangle((60, 144, 360, 180), 5, fill="white", outline=(190, 194, 204))
    draw.rounded_rectangle((366, 144, 426, 180), 5, fill=(37, 99, 235))
    draw.text((384, 152), "Go", font=f, fill="white")
    draw.text((60, 240), "Comment", font=f, fill=(30, 34, 44))
    draw.rounded_rectangle((60, 264, 460, 344), 5, fill="white", outline=(190, 194, 204))
    draw.rounded_rectangle((60, 358, 130, 394), 6, fill=(37, 99, 235))
    draw.text((76, 366), "Post", font=f, fill="white")
    targets = {"Run the quick search": (366, 144, 427, 181), "Submit the comment": (60, 358, 131, 395)}
    await _clicks_land_in(tmp_path, img, targets)


def test_a_label_whose_words_an_inner_region_took_still_finds_its_checkbox() -> None:
    # an edge region in the middle of 'Keep me signed in' took the label's words (proposals.merge): its
    # own box starts 74 px after the checkbox; the label runs as far as its words do
    words = WordList([OcrWord(text="Keep me signed in", box=(348, 455, 532, 480))])
    cands = [
        Proposal(box=(416, 458, 465, 476), label="Keep me signed in", text="Keep me signed in", source="region"),  # 0
        Proposal(box=(322, 456, 345, 479), source="region"),  # 1 the checkbox before the words
        Proposal(box=(700, 456, 723, 479), source="region"),  # 2 a square far to the right
    ]
    texts = [element_words(c, words) for c in cands]
    assert label_control("tick", 0, cands, texts, words) == 1
    assert label_control("tick", 0, cands, texts) is None  # without the words: only the region's own box
    lifted = lift_label_control("Tick 'Keep me signed in'", cands, texts, np.array([0.9, 0.0, 0.0]), words)
    assert int(np.argmax(lifted)) == 1


def test_an_option_is_the_radio_beside_its_label_else_the_dropdown_under_it() -> None:
    words = WordList([OcrWord(text="Currency", box=(318, 372, 393, 399)), OcrWord(text="Select...", box=(328, 405, 395, 430)),
                      OcrWord(text="Green", box=(640, 372, 700, 399))])
    cands = [
        Proposal(box=(322, 379, 389, 396), label="Currency", text="Currency", source="region"),  # 0 the label
        Proposal(box=(322, 398, 727, 439), text="Select...", source="region"),  # 1 the dropdown under it
        Proposal(box=(644, 379, 696, 396), label="Green", text="Green", source="region"),  # 2 a radio's label
        Proposal(box=(616, 378, 634, 396), source="region"),  # 3 its radio button
    ]
    texts = [element_words(c, words) for c in cands]
    scores = np.array([0.9, 0.2, 0.9, 0.0])
    assert int(np.argmax(lift_label_control("Pick a currency option", cands, texts, scores, words))) == 1
    assert int(np.argmax(lift_label_control("Choose the 'Green' option", cands, texts, scores, words))) == 3


def test_a_control_holding_every_other_candidate_is_still_lifted() -> None:
    # a cropped screenshot of one field: the field and its placeholder's ink are all there is
    words = WordList([OcrWord(text="Username", box=(27, 10, 111, 37))])
    cands = [
        Proposal(box=(33, 17, 107, 31), label="Username", text="Username", source="region"),
        Proposal(box=(22, 4, 427, 45), label="Username", text="Username", source="region"),
    ]
    texts = [element_words(c, words) for c in cands]
    lifted = lift_label_control("Type your username", cands, texts, np.array([0.5, 0.4]), words)
    assert lifted[1] > 0.5 and lifted[0] == lifted[1]  # the field, with what it holds


async def _clicks_land_in(tmp_path: Path, img: Image.Image, targets: dict[str, tuple[int, int, int, int]]) -> None:
    """rank_ui_elements through an MCP client on `img` (saved as a file): rank 1's click lies in each
    instruction's target box."""
    path = tmp_path / "screen.png"
    img.save(path)
    async with Client(build_server(make_settings(tmp_path, backend="local"))) as client:
        for instruction, (x1, y1, x2, y2) in targets.items():
            out = await client.call_tool("rank_ui_elements", {"instruction": instruction, "path": str(path), "k": 3, "include_marks": False})
            assert not out.is_error, out.content
            top = out.structured_content["candidates"][0]
            x, y = top["click"]
            assert x1 <= x < x2 and y1 <= y < y2, (instruction, top)

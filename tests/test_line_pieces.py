"""Pieces of read lines: an edge region holding no whole word shows the tokens it covers.

Edge regions cut text lines into pieces (a coloured number, the last crumb of a breadcrumb, a link
at the end of a title line). Such a piece held no word centre, so it counted as wordless and the icon
reader read its letters as an icon, naming generic terms ('plugin backend web3') that beat the labels
a paraphrase asked for. Unit level: which tokens a box covers, and that a label's control is never
found under a piece. With the real local backend: the piece carries its words (and no icon reading),
and a whole element showing the same words still ranks above it.
"""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageDraw
from ui_support import font

from sensorium.tools.backends.base import EmbedItem
from sensorium.tools.backends.local.backend import LocalBackend
from sensorium.tools.config import LocalSettings
from sensorium.tools.ranking import score
from sensorium.tools.ranking.labels import lift_label_control, whole
from sensorium.tools.ranking.proposals import OcrWord, Proposal, WordList
from sensorium.tools.ranking.score import element_words, line_pieces_in, rank_elements

LINE = OcrWord(text="Storage is 68% full", box=(276, 264, 416, 287))  # 19 characters, ~7.4 px each


def test_a_box_inside_a_line_shows_the_tokens_it_covers() -> None:
    words = WordList([LINE])
    assert line_pieces_in((354, 268, 413, 283), words) == "68% full"
    assert line_pieces_in((276, 268, 320, 283), words) == "Storage"
    assert line_pieces_in((354, 300, 413, 320), words) is None  # below the line
    assert line_pieces_in((276, 268, 290, 283), words) is None  # the line's start: no token's centre (an icon OCR took in)
    region = Proposal(box=(354, 268, 413, 283), source="region")
    assert element_words(region, words) == "68% full"
    assert not whole(region, words)
    # a box holding a whole word shows that word, as before, and is whole
    outline = Proposal(box=(270, 258, 422, 292), source="region")
    assert element_words(outline, words) == "Storage is 68% full" and whole(outline, words)
    assert whole(Proposal(box=(354, 268, 413, 283), label="68% full", source="given"), words)


def test_a_label_control_is_never_found_under_a_piece() -> None:
    # a form's 'Full name' with its field under it, and a link 'Name badges' whose piece 'Name' has the
    # next link's outline under it (as wide as a field): "Type your name" types into the form's field
    words = WordList([
        OcrWord(text="Full name", box=(318, 216, 397, 243)),
        OcrWord(text="Name badges", box=(955, 130, 1062, 154)),
        OcrWord(text="Password help", box=(955, 164, 1064, 188)),
    ])
    cands = [
        Proposal(box=(304, 203, 411, 256), label="Full name", text="Full name", source="ocr"),  # 0 the label
        Proposal(box=(322, 260, 727, 300), source="region"),  # 1 its field
        Proposal(box=(959, 135, 1003, 149), source="region"),  # 2 the piece 'Name' of the link
        Proposal(box=(959, 168, 1027, 183), source="region", text="Password help"),  # 3 the next link's outline
    ]
    texts = [element_words(c, words) for c in cands]
    assert texts[2] == "Name"
    scores = np.array([0.97, 0.0, 1.05, 0.9])  # the piece matched "name" best
    lifted = lift_label_control("Type your name", cands, texts, scores, words)
    assert int(np.argmax(lifted)) == 1


@pytest.fixture(scope="module")
def backend() -> LocalBackend:
    return LocalBackend(LocalSettings())


def _screen() -> tuple[Image.Image, WordList, list[Proposal]]:
    img = Image.new("RGB", (900, 400), "white")
    draw = ImageDraw.Draw(img)
    f = font(16)
    draw.text((600, 30), "Home / Buttons", font=f, fill=(60, 60, 60))  # a breadcrumb: its last crumb is the page
    draw.text((40, 120), "Buttons", font=f, fill=(20, 20, 20))  # the sidebar's link
    draw.text((40, 200), "Storage is 68% full", font=f, fill=(20, 20, 20))
    crumb = draw.textbbox((600, 30), "Home / Buttons", font=f)
    link = draw.textbbox((40, 120), "Buttons", font=f)
    para = draw.textbbox((40, 200), "Storage is 68% full", font=f)
    words = WordList([OcrWord(text="Home / Buttons", box=crumb), OcrWord(text="Buttons", box=link),
                      OcrWord(text="Storage is 68% full", box=para)])
    tail = draw.textbbox((600, 30), "Home / ", font=f)[2]
    pct = draw.textbbox((40, 200), "Storage is ", font=f)[2]
    cands = [
        Proposal(box=(tail, crumb[1], crumb[2], crumb[3]), source="region"),  # 0 the crumb 'Buttons': a piece
        Proposal(box=(link[0] - 8, link[1] - 6, link[2] + 8, link[3] + 6), label="Buttons", text="Buttons", source="ocr"),  # 1
        Proposal(box=(pct, para[1], para[2], para[3]), source="region"),  # 2 '68% full': a piece
    ]
    return img, words, cands


@pytest.mark.anyio
async def test_a_piece_carries_its_words_and_a_whole_element_comes_first(backend: LocalBackend) -> None:
    img, words, cands = _screen()
    [q] = await backend.embed([EmbedItem.of("open the buttons page")], "query")
    ranked = await rank_elements(backend, img, q, "open the buttons page", cands, words=words)
    by_index = {e.index: e for e in ranked}
    assert ranked[0].index == 1, [(e.index, e.score, e.words) for e in ranked]
    assert by_index[0].words is not None and by_index[0].words.startswith("Buttons")
    # the piece is discounted, not dropped: its evidence is W_PIECE of what the same words earn whole
    assert by_index[0].score == pytest.approx(score.W_PIECE * by_index[1].score, rel=0.05)
    # the pieces are read as words, never as icons (their letters gave generic icon terms)
    assert not by_index[2].extras.get("icon_words")
    assert by_index[2].words is not None and by_index[2].words.startswith("68% full")

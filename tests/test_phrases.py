"""A quoted phrase inside a longer read line is that part of the line (tools/ranking/phrases.py).

Unit level on lines drawn with a TrueType font (DejaVu, or Pillow's own when absent): the line is cut
into the words before the phrase, the phrase, and the words after it, the phrase's box on its own
drawn columns; a line that reads exactly the phrase elsewhere means no cut. End to end: a generated page
with a breadcrumb and a sentence holding inline links, read by the real OCR, ranked by the tool through an
MCP client: the click point lands on the quoted words, not the line's centre.
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
from sensorium.tools.ranking.phrases import find_phrase, split_at_phrases
from sensorium.tools.ranking.proposals import OcrWord, WordList


def drawn_line(parts: list[str], size: int = 20) -> tuple[np.ndarray, dict[str, tuple[float, float]], tuple[int, int, int, int]]:
    """`parts` drawn one after another as one line; each part's drawn columns, and the line's box."""
    f = font(size)
    img = Image.new("L", (900, 50), 255)
    draw = ImageDraw.Draw(img)
    x, spans = 12.0, {}
    for part in parts:
        draw.text((x, 12), part, font=f, fill=20)
        w = draw.textlength(part, font=f)
        spans[part.strip()] = (x, x + w)
        x += w
    return np.asarray(img), spans, (8, 8, int(x) + 6, 40)


def test_a_quoted_phrase_in_a_longer_line_becomes_its_own_word() -> None:
    grey, spans, box = drawn_line(["Visit ", "Select2 documentation", " for more examples and information."])
    line = WordList([OcrWord(text="Visit Select2 documentation for more examples and information.", box=box, score=0.98)])
    line.deferred = ((0, 100, 50, 120),)
    cut = split_at_phrases(Image.fromarray(grey), line, "Click the 'Select2 documentation' link")
    assert [w.text for w in cut] == ["Visit", "Select2 documentation", "for more examples and information."]
    a, b = spans["Select2 documentation"]
    phrase = cut[1]
    assert abs(phrase.box[0] - a) <= 3 and abs(phrase.box[2] - b) <= 3, (phrase.box, spans)
    assert cut.deferred == line.deferred  # what the read left unread stays known
    # unquoted, or quoting words the line does not hold: the words as they were
    assert split_at_phrases(Image.fromarray(grey), line, "Open the documentation") is line
    assert split_at_phrases(Image.fromarray(grey), line, "Click 'Sphinx'") is line


def test_a_line_reading_exactly_the_phrase_is_the_element_named() -> None:
    grey, _, box = drawn_line(["AdminLTE.io", "  is the home of AdminLTE"])
    words = [OcrWord(text="AdminLTE.io is the home of AdminLTE", box=box), OcrWord(text="AdminLTE", box=(600, 300, 700, 330))]
    assert split_at_phrases(Image.fromarray(grey), words, "Click the 'AdminLTE' link") is words


def test_the_phrase_keeps_its_own_punctuation() -> None:
    line = "resources (e.g. nice()) are not available"
    start, end = find_phrase(line, "nice()")  # type: ignore[misc]
    assert line[start:end] == "nice()"
    assert find_phrase("Please donate. Thanks", "Please donate.") == (0, len("Please donate."))
    assert find_phrase("Layout", "Layout") is None  # the whole line: nothing to cut


@pytest.mark.anyio
async def test_the_tool_clicks_the_quoted_link_inside_a_line(tmp_path: Path) -> None:
    img = Image.new("RGB", (1280, 800), "white")
    draw = ImageDraw.Draw(img)
    f = font(22)
    spans: dict[str, tuple[float, float, float]] = {}

    def line(y: int, parts: list[str]) -> None:
        x = 60.0
        for part in parts:
            draw.text((x, y), part, font=f, fill=(30, 30, 30))
            w = draw.textlength(part, font=f)
            spans[part.strip()] = (x, x + w, y)
            x += w

    line(40, ["Home / ", "Layout", " / Top Navigation"])
    line(200, ["For full details, see the ", "changelog", " of this release."])
    line(360, ["Other settings are described in the reference manual."])
    path = tmp_path / "page.png"
    img.save(path)
    async with Client(build_server(make_settings(tmp_path, backend="local"))) as client:
        for quoted in ("Layout", "changelog"):
            out = await client.call_tool("rank_ui_elements", {"instruction": f"Click '{quoted}'", "path": str(path), "k": 3, "include_marks": False})
            assert not out.is_error, out.content
            x, y = out.structured_content["candidates"][0]["click"]
            a, b, top = spans[quoted]
            assert a <= x <= b and top - 4 <= y <= top + 30, (quoted, (x, y), spans[quoted], out.structured_content["candidates"][0])

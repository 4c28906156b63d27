"""Embedding an image from a bounded read (tools/backends/local/screen_read.py, OcrEngine.read_chosen).

What is checked: the rule's order (free-standing lines, then a sample of each block of running text,
then the rest, glyph-sized lines last) and its budget; on real RapidOCR models, a screen with more
text than the budget still embeds (non-zero vector, extras say how many lines were read of how many),
the same pixels give the same vector cold and after the rest was read in the background, and one
character typed at a terminal prompt keeps the vector close.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw
from sensorium.tools.backends.base import EmbedItem
from sensorium.tools.backends.local.backend import LocalBackend
from sensorium.tools.backends.local.ocr import OcrEngine
from sensorium.tools.backends.local.screen_read import choose_lines, line_costs, priority
from sensorium.tools.config import LocalSettings
from sensorium.tools.media import Media

BUDGET = 5000
"""Room for the title, the buttons and a sample of the terminal (its first and its longest line, the
command being typed), far from all of the screen's 24 lines (~25,000 columns)."""

TYPED_FLOOR = 0.95
"""Cosine the vector keeps after one character is typed into the command (measured 0.9994 on this
screen: the typed line is read and changes; the choice of lines does not)."""


COMMAND = "git commit -m 'reconnect the socket when the window closes and opens again'"


def _screen(typed: str = COMMAND) -> Image.Image:
    """960x544: a window title, a row of buttons, a terminal of 18 dense log lines and a prompt with a
    command being typed (the terminal's longest line, so the rule reads it)."""
    img = Image.new("RGB", (960, 544), (248, 248, 248))
    d = ImageDraw.Draw(img)
    d.text((400, 4), "Build monitor", fill=(20, 20, 20), font_size=18)
    for i, label in enumerate(("Deploy", "Rollback", "Settings", "Help")):
        x = 30 + i * 150
        d.rounded_rectangle((x, 34, x + 120, 74), radius=6, outline=(90, 90, 90), width=2, fill=(235, 235, 240))
        d.text((x + 18, 44), label, fill=(20, 20, 20), font_size=18)
    d.rectangle((20, 100, 940, 540), fill=(25, 25, 25))
    words = "build passed failed socket window cursor region store index queue capture proposal".split()
    for row in range(18):
        line = " ".join(words[(row * 5 + k) % len(words)] for k in range(6 + row % 4))
        d.text((32, 110 + row * 22), f"{row:02d} {line}", fill=(220, 220, 220), font_size=16)
    d.text((32, 110 + 18 * 22), f"dev@box:~$ {typed}", fill=(120, 230, 120), font_size=16)
    return img


def _media(img: Image.Image) -> Media:
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return Media.from_bytes(buf.getvalue())


def test_rule_orders_free_standing_then_a_block_sample_then_the_rest() -> None:
    title = (400, 4, 520, 24)
    buttons = [(x, 40, x + 80, 60) for x in (30, 180, 330)]
    block = [(30, 100 + 22 * i, 300 + (200 if i == 3 else 0), 118 + 22 * i) for i in range(6)]  # line 3 the longest
    glyph = (900, 40, 918, 60)  # one character: costs a 320-column canvas, says little
    boxes = [title, *buttons, *block, glyph]
    free, sample, rest, glyphs = priority(boxes, (960, 544))
    assert set(free) == {0, 1, 2, 3}
    assert sample == [4, 7]  # the block's first line, then its longest
    assert rest == [5, 6, 8, 9] and glyphs == [10]
    costs = line_costs(np.asarray(boxes, dtype=np.float64))
    everything = choose_lines(boxes, (960, 544), int(costs.sum()) + 1)
    assert everything == list(range(len(boxes)))
    some = choose_lines(boxes, (960, 544), BUDGET)
    assert costs[some].sum() <= BUDGET and {0, 1, 2, 3, 4} <= set(some)  # the longest line (1368 columns) does not fit
    assert choose_lines(boxes, (960, 544), BUDGET) == some  # a function of the boxes alone
    assert choose_lines([], (960, 544), BUDGET) == []


@pytest.fixture(scope="module")
def backend(tmp_path_factory: pytest.TempPathFactory) -> LocalBackend:
    settings = LocalSettings(threads=2, ocr_embed_budget=BUDGET)
    return LocalBackend(settings, cache_dir=tmp_path_factory.mktemp("cache"), ocr=OcrEngine(threads=2))


async def test_a_screen_over_the_budget_embeds_the_same_vector_cold_and_after_the_rest_is_read(backend: LocalBackend) -> None:
    backend.ocr.clear()
    media = _media(_screen())
    [cold] = await backend.embed([EmbedItem.of(media)], "document")
    read = cold.extras["ocr_read"]
    assert 0 < read["read"] < read["detected"] and read["budget"] == BUDGET
    assert np.linalg.norm(cold.vector) > 0.99 and cold.extras["text_found"]
    text = cold.extras["text"].lower()
    assert "build monitor" in text and "deploy" in text  # the title and the buttons come first
    assert len(cold.extras["ocr"]) <= read["read"]
    assert backend.ocr.pending() == 1  # the rest is still to read

    backend.ocr.read_later()
    assert backend.ocr.wait_idle(timeout=600)
    full = backend.ocr.read(Image.open(io.BytesIO(media.data)).convert("RGB"), key=f"media:{media.sha256}")
    assert full.complete and len(full.lines) > len(cold.extras["ocr"])  # rank_ui_elements would now see every line
    [later] = await backend.embed([EmbedItem.of(media)], "document")
    assert later.extras["text"] == cold.extras["text"] and later.extras["ocr_read"] == read
    assert np.allclose(later.vector, cold.vector, atol=1e-6)

    backend.ocr.clear()  # and cold again, from nothing
    [again] = await backend.embed([EmbedItem.of(media)], "document")
    assert again.extras["text"] == cold.extras["text"]
    assert np.allclose(again.vector, cold.vector, atol=1e-6)


async def test_one_typed_character_keeps_the_vector_close(backend: LocalBackend) -> None:
    backend.ocr.clear()
    [before] = await backend.embed([EmbedItem.of(_media(_screen(COMMAND[:-1])))], "document")
    [after] = await backend.embed([EmbedItem.of(_media(_screen(COMMAND)))], "document")
    assert "reconnect the socket" in before.extras["text"] and before.extras["text"] != after.extras["text"]  # the typed line is read
    assert float(np.dot(before.vector, after.vector)) >= TYPED_FLOOR


async def test_budget_zero_reads_every_line(tmp_path: Path) -> None:
    full = LocalBackend(LocalSettings(threads=2, ocr_embed_budget=0), cache_dir=tmp_path, ocr=OcrEngine(threads=2))
    [e] = await full.embed([EmbedItem.of(_media(_screen()))], "document")
    assert "ocr_read" not in e.extras and len(e.extras["ocr"]) >= 19

"""The OCR recognition plan: which crops share a recogniser call and how wide each call is padded."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image, ImageDraw

from sensorium.tools.backends.local.ocr import REC_GLYPH_WIDTH, REC_MIN_WIDTH, REC_WIDTH_TOLERANCE, rec_plan


def test_glyphs_keep_the_canvas_and_words_are_padded_little() -> None:
    plan = rec_plan([40, 90, 150, 400, 410, 900], canvas=320, max_batch=8)
    width_of = {i: w for batch, w in plan for i in batch}
    assert width_of[0] == width_of[1] == 320  # lone symbols / icons: RapidOCR's canvas
    assert width_of[2] == REC_MIN_WIDTH  # a short word: padded to the minimum, not to 320
    assert width_of[3] == width_of[4] == 410  # near-equal widths share a call
    assert width_of[5] == 900  # a long line is never padded to a neighbour's width


def test_a_glyph_sized_word_in_running_text_is_padded_as_a_line_but_never_batched_with_lines() -> None:
    """A terminal's 'Sep' or '2022' is a short word, not a lone symbol: no 320 canvas. It still never
    shares a call with a line: a batch holding a glyph-sized crop goes to the fp32 recogniser, which
    would take the int8 recogniser's lines with it."""
    widths = [70, 70, 150, 160, 40]
    plan = rec_plan(widths, canvas=320, max_batch=8, running=[True, True, False, False, False])
    width_of = {i: w for batch, w in plan for i in batch}
    assert width_of[0] == width_of[1] == REC_MIN_WIDTH and width_of[4] == 320
    batch_of = {i: tuple(batch) for batch, _ in plan for i in batch}
    assert batch_of[0] == batch_of[1] and batch_of[2] == batch_of[3] and batch_of[0] != batch_of[2]


@given(st.lists(st.tuples(st.integers(1, 3000), st.booleans()), max_size=60), st.integers(1, 16))
def test_every_crop_once_each_batch_fits(crops: list[tuple[int, bool]], max_batch: int) -> None:
    widths, running = [w for w, _ in crops], [r for _, r in crops]
    plan = rec_plan(widths, canvas=320, max_batch=max_batch, running=running)
    seen = sorted(i for batch, _ in plan for i in batch)
    assert seen == list(range(len(widths)))
    for batch, width in plan:
        assert 1 <= len(batch) <= max_batch
        padded = [320 if widths[i] < REC_GLYPH_WIDTH and not running[i] else max(widths[i], REC_MIN_WIDTH) for i in batch]
        assert width == max(padded) and width <= REC_WIDTH_TOLERANCE * min(padded)
        assert len({widths[i] < REC_GLYPH_WIDTH for i in batch}) == 1


def test_a_terminal_listing_reads_the_same_without_the_glyph_canvas(monkeypatch: pytest.MonkeyPatch) -> None:
    """Columns of short tokens in a terminal (a directory listing: 'Sep', '20', '2022') are read on the
    192 canvas and read as they did on the 320 one; the plan really gave some glyph-sized crops 192."""
    from sensorium.tools.backends.local import ocr

    img = Image.new("RGB", (900, 420), (20, 20, 20))
    d = ImageDraw.Draw(img)
    months, names = ("Sep", "Apr", "Mar", "Jun", "Feb", "May"), ("bash", "bzip2", "cat", "chmod", "cut", "date", "df")
    for row in range(18):
        cols = ("1", "root", months[row % 6], str(10 + row), str(2018 + row % 6), names[row % 7])
        for k, tok in enumerate(cols):
            d.text((20 + k * 130, 14 + row * 22), tok, fill=(225, 225, 225), font_size=15)
    engine = ocr.OcrEngine(max_side=1600, threads=2)
    narrowed: list[int] = []  # glyph-sized crops padded to REC_MIN_WIDTH
    real = engine._rec_plan

    def spy(eng: object, crops: list, running: object = None) -> list[tuple[list[int], int]]:
        plan = real(eng, crops, running)  # type: ignore[arg-type]
        glyph = [math.ceil(48 * c.shape[1] / c.shape[0]) < REC_GLYPH_WIDTH for c in crops]
        narrowed.extend(i for batch, w in plan if w == REC_MIN_WIDTH for i in batch if glyph[i])
        return plan

    engine._rec_plan = spy  # type: ignore[method-assign]
    narrow = [ln.text for ln in engine.read(img).lines]
    assert len(narrowed) >= 20 and len(narrow) >= 90
    monkeypatch.setattr(ocr, "REC_RUNNING_GLYPHS", False)
    engine.clear()
    wide = [ln.text for ln in engine.read(img).lines]
    assert sum(a == b for a, b in zip(narrow, wide, strict=True)) >= 0.97 * len(wide)
    for tok in ("Sep", "2022", "root", "bash"):
        assert tok in narrow

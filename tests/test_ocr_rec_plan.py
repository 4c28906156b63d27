"""The OCR recognition plan: which crops share a recogniser call and how wide each call is padded."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from sensorium.tools.backends.local.ocr import REC_GLYPH_WIDTH, REC_MIN_WIDTH, REC_WIDTH_TOLERANCE, rec_plan


def test_glyphs_keep_the_canvas_and_words_are_padded_little() -> None:
    plan = rec_plan([40, 90, 150, 400, 410, 900], canvas=320, max_batch=8)
    width_of = {i: w for batch, w in plan for i in batch}
    assert width_of[0] == width_of[1] == 320  # lone symbols / icons: RapidOCR's canvas
    assert width_of[2] == REC_MIN_WIDTH  # a short word: padded to the minimum, not to 320
    assert width_of[3] == width_of[4] == 410  # near-equal widths share a call
    assert width_of[5] == 900  # a long line is never padded to a neighbour's width


@given(st.lists(st.integers(1, 3000), max_size=60), st.integers(1, 16))
def test_every_crop_once_each_batch_fits(widths: list[int], max_batch: int) -> None:
    plan = rec_plan(widths, canvas=320, max_batch=max_batch)
    seen = sorted(i for batch, _ in plan for i in batch)
    assert seen == list(range(len(widths)))
    for batch, width in plan:
        assert 1 <= len(batch) <= max_batch
        padded = [320 if widths[i] < REC_GLYPH_WIDTH else max(widths[i], REC_MIN_WIDTH) for i in batch]
        assert width == max(padded) and width <= REC_WIDTH_TOLERANCE * min(padded)

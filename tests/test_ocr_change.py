"""A capture after one small change is re-read around the change only, and agrees with a cold read.

`OcrEngine._read_changed` (rules in `tools/backends/local/ocr_change.py`) detects only regions
around the changed pixels and reads only the lines the change touches. What a caller may rely on,
checked on the generated desktop (bench/scenes.py) for four kinds of change with both detectors
(real RapidOCR models):
- the change path ran (no full read) and detected a small share of the screen;
- every line the change does not touch is the previous read's line, box and text, exactly (or a
  piece of an old line the change touched: a cursor drawn over a line can split it);
- every line the change touches reads as a cold read of the changed capture reads it (same text,
  spaces aside, or on a long line within one character in twenty: a box one pixel off turned
  "python3.11" into "python3.1l"; box within TOL px: the detector moves boxes by a few pixels with
  its context), in both directions, except that a lone glyph at the change (a badge's digit) may be found by one
  and not the other (DB finds small isolated glyphs or not depending on what surrounds them).
"""

from __future__ import annotations

import sys
from difflib import SequenceMatcher
from pathlib import Path

import numpy as np
import pytest
from sensorium.tools.backends.local import ocr_change
from sensorium.tools.backends.local.ocr import OcrEngine, OcrLine, OcrResult

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))

import scenes  # noqa: E402

TOL = 4


CHANGES = scenes.SMALL_CHANGES


def binary_dilation(mask: np.ndarray) -> np.ndarray:
    """`mask` grown by one pixel each way (3x3)."""
    out = mask.copy()
    out[1:] |= mask[:-1]
    out[:-1] |= mask[1:]
    grown = out.copy()
    out[:, 1:] |= grown[:, :-1]
    out[:, :-1] |= grown[:, 1:]
    return out


def _touched(line: OcrLine, mask: np.ndarray) -> bool:
    x1, y1, x2, y2 = line.box
    return bool(mask[y1:y2, x1:x2].any())


def _same(a: OcrLine, b: OcrLine) -> bool:
    x, y = a.text.replace(" ", ""), b.text.replace(" ", "")
    close = x == y or (len(x) >= 20 and SequenceMatcher(None, x, y).ratio() >= 0.95)
    return close and all(abs(p - q) <= TOL for p, q in zip(a.box, b.box))


def _within(a: OcrLine, b: OcrLine) -> bool:
    """At least half of `a`'s box lies in `b`'s (a piece of a line the change split)."""
    iw = max(0, min(a.box[2], b.box[2]) - max(a.box[0], b.box[0]))
    ih = max(0, min(a.box[3], b.box[3]) - max(a.box[1], b.box[1]))
    return iw * ih >= 0.5 * (a.box[2] - a.box[0]) * (a.box[3] - a.box[1])


def _glyph(line: OcrLine) -> bool:
    return (line.box[2] - line.box[0]) < 2 * (line.box[3] - line.box[1])


@pytest.fixture(scope="module")
def scene() -> scenes.Scene:
    return scenes.desktop((1280, 800), seed=0)


@pytest.fixture(scope="module", params=["db", "hybrid"])
def engines(request: pytest.FixtureRequest, scene: scenes.Scene) -> dict[str, object]:
    # the reference reads every capture from scratch (no remembered read, no result cache); its line
    # cache only saves recognising unchanged crops again, it does not change what is detected
    fresh = OcrEngine(text_detector=request.param, history=0, cache_size=0)
    inc = OcrEngine(text_detector=request.param, cache_size=0)  # remembers its reads; no result cache
    before = inc.read(scene.image)
    assert fresh.read(scene.image).lines == before.lines
    return {"fresh": fresh, "inc": inc, "before": before}


@pytest.mark.parametrize("change", sorted(CHANGES))
def test_a_small_change_is_reread_around_it_and_agrees_with_a_cold_read(
    engines: dict[str, object], scene: scenes.Scene, change: str
) -> None:
    fresh: OcrEngine = engines["fresh"]  # type: ignore[assignment]
    before: OcrResult = engines["before"]  # type: ignore[assignment]
    inc: OcrEngine = engines["inc"]  # type: ignore[assignment]
    full, banded, pixels = inc.reads_full, inc.reads_banded, inc.pixels_redetected
    after = CHANGES[change](scene)
    got = inc.read(after)  # the closest remembered read is the first one (each change is made to it)
    assert (inc.reads_full, inc.reads_banded) == (full, banded + 1)
    assert 0 < inc.pixels_redetected - pixels <= 0.15 * 1280 * 800
    # changed pixels, grown by one: a line whose box ends next to the change may be re-read (its
    # fractional box reaches the pixel), so only lines farther away must be the old ones
    mask = binary_dilation((np.asarray(scene.image) != np.asarray(after)).any(axis=2))
    old = {(ln.text, ln.box) for ln in before.lines}
    split = [ln for ln in before.lines if _touched(ln, mask)]  # old lines the change touched
    kept = [ln for ln in got.lines if not _touched(ln, mask) and not any(_within(ln, s) for s in split)]
    assert all((ln.text, ln.box) in old for ln in kept), [ln for ln in kept if (ln.text, ln.box) not in old]
    cold = fresh.read(after)
    mine = [ln for ln in got.lines if _touched(ln, mask)]
    theirs = [ln for ln in cold.lines if _touched(ln, mask)]
    assert theirs or mine
    missing = [ln for ln in theirs if not any(_same(ln, m) for m in mine)]
    extra = [ln for ln in mine if not any(_same(ln, t) for t in theirs)]
    assert all(_glyph(ln) for ln in missing + extra), (missing, extra)


def test_the_plan_grows_around_touched_lines_and_keeps_to_the_grid() -> None:
    mask = np.zeros((400, 800), dtype=bool)
    mask[200:210, 300:305] = True  # one typed character
    mask[20:25, 700:704] = True  # a clock far away
    boxes = ocr_change.change_boxes(mask)
    assert boxes == [(700, 20, 704, 25), (300, 200, 305, 210)]
    hulls = np.array([[100.0, 198, 306, 212], [100, 230, 500, 244], [650, 18, 760, 28]])
    touched = ocr_change.touches(mask, hulls)
    assert touched.tolist() == [True, False, True]
    # a fractional box reaches the pixels its crop is cut from: floor of its start, ceil of its end
    edge = np.array([[290.0, 180, 300, 199.5], [290, 180, 300, 198.9], [290, 209.5, 299.5, 230], [305.2, 180, 320, 230]])
    assert ocr_change.touches(mask, edge).tolist() == [True, False, True, False]
    rects = ocr_change.regions(boxes, hulls[touched], (800, 400))
    assert len(rects) == 2
    for r in rects:
        assert all(v % ocr_change.GRID == 0 or v in (800, 400) for v in r)
    line = next(r for r in rects if r[1] > 100)
    assert line[0] <= 100 - ocr_change.MARGIN and line[2] >= 306 + ocr_change.MARGIN  # the whole line, plus context
    # a new line joining two old words replaces both: the fixed point of covering
    old = np.array([[100.0, 200, 200, 212], [210, 200, 300, 212], [100, 300, 300, 312]])
    new = np.array([[100.0, 199, 306, 213]])
    drop, take = ocr_change.resolve(old, np.array([False, True, False]), new, np.array([True]))
    assert drop.tolist() == [True, True, False] and take.tolist() == [True]

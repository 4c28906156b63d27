"""Where a capture changed, and which text lines a re-read of it must replace (geometry only).

`OcrEngine` re-reads a capture that differs from a remembered read in a few pixels (a typed
character, a calculator display, a badge) without detecting the whole screen again. Session 5 did
it with full-width bands of rows; on a busy 1920x1080 desktop that detected 1600 px wide strips and
re-recognised unchanged lines in them whose band-cut boxes no longer matched the full read's (a
toolbar icon read differently, "51%]" becoming "[51%]"). Here the plan is tighter and keeps more:

- the changed pixels are grouped into boxes (runs of change closer than 2 x MARGIN share one);
- a line of the old read "touches" the change when a changed pixel lies inside its hull (its crop
  would show it); such a line must be re-read whole, so each box is grown to hold the touching
  lines, then by MARGIN of context each way (PP-OCR's DB needs context), snapped outwards to the
  detector's 32 px grid (the crop is seen at the same phase as the full read saw it), and boxes
  that then overlap are merged into one region;
- only the regions are detected; a new line is taken when it touches the change or covers (half
  of the smaller box) an old line being replaced, and an old line is replaced when it touches the
  change or is covered by a taken new line (to a fixed point: a typed character that joins two
  words replaces both old lines);
- every other old line is kept exactly as it was (box and text): its pixels did not change, and the
  old read saw it with the whole screen around it.

If a taken line touches a cut edge of its region (text grew past the margin) or a replaced old line
does not lie inside a region, the plan cannot be trusted and the caller reads the whole screen.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

Rect = tuple[int, int, int, int]
"""x0, y0, x1, y1 in work-image pixels, x1/y1 exclusive."""

MARGIN = 48
"""Pixels of context kept around the change and the lines it touches (work pixels): more than the
detector's box growth (unclip) for screen text, as the session 5 band margin was."""

GRID = 32
"""The detector's stride: regions are cut on it so DB sees the pixels at the phase the full read did."""

EDGE = 1
"""A detected line within this many pixels of a region's cut edge (not the image border) is cut."""

COVER = 0.5
"""A new and an old line are the same text when their intersection is at least this share of the smaller."""


def _spans(idx: np.ndarray, gap: int) -> list[tuple[int, int]]:
    """[start, end) runs of sorted indices, runs closer than `gap` joined."""
    out: list[tuple[int, int]] = []
    for i in idx.tolist():
        if out and i <= out[-1][1] + gap:
            out[-1] = (out[-1][0], i + 1)
        else:
            out.append((i, i + 1))
    return out


def change_boxes(mask: np.ndarray, gap: int = 2 * MARGIN) -> list[Rect]:
    """Tight boxes around groups of changed pixels (`mask`: bool, rows x columns)."""
    boxes: list[Rect] = []
    for a, b in _spans(np.flatnonzero(mask.any(axis=1)), gap):
        band = mask[a:b]
        for c, d in _spans(np.flatnonzero(band.any(axis=0)), gap):
            rows = np.flatnonzero(band[:, c:d].any(axis=1))
            boxes.append((c, a + int(rows[0]), d, a + int(rows[-1]) + 1))
    return boxes


def touches(mask: np.ndarray, hulls: np.ndarray, pad: int = 0) -> np.ndarray:
    """Per hull (n x 4 float: x1, y1, x2, y2), whether a changed pixel lies inside it, every pixel
    its fractional box reaches counted (plus `pad`): the pixels its crop is cut from."""
    h, w = mask.shape
    out = np.zeros(len(hulls), dtype=bool)
    if not len(hulls):
        return out
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    if not len(rows):
        return out
    lo, hi = np.floor(hulls[:, :2]) - pad, np.ceil(hulls[:, 2:]) + pad  # the pixels each crop reaches
    near = (hi[:, 1] >= rows[0]) & (lo[:, 1] <= rows[-1]) & (hi[:, 0] >= cols[0]) & (lo[:, 0] <= cols[-1])
    for i in np.flatnonzero(near):
        x1, y1 = max(0, int(lo[i, 0])), max(0, int(lo[i, 1]))
        x2, y2 = min(w, int(hi[i, 0]) + 1), min(h, int(hi[i, 1]) + 1)
        out[i] = bool(mask[y1:y2, x1:x2].any())
    return out


def _grow(box: Sequence[float], size: tuple[int, int]) -> Rect:
    """`box` plus MARGIN each way, snapped outwards to GRID, inside the image (`size` = width, height)."""
    w, h = size
    x0 = max(0, int(np.floor((box[0] - MARGIN) / GRID)) * GRID)
    y0 = max(0, int(np.floor((box[1] - MARGIN) / GRID)) * GRID)
    x1 = min(w, int(np.ceil((box[2] + MARGIN) / GRID)) * GRID)
    y1 = min(h, int(np.ceil((box[3] + MARGIN) / GRID)) * GRID)
    return x0, y0, x1, y1


def _overlap(a: Rect, b: Rect) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def regions(boxes: Sequence[Rect], touched: np.ndarray, size: tuple[int, int]) -> list[Rect]:
    """The rectangles to re-detect: each change box and each touched old line (hulls, n x 4), grown
    by MARGIN and snapped to GRID, overlapping ones merged until none overlap."""
    out = [_grow(b, size) for b in boxes] + [_grow(t, size) for t in touched]
    merged = True
    while merged:
        merged = False
        acc: list[Rect] = []
        for r in out:
            for k, o in enumerate(acc):
                if _overlap(r, o):
                    acc[k] = (min(r[0], o[0]), min(r[1], o[1]), max(r[2], o[2]), max(r[3], o[3]))
                    merged = True
                    break
            else:
                acc.append(r)
        out = acc
    return sorted(out, key=lambda r: (r[1], r[0]))


def is_cut(hull: Sequence[float], region: Rect, size: tuple[int, int]) -> bool:
    """Whether a line detected in `region` reaches one of its cut edges (an edge that is not the image's)."""
    w, h = size
    x0, y0, x1, y1 = region
    return bool(
        (x0 > 0 and hull[0] <= x0 + EDGE) or (y0 > 0 and hull[1] <= y0 + EDGE)
        or (x1 < w and hull[2] >= x1 - EDGE) or (y1 < h and hull[3] >= y1 - EDGE)
    )


def inside_any(hulls: np.ndarray, rects: Sequence[Rect], size: tuple[int, int]) -> np.ndarray:
    """Per hull, whether some region holds it away from its cut edges (so that region saw it whole)."""
    out = np.zeros(len(hulls), dtype=bool)
    for i, hl in enumerate(hulls):
        out[i] = any(
            r[0] <= hl[0] and r[1] <= hl[1] and hl[2] <= r[2] and hl[3] <= r[3] and not is_cut(hl, r, size) for r in rects
        )
    return out


def covers(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(len(a), len(b)) bool: the two hulls' intersection is at least COVER of the smaller one's area."""
    if not len(a) or not len(b):
        return np.zeros((len(a), len(b)), dtype=bool)
    iw = np.clip(np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0]), 0, None)
    ih = np.clip(np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1]), 0, None)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    return iw * ih >= COVER * np.maximum(np.minimum(area_a[:, None], area_b[None, :]), 1e-9)


def resolve(old: np.ndarray, old_touch: np.ndarray, new: np.ndarray, new_touch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(replaced old lines, taken new lines), each a bool per hull: the fixed point of "an old line is
    replaced when it touches the change or a taken new line covers it; a new line is taken when it
    touches the change or covers a replaced old line" (`COVER`)."""
    same = covers(old, new)
    drop, take = old_touch.copy(), new_touch.copy()
    while True:
        take2 = take | same[drop].any(axis=0)
        drop2 = drop | same[:, take2].any(axis=1)
        if (take2 == take).all() and (drop2 == drop).all():
            return drop, take
        drop, take = drop2, take2

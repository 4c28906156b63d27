"""Text-line detection for screens: a classical detector where it can be trusted, PP-OCR's DB elsewhere.

WHY: after the budgeted first read (issue 14, session 4) most of a cold `rank_ui_elements` call on a
busy screen is DB detection of the whole screen at 1600 px (2-3 CPU-s on 2 cores). Screen text is
rendered, axis-aligned and mostly high-contrast on flat backgrounds, so lines can be found with a
few OpenCV passes (~0.1 s): colour gradient -> ink edges -> long rules removed -> short horizontal
closing -> connected components -> pieces on one row joined across word gaps, split at wide gaps
(as DB splits "Size  Used" in a terminal) -> boxes padded the way DB pads its boxes, so the
recogniser sees the same crops.

The classical result is trusted per tile (`TILE` px): a tile with texture (photos, gradients,
anti-aliased artwork: many weak edges away from any strong one) or with ink that does not look like
text of a plausible height goes to DB, which runs on just those tiles (grouped into rectangles, with
a margin, on the detector's 32 px grid) and whose boxes are mapped back. Each line is owned by where
its centre lies: classical lines centred in trusted tiles, DB lines centred in untrusted ones, so a
box that straddles a tile border is kept whole, once.

Which detector the engine uses is a setting (`LocalSettings.text_detector`: db | hybrid); the
measurements that decide it are in bench/bench_lines.py and docs/RANKING.md.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

TILE = 128
"""Trust is decided per TILE x TILE block of the detection image (work pixels)."""

INK = 48
"""Colour gradient (max over channels of a 3x3 morphological gradient) that counts as an ink edge."""

WEAK = (12, INK)
"""Gradients in this range away from ink edges are texture (photo, gradient, blur)."""

TEXTURE_MAX = 0.06
"""A tile with more than this fraction of texture pixels goes to DB."""

MIN_H, MAX_H = 6, 44
"""Plausible text heights (gradient box, work pixels). Smaller ink is dots and rules; taller ink in a
tile (large headings, pictures, big icons) sends the tile to DB."""

CLOSE_W = 7
"""Horizontal closing that joins the letters of a word (and most word gaps at UI sizes)."""

JOIN_GAP = 0.9
"""Pieces on one row are one line when the gap between them is below this x the line height: single
spaces are joined, the double spaces and columns DB splits at are not."""

PAD_MIN = 3
PAD_FRAC = 0.2
"""DB's boxes extend ~3 px beyond the ink's gradient box at UI text sizes (measured on its boxes of the
dev screenshots and generated desktops); taller text gets a fraction of its height."""

MIN_BOX = 18
"""DB's boxes are at least ~18 px tall at UI text sizes whatever the ink (median 17-18 for ink 5-14 px tall)."""

DB_MARGIN = 32
"""Context kept around an untrusted region when DB runs on it; its boxes centred in the margin are
dropped (a trusted tile owns them)."""

DB_ALL = 0.6
"""When DB's regions (untrusted tiles grouped into rectangles, with margins) cover more than this
fraction of the image, DB reads the whole image alone (one run, and its lines exactly)."""

CORE = 0.25
"""Rows with at least this x the busiest row's ink are a line's dense band (x-height and caps)."""

GLYPH_ASPECT = 1.6
"""A line at most this x its height wide is one or two glyphs: a key's label, an icon PP-OCR reads as a
character. DB boxes those wider than words (measured on the generated desktops: ~4-5 px beyond the ink
on each side against 3-4 for words), and the recogniser reads a glyph from DB's box and nothing from
one 2 px tighter (")" and "×" on the calculator's keys)."""

GLYPH_PAD = 4
"""Vertical pad of a glyph's box (its horizontal pad is one more, as for words)."""

GLYPH_WIDTH = 0.7
"""DB's box around a narrow glyph is about this x its height wide (")" 19x28, "(" 16x23 on the keys)."""

GLYPH_BAR = (4, 24)
"""Widths of a lone bar lower than MIN_H that no line took ("-" on a key) kept as a glyph."""

Detector = Callable[[np.ndarray], np.ndarray]
"""DB on a BGR crop: (n, 4, 2) quads in the crop's pixels."""


@dataclass
class LineDetection:
    """Quads in the detection image's pixels, and how they were found (for benches and logs)."""

    quads: np.ndarray
    classical: int = 0
    db: int = 0
    db_fraction: float = 0.0
    """Fraction of the image's pixels DB ran on (crops with margins)."""
    regions: list[tuple[int, int, int, int]] = field(default_factory=list)


def _gradient(bgr: np.ndarray) -> np.ndarray:
    import cv2

    grad = cv2.morphologyEx(bgr, cv2.MORPH_GRADIENT, np.ones((3, 3), np.uint8))
    return grad.max(axis=2) if grad.ndim == 3 else grad


def _tile_sums(mask: np.ndarray, tile: int) -> np.ndarray:
    h, w = mask.shape
    th, tw = -(-h // tile), -(-w // tile)
    padded = np.zeros((th * tile, tw * tile), dtype=np.float32)
    padded[:h, :w] = mask
    return padded.reshape(th, tile, tw, tile).sum(axis=(1, 3))


def classical_lines(bgr: np.ndarray, *, tile: int = TILE) -> tuple[np.ndarray, np.ndarray]:
    """Line boxes (n, 4: x1, y1, x2, y2, padded like DB's) and the per-tile trust grid (bool)."""
    found = _classical(bgr, tile)
    below = np.concatenate([found.below, np.zeros(len(found.glyphs), np.int64)])
    return _pad(np.concatenate([found.lines, found.glyphs]), bgr.shape[:2], below), found.trusted


@dataclass
class _Found:
    lines: np.ndarray
    """Line boxes around the ink (n, 4), not padded."""
    glyphs: np.ndarray
    """Ink boxes (m, 4) of glyph-sized marks no line took: narrow ones ("(", "|") and lone bars ("-")."""
    trusted: np.ndarray
    below: np.ndarray
    """Per line, rows of ink below its dense band (`_below_core`)."""


def _classical(bgr: np.ndarray, tile: int) -> _Found:
    import cv2

    h, w = bgr.shape[:2]
    grad = _gradient(bgr)
    strong = (grad >= INK).astype(np.uint8)
    near = cv2.dilate(strong, np.ones((9, 9), np.uint8))  # JPEG ringing spreads over 8x8 blocks
    texture = (grad >= WEAK[0]) & (grad < WEAK[1]) & (near == 0)
    area = _tile_sums(np.ones((h, w), np.float32), tile)
    trusted = _tile_sums(texture, tile) <= TEXTURE_MAX * area
    # vertical rules (window frames, column separators) would join the text beside them. Horizontal ones
    # are left: a 1x41 opening also matched the x-height band of ordinary words (letters 1-2 px apart).
    rules = cv2.morphologyEx(strong, cv2.MORPH_OPEN, np.ones((MAX_H + 1, 1), np.uint8))
    ink = strong & (1 - rules)
    closed = cv2.morphologyEx(ink, cv2.MORPH_CLOSE, np.ones((1, CLOSE_W), np.uint8))
    n, labels, stats, _ = cv2.connectedComponentsWithStats(closed, connectivity=4)
    st = stats[1:]
    x, y, bw, bh, px = (st[:, k].astype(np.int64) for k in range(5))
    # a wide outline (a title bar's or a field's frame) of text height is hollow: no ink across its middle
    hollow = np.zeros(len(st), dtype=bool)
    for i in np.flatnonzero((bw >= 4 * bh) & (bh >= 2 * MIN_H) & (bh <= MAX_H)):
        mid = labels[y[i] + bh[i] // 3:y[i] + 2 * bh[i] // 3 + 1, x[i]:x[i] + bw[i]] == i + 1
        hollow[i] = mid.any(axis=0).mean() < 0.15
    # ink too tall to be a text line (or a block of lines touching each other) -> DB decides there
    tall = (bh > MAX_H) & (bw >= MIN_H) & (px > 0.08 * bw * bh)
    if tall.any():
        th_, tw_ = trusted.shape
        for i in np.flatnonzero(tall):
            trusted[y[i] // tile:min(th_, (y[i] + bh[i] - 1) // tile + 1), x[i] // tile:min(tw_, (x[i] + bw[i] - 1) // tile + 1)] = False
    keep = (bh >= MIN_H) & (bh <= MAX_H) & (bw >= 0.3 * bh) & ~hollow  # thin tall ink: frame corners, bars
    # punctuation lower than MIN_H ("-", ".", "_", ",") only joins a line, so "a - b" stays one line
    minor = (bh < MIN_H) & (bw <= 3 * MAX_H)
    boxes = np.stack([x, y, x + bw, y + bh], axis=1)
    lines, loose = _join(boxes[keep | minor], minor[keep | minor])
    narrow = (bh >= MIN_H) & (bh <= MAX_H) & (bw < 0.3 * bh) & (bw >= 2) & ~hollow
    bars = loose[(loose[:, 2] - loose[:, 0] >= GLYPH_BAR[0]) & (loose[:, 2] - loose[:, 0] <= GLYPH_BAR[1])] if len(loose) else loose
    glyphs = np.concatenate([boxes[narrow].reshape(-1, 4), bars.reshape(-1, 4)])
    return _Found(lines=lines, glyphs=glyphs, trusted=trusted, below=_below_core(ink, lines))


def _below_core(ink: np.ndarray, lines: np.ndarray) -> np.ndarray:
    """Rows of each line's ink below its dense band (descenders, brackets, underscores): DB's box ends
    about where the letters' baseline does, not at their lowest ink (measured on generated desktops: a
    terminal line with brackets, 14 px of ink, has a 17 px DB box; one without, 11-12 px of ink, 18 px)."""
    out = np.zeros(len(lines), np.int64)
    for i, (x1, y1, x2, y2) in enumerate(lines):
        rows = ink[y1:y2, x1:x2].sum(axis=1)
        if len(rows) < MIN_H or not rows.max():
            continue
        dense = np.flatnonzero(rows >= CORE * rows.max())
        out[i] = len(rows) - 1 - dense[-1]
    return out


def _pad(lines: np.ndarray, shape: tuple[int, int], below: np.ndarray | None = None) -> np.ndarray:
    """Ink boxes padded the way DB pads its boxes (the recogniser then sees the same crops)."""
    h, w = shape
    if not len(lines):
        return np.zeros((0, 4), np.float32)
    lh = lines[:, 3] - lines[:, 1]
    # a line of x-height letters only ("cos") gets DB's box height too: PP-OCR read it as "COS" in a box
    # fitted to its ink (the recogniser scales every crop to one height)
    pad_y = np.maximum(np.maximum(PAD_MIN, np.round(PAD_FRAC * lh)), np.ceil((MIN_BOX - lh) / 2))
    glyph = (lines[:, 2] - lines[:, 0] <= GLYPH_ASPECT * lh) & (lh >= MIN_H)
    pad_y = np.where(glyph, np.maximum(pad_y, GLYPH_PAD), pad_y)
    pad_bottom = pad_y
    if below is not None:  # ink hanging below the letters takes the place of the bottom pad
        pad_bottom = np.where(~glyph & (below >= 2), np.maximum(1, pad_y - below + 1), pad_y)
    pad_x = pad_y + 1
    # a narrow glyph ("(", ")", "1") gets a box at least GLYPH_WIDTH x its height wide, as DB's are
    lw = lines[:, 2] - lines[:, 0]
    pad_x = np.where(glyph, np.maximum(pad_x, np.ceil((GLYPH_WIDTH * (lh + 2 * pad_y) - lw) / 2)), pad_x)
    boxes = np.stack([
        np.maximum(0, lines[:, 0] - pad_x), np.maximum(0, lines[:, 1] - pad_y),
        np.minimum(w, lines[:, 2] + pad_x), np.minimum(h, lines[:, 3] + pad_bottom),
    ], axis=1).astype(np.float32)
    return boxes


def _join(pieces: np.ndarray, minor: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pieces (x1, y1, x2, y2) that share a row and lie closer than JOIN_GAP x their height, joined.
    A `minor` piece (punctuation) joins the line whose rows hold it and never starts a line; the minor
    pieces no line took and no stack used are returned apart (lone bars: a calculator's "-" key)."""
    if not len(pieces):
        return pieces.reshape(0, 4), pieces.reshape(0, 4)
    order = np.argsort(pieces[:, 0], kind="stable")
    lines: list[list[int]] = []
    loose: list[list[int]] = []  # punctuation-sized pieces no line took: a hamburger icon's bars
    open_: list[int] = []  # indices into lines that may still grow to the right
    for i in order:
        x1, y1, x2, y2 = (int(v) for v in pieces[i])
        ph = y2 - y1
        if minor[i]:
            for j in open_:
                lx1, ly1, lx2, ly2 = lines[j]
                if ly1 - 1 <= y1 and y2 <= ly2 + 1 and x1 - lx2 <= JOIN_GAP * (ly2 - ly1) + 1:
                    lines[j] = [lx1, ly1, max(lx2, x2), ly2]
                    break
            else:
                loose.append([x1, y1, x2, y2])
            continue
        best = -1
        still: list[int] = []
        for j in open_:
            lx1, ly1, lx2, ly2 = lines[j]
            lh = ly2 - ly1
            if x1 - lx2 > JOIN_GAP * min(lh, ph) + 1:
                if x1 - lx2 <= JOIN_GAP * MAX_H + 1:
                    still.append(j)
                continue
            still.append(j)
            ov = min(y2, ly2) - max(y1, ly1)
            if best < 0 and ov >= 0.6 * min(ph, lh) and max(ph, lh) <= 2.2 * min(ph, lh) and not _icon_beside(
                    (x1, y1, x2, y2), lines[j]):
                best = j
        open_ = still
        if best >= 0:
            ln = lines[best]
            lines[best] = [min(ln[0], x1), min(ln[1], y1), max(ln[2], x2), max(ln[3], y2)]
        else:
            lines.append([x1, y1, x2, y2])
            open_.append(len(lines) - 1)
    stacked, rest = _stacks(loose)
    lines.extend(stacked)
    return np.asarray(lines, dtype=np.int64).reshape(-1, 4), np.asarray(rest, dtype=np.int64).reshape(-1, 4)


def _icon_beside(piece: tuple[int, int, int, int], line: list[int]) -> bool:
    """Whether one of the two is a squarish glyph clearly taller than the other: an icon beside its
    label, which DB boxes (and PP-OCR reads) on its own ("曲" + "Calendar")."""
    a = (piece[2] - piece[0], piece[3] - piece[1])
    b = (line[2] - line[0], line[3] - line[1])
    tall, short = (a, b) if a[1] >= b[1] else (b, a)
    return tall[1] >= 1.3 * short[1] and 0.6 * tall[1] <= tall[0] <= 1.6 * tall[1]


def _stacks(loose: list[list[int]]) -> tuple[list[list[int]], list[list[int]]]:
    """Thin pieces stacked at the same columns (a hamburger menu's three bars) as one glyph of text
    height, and the pieces left over (dots, rules, lone bars)."""
    out: list[list[int]] = []
    rest: list[list[int]] = []
    loose = sorted(loose, key=lambda b: (b[1], b[0]))
    used = [False] * len(loose)
    for i, a in enumerate(loose):
        if used[i]:
            continue
        group = list(a)
        count = 1
        for j in range(i + 1, len(loose)):
            b = loose[j]
            if used[j] or b[1] - group[3] > MIN_H:
                continue
            if abs(b[0] - group[0]) <= 2 and abs(b[2] - group[2]) <= 2:
                group = [min(group[0], b[0]), group[1], max(group[2], b[2]), max(group[3], b[3])]
                used[j] = True
                count += 1
        gw, gh = group[2] - group[0], group[3] - group[1]
        if count >= 2 and MIN_H <= gh <= MAX_H and gw <= 2 * gh:  # not two buttons' borders one above the other
            out.append(group)
        elif count == 1:
            rest.append(group)
    return out, rest


def _regions(untrusted: np.ndarray, tile: int, shape: tuple[int, int], grid: int = 32) -> list[tuple[int, int, int, int]]:
    """Rectangles (x1, y1, x2, y2) covering the untrusted tiles: their connected groups' bounding
    boxes plus DB_MARGIN, on the detector's grid, merged while they overlap."""
    import cv2

    h, w = shape
    n, _, stats, _ = cv2.connectedComponentsWithStats(untrusted.astype(np.uint8), connectivity=8)
    rects = []
    for tx, ty, tw, th, _ in stats[1:]:
        x1 = max(0, (tx * tile - DB_MARGIN) // grid * grid)
        y1 = max(0, (ty * tile - DB_MARGIN) // grid * grid)
        x2 = min(w, -(-((tx + tw) * tile + DB_MARGIN) // grid) * grid)
        y2 = min(h, -(-((ty + th) * tile + DB_MARGIN) // grid) * grid)
        rects.append([x1, y1, x2, y2])
    merged = True
    while merged:
        merged = False
        for a in range(len(rects)):
            for b in range(a + 1, len(rects)):
                ra, rb = rects[a], rects[b]
                if ra[0] < rb[2] and rb[0] < ra[2] and ra[1] < rb[3] and rb[1] < ra[3]:
                    rects[a] = [min(ra[0], rb[0]), min(ra[1], rb[1]), max(ra[2], rb[2]), max(ra[3], rb[3])]
                    del rects[b]
                    merged = True
                    break
            if merged:
                break
    return [tuple(int(v) for v in r) for r in rects]


def _quads(boxes: np.ndarray) -> np.ndarray:
    """Axis-aligned boxes as DB's quads: top-left, top-right, bottom-right, bottom-left."""
    x1, y1, x2, y2 = (boxes[:, k] for k in range(4))
    return np.stack([np.stack([x1, y1], 1), np.stack([x2, y1], 1), np.stack([x2, y2], 1), np.stack([x1, y2], 1)], 1).astype(np.float32)


def detect_lines(bgr: np.ndarray, db: Detector, *, tile: int = TILE) -> LineDetection:
    """Text-line quads of a BGR image: classical where its tiles are trusted, DB on the rest."""
    h, w = bgr.shape[:2]
    boxes, trusted = classical_lines(bgr, tile=tile)
    th, tw = trusted.shape
    regions = _regions(~trusted, tile, (h, w)) if (~trusted).any() else []
    area = sum((x2 - x1) * (y2 - y1) for x1, y1, x2, y2 in regions)
    if area > DB_ALL * w * h:  # DB runs on most of the image anyway: its whole read, nothing mixed in
        quads = _as_quads(db(bgr))
        return LineDetection(quads=quads, db=len(quads), db_fraction=1.0, regions=[(0, 0, w, h)])
    cx = ((boxes[:, 0] + boxes[:, 2]) / 2 // tile).astype(np.int64).clip(0, tw - 1)
    cy = ((boxes[:, 1] + boxes[:, 3]) / 2 // tile).astype(np.int64).clip(0, th - 1)
    own = trusted[cy, cx] if len(boxes) else np.zeros(0, bool)
    out = [_quads(boxes[own])]
    n_db = 0
    for x1, y1, x2, y2 in regions:
        q = _as_quads(db(np.ascontiguousarray(bgr[y1:y2, x1:x2])))
        if not len(q):
            continue
        q = q + np.array([x1, y1], np.float32)
        c = q.mean(axis=1)
        tx = (c[:, 0] // tile).astype(np.int64).clip(0, tw - 1)
        ty = (c[:, 1] // tile).astype(np.int64).clip(0, th - 1)
        mine = ~trusted[ty, tx]
        out.append(q[mine])
        n_db += int(mine.sum())
    quads = np.concatenate(out) if out else np.zeros((0, 4, 2), np.float32)
    return LineDetection(quads=quads, classical=int(own.sum()), db=n_db, db_fraction=area / float(w * h), regions=regions)


def _as_quads(boxes: object) -> np.ndarray:
    if boxes is None:
        return np.zeros((0, 4, 2), np.float32)
    arr = np.asarray(boxes, dtype=np.float32)
    return arr.reshape(-1, 4, 2) if arr.size else np.zeros((0, 4, 2), np.float32)

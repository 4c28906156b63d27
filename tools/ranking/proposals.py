"""Candidate UI elements for a screenshot when the caller has none: one OCR read plus edge regions.

An agent without an accessibility tree still needs boxes to rank. Two cheap, complementary
sources cover most clickable things on a screen:

- **Text elements** from ONE OCR read of the whole screenshot. A detected line is split where
  its ink has a gap wider than ~0.8x the line height (a menu bar "File  Edit  View", a row of
  calculator keys read as one line), and each piece becomes an element whose box is grown by
  0.6x its height left/right and 0.5x top/bottom, about a button's padding around its text.
- **Edge regions** for what has no letters (icons, checkboxes, empty fields, button outlines):
  grey -> Sobel gradient magnitude -> threshold (mean + 1 std, at least 24/255) -> dilate at
  three kernel sizes (3x3 keeps icons apart, 9x5 and 15x9 join a button's outline, icon and
  label) -> connected components (OpenCV) -> keep components at least 8 px each way, at most
  half the image wide and half its shorter side tall, aspect <= 12.

How they become one list of distinct elements (`build`):
- a region that holds exactly one text element and is at most 6x its area is that element's
  outline (a button around its label): they merge into one candidate with the region's box and
  the text's words; the text element is not proposed again;
- a region that holds two or more text elements spans several elements: it stays, marked
  `container`, and ranking never lets it win over an element inside it;
- regions repeating a kept box (IoU >= 0.7) are dropped; so are text elements repeating one.
- Every candidate's words are the OCR words whose centre lies inside its box (`words_in`).
- When more than `limit` remain, the cut keeps the screen covered: the image is divided into
  an 8x6 grid and cells take turns, each giving its next candidate in priority order (text
  first, then regions, smallest first), until the limit. The result says how many were found,
  how many kept, and this rule.

Coverage of these proposals on the ui_grounding dev set: `python -m sensorium.tools.ranking.coverage EVAL_DIR`.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from PIL import Image
from pydantic import BaseModel, Field

from ..regions import Box

if TYPE_CHECKING:
    from ..backends.local.ocr import OcrEngine

Source = Literal["given", "ocr", "region"]

MAX_PROPOSALS = 500
"""Same bound as the tool's candidate limit: more boxes only cost embedding time."""
GRID = (8, 6)
TRUNCATION_RULE = (
    "screen divided into an 8x6 grid; cells take turns giving their next candidate (text elements first, "
    "then edge regions, smallest first) until the limit, so every part of the screen keeps candidates"
)
MERGE_AREA_RATIO = 6.0

GAP_FACTOR = 0.8


class OcrWord(BaseModel):
    """A run of text with its box in image pixels: a word, or a piece of a line between wide gaps."""

    text: str
    box: Box
    score: float = 1.0


class Proposal(BaseModel):
    box: Box = Field(description="[x1, y1, x2, y2] in image pixels, right/bottom exclusive")
    label: str | None = None
    role: str | None = None
    source: Source
    text: str | None = Field(None, description="the OCR words inside the box, in reading order")
    container: bool = Field(False, description="spans several text elements (a toolbar, a card, a panel)")
    confidence: float | None = Field(None, description="OCR confidence for text elements")


class Proposals(BaseModel):
    """The candidates of one screenshot, and whether (and how) the list was cut."""

    items: list[Proposal]
    found: int = Field(description="distinct candidates found before any cut")
    truncated: bool
    rule: str | None = Field(None, description="how the cut chose, when there was one")


# -- geometry --------------------------------------------------------------------------------


def clip_box(box: Sequence[float], size: tuple[int, int]) -> Box | None:
    w, h = size
    x1, y1, x2, y2 = (int(round(v)) for v in box)
    x1, y1, x2, y2 = max(0, x1), max(0, y1), min(w, x2), min(h, y2)
    return (x1, y1, x2, y2) if x2 > x1 and y2 > y1 else None


def area(b: Sequence[float]) -> float:
    return max(0.0, b[2] - b[0]) * max(0.0, b[3] - b[1])


def intersection(a: Sequence[float], b: Sequence[float]) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    return ix * iy


def iou(a: Sequence[float], b: Sequence[float]) -> float:
    inter = intersection(a, b)
    union = area(a) + area(b) - inter
    return inter / union if union > 0 else 0.0


def centre(box: Sequence[float]) -> tuple[float, float]:
    return ((box[0] + box[2]) / 2.0, (box[1] + box[3]) / 2.0)


def contains_point(box: Sequence[float], x: float, y: float) -> bool:
    return box[0] <= x < box[2] and box[1] <= y < box[3]


def click_point(box: Sequence[float]) -> tuple[int, int]:
    """The whole pixel at the box's centre; always inside a box at least one pixel wide and tall."""
    x1, y1, x2, y2 = box
    return (min(int(x2) - 1, max(int(x1), int((x1 + x2) // 2))), min(int(y2) - 1, max(int(y1), int((y1 + y2) // 2))))


# -- one OCR read, cut into text elements ---------------------------------------------------


def _ink_runs(grey: np.ndarray, min_gap: int) -> list[tuple[int, int]]:
    """[start, end) column spans of ink in a line crop, split at background gaps >= min_gap."""
    bg = float(np.median(np.concatenate([grey[0], grey[-1], grey[:, 0], grey[:, -1]])))
    ink = (np.abs(grey.astype(np.float32) - bg) > 40).any(axis=0)
    cols = np.flatnonzero(ink)
    if cols.size == 0:
        return []
    runs: list[tuple[int, int]] = []
    start = prev = int(cols[0])
    for c in cols[1:]:
        c = int(c)
        if c - prev > min_gap:
            runs.append((start, prev + 1))
            start = c
        prev = c
    runs.append((start, prev + 1))
    return runs


def split_line(grey: np.ndarray, text: str, box: Box, score: float) -> list[OcrWord]:
    """A detected line cut at wide ink gaps, its words shared out by their position in the text.

    OCR returns lines; a line can run over several controls (menu entries, calculator keys).
    Where the pixels show gaps wider than GAP_FACTOR x the line height, the line becomes
    several elements, and each space-separated token goes to the piece its estimated
    position (by character count along the line) falls in.
    """
    x1, y1, x2, y2 = box
    tokens = text.split()
    if len(tokens) < 2 or x2 - x1 < 4 or y2 - y1 < 4:
        return [OcrWord(text=text, box=box, score=score)]
    runs = _ink_runs(grey[y1:y2, x1:x2], max(4, int(GAP_FACTOR * (y2 - y1))))
    if len(runs) < 2:
        return [OcrWord(text=text, box=box, score=score)]
    # token centres along the line, proportional to character positions
    lengths = [len(t) for t in tokens]
    total = sum(lengths) + len(tokens) - 1
    ink_start, ink_end = runs[0][0], runs[-1][1]
    pieces: dict[int, list[str]] = {}
    pos = 0
    for tok, n in zip(tokens, lengths, strict=True):
        x = ink_start + (pos + n / 2) / total * (ink_end - ink_start)
        k = min(range(len(runs)), key=lambda r: 0 if runs[r][0] <= x < runs[r][1] else min(abs(x - runs[r][0]), abs(x - runs[r][1])))
        pieces.setdefault(k, []).append(tok)
        pos += n + 1
    if len(pieces) < 2:
        return [OcrWord(text=text, box=box, score=score)]
    keys = sorted(pieces)
    out: list[OcrWord] = []
    for j, k in enumerate(keys):
        # a piece spans from its run to the run before the next piece's first run
        end_run = keys[j + 1] - 1 if j + 1 < len(keys) else len(runs) - 1
        a, b = runs[k][0], runs[end_run][1]
        out.append(OcrWord(text=" ".join(pieces[k]), box=(x1 + a, y1, x1 + b, y2), score=score))
    return out


class WordList(list[OcrWord]):
    """The words of one read, with their box centres as one array (computed once, on first use).

    `words_in` is asked for every candidate box (hundreds per screen, by `merge` and by scoring):
    with the centres in an array each ask is one vectorised test instead of a Python loop over
    every word (that loop was most of a same-capture rank call on a busy screen). Treat as read-only.
    """

    _centres: np.ndarray | None = None
    deferred: tuple[Box, ...] = ()
    """Boxes of lines the read left unrecognised (a budgeted first read, `OcrEngine.read(budget=)`)."""
    lines_read: int = 0
    """OCR lines the words came from (before lines were cut at wide gaps)."""

    @property
    def centres(self) -> np.ndarray:
        if self._centres is None or len(self._centres) != len(self):
            self._centres = _centres(self)
        return self._centres


def _centres(words: Sequence[OcrWord]) -> np.ndarray:
    """(n, 2) box centres, exactly as `centre` computes them."""
    boxes = np.array([w.box for w in words], dtype=np.float64).reshape(len(words), 4)
    return np.stack([(boxes[:, 0] + boxes[:, 2]) / 2.0, (boxes[:, 1] + boxes[:, 3]) / 2.0], axis=1)


def read_words(engine: OcrEngine, image: Image.Image, *, key: str | None = None, budget: int | None = None) -> WordList:
    """One OCR read of the screenshot (cached by the engine under `key`, else by its pixels), as
    text elements; with a budget, lines left unread are in `.deferred`. Blocking."""
    rgb = image if image.mode == "RGB" else image.convert("RGB")
    result = engine.read(rgb, key=key, budget=budget)
    grey = np.asarray(rgb.convert("L"))
    words = WordList()
    words.deferred = result.deferred
    words.lines_read = len(result.lines)
    for line in result.lines:
        if line.text.strip():
            words.extend(split_line(grey, line.text.strip(), tuple(line.box), float(line.score)))
    return words


def _inside(boxes: np.ndarray, points: np.ndarray) -> np.ndarray:
    """(m, n) bool: point j lies inside box i (x1 <= x < x2, y1 <= y < y2): what "a word in a box" means."""
    x, y = points[None, :, 0], points[None, :, 1]
    return (x >= boxes[:, None, 0]) & (x < boxes[:, None, 2]) & (y >= boxes[:, None, 1]) & (y < boxes[:, None, 3])


def words_in(box: Sequence[float], words: Sequence[OcrWord]) -> str | None:
    """The words whose centre lies inside `box`, in reading order (the order OCR gave)."""
    if not words:
        return None
    c = words.centres if isinstance(words, WordList) else _centres(words)
    inside = np.flatnonzero(_inside(np.asarray([box], dtype=np.float64), c)[0])
    return " ".join(words[i].text for i in inside) if len(inside) else None


# -- proposals -------------------------------------------------------------------------------


def text_proposals(words: Iterable[OcrWord], size: tuple[int, int], pad_x: float = 0.6, pad_y: float = 0.5) -> list[Proposal]:
    """One box per text element, grown by pad_x / pad_y times its height (a button's padding)."""
    out: list[Proposal] = []
    for w in words:
        h = w.box[3] - w.box[1]
        px, py = int(pad_x * h), int(pad_y * h)
        box = clip_box((w.box[0] - px, w.box[1] - py, w.box[2] + px, w.box[3] + py), size)
        if box is not None:
            out.append(Proposal(box=box, label=w.text, text=w.text, source="ocr", confidence=round(w.score, 4)))
    return out


KERNELS: tuple[tuple[int, int], ...] = ((3, 3), (9, 5), (15, 9))
"""Dilation kernels (width, height): 3x3 keeps icons apart, 9x5 and 15x9 join a button's outline, icon and label."""

INCREMENTAL_MAX_CHANGED = 0.25
"""A capture whose changed pixels span more than this share of the image (bounding box) is recomputed
from scratch: the incremental path only pays when the change is small."""


FLIP_TILE = 64
"""Edge pixels that flipped (the global threshold moved) are grouped by tiles of this size; each group is
recomputed on its own small box instead of one box spanning the screen."""
MAX_FLIP_TILES = 64
"""More tiles than this with flipped edges: recompute from scratch."""


class EdgeRegions:
    """One screenshot's edge regions plus what a later capture of the same screen reuses: its pixels,
    gradient magnitude, edge map and, per kernel, the component label image and stats (row = label id;
    a component that is gone keeps a zero-size row). About 40 MB at 1920x1080."""

    __slots__ = ("rgb", "mag", "threshold", "edges", "labels", "stats", "regions")

    def __init__(
        self, rgb: np.ndarray, mag: np.ndarray, threshold: float, edges: np.ndarray,
        labels: list[np.ndarray], stats: list[np.ndarray],
    ) -> None:
        self.rgb, self.mag, self.threshold, self.edges = rgb, mag, threshold, edges
        self.labels, self.stats = labels, stats
        self.regions = _regions_from_stats(stats, (rgb.shape[1], rgb.shape[0]))


def _magnitude(rgb: np.ndarray) -> np.ndarray:
    """Sobel gradient magnitude of the grey image (PIL's "L" conversion), float32."""
    import cv2

    grey = np.asarray(Image.fromarray(rgb).convert("L"), dtype=np.float32)
    return np.hypot(cv2.Sobel(grey, cv2.CV_32F, 1, 0, ksize=3), cv2.Sobel(grey, cv2.CV_32F, 0, 1, ksize=3))


def _threshold(mag: np.ndarray) -> float:
    return max(24.0 * 4, float(mag.mean() + mag.std()))  # Sobel 3x3 gain is ~4 for a unit step


def _dilate(edges: np.ndarray, kernel: tuple[int, int]) -> np.ndarray:
    import cv2

    kw, kh = kernel
    return cv2.dilate(edges, np.ones((kh, kw), np.uint8))


def _regions_from_stats(stats: Sequence[np.ndarray], size: tuple[int, int]) -> list[Proposal]:
    """Region proposals from per-kernel component stats (x, y, w, h, area rows; row 0 background),
    filtered by the size rules and listed kernel by kernel in box order: an order that does not
    depend on how the components were numbered, so an incremental update lists exactly what a
    full recompute lists."""
    w, h = size
    max_side = max(16, min(w, h) // 2)
    out: list[Proposal] = []
    for st in stats:
        s = st[1:, :4].astype(np.int64)
        bw, bh = s[:, 2], s[:, 3]
        keep = (bw >= 8) & (bh >= 8) & (bw <= w // 2) & (bh <= max_side)
        keep &= np.maximum(bw, 1) <= 12 * np.maximum(bh, 1)
        keep &= np.maximum(bh, 1) <= 12 * np.maximum(bw, 1)
        s = s[keep]
        s = s[np.lexsort((s[:, 3], s[:, 2], s[:, 0], s[:, 1]))]
        out.extend(Proposal(box=(int(x), int(y), int(x + bw_), int(y + bh_)), source="region") for x, y, bw_, bh_ in s.tolist())
    return out


def edge_regions(image: Image.Image, prev: EdgeRegions | None = None, kernels: Sequence[tuple[int, int]] = KERNELS) -> EdgeRegions:
    """Edge regions of `image` (the module docstring's rules). With `prev` (an earlier capture of the
    same size) only what changed is recomputed: the gradient in the changed pixels' box, the edge map
    (its threshold is global, so it is re-applied everywhere and only the pixels that flipped count),
    and per kernel the connected components the flipped edges can touch. The result equals a full
    recompute (tested): a component none of whose pixels lies within one pixel of a changed mask
    pixel keeps its pixels and its boundary, so it is the same component."""
    import cv2

    rgb = np.asarray(image if image.mode == "RGB" else image.convert("RGB"))
    h, w = rgb.shape[:2]
    if prev is None or prev.rgb.shape != rgb.shape or len(prev.labels) != len(kernels):
        return _full_edge_regions(rgb, kernels)
    rows = np.flatnonzero((rgb.reshape(h, -1) != prev.rgb.reshape(h, -1)).any(axis=1))
    if not rows.size:
        return prev
    band = rgb[rows[0] : rows[-1] + 1].reshape(-1, w * 3) != prev.rgb[rows[0] : rows[-1] + 1].reshape(-1, w * 3)
    cols = np.flatnonzero(band.any(axis=0).reshape(w, 3).any(axis=1))
    y0, y1, x0, x1 = int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1
    if (y1 - y0) * (x1 - x0) > INCREMENTAL_MAX_CHANGED * h * w:
        return _full_edge_regions(rgb, kernels)
    # the gradient changes where a 3x3 neighbourhood holds a changed pixel; computed on a window with
    # one more pixel of real context each side (the image's own border where the window meets it)
    wy0, wy1, wx0, wx1 = max(0, y0 - 1), min(h, y1 + 1), max(0, x0 - 1), min(w, x1 + 1)
    cy0, cy1, cx0, cx1 = max(0, wy0 - 1), min(h, wy1 + 1), max(0, wx0 - 1), min(w, wx1 + 1)
    window = _magnitude(np.ascontiguousarray(rgb[cy0:cy1, cx0:cx1]))
    mag = prev.mag.copy()
    mag[wy0:wy1, wx0:wx1] = window[wy0 - cy0 : wy1 - cy0, wx0 - cx0 : wx1 - cx0]
    threshold = _threshold(mag)
    edges = (mag >= threshold).astype(np.uint8)
    flipped = edges != prev.edges
    if not flipped.any():
        out = EdgeRegions.__new__(EdgeRegions)
        out.rgb, out.mag, out.threshold, out.edges = rgb, mag, threshold, edges
        out.labels, out.stats, out.regions = prev.labels, prev.stats, prev.regions
        return out
    ys, xs = np.nonzero(flipped)
    tile_of = (ys // FLIP_TILE) * (w // FLIP_TILE + 1) + xs // FLIP_TILE
    if np.unique(tile_of).size > MAX_FLIP_TILES:
        return _full_edge_regions(rgb, kernels)
    spots = []  # bbox of the flipped edge pixels in each tile: the threshold is global, so a few flip far from the change
    for t in np.unique(tile_of):
        sel = tile_of == t
        spots.append((int(ys[sel].min()), int(ys[sel].max()) + 1, int(xs[sel].min()), int(xs[sel].max()) + 1))
    labels: list[np.ndarray] = []
    stats: list[np.ndarray] = []
    for (kw, kh), old_labels, old_stats in zip(kernels, prev.labels, prev.stats, strict=True):
        mask = _dilate(edges, (kw, kh))
        # mask pixels that can differ (flipped edges grown by the kernel), plus one pixel of adjacency
        windows = [
            (max(0, y0_ - kh // 2 - 1), min(h, y1_ + kh // 2 + 1), max(0, x0_ - kw // 2 - 1), min(w, x1_ + kw // 2 + 1))
            for y0_, y1_, x0_, x1_ in spots
        ]
        # each window with the old components it touches, then groups of overlapping boxes merged, so a
        # component the change joins or splits lies inside one box
        boxes = []
        for wy0_, wy1_, wx0_, wx1_ in windows:
            touched = np.unique(old_labels[wy0_:wy1_, wx0_:wx1_])
            touched = touched[touched > 0]
            by0, by1, bx0, bx1 = wy0_, wy1_, wx0_, wx1_
            if touched.size:
                a = old_stats[touched]
                by0, bx0 = min(by0, int(a[:, 1].min())), min(bx0, int(a[:, 0].min()))
                by1, bx1 = max(by1, int((a[:, 1] + a[:, 3]).max())), max(bx1, int((a[:, 0] + a[:, 2]).max()))
            boxes.append([max(0, by0 - 1), min(h, by1 + 1), max(0, bx0 - 1), min(w, bx1 + 1), [(wy0_, wy1_, wx0_, wx1_)], touched])
        boxes = _merge_boxes(boxes)
        new_labels = old_labels.copy()
        gone = np.zeros(len(old_stats), dtype=bool)
        added_rows = []
        next_id = len(old_stats)
        for ry0, ry1, rx0, rx1, wins, touched in boxes:
            gone[touched] = True
            n, crop_labels, crop_stats, _ = cv2.connectedComponentsWithStats(
                np.ascontiguousarray(mask[ry0:ry1, rx0:rx1]), connectivity=8
            )
            near = np.unique(np.concatenate([crop_labels[a - ry0 : b - ry0, c - rx0 : d - rx0].ravel() for a, b, c, d in wins]))
            near = near[near > 0]  # components of the new mask that can have changed; the rest are old ones, cut by the box
            region = new_labels[ry0:ry1, rx0:rx1]
            region[gone[region]] = 0
            ids = np.zeros(n, dtype=np.int32)
            ids[near] = np.arange(next_id, next_id + near.size, dtype=np.int32)
            next_id += near.size
            take = ids[crop_labels]
            region[take > 0] = take[take > 0]
            added = crop_stats[near].copy()
            added[:, 0] += rx0
            added[:, 1] += ry0
            added_rows.append(added.astype(old_stats.dtype))
        new_stats = np.concatenate([old_stats, *added_rows])
        new_stats[: len(old_stats)][gone, 2:4] = 0  # gone: filtered out by the size rules
        labels.append(new_labels)
        stats.append(new_stats)
    return EdgeRegions(rgb, mag, threshold, edges, labels, stats)


def _merge_boxes(boxes: list[list[Any]]) -> list[list[Any]]:
    """[y0, y1, x0, x1, windows, labels] boxes, overlapping ones merged (union box, both lists) until none overlap."""
    merged = True
    while merged:
        merged = False
        out: list[list[Any]] = []
        for b in boxes:
            for o in out:
                if b[0] < o[1] and o[0] < b[1] and b[2] < o[3] and o[2] < b[3]:
                    o[0], o[1], o[2], o[3] = min(o[0], b[0]), max(o[1], b[1]), min(o[2], b[2]), max(o[3], b[3])
                    o[4] = o[4] + b[4]
                    o[5] = np.union1d(o[5], b[5]).astype(np.int64)
                    merged = True
                    break
            else:
                out.append(b)
        boxes = out
    return boxes


def _full_edge_regions(rgb: np.ndarray, kernels: Sequence[tuple[int, int]]) -> EdgeRegions:
    import cv2

    mag = _magnitude(rgb)
    threshold = _threshold(mag)
    edges = (mag >= threshold).astype(np.uint8)
    labels, stats = [], []
    for kernel in kernels:
        _, lab, st, _ = cv2.connectedComponentsWithStats(_dilate(edges, kernel), connectivity=8)
        labels.append(lab)
        stats.append(st)
    return EdgeRegions(rgb, mag, threshold, edges, labels, stats)


def region_proposals(image: Image.Image, kernels: Sequence[tuple[int, int]] = KERNELS) -> list[Proposal]:
    """Connected components of a dilated edge map, at each kernel size (see the module docstring)."""
    return edge_regions(image, kernels=kernels).regions


def pairwise_overlap(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(intersection area, IoU) of every box of `a` (m x 4) with every box of `b` (n x 4), as (m, n)
    arrays: the one vectorised overlap for deduplication here and `score.distinct_order`."""
    iw = np.clip(np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0]), 0, None)
    ih = np.clip(np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1]), 0, None)
    inter = iw * ih
    union = ((a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1]))[:, None] + ((b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1]))[None, :] - inter
    return inter, np.where(union > 0, inter / np.maximum(union, 1e-9), 0.0)


DEDUPE_BLOCK = 256
"""Rows of the IoU matrix `_dedupe` computes at once: bounded memory (256 x n) for any n."""


def _dedupe(props: Sequence[Proposal], threshold: float) -> list[Proposal]:
    """Greedy: keep a proposal unless it repeats (IoU >= threshold) one kept before it.

    The IoUs of a block of proposals with every later one are computed as one matrix, then the
    greedy pass walks the block's rows: the same result as testing each proposal against all kept
    ones, with one numpy call per block instead of one per proposal (the per-proposal rows were
    ~60 % of proposing on a busy screen)."""
    n = len(props)
    if not n:
        return []
    boxes = np.array([p.box for p in props], dtype=np.float64).reshape(n, 4)
    suppressed = np.zeros(n, dtype=bool)
    kept: list[Proposal] = []
    for a in range(0, n, DEDUPE_BLOCK):
        b = min(n, a + DEDUPE_BLOCK)
        repeats = pairwise_overlap(boxes[a:b], boxes[a:])[1] >= threshold
        for i in range(a, b):
            if suppressed[i]:
                continue
            kept.append(props[i])
            suppressed[i + 1 :] |= repeats[i - a, i + 1 - a :]
    return kept


MERGE_BLOCK = 512
"""Regions whose inside-tests `merge` computes at once (bounded memory on any screen)."""


def merge(texts: Sequence[Proposal], regions: Sequence[Proposal], words: Sequence[OcrWord]) -> list[Proposal]:
    """Text elements and regions as one list of distinct elements (rules in the module docstring).

    Which text elements and words lie in each region is one array test per block of regions (a
    busy screen has ~1000 regions: one numpy call per region was most of proposing after a change)."""
    words = words if isinstance(words, WordList) else WordList(words)
    regions = _dedupe(sorted(regions, key=lambda p: area(p.box)), 0.7)
    centres = np.array([centre(t.box) for t in texts], dtype=np.float64).reshape(len(texts), 2)
    word_centres = words.centres if len(words) else np.zeros((0, 2))
    boxes = np.array([r.box for r in regions], dtype=np.float64).reshape(len(regions), 4)
    absorbed: set[int] = set()
    out_regions: list[Proposal] = []
    for a in range(0, len(regions), MERGE_BLOCK):
        in_text = _inside(boxes[a : a + MERGE_BLOCK], centres)
        in_word = _inside(boxes[a : a + MERGE_BLOCK], word_centres)
        counts = in_text.sum(axis=1)
        for k, r in enumerate(regions[a : a + MERGE_BLOCK]):
            n = int(counts[k])
            if n == 1:
                i = int(np.argmax(in_text[k]))
                if area(r.box) <= MERGE_AREA_RATIO * area(texts[i].box):
                    t = texts[i]
                    if i in absorbed:  # another outline already took this label: a nested outline
                        continue
                    absorbed.add(i)
                    out_regions.append(r.model_copy(update={"label": t.label, "text": t.text, "confidence": t.confidence}))
                continue
            inside = np.flatnonzero(in_word[k])
            text = " ".join(words[j].text for j in inside) if len(inside) else None
            out_regions.append(r.model_copy(update={"text": text, "container": True} if n >= 2 else {"text": text}))
    kept_texts = [t for i, t in enumerate(texts) if i not in absorbed]
    return _dedupe([*kept_texts, *out_regions], 0.7)


def cut(props: Sequence[Proposal], size: tuple[int, int], limit: int) -> list[Proposal]:
    """At most `limit` proposals that still cover the whole screen (grid round-robin, see the docstring)."""
    if len(props) <= limit:
        return list(props)
    w, h = size
    gx, gy = GRID
    cells: dict[tuple[int, int], list[Proposal]] = {}
    ordered = sorted(props, key=lambda p: (p.source != "ocr", p.container, area(p.box)))
    for p in ordered:
        x, y = centre(p.box)
        cells.setdefault((min(gx - 1, int(x * gx / w)), min(gy - 1, int(y * gy / h))), []).append(p)
    queues = [cells[k] for k in sorted(cells)]
    out: list[Proposal] = []
    depth = 0
    while len(out) < limit:
        took = False
        for q in queues:
            if depth < len(q):
                out.append(q[depth])
                took = True
                if len(out) >= limit:
                    break
        if not took:
            break
        depth += 1
    return out


def unread_regions(regions: Sequence[Proposal], deferred: Sequence[Box], words: Sequence[OcrWord]) -> list[Proposal]:
    """Edge regions without the ones that are unread text: a region centred on a deferred text line,
    or holding one and no word that was read. WHY: unread, they would look textless and go to the
    icon reader (hundreds of terminal lines as "icons"); once the lines are read they come back as
    text. Deferred glyph-sized lines (aspect < 2: an icon PP-OCR found) do not count: their region is
    the icon's candidate."""
    text = np.array([b for b in deferred if (b[2] - b[0]) >= 2 * (b[3] - b[1])], dtype=np.float64).reshape(-1, 4)
    if not len(text) or not regions:
        return list(regions)
    tc = np.stack([(text[:, 0] + text[:, 2]) / 2, (text[:, 1] + text[:, 3]) / 2], axis=1)
    wc = words.centres if isinstance(words, WordList) else _centres(words) if words else np.zeros((0, 2))
    out = []
    for r in regions:
        x1, y1, x2, y2 = r.box
        cx, cy = centre(r.box)
        on_line = ((text[:, 0] <= cx) & (cx < text[:, 2]) & (text[:, 1] <= cy) & (cy < text[:, 3])).any()
        holds = ((tc[:, 0] >= x1) & (tc[:, 0] < x2) & (tc[:, 1] >= y1) & (tc[:, 1] < y2)).any()
        has_words = bool(len(wc)) and bool(((wc[:, 0] >= x1) & (wc[:, 0] < x2) & (wc[:, 1] >= y1) & (wc[:, 1] < y2)).any())
        if not on_line and not (holds and not has_words):
            out.append(r)
    return out


class ProposalCache:
    """Proposals of the last few screenshots, and their edge regions, so a repeat costs nothing and a
    capture that differs from a recent one in a few pixels recomputes edge regions only there
    (`edge_regions`). Keyed by the caller's image key (the OCR key: content hash of the bytes);
    proposals also by the words they were made from (a partial read grows between rounds).
    Thread-safe: the tool ranks in worker threads and the background worker warms the same screens."""

    def __init__(self, size: int = 2) -> None:
        self.size = size
        self._regions: OrderedDict[str, EdgeRegions] = OrderedDict()
        self._found: OrderedDict[tuple[str, int], Proposals] = OrderedDict()
        self._lock = threading.Lock()
        self.incremental = 0
        """Edge-region computations that reused an earlier capture (tests, benches)."""

    def regions(self, image: Image.Image, key: str) -> list[Proposal]:
        with self._lock:
            got = self._regions.get(key)
            if got is not None:
                self._regions.move_to_end(key)
                return got.regions
            prev = next((r for r in reversed(self._regions.values()) if r.rgb.shape[:2] == (image.height, image.width)), None)
        out = edge_regions(image, prev)
        with self._lock:
            self.incremental += prev is not None and out.rgb is not prev.rgb
            self._regions[key] = out
            while len(self._regions) > self.size:
                self._regions.popitem(last=False)
        return out.regions

    def proposals(self, image: Image.Image, words: Sequence[OcrWord], limit: int, key: str) -> Proposals:
        sig = (key, hash((limit, tuple(getattr(words, "deferred", ())), tuple((w.text, w.box, w.score) for w in words))))
        with self._lock:
            got = self._found.get(sig)
            if got is not None:
                self._found.move_to_end(sig)
                return got
        found = _propose(image, words, limit, self.regions(image, key))
        with self._lock:
            self._found[sig] = found
            while len(self._found) > 4 * self.size:  # a few reads (rounds) of each screen
                self._found.popitem(last=False)
        return found


def propose(
    image: Image.Image, words: Sequence[OcrWord], limit: int = MAX_PROPOSALS, *, cache: ProposalCache | None = None,
    key: str | None = None,
) -> Proposals:
    """Distinct candidate elements of one screenshot from its OCR words and its edges. Blocking.

    Words from a budgeted read (`WordList.deferred`) propose no element for their unread lines
    (`unread_regions`). With a cache and the image's key, a repeat is free and a small change is
    recomputed incrementally (`ProposalCache`); the result is the same either way."""
    if cache is not None and key is not None:
        return cache.proposals(image, words, limit, key)
    return _propose(image, words, limit, region_proposals(image))


def _propose(image: Image.Image, words: Sequence[OcrWord], limit: int, regions: list[Proposal]) -> Proposals:
    texts = _dedupe(text_proposals(words, image.size), 0.7)
    deferred = getattr(words, "deferred", ())
    if deferred:
        regions = unread_regions(regions, deferred, words)
    found = merge(texts, regions, words)
    kept = cut(found, image.size, limit)
    truncated = len(kept) < len(found)
    return Proposals(items=kept, found=len(found), truncated=truncated, rule=TRUNCATION_RULE if truncated else None)


def coverage(targets: Sequence[Sequence[float]], proposals: Sequence[Proposal]) -> float:
    """Fraction of target boxes that contain the centre of at least one proposal."""
    if not targets:
        return 0.0
    centres = [centre(p.box) for p in proposals]
    hit = sum(any(contains_point(t, x, y) for x, y in centres) for t in targets)
    return hit / len(targets)

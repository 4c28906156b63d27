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
  the text's words; the text element is not proposed again; a second, larger region around the
  same text centred in it (a field around its placeholder, a button's outline around the ink of
  its label) stays an element of its own with the same words (NESTED_OUTLINE);
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

import re
import threading
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Literal

import numpy as np
from PIL import Image
from pydantic import BaseModel, Field

from ..regions import Box

if TYPE_CHECKING:
    from ..backends.local.ocr import FirstLines, OcrEngine

Source = Literal["given", "ocr", "region"]

MAX_PROPOSALS = 500
"""Same bound as the tool's candidate limit: more boxes only cost embedding time."""
GRID = (8, 6)
TRUNCATION_RULE = (
    "screen divided into an 8x6 grid; cells take turns giving their next candidate (text elements first, "
    "then edge regions, smallest first) until the limit, so every part of the screen keeps candidates"
)
MERGE_AREA_RATIO = 6.0
NESTED_OUTLINE = 2.0
"""A second region holding the one text element an outline already took stays an element (labelled
with that text too) when it is at least this many times that outline's area and the text is centred in
it (`centred_in`): a field or a dropdown around its placeholder or value, whose ink region took the
words first. WHY: such fields were dropped as "nested outlines", so "Choose a currency from the list"
had no dropdown to find (held-out generated forms, choose items 0 -> 0.75). A region with the text
near its top (a label heading a block with its field) is still dropped."""

GAP_FACTOR = 0.8


class OcrWord(BaseModel):
    """A run of text with its box in image pixels: a word, or a piece of a line between wide gaps."""

    text: str
    box: Box
    score: float = 1.0
    glyph: bool = False
    """One glyph of a row of symbols cut apart (`split_glyph_run`): its box is the glyph's own ink (a
    window button's outline), proposed as it is, without a text label's padding, which would take in
    its neighbours (and the icon reader would see three buttons)."""


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
    return _column_runs((np.abs(grey.astype(np.float32) - bg) > 40).any(axis=0), min_gap)


def _column_runs(ink: np.ndarray, min_gap: int) -> list[tuple[int, int]]:
    """[start, end) spans of the True columns of `ink`, split at gaps >= min_gap."""
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


_BAR = re.compile(r"\s*\|\s*")
"""A vertical bar between words (nav bars, breadcrumbs, status lines): OCR drops the spaces around it
now and then (the int8 recogniser more often than fp32: '|next|modules|index'), which glued the words
into one token that no instruction word matched."""


def split_line(grey: np.ndarray, text: str, box: Box, score: float) -> list[OcrWord]:
    """A detected line cut at wide ink gaps, its words shared out by their position in the text.

    OCR returns lines; a line can run over several controls (menu entries, calculator keys).
    Where the pixels show gaps wider than GAP_FACTOR x the line height, the line becomes
    several elements, and each space-separated token goes to the piece its estimated
    position (by character count along the line) falls in.
    """
    x1, y1, x2, y2 = box
    text = _BAR.sub(" | ", text).strip()  # a bar separates, spaced or not: "previous |next|modules" is three links
    tokens = text.split()
    if (
        len(tokens) == 1 and x2 - x1 >= 4 and y2 - y1 >= 4 and score < GLYPH_RUN_MAX_SCORE
        and not any(ch.isascii() and ch.isalnum() for ch in text)
    ):
        glyphs = split_glyph_run(grey[y1:y2, x1:x2], text)
        if glyphs:
            return [OcrWord(text=t, box=(x1 + a, y1 + top, x1 + b, y1 + bottom), score=score, glyph=True) for t, (a, top, b, bottom) in glyphs]
    if len(tokens) < 2 or x2 - x1 < 4 or y2 - y1 < 4:
        return [OcrWord(text=text, box=box, score=score)]
    if "|" in tokens:
        links = split_at_bars(grey[y1:y2, x1:x2], tokens)
        if links:
            return [OcrWord(text=t, box=(x1 + a, y1, x1 + b, y2), score=score) for t, (a, b) in links]
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


BAR_WIDTH = 0.15
"""A drawn separator bar is at most this many line heights wide (at least 2 px), stands at least 0.6
line heights tall, and has blank columns of at least this width on both sides (a word's spaces):
letters stand closer to their neighbours."""


def split_at_bars(grey: np.ndarray, tokens: Sequence[str]) -> list[tuple[str, tuple[int, int]]]:
    """A line whose words are separated by bars ('previous | next | modules | index') cut at the bars
    drawn in its pixels: the text between two bars with the columns between them (trimmed to ink),
    the bars themselves dropped; [] when fewer bars are drawn than read.

    WHY: split_line cuts a line where its ink has a gap of 0.8 line heights, and a bar with a space
    on each side leaves two gaps of a space each, so a Sphinx page's navigation line stayed one
    element of five links: the box of 'modules' held no word (the line's centre lies elsewhere), and
    "Show the list of all modules" could not find it. Which drawn bar is which '|' read: in order,
    the bar nearest where the '|' falls by its character position along the line's ink (a button's
    border drawn like a bar may stand in for one; the cut is then a few pixels off)."""
    h = grey.shape[0]
    bg = float(np.median(np.concatenate([grey[0], grey[-1], grey[:, 0], grey[:, -1]])))
    ink = np.abs(grey.astype(np.float32) - bg) > 40
    runs = _column_runs(ink.any(axis=0), 1)
    if len(runs) < 3:
        return []
    thin, space = max(2.0, BAR_WIDTH * h), max(2.0, BAR_WIDTH * h)
    bars = []
    for i in range(1, len(runs) - 1):
        a, b = runs[i]
        rows = np.flatnonzero(ink[:, a:b].any(axis=1))
        if b - a <= thin and rows[-1] - rows[0] + 1 >= 0.6 * h and a - runs[i - 1][1] >= space and runs[i + 1][0] - b >= space:
            bars.append(i)
    start, end = runs[0][0], runs[-1][1]
    line = " ".join(tokens)
    chosen: list[int] = []
    pos = 0
    for tok in tokens:
        if tok == "|":
            x = start + (pos + 0.5) / max(1, len(line)) * (end - start)
            left = [i for i in bars if not chosen or i > chosen[-1]]
            if not left:
                return []
            chosen.append(min(left, key=lambda i: abs((runs[i][0] + runs[i][1]) / 2 - x)))
        pos += len(tok) + 1
    segments, current = [], []
    for tok in tokens:
        if tok == "|":
            segments.append(current)
            current = []
        else:
            current.append(tok)
    segments.append(current)
    edges = [start, *(e for i in chosen for e in (runs[i][0], runs[i][1])), end]
    out = []
    for k, words in enumerate(segments):
        a, b = edges[2 * k], edges[2 * k + 1]
        cols = np.flatnonzero(ink[:, a:b].any(axis=0))
        if words and cols.size:
            out.append((" ".join(words), (a + int(cols[0]), a + int(cols[-1]) + 1)))
    return out if len(out) >= 2 else []


GLYPH_GAP = 0.1
"""A run of symbols is cut where the ink has a gap of at least this share of the line height (at least 2
px): a window's minimise / maximise / close buttons stand 2-4 px apart in a 13-21 px title bar."""
GLYPH_RUN_MAX_SCORE = 0.8
"""Only a line read with less confidence than this is cut into glyphs: PP-OCR reads a row of icons as
look-alike characters at 0.5-0.6 ('□回网' 0.52, '□' 0.55 on the issue's screen); a line it is sure of
is text (a CJK word '文件' reads at 0.9 and up), and a word is never cut into its characters."""
GLYPH_WIDTHS = (0.25, 1.5)
"""Each piece of a cut run of symbols is this many line heights wide (a glyph or an icon); a piece
outside these bounds means the run is something else (a rule, a bar, a wide symbol), and it stays whole."""


def split_glyph_run(grey: np.ndarray, text: str) -> list[tuple[str, tuple[int, int, int, int]]]:
    """A line read as symbols without a space ('□回网': no ASCII letter or digit) cut into one piece per
    glyph-wide run of ink, each with the character read nearest its position and the box of its ink
    (x1, y1, x2, y2 in the crop); [] when the ink is not such a row of glyphs (one run, or a run wider
    or narrower than GLYPH_WIDTHS).

    WHY: PP-OCR reads a row of small icons (a window's minimise, maximise and close buttons; a toolbar's
    icons set close together) as one "line" of look-alike characters, and the row became one element:
    nothing to click for "close the calculator window" (rank 1 was the window's title), and the icon
    reader saw three buttons as one picture. Cut, each button is an element of its own, and its pixels
    are what the icon reader reads ('xmark remove cancel' for the close button). Words are never cut
    here: a line holding an ASCII letter or digit goes to `split_line`'s wide-gap rule."""
    h = grey.shape[0]
    chars = [ch for ch in text if not ch.isspace()]
    # ink against each row's own ends, not one border median: a title bar is a vertical gradient, and the
    # detector's box often takes in a row of the desktop above it
    g = grey.astype(np.float32)
    ink = (np.abs(g - g[:, :1]) > 40) & (np.abs(g - g[:, -1:]) > 40)
    runs = _column_runs(ink.any(axis=0), max(2, int(GLYPH_GAP * h)))
    lo, hi = GLYPH_WIDTHS
    if len(runs) < 2 or not chars or any(not lo * h <= b - a <= hi * h for a, b in runs):
        return []
    start, end = runs[0][0], runs[-1][1]
    out = []
    for a, b in runs:
        at = ((a + b) / 2 - start) / max(1, end - start)  # 0..1 along the line, as the characters are
        rows = np.flatnonzero(ink[:, a:b].any(axis=1))
        out.append((chars[min(len(chars) - 1, int(at * len(chars)))], (a, int(rows[0]), b, int(rows[-1]) + 1)))
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

    _boxes: np.ndarray | None = None

    @property
    def centres(self) -> np.ndarray:
        if self._centres is None or len(self._centres) != len(self):
            self._centres = _centres(self)
        return self._centres

    @property
    def boxes(self) -> np.ndarray:
        """(n, 4) float64 word boxes, computed once."""
        if self._boxes is None or len(self._boxes) != len(self):
            self._boxes = _boxes(self)
        return self._boxes


def word_boxes(words: Sequence[OcrWord]) -> np.ndarray:
    """(n, 4) float64 boxes of the words (x1, y1, x2, y2); a WordList's are computed once."""
    return words.boxes if isinstance(words, WordList) else _boxes(words)


def _boxes(words: Sequence[OcrWord]) -> np.ndarray:
    return np.array([w.box for w in words], dtype=np.float64).reshape(len(words), 4)


def _centres(words: Sequence[OcrWord]) -> np.ndarray:
    """(n, 2) box centres, exactly as `centre` computes them."""
    boxes = _boxes(words)
    return np.stack([(boxes[:, 0] + boxes[:, 2]) / 2.0, (boxes[:, 1] + boxes[:, 3]) / 2.0], axis=1)


def read_words(
    engine: OcrEngine, image: Image.Image, *, key: str | None = None, budget: int | None = None, first: FirstLines | None = None
) -> WordList:
    """One OCR read of the screenshot (cached by the engine under `key`, else by its pixels), as
    text elements; with a budget, lines left unread are in `.deferred` (`first`: lines to read on top of
    the budget's, `OcrEngine.read`). Blocking."""
    rgb = image if image.mode == "RGB" else image.convert("RGB")
    result = engine.read(rgb, key=key, budget=budget, first=first)
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


def word_boxes_in(box: Sequence[float], words: Sequence[OcrWord]) -> np.ndarray:
    """(k, 4) boxes of the words whose centre lies inside `box` (the same test as `words_in`)."""
    if not words:
        return np.zeros((0, 4))
    c = words.centres if isinstance(words, WordList) else _centres(words)
    return word_boxes(words)[_inside(np.asarray([box], dtype=np.float64), c)[0]]


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
        h = 0 if w.glyph else w.box[3] - w.box[1]
        px, py = int(pad_x * h), int(pad_y * h)
        box = clip_box((w.box[0] - px, w.box[1] - py, w.box[2] + px, w.box[3] + py), size)
        if box is not None:
            out.append(Proposal(box=box, label=w.text, text=w.text, source="ocr", confidence=round(w.score, 4)))
    return out


KERNELS: tuple[tuple[int, int], ...] = ((3, 3), (9, 5), (15, 9))
"""Dilation kernels (width, height): 3x3 keeps icons apart, 9x5 and 15x9 join a button's outline, icon and label."""

def _magnitude(rgb: np.ndarray) -> np.ndarray:
    """Sobel gradient magnitude of the grey image (PIL's "L" conversion), float32. The Sobel runs on
    the 8-bit grey itself (the same float32 values as on a float copy, half the time) and the
    magnitude is OpenCV's (np.hypot's to 1 ulp, 7x faster): 15 -> 7 ms at 1920x1080."""
    import cv2

    grey = np.asarray(Image.fromarray(rgb).convert("L"))
    return cv2.magnitude(cv2.Sobel(grey, cv2.CV_32F, 1, 0, ksize=3), cv2.Sobel(grey, cv2.CV_32F, 0, 1, ksize=3))


def _threshold(mag: np.ndarray) -> float:
    return max(24.0 * 4, float(mag.mean() + mag.std()))  # Sobel 3x3 gain is ~4 for a unit step


def _dilate(edges: np.ndarray, kernel: tuple[int, int]) -> np.ndarray:
    import cv2

    kw, kh = kernel
    return cv2.dilate(edges, np.ones((kh, kw), np.uint8))


def _regions_from_stats(stats: Sequence[np.ndarray], size: tuple[int, int]) -> list[Proposal]:
    """Region proposals from per-kernel component stats (x, y, w, h, area rows; row 0 background),
    filtered by the size rules and listed kernel by kernel in box order (not in component numbering)."""
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
        out.extend(Proposal(box=(x, y, x + bw_, y + bh_), source="region") for x, y, bw_, bh_ in s.tolist())
    return out


def region_proposals(image: Image.Image, kernels: Sequence[tuple[int, int]] = KERNELS) -> list[Proposal]:
    """Connected components of a dilated edge map, at each kernel size (see the module docstring).

    Always the whole image. WHY not only around a small change: an incremental version (gradient
    in the changed box, components relabelled around the edge pixels that flipped) was exact but,
    once the full pass was tuned (`_magnitude`), slower in 5 of 6 measured cases: 0.050-0.056 s vs
    0.039-0.042 s at 1920x1080, 0.099-0.111 vs 0.067-0.071 at 2560x1440 (a typed character; the
    global threshold flips edge pixels across the screen and the 15x9 kernel's components span
    whole terminals). Removed in session 9 (docs/RANKING.md)."""
    import cv2

    rgb = np.asarray(image if image.mode == "RGB" else image.convert("RGB"))
    mag = _magnitude(rgb)
    edges = (mag >= _threshold(mag)).view(np.uint8)  # bool as 0/1 bytes, no copy
    stats = [cv2.connectedComponentsWithStats(_dilate(edges, kernel), connectivity=8)[2] for kernel in kernels]
    return _regions_from_stats(stats, (rgb.shape[1], rgb.shape[0]))


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
    ~60 % of proposing on a busy screen). Proposals sorted by area (merge's regions) skip the
    columns that cannot repeat a row: IoU <= smaller area / larger area, so a box more than
    1/threshold times the block's largest is no repeat of any of its rows (same result, a fraction
    of the matrix)."""
    n = len(props)
    if not n:
        return []
    boxes = np.array([p.box for p in props], dtype=np.float64).reshape(n, 4)
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    by_area = threshold > 0 and bool(np.all(areas[1:] >= areas[:-1]))
    suppressed = np.zeros(n, dtype=bool)
    kept: list[Proposal] = []
    for a in range(0, n, DEDUPE_BLOCK):
        b = min(n, a + DEDUPE_BLOCK)
        end = max(b, int(np.searchsorted(areas, areas[b - 1] / threshold, side="right"))) if by_area else n
        repeats = np.zeros((b - a, n - a), dtype=bool)
        repeats[:, : end - a] = pairwise_overlap(boxes[a:b], boxes[a:end])[1] >= threshold
        for i in range(a, b):
            if suppressed[i]:
                continue
            kept.append(props[i])
            suppressed[i + 1 :] |= repeats[i - a, i + 1 - a :]
    return kept


MERGE_BLOCK = 512
"""Regions whose inside-tests `merge` computes at once (bounded memory on any screen)."""


def centred_in(inner: Sequence[float], outer: Sequence[float]) -> bool:
    """Whether `inner`'s centre row lies in the middle third of `outer`'s height (a field's placeholder,
    a button's label), not near its top (a label heading a block with its field under it)."""
    return abs((inner[1] + inner[3]) / 2 - (outer[1] + outer[3]) / 2) <= (outer[3] - outer[1]) / 6


def merge(texts: Sequence[Proposal], regions: Sequence[Proposal], words: Sequence[OcrWord]) -> list[Proposal]:
    """Text elements and regions as one list of distinct elements (rules in the module docstring).

    Which text elements and words lie in each region is one array test per block of regions (a
    busy screen has ~1000 regions: one numpy call per region was most of proposing after a change)."""
    words = words if isinstance(words, WordList) else WordList(words)
    regions = _dedupe(sorted(regions, key=lambda p: area(p.box)), 0.7)
    centres = np.array([centre(t.box) for t in texts], dtype=np.float64).reshape(len(texts), 2)
    word_centres = words.centres if len(words) else np.zeros((0, 2))
    boxes = np.array([r.box for r in regions], dtype=np.float64).reshape(len(regions), 4)
    absorbed: dict[int, float] = {}  # text element -> area of the outline that took it
    out_regions: list[Proposal] = []
    for a in range(0, len(regions), MERGE_BLOCK):
        in_text = _inside(boxes[a : a + MERGE_BLOCK], centres)
        in_word = _inside(boxes[a : a + MERGE_BLOCK], word_centres)
        counts = in_text.sum(axis=1)
        for k, r in enumerate(regions[a : a + MERGE_BLOCK]):
            n = int(counts[k])
            if n == 1:
                i = int(np.argmax(in_text[k]))
                if area(r.box) > MERGE_AREA_RATIO * area(texts[i].box):
                    continue
                if i in absorbed and (area(r.box) < NESTED_OUTLINE * absorbed[i] or not centred_in(texts[i].box, r.box)):
                    continue  # another outline of about the same size already took this label, or a block it heads
                t = texts[i]
                absorbed.setdefault(i, area(r.box))
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
    """Proposals of the last few screenshots, and their edge regions, so a repeat costs nothing and
    every round of a progressive read re-merges without recomputing edge regions. Keyed by the
    caller's image key (the OCR key: content hash of the bytes); proposals also by the words they
    were made from (a partial read grows between rounds). Thread-safe: the tool ranks in worker
    threads and the background worker warms the same screens."""

    def __init__(self, size: int = 2) -> None:
        self.size = size
        self._regions: OrderedDict[str, list[Proposal]] = OrderedDict()
        self._found: OrderedDict[tuple[str, int], Proposals] = OrderedDict()
        self._lock = threading.Lock()

    def has_regions(self, key: str) -> bool:
        with self._lock:
            return key in self._regions

    def regions(self, image: Image.Image, key: str) -> list[Proposal]:
        with self._lock:
            got = self._regions.get(key)
            if got is not None:
                self._regions.move_to_end(key)
                return got
        out = region_proposals(image)
        with self._lock:
            self._regions[key] = out
            while len(self._regions) > self.size:
                self._regions.popitem(last=False)
        return out

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
    (`unread_regions`). With a cache and the image's key, a repeat is free (`ProposalCache`); the
    result is the same either way."""
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

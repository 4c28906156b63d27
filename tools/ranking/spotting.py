"""Word spotting: which unread text lines probably show the instruction's words, judged from pixels.

WHY: a cold `rank_ui_elements` reads the screen under a recognition budget, cheapest free-standing
lines first (`ocr.cold_plan`), and answers as soon as an element's words hold the instruction. A
target that is not among the cheapest lines waited for later rounds: on the issue's Xvfb screen the
calculator's `=` key and the tk demo's QUIT button came in the third round (1.3-1.5 s), and on the dev
screenshots the line holding a literal instruction's words was outside the first round for 46 % of
the items. Recognition is what costs (a lone glyph 12-15 ms); comparing a line's ink with the
instruction's words drawn in a font costs well under a millisecond per line. So the instruction's
words are rendered (Pillow's built-in font: present wherever Pillow is, no font file to ship) and
matched against every detected line's crop (normalised cross-correlation of ink maps at a common
height, the best placement along the line, less a penalty for lines much wider than the words), and
the few best lines are recognised in the first round, on top of the budget's lines (never instead of
them). Spotting only changes the order of reading: an answer still
needs the recogniser to read the words (`screen.holds_instruction`), so a wrong guess costs a few
lines of budget and never a wrong answer.
"""

from __future__ import annotations

import functools
import math
from collections import defaultdict
from collections.abc import Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from ..symbols import SYMBOL_WORDS
from .text import instruction_terms, quoted_phrases

SPOT_HEIGHT = 12
"""Ink maps are compared at this height (pixels). 16 and 12 found the same lines (dev items below;
words in seven fonts on a generated menu, 0.70-1.00 of 40 words among the 4 chosen at either), and
sliding costs the square of it: 22 -> 15 ms a dev screenshot, 45 ms on the issue's xcalc + xterm
screen (273 lines, three words in three cases)."""

SPOT_FIRST = 4
"""Lines added to a round: the best-matching few. On the dev ui_grounding screenshots (79 items whose
instruction's content words some detected line shows) the first round (default budget) held such a
line for 57 % of the items as `cold_plan` orders them, 84 % with the 4 best spotted lines added (an
earlier prototype: 85 % with 8, at twice the extra columns); 386 columns more on average (6 % of the
budget). Chosen there, with WIDTH_PENALTY; the font was chosen for being everywhere (Pillow's own),
and it also matched better there than DejaVu Sans (67 % against 82 % in the prototype)."""

SPOT_MARGIN = 0.2
"""Only lines scoring within this of the best are added: a clear match ('Settings' on a button above a
terminal) does not bring three long terminal lines that merely correlate. On the dev items above:
the same 84 %, for 386 extra columns in round one instead of 479 (0.1: 81 %, 294; 0.3: 84 %, 429); on a
generated menu in seven fonts, the same words found."""

WIDTH_PENALTY = 0.2
"""Score = correlation - this x ln(line width / words width) for a line wider than the words: a long
paragraph line holds many shapes, and some placement along it correlates with anything (prototype on
the dev items above: 76 % with no penalty, at 2.5x the extra columns; 0.1 and 0.2 tried, 0.2 kept)."""

MAX_TERMS = 6
"""Content words drawn at most (the longest: they say most about a line). Each costs three renderings slid
along every line (~30 us a line each), so a pasted paragraph as the instruction would otherwise cost
seconds. Dev instructions have at most 6 (their figures are unchanged by the cap)."""

_RENDER_PX = 40
_INK_LEVEL = 0.35


def _symbols_for() -> dict[str, list[str]]:
    """Word -> the symbols spelled out with it ('equals' -> ['='], 'next' -> ['>', '»', '›'])."""
    out: dict[str, list[str]] = defaultdict(list)
    for sym, words in SYMBOL_WORDS.items():
        for w in words.split():
            out[w].append(sym)
    return out


_SYMBOLS = _symbols_for()


@functools.lru_cache(maxsize=1)
def _font() -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=_RENDER_PX)


def line_ink(crop: np.ndarray) -> np.ndarray | None:
    """A line crop (BGR or grey uint8) as its ink map at SPOT_HEIGHT: distance from the crop's
    border colour, scaled to 0..1 and trimmed to the ink; None when it has none. OpenCV calls on
    uint8, a few microseconds a line (a screen has 100-300 lines). The instruction's rendered words
    go through it too, so both sides of a comparison are made the same way."""
    import cv2  # here, not at import: importing the ranking package stays cheap

    if crop.shape[0] < 2 or crop.shape[1] < 2:
        return None
    grey = crop if crop.ndim == 2 else cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY)
    border = np.concatenate([grey[0], grey[-1], grey[:, 0], grey[:, -1]])
    ink = cv2.absdiff(grey, np.full_like(grey, int(np.partition(border, len(border) // 2)[len(border) // 2])))
    top = int(ink.max())
    if top == 0:
        return None
    x, y, w, h = cv2.boundingRect(cv2.findNonZero((ink >= _INK_LEVEL * top).astype(np.uint8)))
    width = max(1, round(w * SPOT_HEIGHT / h))
    small = cv2.resize(ink[y : y + h, x : x + w], (width, SPOT_HEIGHT), interpolation=cv2.INTER_AREA)
    return small.astype(np.float32) * np.float32(1.0 / top)


def texts_to_spot(instruction: str) -> list[str]:
    """What the screen would show for the instruction's words: the quoted phrase as written (and in
    lower and upper case), else each content word as written in lower, Title and UPPER case, plus
    the symbols that spell a word ('equals' -> '=', 'next' -> '›'); of the content words, the
    MAX_TERMS longest."""
    forms: dict[str, None] = {}
    for phrase in quoted_phrases(instruction)[:1]:
        for f in (phrase, phrase.upper(), phrase.lower()):
            forms[f] = None
    terms = list(dict.fromkeys(instruction_terms(instruction)))
    for term in sorted(terms, key=lambda t: -len(t))[:MAX_TERMS]:
        for f in (term, term.upper(), term.capitalize(), *_SYMBOLS.get(term, ())):
            forms[f] = None
    return [f for f in forms if f.strip()]


@functools.lru_cache(maxsize=512)
def _template(text: str) -> np.ndarray | None:
    font = _font()
    left, top, right, bottom = font.getbbox(text)
    if right <= left or bottom <= top:
        return None
    img = Image.new("L", (right - left + 8, bottom - top + 8), 0)  # a background border all round
    ImageDraw.Draw(img).text((4 - left, 4 - top), text, fill=255, font=font)
    return line_ink(np.asarray(img))


class LineSpotter:
    """The instruction's words drawn once; `first(image, boxes)` picks the lines to recognise in a
    round on top of its budget (an `ocr.FirstLines`)."""

    def __init__(self, instruction: str, *, first: int = SPOT_FIRST) -> None:
        self.templates = [t for t in (_template(s) for s in texts_to_spot(instruction)) if t is not None]
        self.count = first
        self._seen: dict[tuple[int, ...], float] = {}
        """Score per (image size, box) already judged: a call's later rounds (`OcrEngine.read_more`)
        ask again about the lines still unread, and judging each line once keeps those rounds free."""

    def scores(self, crops: Sequence[np.ndarray]) -> np.ndarray:
        """Per crop, how well some rendering of the instruction's words matches some place on it
        (-inf: no ink, or every rendering is much wider than the line): the best normalised
        cross-correlation of the rendering slid along the line's ink map (a line narrower than the
        rendering is padded with zeros), less WIDTH_PENALTY x ln(line width / rendering width)."""
        import cv2

        out = np.full(len(crops), -np.inf, dtype=np.float64)
        if not self.templates:
            return out
        for i, crop in enumerate(crops):
            line = line_ink(crop)
            if line is None:
                continue
            width = line.shape[1]
            for t in self.templates:
                wt = t.shape[1]
                if wt > 1.25 * width:  # the words are much wider than the line: not on it
                    continue
                if wt > width:
                    hay = np.zeros((SPOT_HEIGHT, wt), dtype=np.float32)
                    hay[:, :width] = line
                else:
                    hay = line
                corr = float(cv2.matchTemplate(hay, t, cv2.TM_CCOEFF_NORMED).max())
                out[i] = max(out[i], corr - WIDTH_PENALTY * max(0.0, math.log(width / wt)))
        return out

    def first(self, image: np.ndarray, boxes: np.ndarray) -> np.ndarray:
        """Per line box (n, 4: x1, y1, x2, y2 in `image`'s pixels, BGR), its place among the `count`
        best-scoring lines within SPOT_MARGIN of the best (0 = best), -1 for the others (a line no
        rendering fits is never chosen): an `ocr.FirstLines`. The boxes are cut from one grey copy of
        the image (screen text is level: no warping needed, unlike the recogniser's crops)."""
        import cv2

        place = np.full(len(boxes), -1, dtype=np.int64)
        if not self.templates or not len(boxes):
            return place
        height, width = image.shape[:2]
        cuts = []
        for x1, y1, x2, y2 in np.asarray(boxes, dtype=np.float64):
            xa, ya = max(0, int(np.floor(x1))), max(0, int(np.floor(y1)))
            cuts.append((height, width, ya, min(height, int(np.ceil(y2))), xa, min(width, int(np.ceil(x2)))))
        new = [i for i, c in enumerate(cuts) if c not in self._seen]
        if new:
            grey = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
            fresh = self.scores([grey[c[2] : c[3], c[4] : c[5]] for c in (cuts[i] for i in new)])
            self._seen.update((cuts[i], float(v)) for i, v in zip(new, fresh, strict=True))
        scores = np.array([self._seen[c] for c in cuts], dtype=np.float64)
        order = np.argsort(-scores, kind="stable")[: self.count]
        order = order[np.isfinite(scores[order])]
        if len(order):
            order = order[scores[order] >= scores[order[0]] - SPOT_MARGIN]
        place[order] = np.arange(len(order))
        return place

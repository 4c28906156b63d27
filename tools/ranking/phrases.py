"""A quoted phrase inside a longer line: the link the user named is that part of the line, not all of it.

WHY: OCR reads a line of running text or a breadcrumb as one element ("Home / Layout / Top Navigation",
"Visit Select2 documentation for more examples ..."), and an inline link is a few of its words. "Click
'Layout'" then ranked the whole line first (its words hold the phrase) and its click point, the line's
centre, fell on another word: on the dev screenshots seven quoted literal items were lost that way in the
`proposed` variant (the links 'Layout', 'Select2 documentation', 'nice()', 'collections.abc', 'Copyright',
'Sphinx', 'Please donate.'). A user who quotes words names what is shown; where those words stand in a
longer line, that span is the element.

How (`split_at_phrases`): for each quoted phrase of the instruction that no read line shows as all of
its words (such a line is the element named: 'AdminLTE' beside 'AdminLTE.io', 'Python »' beside a heading
"Python Frequently Asked Questions"), each read line whose words hold it with other words around it is cut
into the words before the phrase, the phrase, and the words after it, as `proposals.split_line` cuts a
line at wide gaps: the proposals, and the words each box holds, then come from the pieces. The phrase's
characters are mapped to columns through the line's word boxes when its ink splits into exactly as many
runs as it has words (`word_runs`: gaps of a space, tried at a few widths), else proportionally to the
characters along the line's ink. WHY cut rather than add the phrase beside the line: the line (and an
edge region in its middle, which held all of its words by the line's centre) then still held the phrase
and ranked as high; the distinct ranking listed the phrase as a copy of the line that contained it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np
from PIL import Image

from .proposals import OcrWord, WordList, _ink_runs
from .text import normalise, quoted_phrases

_TOKEN = re.compile(r"\w+", re.UNICODE)
SPACE_GAPS = (0.1, 0.14, 0.18, 0.24, 0.3)
"""Gaps (in line heights) at which a line's ink is split into word runs, tried in order until the
runs are as many as the line's words: a space is 0.2-0.35 em, the line box 1.2-1.6 em tall."""


def word_runs(grey: np.ndarray, words: int) -> list[tuple[int, int]] | None:
    """The line crop's ink split into exactly `words` runs at one of SPACE_GAPS, else None."""
    h = grey.shape[0]
    for g in SPACE_GAPS:
        runs = _ink_runs(grey, max(2, int(round(g * h))))
        if len(runs) == words:
            return runs
    return None


def phrase_span(grey: np.ndarray, line: str, start: int, end: int) -> tuple[int, int] | None:
    """Columns (in the crop) of characters [start, end) of `line`, the text OCR read from the crop."""
    tokens = [(m.start(), m.end()) for m in re.finditer(r"\S+", line)]
    if not tokens:
        return None
    runs = word_runs(grey, len(tokens))

    def column(c: int, right: bool) -> float:
        if runs is not None:
            # the token holding character c, and c's place within it
            for (t0, t1), (r0, r1) in zip(tokens, runs, strict=True):
                if t0 <= c < t1 or (right and t0 < c <= t1):
                    return r0 + (c - t0) / max(1, t1 - t0) * (r1 - r0)
            return float(runs[-1][1])
        ink = _ink_runs(grey, 1)
        if not ink:
            return 0.0
        a, b = ink[0][0], ink[-1][1]
        return a + c / max(1, len(line)) * (b - a)

    x0, x1 = int(round(column(start, False))), int(round(column(end, True)))
    return (x0, x1) if x1 > x0 else None


def find_phrase(line: str, phrase: str) -> tuple[int, int] | None:
    """Character span [start, end) of the phrase's words in the line (case-insensitive, word for word,
    punctuation around them ignored), or None; None also when the phrase is the whole line."""
    want = normalise(phrase)
    have = [(m.group().lower(), m.start(), m.end()) for m in _TOKEN.finditer(line)]
    if not want or len(want) >= len(have):
        return None
    words = list(_TOKEN.finditer(phrase))
    lead, trail = phrase[: words[0].start()], phrase[words[-1].end() :]  # "nice()": its brackets are the link's too
    for i in range(len(have) - len(want) + 1):
        if [h[0] for h in have[i : i + len(want)]] == want:
            start, end = have[i][1], have[i + len(want) - 1][2]
            if lead and line[max(0, start - len(lead)) : start] == lead:
                start -= len(lead)
            if trail and line[end : end + len(trail)] == trail:
                end += len(trail)
            return start, end
    return None


def split_at_phrases(image: Image.Image, words: Sequence[OcrWord], instruction: str | None) -> Sequence[OcrWord]:
    """`words` with each read line that holds a quoted phrase of the instruction among other words cut
    into the words before it, the phrase, and the words after it (module docstring); `words` itself
    when nothing is cut (an unquoted instruction costs nothing). The pieces keep the line's row and
    score; `deferred` and `lines_read` carry over."""
    quoted = quoted_phrases(instruction or "")
    if not quoted:
        return words
    read = [normalise(w.text) for w in words]
    # a line reading exactly the phrase is the element named: no other line is cut for it (and words
    # already cut for this instruction are left as they are: the phrase is one of them)
    phrases = [p for p in quoted if normalise(p) not in read]
    if not phrases:
        return words
    grey = np.asarray(image.convert("L"))
    out = WordList()
    cut = False
    for w in words:
        pieces = [w]
        for phrase in phrases:
            pieces = [q for piece in pieces for q in _cut(grey, piece, phrase)]
        cut |= len(pieces) > 1
        out.extend(pieces)
    if not cut:
        return words
    out.deferred = getattr(words, "deferred", ())
    out.lines_read = getattr(words, "lines_read", 0)
    return out


def _cut(grey: np.ndarray, w: OcrWord, phrase: str) -> list[OcrWord]:
    """The word cut around the phrase's first occurrence (`find_phrase`, `phrase_span`), or [w]."""
    chars = find_phrase(w.text, phrase)
    if chars is None or w.glyph:
        return [w]
    x1, y1, x2, y2 = w.box
    span = phrase_span(grey[y1:y2, x1:x2], w.text, *chars)
    if span is None:
        return [w]
    a, b = chars
    parts = [(w.text[:a].strip(), x1, x1 + span[0]), (w.text[a:b], x1 + span[0], x1 + span[1]), (w.text[b:].strip(), x1 + span[1], x2)]
    return [OcrWord(text=t, box=(l, y1, r, y2), score=w.score) for t, l, r in parts if t and r > l]

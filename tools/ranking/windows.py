"""A window's own controls: "close the calculator window" means the close button in its title bar.

WHY: such an instruction names the window by its title, so the title is the element its words match
best (rank 1 on the issue's own Xvfb screen was the calculator's title, "Calculator"), while the
button it asks for shows no word at all (an x, a box, a bar). People find it by geometry: the small
buttons in the title's row, at the end of the title bar. This module lifts them above everything
else, the one the verb asks for first.

Which instructions (`window_request`): a window verb (close, minimise, maximise, restore) and "the
<name> window" (or dialog); the name must be shown by some element (the title: every word of the
name among its words, `named_titles`). Without a name ("close the window") on a live capture, the
window in front is named by its title (`name_active_window`); with a name no element shows, or no
window in front, nothing changes.

Which elements are the window's controls (`title_controls`, geometry only, in units of the title
element's height h):
- in the title's row: the centre within h/2 of the title's centre;
- button-sized: at most 1.5 h tall, between half and twice as wide as tall;
- wordless: no words, or a symbol OCR read off the button ('x', '□', '回': at most 3 characters and
  at most one ASCII letter or digit);
- the run of such buttons nearest the title on its right (each at most two of its widths from the
  previous: the buttons sit side by side), else on its left (macOS puts them there).

Which control the verb means (`chosen`): close is the outermost one (rightmost of a run on the
right, leftmost of a run on the left: Windows, GNOME, KDE, openbox and macOS all agree); with
exactly three, minimise and maximise are placed by the same conventions (minimise, maximise, close
from left to right on the right; close, minimise, zoom on the left). Otherwise the controls keep
their own order (their icon readings: 'xmark' for a close button). No weight here was tuned on the
dev set; the conventions are the platforms'.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np
from PIL import Image

from .proposals import Proposal, Proposals, _column_runs, iou
from ..symbols import symbol_of
from .text import content_words, shows_all

_REQUEST = re.compile(
    r"\b(?P<verb>close|shut|minimi[sz]e|maximi[sz]e|restore|zoom)\b\s+(?:the\s+|this\s+|that\s+)?"
    r"(?P<name>.+?)\s+(?:window|dialog|dialogue)\b",
    re.IGNORECASE,
)
_NOT_A_NAME = frozenset("current active focused open front".split())
"""Words that say which window without naming it ("close the current window": the one in front)."""
MARGIN = 0.01
"""Score steps between the control the verb asks for, the window's other controls, and the best other element."""


def window_request(instruction: str | None) -> tuple[str, list[str]] | None:
    """(verb, the window's name as words) when the instruction asks to close, minimise, maximise or
    restore a named window; else None."""
    m = _REQUEST.search(instruction or "")
    if not m:
        return None
    name = [w for w in content_words(m.group("name")) if w not in _NOT_A_NAME]
    if not name:
        return None
    verb = m.group("verb").lower()
    verb = {"shut": "close", "zoom": "maximise"}.get(verb, verb.replace("z", "s"))
    return verb, name


_UNNAMED = re.compile(
    r"\b(?P<verb>close|shut|minimi[sz]e|maximi[sz]e|restore|zoom)\s+(?:the\s+|this\s+|that\s+)?"
    r"(?:current\s+|active\s+|focused\s+|open\s+|front\s+)?(?:window|dialog|dialogue)\b",
    re.IGNORECASE,
)
TITLE_WORDS = 4
"""At most this many words of the active window's title name it (a long title's first words: OCR must read
every word of the name in the title bar)."""


def names_no_window(instruction: str | None) -> bool:
    """Whether the instruction asks to close, minimise, maximise or restore a window it does not name."""
    return bool(instruction) and window_request(instruction) is None and _UNNAMED.search(instruction or "") is not None


def name_active_window(instruction: str | None, title: str | None) -> str | None:
    """The instruction with an unnamed window ("close this window", "close the dialog") named by the
    title of the window in front, or None (a named window, no window verb, no usable title).

    WHY: "close this window" named nothing, so nothing was lifted and the X logo of a terminal (read
    'x', spelled "close") won on the issue's own screen; the user means the window in front, whose title
    the window manager publishes (tools/activewindow.py). Only for a screen captured live: a file's
    screenshot has no window in front."""
    if not instruction or not title or not names_no_window(instruction):
        return None
    m = _UNNAMED.search(instruction)
    name = content_words(title)[:TITLE_WORDS]
    if not m or not name:
        return None
    return f"{instruction[: m.start()]}{m.group('verb')} the {' '.join(name)} window{instruction[m.end():]}"


def _wordless(text: str | None) -> bool:
    """No words, or a symbol OCR read off a button ('x', '□'): judged on the reading, not on the words a
    symbol is spelled out with ('X close times multiply': openbox's focused close button read as 'X')."""
    t = "".join(symbol_of(text or "").split())
    return len(t) <= 3 and sum(ch.isascii() and ch.isalnum() for ch in t) <= 1


def named_titles(name: Sequence[str], candidates: Sequence[Proposal], texts: Sequence[str | None]) -> list[int]:
    """Candidates showing every word of the window's name (and not spanning several elements)."""
    return [i for i, (c, t) in enumerate(zip(candidates, texts, strict=True)) if not c.container and shows_all(t, name)]


def title_controls(title: int, candidates: Sequence[Proposal], texts: Sequence[str | None]) -> tuple[list[int], str]:
    """The window controls beside a title (module docstring), in screen order left to right, and the
    side they are on ('right' or 'left'; ([], '') when none)."""
    tx1, ty1, tx2, ty2 = candidates[title].box
    h = max(1.0, ty2 - ty1)
    cy = (ty1 + ty2) / 2
    row = []
    for j, c in enumerate(candidates):
        x1, y1, x2, y2 = c.box
        w, hj = x2 - x1, y2 - y1
        if j == title or c.container or not _wordless(texts[j]):
            continue
        if abs((y1 + y2) / 2 - cy) <= h / 2 and 0 < hj <= 1.5 * h and 0.5 * hj <= w <= 2 * hj:
            row.append(j)
    for side in ("right", "left"):
        beside = [j for j in row if (candidates[j].box[0] >= tx2 if side == "right" else candidates[j].box[2] <= tx1)]
        kept = nearest_run([candidates[j].box for j in beside], side)
        if kept:
            return sorted((beside[k] for k in kept), key=lambda j: candidates[j].box[0]), side
    return [], ""


def nearest_run(boxes: Sequence[Sequence[float]], side: str, *, alike: bool = False) -> list[int]:
    """Indices of the run of `boxes` nearest the title on `side`, nearest first: each next box at most
    two of the previous one's widths from it (the buttons sit side by side); with `alike`, also within
    1.5x its width and height (a button like the others, not the window's frame beyond them)."""
    order = sorted(range(len(boxes)), key=lambda k: boxes[k][0] if side == "right" else -boxes[k][2])
    kept = order[:1]
    for k in order[1:]:
        prev, box = boxes[kept[-1]], boxes[k]
        gap = box[0] - prev[2] if side == "right" else prev[0] - box[2]
        pw, ph, w, h = prev[2] - prev[0], prev[3] - prev[1], box[2] - box[0], box[3] - box[1]
        if gap > 2 * pw or (alike and not (pw / 1.5 <= w <= 1.5 * pw and ph / 1.5 <= h <= 1.5 * ph)):
            break
        kept.append(k)
    return kept


def row_buttons(grey: np.ndarray, title: Sequence[float], side: str) -> list[tuple[int, int, int, int]]:
    """Boxes of button-sized ink in the title's row on one side of it, nearest first, looked for in the
    pixels: for title bars whose buttons neither OCR nor the edge regions found (the focused window's
    bar on the issue's screen: the buttons' outlines touch the bar's lower edge, and the edge
    component they make spans the bar, too wide to be proposed).

    The row: 0.8 title heights h above and below the title's centre, up to 12 h from the title. The
    bar's colour, per pixel row: the median of the columns right beside the title. Ink: a pixel off
    that colour by more than 40 grey levels. A button: a run of ink columns (split at gaps of 2 px or
    more) whose ink rows are 6 px to 1.5 h tall and between half and twice as wide as tall; the run of
    such boxes nearest the title is kept (`nearest_run`, alike: the frame and the desktop beyond the
    buttons make a wider box)."""
    x1, y1, x2, y2 = (float(v) for v in title)
    h = max(1.0, y2 - y1)
    cy = (y1 + y2) / 2
    top, bottom = max(0, int(cy - 0.8 * h)), min(grey.shape[0], int(cy + 0.8 * h) + 1)
    lo, hi = (int(x2), min(grey.shape[1], int(x2 + 12 * h))) if side == "right" else (max(0, int(x1 - 12 * h)), int(x1))
    band = grey[top:bottom, lo:hi].astype(np.float32)
    near = max(3, int(h / 2))
    if band.shape[0] < 6 or band.shape[1] <= near:
        return []
    bar = np.median(band[:, :near] if side == "right" else band[:, -near:], axis=1, keepdims=True)
    ink = np.abs(band - bar) > 40
    boxes = []
    for a, b in _column_runs(ink.any(axis=0), 2):
        rows = np.flatnonzero(ink[:, a:b].any(axis=1))
        bh = int(rows[-1] - rows[0] + 1)
        if 6 <= bh <= 1.5 * h and 0.5 * bh <= b - a <= 2 * bh:
            boxes.append((lo + a, top + int(rows[0]), lo + b, top + int(rows[-1]) + 1))
    return [boxes[k] for k in nearest_run(boxes, side, alike=True)]


def run_continued(grey: np.ndarray, run: Sequence[Sequence[float]], side: str, most: int = 2) -> list[tuple[int, int, int, int]]:
    """Buttons continuing a run of evenly spaced title-bar buttons outward (away from the title), found
    in the pixels of the next slot: the run's pitch on, the same rows, ink (off the bar's colour between
    the last two buttons by more than 40 grey levels) 0.7-1.3 times a button's width, at most 80 % of the
    slot inked, and the bar's colour between it and the run (not the frame, not the desktop beyond it).
    At most `most`.
    Needs two buttons of the run (the pitch); none when the run is not evenly spaced (3 px)."""
    boxes = sorted((tuple(int(v) for v in b) for b in run), key=lambda b: b[0])
    if len(boxes) < 2:
        return []
    pitches = [b[0] - a[0] for a, b in zip(boxes, boxes[1:], strict=False)]
    pitch = pitches[0]
    if pitch <= 0 or any(abs(p - pitch) > 3 for p in pitches):
        return []
    a, b = (boxes[-2], boxes[-1]) if side == "right" else (boxes[1], boxes[0])
    y1, y2 = min(v[1] for v in boxes), max(v[3] for v in boxes)
    gap = grey[y1:y2, min(a[2], b[2]) : max(a[0], b[0])] if side == "right" else grey[y1:y2, b[2] : a[0]]
    if gap.size == 0:
        return []
    bar = np.median(gap.astype(np.float32), axis=1, keepdims=True)
    out: list[tuple[int, int, int, int]] = []
    last = b
    step = pitch if side == "right" else -pitch
    width = last[2] - last[0]
    for _ in range(most):
        x1, x2 = last[0] + step, last[2] + step
        if x1 < 0 or x2 > grey.shape[1]:
            break
        ink = np.abs(grey[y1:y2, x1:x2].astype(np.float32) - bar) > 40
        g1, g2 = (last[2], x1) if side == "right" else (x2, last[0])
        between = np.abs(grey[y1:y2, g1:g2].astype(np.float32) - bar) > 40
        cols = np.flatnonzero(ink.any(axis=0))
        if (
            not len(cols) or not 0.7 * width <= cols[-1] - cols[0] + 1 <= 1.3 * width
            or ink.mean() > 0.8 or (between.size and between.mean() > 0.2)
        ):
            break  # no button-sized ink there, or not on the bar (the frame, the desktop beyond it)
        last = (x1, last[1], x2, last[3])
        out.append(last)
    return out


def with_row_buttons(
    image: Image.Image, instruction: str | None, found: Proposals, texts: Sequence[str | None]
) -> Proposals:
    """`found` plus the buttons `row_buttons` sees beside the named window's title that no proposal covers,
    when the instruction is a window request and some element shows the name; else `found` as it is. Right
    of the title first, then left (macOS) when no proposal stands on the right either. WHY the right first
    even with a proposal on the left: a title bar's left end holds the window's own icon (the Tk demo's on
    the issue's screen), which a run on the left would otherwise be taken for. WHY also beside proposed
    buttons: on a JPEG capture of openbox's focused bar the close button, against the frame's edge, was
    no edge region while minimise and maximise were, and close is the outermost of the run (`chosen`):
    "close this window" clicked maximise."""
    request = window_request(instruction)
    if request is None:
        return found
    titles = named_titles(request[1], found.items, texts)
    if not titles:
        return found
    runs = [title_controls(t, found.items, texts) for t in titles]
    grey = np.asarray(image.convert("L"))
    added: list[Proposal] = []
    for t, (controls, has) in zip(titles, runs, strict=True):
        if has == "right" or (has == "left" and len(controls) >= 2):
            boxes = run_continued(grey, [found.items[j].box for j in controls], has)
        else:
            boxes = []
            for side in ("right",) if has == "left" else ("right", "left"):
                boxes = row_buttons(grey, found.items[t].box, side)
                if boxes:
                    break
        taken = [q.box for q in (*found.items, *added)]
        added += [Proposal(box=b, source="region") for b in boxes if all(iou(b, q) < 0.3 for q in taken)]
    if not added:
        return found
    return found.model_copy(update={"items": [*found.items, *added], "found": found.found + len(added)})


def chosen(verb: str, controls: Sequence[int], side: str) -> int | None:
    """The control the verb asks for by the platforms' conventions (module docstring), or None."""
    if not controls:
        return None
    if verb == "close":
        return controls[-1] if side == "right" else controls[0]
    if len(controls) == 3:
        place = {("minimise", "right"): 0, ("maximise", "right"): 1, ("restore", "right"): 1,
                 ("minimise", "left"): 1, ("maximise", "left"): 2, ("restore", "left"): 2}.get((verb, side))
        return None if place is None else controls[place]
    return None


def asked_control(instruction: str | None, candidates: Sequence[Proposal], texts: Sequence[str | None], index: int) -> bool:
    """Whether candidate `index` is the control the verb asks for (`chosen`) beside a title showing the
    named window's name: the answer a read that has not seen the rest of the screen can give (the
    ranking's partial reads, tools/ranking/screen.py): it needs the title's words and the buttons'
    places, not their pixels."""
    request = window_request(instruction)
    if request is None:
        return False
    verb, name = request
    for title in named_titles(name, candidates, texts):
        controls, side = title_controls(title, candidates, texts)
        if index in controls and chosen(verb, controls, side) == index:
            return True
    return False


def lift_controls(
    instruction: str | None, candidates: Sequence[Proposal], texts: Sequence[str | None], scores: np.ndarray
) -> np.ndarray:
    """Scores with the named window's controls above every other element, the one the verb asks for
    first (module docstring); `scores` unchanged when the instruction names no window or none is found."""
    request = window_request(instruction)
    if request is None or not len(scores):
        return scores
    verb, name = request
    titles = named_titles(name, candidates, texts)
    if not titles:
        return scores
    title = max(titles, key=lambda i: scores[i])  # the title the words match best, if the name is shown twice
    controls, side = title_controls(title, candidates, texts)
    if not controls:
        return scores
    out = np.asarray(scores, dtype=np.float64).copy()
    others = np.delete(out, controls)
    top = float(others.max()) if len(others) else 0.0
    lift = top + MARGIN - min(out[j] for j in controls)
    for j in controls:
        out[j] += lift
    pick = chosen(verb, controls, side)
    if pick is not None:
        out[pick] = max(out[j] for j in controls) + MARGIN
    return out

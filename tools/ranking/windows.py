"""A window's own controls: "close the calculator window" means the close button in its title bar.

WHY: such an instruction names the window by its title, so the title is the element its words match
best (rank 1 on the issue's own Xvfb screen was the calculator's title, "Calculator"), while the
button it asks for shows no word at all (an x, a box, a bar). People find it by geometry: the small
buttons in the title's row, at the end of the title bar. This module lifts them above everything
else, the one the verb asks for first.

Which instructions (`window_request`): a window verb (close, minimise, maximise, restore) and "the
<name> window" (or dialog); the name must be shown by some element (the title: every word of the
name among its words, `named_titles`). Without a name ("close the window"), or with a name no
element shows, nothing changes.

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

from .proposals import Proposal, Proposals, _column_runs
from .text import content_words, shows_all

_REQUEST = re.compile(
    r"\b(?P<verb>close|shut|minimi[sz]e|maximi[sz]e|restore|zoom)\b\s+(?:the\s+|this\s+|that\s+)?"
    r"(?P<name>.+?)\s+(?:window|dialog|dialogue)\b",
    re.IGNORECASE,
)
MARGIN = 0.01
"""Score steps between the control the verb asks for, the window's other controls, and the best other element."""


def window_request(instruction: str | None) -> tuple[str, list[str]] | None:
    """(verb, the window's name as words) when the instruction asks to close, minimise, maximise or
    restore a named window; else None."""
    m = _REQUEST.search(instruction or "")
    if not m:
        return None
    name = content_words(m.group("name"))
    if not name:
        return None
    verb = m.group("verb").lower()
    verb = {"shut": "close", "zoom": "maximise"}.get(verb, verb.replace("z", "s"))
    return verb, name


def _wordless(text: str | None) -> bool:
    t = "".join((text or "").split())
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


def with_row_buttons(
    image: Image.Image, instruction: str | None, found: Proposals, texts: Sequence[str | None]
) -> Proposals:
    """`found` plus the buttons `row_buttons` sees beside the named window's title, when the instruction
    is a window request, some element shows the name, and no proposal stands where a control would on
    its right (`title_controls`); else `found` as it is. Right of the title first, then left (macOS),
    where no proposal stands either. WHY the right first even with a proposal on the left: a title
    bar's left end holds the window's own icon (the Tk demo's on the issue's screen), which a run on the
    left would otherwise be taken for."""
    request = window_request(instruction)
    if request is None:
        return found
    titles = named_titles(request[1], found.items, texts)
    sides = [title_controls(t, found.items, texts)[1] for t in titles]
    if not titles or "right" in sides:
        return found
    grey = np.asarray(image.convert("L"))
    added: list[Proposal] = []
    for t, has in zip(titles, sides, strict=True):
        for side in ("right",) if has == "left" else ("right", "left"):
            boxes = row_buttons(grey, found.items[t].box, side)
            if boxes:
                added += [Proposal(box=b, source="region") for b in boxes]
                break
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

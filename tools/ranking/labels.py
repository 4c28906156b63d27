"""A label's own control, for proposed candidates: "Tick the 'Check me out' checkbox" means the box beside those words.

WHY: without an accessibility tree (`rank_ui_elements` proposing its own candidates) a form's controls
are edge regions without words, and the instruction's words match the label beside them: "Tick the
'remove after drop' checkbox" ranked the label first and clicked the words (a click on a <label> does
toggle its checkbox in a browser, but not in most desktop toolkits, and never when the label is plain
text), "Enter text in the 'Project Name' box" clicked the label above the field. People read a form by
geometry: the small box right before a label is its checkbox or radio, the wide box under (or after) a
label is its field. This module lifts that control above the label, and only that: when the
instruction asks for a kind of control and some element shows its words.

Which instructions (`control_kind`): ticking ("tick", "check ... box", "checkbox", "radio", "toggle
switch": `roles.wanted_roles`), choosing an "option" (a radio button beside its label), and typing
("type", "fill in", "enter ... box/field", a field noun). Which label: the best-scoring element whose
words hold every content word of the instruction (its quoted phrase, else its words without the
command and kind words). Which control (geometry only, in units of t, half the label's box height: its
text height when the box is a read line's, padded by half a height above and below; less when the box is
an outline drawn tight around the words):
- tick / option: a wordless element, square-ish (0.6-1.6 as wide as tall, at most 3 t tall), centred in
  the label's row, ending at most 3 t before the label starts (else starting at most 3 t after it ends:
  a toggle switch); the nearest;
- type: a wordless element at least 4 times as wide as tall and at least t tall, starting at most 3 t
  under the label and overlapping its columns (the field under its label), else in the label's row
  starting at most 4 t after it; the nearest.
Candidates with roles (given by the caller) are left alone: their roles already say which is the
checkbox (`roles.role_fit`). No weight here was tuned on the dev set; the distances are a form's.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

from .proposals import Proposal
from .roles import CHOICE, EDITABLE, TICK, wanted_roles
from .text import instruction_terms, normalise, quoted_phrases, spelled_out

MARGIN = 0.01
"""The control ends this much above the best other element (its label, usually)."""
_KIND_WORDS = frozenset("tick untick check uncheck checkbox box radio option toggle switch field input text textbox type fill enter".split())
_TYPE_WITH_BOX = re.compile(r"\b(enter|type|write|fill)\b.*\b(box|field|input)\b")


def control_kind(instruction: str | None) -> str | None:
    """'tick' (a checkbox, radio or switch), 'type' (a field), or None (module docstring)."""
    if not instruction:
        return None
    want, _ = wanted_roles(instruction)
    text = instruction.lower()
    if want & TICK or (want & CHOICE and re.search(r"\boption\b", text)):
        return "tick"
    if want & EDITABLE or _TYPE_WITH_BOX.search(text):
        return "type"
    return None


def label_terms(instruction: str) -> list[str]:
    """The words the label must show: a quoted phrase as quoted ('Check me out'), else the content words
    without the command and kind words ("tick the remember me box": remember, me)."""
    terms = instruction_terms(instruction)
    if quoted_phrases(instruction):
        return terms
    return [t for t in terms if t not in _KIND_WORDS] or terms


def label_control(kind: str, label: int, candidates: Sequence[Proposal], texts: Sequence[str | None]) -> int | None:
    """The control of `kind` beside the label candidate (module docstring), or None."""
    lx1, ly1, lx2, ly2 = candidates[label].box
    t = max(1.0, (ly2 - ly1) / 2)
    best: tuple[float, int] | None = None
    for j, c in enumerate(candidates):
        if j == label or c.container or texts[j]:
            continue
        x1, y1, x2, y2 = c.box
        w, h = x2 - x1, y2 - y1
        if w <= 0 or h <= 0:
            continue
        in_row = ly1 <= (y1 + y2) / 2 <= ly2
        if kind == "tick":
            if not (0.6 * h <= w <= 1.6 * h and h <= 3 * t and in_row):
                continue
            before, after = lx1 - x2, x1 - lx2
            gap = before if -t <= before <= 3 * t else after + 1000 if -t <= after <= 3 * t else None
        else:
            if not (w >= 4 * h and h >= t):
                continue
            below = y1 - ly2
            if -t <= below <= 3 * t and x1 < lx2 and x2 > lx1:
                gap = below
            elif in_row and -t <= x1 - lx2 <= 4 * t:
                gap = x1 - lx2 + 1000
            else:
                gap = None
        if gap is not None and (best is None or gap < best[0]):
            best = (gap, j)
    return None if best is None else best[1]


def asked_label_control(instruction: str | None, candidates: Sequence[Proposal], texts: Sequence[str | None], index: int) -> bool:
    """Whether candidate `index` is the control of the kind asked for beside a label showing the
    instruction's words: the answer a partial read can give (tools/ranking/screen.py), as the label's
    words hold the instruction where the control shows none."""
    kind = control_kind(instruction)
    if kind is None or any(c.role for c in candidates):
        return False
    terms = label_terms(instruction or "")
    return any(
        label_control(kind, i, candidates, texts) == index
        for i, x in enumerate(texts) if x and set(terms) <= set(normalise(spelled_out(x)))
    )


def lift_label_control(
    instruction: str | None, candidates: Sequence[Proposal], texts: Sequence[str | None], scores: np.ndarray
) -> np.ndarray:
    """Scores with the named label's control just above the best other element (module docstring);
    `scores` unchanged when the instruction asks for no control, a candidate has a role, no label
    shows the words, or no control stands beside it."""
    kind = control_kind(instruction)
    if kind is None or not len(scores) or any(c.role for c in candidates):
        return scores
    terms = label_terms(instruction or "")
    labels = [i for i, x in enumerate(texts) if x and set(terms) <= set(normalise(spelled_out(x)))]
    if not labels:
        return scores
    label = max(labels, key=lambda i: scores[i])
    control = label_control(kind, label, candidates, texts)
    if control is None:
        return scores
    out = np.asarray(scores, dtype=np.float64).copy()
    out[control] = float(np.delete(out, [control]).max()) + MARGIN
    return out

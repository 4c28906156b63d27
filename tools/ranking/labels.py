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
switch": `roles.wanted_roles`), choosing an "option" (a radio button beside its label, else the
dropdown under it), typing ("type", "fill in", "enter ... box/field", a field noun), and pressing a
field's button (a press verb naming the field: "Submit the comment"). Which label: below. Which
control (geometry only, in units of L, the label's box height: its line padded by half a height above
and below, or an outline drawn tight around the words; an edge region inside a read word's box, clear
of its ends by L/2, is a piece of its letters and never a control):
- tick / option: a wordless edge region, square-ish (0.6-1.6 as wide as tall, at most 1.6 L tall),
  centred in the label's row, ending at most 1.5 L before the label starts (else starting at most 1.5 L
  after it ends: a toggle switch); the nearest; when the label's own box finds none, the box its words
  span (an edge region inside a label took its words);
- type: an edge region at least 4 times as wide as tall and at least L/2 tall (a placeholder's words
  may be inside: `shows_in_field`; an outline its words fill is a link's, not a field), starting at
  most 1.5 L under the label and overlapping its columns (the field under its label), else in the
  label's row starting at most 2 L after it; the nearest.
- type, when the label is itself a field showing the words (a placeholder centred in a wide outline:
  `shows_in_field`): that field.
- press ("Submit the comment", "Run the quick search": a press verb naming a field, `roles.wanted_roles`),
  the button that sends the label's field (`field_button`, what forms.py does with roles): the field
  is the label itself when it shows the words, else the field under or after it (a text area too: at
  least 2 times as wide as tall); its button is the nearest button-like element right after it in its
  row, else under it in its columns. Only a label that has such a field and button lifts anything.
Labels are whole elements (`whole`: never a piece of a longer line) and never containers; the label
taken is the best-scoring one showing the asked words that has the control (a link showing the same
noun has none). Candidates with roles (given by the caller) are left alone: their roles already say
which is the checkbox (`roles.role_fit`, `forms.inherit`). No weight here was tuned on the dev set;
the distances are a form's.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

from .proposals import OcrWord, Proposal, centred_in, word_boxes_in, words_in
from .forms import BELOW_GAP, ROW_GAP
from .roles import CHOICE, EDITABLE, PRESS, TICK, wanted_roles
from .text import instruction_terms, quoted_phrases, shows_all

MARGIN = 0.01
"""The control ends this much above the best other element (its label, usually)."""
_KIND_WORDS = frozenset(
    "tick untick check uncheck checkbox box radio option toggle switch field input text textbox type fill enter write put here "
    "submit send run confirm press click button".split()
)
"""Command and kind words an unquoted instruction's label does not show ("Write your city here": city)."""
_TYPE_WITH_BOX = re.compile(r"\b(enter|type|write|fill)\b.*\b(box|field|input)\b")


def control_kind(instruction: str | None) -> str | None:
    """'tick' (a checkbox, radio or switch), 'option' (a radio button, else a dropdown: "Pick a
    currency option"), 'type' (a field), 'press' (the button of a field the instruction names: "Submit
    the comment"), or None (module docstring)."""
    if not instruction:
        return None
    want, avoid = wanted_roles(instruction)
    text = instruction.lower()
    if want & CHOICE and re.search(r"\boption\b", text):
        return "option"
    if want & TICK:
        return "tick"
    if want & EDITABLE or _TYPE_WITH_BOX.search(text):
        return "type"
    if want & PRESS and avoid & EDITABLE:
        return "press"
    return None


def label_terms(instruction: str) -> list[str]:
    """The words the label must show: a quoted phrase as quoted ('Check me out'), else the content words
    without the command and kind words ("tick the newsletter box": newsletter)."""
    terms = instruction_terms(instruction)
    if quoted_phrases(instruction):
        return terms
    return [t for t in terms if t not in _KIND_WORDS] or terms


def label_control(
    kind: str, label: int, candidates: Sequence[Proposal], texts: Sequence[str | None], words: Sequence[OcrWord] = (),
) -> int | None:
    """The control of `kind` beside the label candidate (module docstring), or None."""
    found = _control_beside(kind, label, candidates[label].box, candidates, texts, words)
    if found is None and kind == "tick" and words:
        # an edge region inside a label took its words (proposals.merge): the label is as wide and as tall as
        # they are (for a checkbox only: a field looked for under a taller label found the next form row's)
        x1, y1, x2, y2 = candidates[label].box
        own = word_boxes_in(candidates[label].box, words)
        wider = (min([x1, *own[:, 0]]), min([y1, *own[:, 1]]), max([x2, *own[:, 2]]), max([y2, *own[:, 3]]))
        if wider != (x1, y1, x2, y2):
            found = _control_beside(kind, label, wider, candidates, texts, words)
    return found


def _control_beside(
    kind: str, label: int, box: Sequence[float], candidates: Sequence[Proposal], texts: Sequence[str | None], words: Sequence[OcrWord],
) -> int | None:
    """`label_control` for the label standing at `box`: "tick", "type" or "field" (a press's field: a
    text area too)."""
    lx1, ly1, lx2, ly2 = box
    t = max(1.0, ly2 - ly1)  # the label's height: its line padded by half a height each way, or an outline drawn tight
    letters = np.array([w.box for w in words], dtype=np.float64).reshape(-1, 4)
    best: tuple[float, int] | None = None
    for j, c in enumerate(candidates):
        if j == label or c.container or c.source != "region":
            continue
        x1, y1, x2, y2 = c.box
        w, h = x2 - x1, y2 - y1
        if w <= 0 or h <= 0:
            continue
        cy = (y1 + y2) / 2
        if len(letters) and bool(
            ((letters[:, 0] + t / 2 < x1) & (x2 < letters[:, 2] - t / 2) & (letters[:, 1] <= cy) & (cy < letters[:, 3])).any()
        ):
            continue  # inside a read word, clear of its ends: a piece of its letters (a checkbox OCR took into the line's box sits at its start)
        in_row = ly1 <= cy <= ly2
        if kind == "tick":
            if texts[j] or not (0.6 * h <= w <= 1.6 * h and h <= 1.6 * t and in_row):
                continue
            before, after = lx1 - x2, x1 - lx2
            gap = before if -t / 2 <= before <= 1.5 * t else after + 1000 if -t / 2 <= after <= 1.5 * t else None
        else:  # a field: "type" wants a one-line field, "field" (the field a press names) a text area too
            if not (w >= (4 if kind == "type" else 2) * h and h >= t / 2) or (texts[j] and not shows_in_field(c, words)):
                continue  # not field-shaped, or an outline its words fill (a link's), not a placeholder's field
            below = y1 - ly2
            if -t / 2 <= below <= 1.5 * t and x1 < lx2 and x2 > lx1:
                gap = below
            elif in_row and -t / 2 <= x1 - lx2 <= 2 * t:
                gap = x1 - lx2 + 1000
            else:
                gap = None
        if gap is not None and (best is None or gap < best[0]):
            best = (gap, j)
    return None if best is None else best[1]


def _control_of(kind: str, label: int, candidates: Sequence[Proposal], texts: Sequence[str | None], words: Sequence[OcrWord]) -> int | None:
    """The control beside the label, or the label itself when it is a field showing the words (a
    placeholder or a chosen value centred in a wide outline: `shows_in_field`); for "press", the button
    of the label's field (`field_button`)."""
    if kind == "press":
        field = label if shows_in_field(candidates[label], words) else label_control("field", label, candidates, texts, words)
        return None if field is None else field_button(field, candidates, texts)
    if kind == "option":  # a radio button beside the label, else the dropdown under it
        radio = label_control("tick", label, candidates, texts, words)
        return radio if radio is not None else _control_of("type", label, candidates, texts, words)
    if kind == "type" and shows_in_field(candidates[label], words):
        return label
    return label_control(kind, label, candidates, texts, words)


def field_button(field: int, candidates: Sequence[Proposal], texts: Sequence[str | None]) -> int | None:
    """The button that sends a field, by geometry alone (forms.py does it with roles): the nearest
    button-like element right after the field in its row (starting at most ROW_GAP units right of its
    end, overlapping half its height), else the nearest one under it, starting within its columns and
    at most BELOW_GAP units under it; a unit is the field's height, at most 40 px (a text area is tall,
    its button is not further away). Button-like: a short label (at most 3 words) not wider than 4 of its
    heights, or a wordless box 0.5-3 units wide."""
    fx1, fy1, fx2, fy2 = candidates[field].box
    u = min(40.0, max(1.0, fy2 - fy1))
    row: list[tuple[float, int]] = []
    below: list[tuple[float, float, int]] = []
    for j, c in enumerate(candidates):
        if j == field or c.container:
            continue
        x1, y1, x2, y2 = c.box
        w, h = x2 - x1, y2 - y1
        if h <= 0 or not (
            (texts[j] and len(texts[j].split()) <= 3 and w <= 4 * h) or (not texts[j] and 0.5 * u <= w <= 3 * u and h <= 1.5 * u)
        ):
            continue
        overlap = max(0.0, min(y2, fy2) - max(y1, fy1)) / max(1.0, min(h, fy2 - fy1))
        if overlap >= 0.5 and fx2 - 0.25 * u <= x1 <= fx2 + ROW_GAP * u:
            row.append((x1, j))
        elif fx1 - 0.25 * u <= x1 < fx2 and fy2 - 0.25 * u <= y1 <= fy2 + BELOW_GAP * u:
            below.append((y1, x1, j))
    if row:
        return min(row)[1]
    return min(below)[2] if below else None


def shows_in_field(candidate: Proposal, words: Sequence[OcrWord]) -> bool:
    """Whether a proposed region is field-shaped (at least 4 times as wide as tall) around words centred
    in it, their (detector's) box at most 0.75 of its height (a placeholder, a dropdown's chosen value):
    the field itself, not its label.
    WHY: an outline kept around a placeholder ('Username' in the Username field) showed the label's words,
    and the field under it was taken for its control."""
    if candidate.source != "region" or candidate.container or not words:
        return False
    x1, y1, x2, y2 = candidate.box
    w, h = x2 - x1, y2 - y1
    if h <= 0 or w < 4 * h:
        return False
    inside = word_boxes_in(candidate.box, words)
    return bool(len(inside)) and all(b[3] - b[1] <= 0.75 * h and centred_in(b, candidate.box) for b in inside)


def whole(candidate: Proposal, words: Sequence[OcrWord]) -> bool:
    """Whether a candidate's words are its own (a label, a read line, a word inside its box), not a piece
    of a longer read line (`score.line_pieces_in`): a label is a whole line, and a piece's tight box
    ('Name' of the link 'Name badges') would find the next line's outline under it as a field."""
    return bool(candidate.label or candidate.text or candidate.source != "region" or words_in(candidate.box, words))


def asked_label_control(
    instruction: str | None, candidates: Sequence[Proposal], texts: Sequence[str | None], index: int,
    words: Sequence[OcrWord] = (),
) -> bool:
    """Whether candidate `index` is the control of the kind asked for beside a label whose words hold
    every label word of the instruction (`label_terms`): the answer a partial read can give
    (tools/ranking/screen.py), as the label's words hold the instruction where the control shows none."""
    kind = control_kind(instruction)
    if kind is None or any(c.role for c in candidates):
        return False
    terms = label_terms(instruction or "")
    return any(_control_of(kind, i, candidates, texts, words) == index for i, x in enumerate(texts) if shows_all(x, terms))


def lift_label_control(
    instruction: str | None, candidates: Sequence[Proposal], texts: Sequence[str | None], scores: np.ndarray,
    words: Sequence[OcrWord] = (),
) -> np.ndarray:
    """Scores with the label's control just above the best other element (module docstring); `scores`
    unchanged when the instruction asks for no control, a candidate has a role, no label is found, or no
    control stands beside it. The label: the best-scoring element showing the instruction's label words
    (`label_terms`) that has such a control; else, unquoted, the best-scoring element with words (the
    words matched it best)."""
    kind = control_kind(instruction)
    if kind is None or not len(scores) or any(c.role for c in candidates):
        return scores
    terms = label_terms(instruction or "")
    holding = sorted(
        (i for i, x in enumerate(texts) if shows_all(x, terms) and not candidates[i].container and whole(candidates[i], words)),
        key=lambda i: -scores[i],
    )
    # the best-scoring label showing the asked words that has such a control: a link showing the same
    # noun ('Name badges' beside a form's 'Full name') has none
    control = next((c for c in (_control_of(kind, i, candidates, texts, words) for i in holding) if c is not None), None)
    if control is None and kind != "press" and not quoted_phrases(instruction or ""):
        labels = [i for i, x in enumerate(texts) if x and not candidates[i].container and whole(candidates[i], words)]
        if labels:
            control = _control_of(kind, max(labels, key=lambda i: scores[i]), candidates, texts, words)
    if control is None:
        return scores
    # the control and what lies inside it (a field's placeholder: ranking lists a box below the element
    # it holds, score.distinct_order, and a click on the placeholder is a click in the field)
    cx1, cy1, cx2, cy2 = candidates[control].box
    lifted = [j for j, c in enumerate(candidates) if j == control or (cx1 <= c.box[0] and cy1 <= c.box[1] and c.box[2] <= cx2 and c.box[3] <= cy2)]
    out = np.asarray(scores, dtype=np.float64).copy()
    rest = np.delete(out, lifted)
    out[lifted] = (float(rest.max()) if len(rest) else float(out.max())) + MARGIN
    return out

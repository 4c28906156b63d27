"""A field's own button: a press instruction that names a field means the button that sends it.

WHY: "submit the search", "run the quick search", "send the newsletter signup" are PRESS
instructions whose words name a FIELD (or the form the fields make up), not the button: the button
shows "Go", an arrow or a magnifier, words that say nothing of the instruction. The field matches
the words far better (cosine and text match), and role fit (roles.py, +-W_ROLE) only narrows the
gap: on held-out form screens a search field beat its own button in most press items. People read
such a page by geometry: the button right beside a field, or the button under a column of fields,
is the one that acts on it. This module gives that button the field's evidence.

Which button belongs to a field (roles only; geometry in units of the field's height h):
- **same row**: the nearest button-role candidate right after the field: vertically overlapping it
  by at least half of the smaller height, starting at most ROW_GAP * h right of the field's right
  edge (a search box's "Go" or magnifier sits against it; a toolbar button further on does not);
- **below, in the same form**: walk down the column the field stands in: the nearest field or
  button below that starts within the field's horizontal span, at most BELOW_GAP * h under the
  previous one (checkboxes, hints and labels in between are skipped). The first button reached is
  the form's button; every field of the column shares it. The buttons of that button's row
  (starting within the field's span, vertically overlapping it) all take part: which of "Save" and
  "Cancel" is meant is left to their own words.

How the evidence passes (`inherit`): only when the instruction asks to press and rules out an
editable field (roles.wanted_roles: press verbs). A field's evidence is its cosine and text-match
part of the score (no role term); its button's evidence becomes
max(own, SHARE * field + (1 - SHARE) * own), the best over the fields it belongs to. The button's
own part keeps the buttons of one row apart; with SHARE high the button ends above its field by
about 2 * W_ROLE (role fit favours it, disfavours the field).

Without roles (the `boxes` and `proposed` variants: no accessibility tree) nothing changes: a
box's kind is unknown, and a guess from shape alone (a wide box, a small box right of it) would
also fire on a text line and the icon after it. Geometry and roles only: no words, no phrases.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .proposals import Proposal
from .roles import PRESS, wanted_roles

FIELDS = frozenset({"textbox", "searchbox", "textarea", "input", "combobox"})
"""Roles a user fills in and then sends with a button (roles.EDITABLE without spinbutton, whose
arrows are its own buttons)."""
ROW_GAP = 1.0
"""A same-row button starts at most this many field heights right of the field (a search box's
button is attached or a few pixels away; the next toolbar item is further)."""
BELOW_GAP = 3.0
"""Down a column, the next field or button starts at most this many field heights below the previous
element of the column (a label row, a hint or two checkbox rows fit in; the page's next section
usually does not)."""
SHARE = 0.8
"""Share of a field's evidence its button takes (rest: the button's own, which tells "Save" from
"Cancel"). Chosen on held-out generated form screens (bench/heldout_grounding.py --forms --share S,
seeds 1000-1011): press items 0.29 at 0, 0.42 at 0.6, 0.75 at 0.7, and a plateau from 0.75 to 1.0
(button right of the field 1.0, under it 1.0); 0.8 sits inside it. Not tuned on dev data."""


def _kind(role: str | None) -> str | None:
    r = (role or "").strip().lower()
    return "field" if r in FIELDS else "button" if r in PRESS else None


def _v_overlap(a: Sequence[float], b: Sequence[float]) -> float:
    """Vertical overlap of two boxes as a share of the smaller height."""
    inter = min(a[3], b[3]) - max(a[1], b[1])
    return max(0.0, inter) / max(1.0, min(a[3] - a[1], b[3] - b[1]))


def own_buttons(candidates: Sequence[Proposal]) -> dict[int, list[int]]:
    """Per field candidate (by index), the buttons that act on it (see the module docstring); fields
    with none are left out. Empty when no candidate has a role."""
    kinds = [_kind(c.role) for c in candidates]
    if "field" not in kinds or "button" not in kinds:
        return {}
    boxes = [c.box for c in candidates]
    out: dict[int, list[int]] = {}
    for i, k in enumerate(kinds):
        if k != "field":
            continue
        f = boxes[i]
        h = max(1.0, f[3] - f[1])
        row = [
            j for j, kj in enumerate(kinds)
            if kj == "button" and _v_overlap(f, boxes[j]) >= 0.5 and f[2] - 0.25 * h <= boxes[j][0] <= f[2] + ROW_GAP * h
        ]
        if row:
            out[i] = [min(row, key=lambda j: boxes[j][0])]
            continue
        below = _button_below(i, kinds, boxes)
        if below:
            out[i] = below
    return out


def _button_below(i: int, kinds: Sequence[str | None], boxes: Sequence[Sequence[float]]) -> list[int]:
    """The button row that ends the column of fields under field i, or [] (see the module docstring)."""
    f = boxes[i]
    h = max(1.0, f[3] - f[1])
    x1, x2 = f[0], f[2]
    bottom = f[3]
    seen = {i}
    while True:
        nxt = [
            j for j, kj in enumerate(kinds)
            if kj and j not in seen and x1 - 0.25 * h <= boxes[j][0] < x2
            and bottom - 0.25 * h <= boxes[j][1] <= bottom + BELOW_GAP * h
        ]
        if not nxt:
            return []
        j = min(nxt, key=lambda j: (boxes[j][1], boxes[j][0]))
        if kinds[j] == "button":
            return [b for b in nxt if kinds[b] == "button" and _v_overlap(boxes[j], boxes[b]) >= 0.5]
        seen.add(j)
        bottom = boxes[j][3]


def inherit(instruction: str | None, candidates: Sequence[Proposal], evidence: np.ndarray) -> np.ndarray:
    """Evidence per candidate after each field's button takes SHARE of its field's (only for a press
    instruction that rules out fields; otherwise `evidence` unchanged). `evidence` is the score
    without the role term (cosine and text match parts)."""
    if not instruction:
        return evidence
    want, avoid = wanted_roles(instruction)
    if not (want & PRESS) or "textbox" not in avoid:
        return evidence
    links = own_buttons(candidates)
    if not links:
        return evidence
    out = evidence.copy()
    for field, buttons in links.items():
        for b in buttons:
            out[b] = max(out[b], SHARE * evidence[field] + (1 - SHARE) * evidence[b])
    return out

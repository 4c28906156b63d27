"""What kind of element an instruction asks for, from its English verbs and nouns, against a candidate's role.

WHY: "type your email" wants a text field, not the "Email" link beside it; "tick 'Remember me'"
wants the checkbox, not the text next to it; "submit the search" wants the button, not the search
field whose name matches better. The words alone cannot tell these apart, the role can, and a
caller with an accessibility tree or the DOM gives it (`role` of a candidate: ARIA roles, or HTML
tags such as input/select/textarea).

The mapping is general English UI usage, written once, not drawn from any eval item:
- typing verbs (type, write, fill in, input, paste, retype, "enter your ...") and field nouns
  ("field", "text box", "input", "search box") want an editable role;
- choosing from a list ("choose/select/pick ... from", "dropdown", "drop-down", "list box") wants a
  combobox/listbox;
- ticking (tick, untick, uncheck, "check ... box", "checkbox", "radio", "toggle switch") wants a
  checkbox/radio/switch;
- pressing (submit, send, run, continue, proceed, confirm, apply, save, unlock, "button") wants a
  button, and an editable field is then the wrong kind of element;
- "link" and "tab" name their roles.

`role_fit(instruction, role)` is +1 when the role is what the instruction asks for, -1 when it is a
kind the instruction rules out (an editable field for a press), 0 otherwise or when the role is
unknown. `rank_elements` adds W_ROLE times it.
"""

from __future__ import annotations

import re
from functools import lru_cache

EDITABLE = frozenset({"textbox", "searchbox", "textarea", "input", "spinbutton", "combobox"})
CHOICE = frozenset({"combobox", "listbox", "select", "option"})
TICK = frozenset({"checkbox", "radio", "switch", "menuitemcheckbox", "menuitemradio"})
PRESS = frozenset({"button", "submit"})

_TYPE_VERBS = frozenset("type write fill input paste retype".split())
_PRESS_VERBS = frozenset("submit send run continue proceed confirm apply save unlock".split())
_TICK_VERBS = frozenset("tick untick uncheck".split())
_CHOICE_VERBS = frozenset("choose select pick".split())
_WORD = re.compile(r"[a-z]+(?:-[a-z]+)?")


@lru_cache(maxsize=4096)
def wanted_roles(instruction: str) -> tuple[frozenset[str], frozenset[str]]:
    """(roles the instruction asks for, roles it rules out), both empty when it says nothing of the kind."""
    words = _WORD.findall(instruction.lower())
    text = " ".join(words)
    s = set(words)
    want: set[str] = set()
    avoid: set[str] = set()
    typing = bool(s & _TYPE_VERBS) or bool(re.search(r"\benter (your|a|an|my)\b", text)) or bool(
        re.search(r"\b(field|text ?box|input|search ?box|textarea)\b", text)
    )
    choosing = bool(re.search(r"\b(drop-?down|list ?box|combo ?box)\b", text)) or (
        bool(s & _CHOICE_VERBS) and bool(re.search(r"\b(from|option|value)\b", text))
    )
    ticking = bool(s & _TICK_VERBS) or bool(re.search(r"\b(check ?box|radio|toggle switch)\b", text)) or bool(
        re.search(r"\bcheck\b.*\bbox\b", text)
    )
    pressing = bool(s & _PRESS_VERBS) or "button" in s
    if choosing:
        want |= CHOICE
    elif ticking:
        want |= TICK
    elif typing:
        want |= EDITABLE
    elif pressing:
        want |= PRESS
        avoid |= EDITABLE
    if "link" in s:
        want.add("link")
    if "tab" in s:
        want.add("tab")
    return frozenset(want), frozenset(avoid)


def role_fit(instruction: str | None, role: str | None) -> float:
    """+1 the role is what the instruction asks for, -1 a kind it rules out, 0 otherwise (see module doc)."""
    if not instruction or not role:
        return 0.0
    want, avoid = wanted_roles(instruction)
    r = role.strip().lower()
    if r in want:
        return 1.0
    if r in avoid:
        return -1.0
    return 0.0

"""How an instruction's words are compared with an element's words.

Two things decide whether "press the equals key" finds the "=" key: the instruction's content
words (not "press", "the", "key"), and the words a symbol stands for. OCR reads a key as "=",
a sentence encoder has no idea that is "equals", and a trigram match of "equals" with "=" is 0.
So every symbol an element shows is spelled out (`spelled_out`) before it is embedded or
compared; the symbol itself stays, so a quoted '=' still matches it literally.

`text_similarity` is in [0, 1]: a quoted phrase in the instruction ('Click "Sign in"') is
compared alone; otherwise the instruction minus common command words. It is the max of token
overlap (share of the instruction's content words present in the label) and the Dice
coefficient of character trigrams (robust to OCR slips and word forms).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence

_WORD = re.compile(r"\w+", re.UNICODE)
_QUOTED = re.compile(r"[\"'“‘«]([^\"'”’»]{1,200})[\"'”’»]")
_STOP = frozenset(
    "a an the to on in of for and or my me your this that it is be please click tap press hit select choose open "
    "go button link icon field menu item page tab type enter into with from at by up key".split()
)

SYMBOL_WORDS: dict[str, str] = {
    "=": "equals",
    "+": "plus add",
    "-": "minus subtract",
    "−": "minus subtract",
    "*": "times multiply",
    "÷": "divide",
    "/": "divide slash",
    "%": "percent",
    "±": "plus minus sign",
    "√": "square root",
    "^": "power",
    ".": "point decimal",
    "⌫": "backspace delete",
    "←": "left arrow back",
    "→": "right arrow forward",
    "↑": "up arrow",
    "↓": "down arrow",
    "<": "back previous",
    ">": "next forward",
    "«": "first back",
    "»": "next forward",
    "‹": "back previous",
    "›": "next forward",
    "…": "more options",
    "⋯": "more options",
    "⋮": "more options menu",
    "☰": "menu",
    "≡": "menu",
    "✕": "close",
    "✖": "close",
    "✗": "close",
    "x": "close times multiply",
    "×": "times multiply close",
    "✓": "check ok done",
    "✔": "check ok done",
    "?": "help",
    "!": "warning",
    "@": "at mention",
    "#": "number hash",
    "&": "and",
    "$": "dollar",
    "€": "euro",
    "£": "pound",
    "★": "star favourite",
    "☆": "star favourite",
    "♥": "heart like",
    "♡": "heart like",
    "⚙": "settings gear",
    "🔍": "search",
    "🗑": "delete trash",
    "▶": "play",
    "►": "play",
    "⏸": "pause",
    "■": "stop",
    "⏹": "stop",
    "↻": "refresh reload",
    "⟳": "refresh reload",
    "↺": "undo",
    "⎘": "copy",
}
"""What people call the symbols OCR reads as characters (calculator keys, close boxes, pagers, arrows)."""


def spelled_out(text: str) -> str:
    """`text` plus the words for the symbols it is made of: '=' -> '= equals', '<' -> '< back previous'.

    Only short texts that are symbols are spelled out (a key, a pager arrow, a close box): in a
    sentence "x" or "-" is not a button.
    """
    stripped = text.strip()
    if not stripped or len(stripped) > 3:
        return text
    words = SYMBOL_WORDS.get(stripped) or SYMBOL_WORDS.get(stripped.lower())
    if words is None and len(stripped) > 1 and all(ch in SYMBOL_WORDS and not ch.isalnum() for ch in stripped):
        words = " ".join(SYMBOL_WORDS[ch] for ch in stripped)
    return f"{stripped} {words}" if words else text


def normalise(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def instruction_terms(instruction: str) -> list[str]:
    """The words of the instruction worth matching: a quoted phrase if any, else the non-command words."""
    quoted = _QUOTED.findall(instruction)
    if quoted:
        return normalise(" ".join(spelled_out(q) for q in quoted))
    words = normalise(instruction)
    content = [w for w in words if w not in _STOP]
    return content or words


def _trigrams(words: Sequence[str]) -> Counter[str]:
    grams: Counter[str] = Counter()
    for w in words:
        padded = f"#{w}#"
        grams.update(padded[i : i + 3] for i in range(len(padded) - 2))
    return grams


def text_similarity(instruction: str, label: str | None) -> float:
    """How well an element's words answer the instruction, 0..1 (see the module docstring)."""
    if not label or not instruction.strip():
        return 0.0
    q = instruction_terms(instruction)
    lab = normalise(spelled_out(label))
    if not q or not lab:
        return 0.0
    lab_set = set(lab)
    overlap = sum(w in lab_set for w in q) / len(q)
    a, b = _trigrams(q), _trigrams(lab)
    inter = sum((a & b).values())
    dice = 2 * inter / (sum(a.values()) + sum(b.values()))
    return float(max(overlap, dice))


def same_label(a: str | None, b: str | None) -> bool:
    return bool(a and b and normalise(a) == normalise(b))

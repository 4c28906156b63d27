"""What people call the symbols OCR reads as characters, so a '=' key answers "press the equals key".

A sentence encoder has no idea that "=" is "equals", and a trigram match of "equals" with "=" is 0.
So every short text that is a symbol is spelled out ("=" -> "= equals") before it is embedded or
compared; the symbol itself stays, so a quoted '=' still matches it literally. Ranking uses it for
element words, the local backend for images whose only text is a symbol.
"""

from __future__ import annotations

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
    "三": "menu",  # PP-OCR (a Chinese/English model) reads a hamburger icon as the ideograph for three
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


def symbol_of(text: str) -> str:
    """The reading a spelled-out text was made from ('= equals' -> '=', '三 menu' -> '三'), else `text`.

    Ranking spells element words out before the backend sees them; whether a reading is too thin
    to stand alone (an icon OCR read as a glyph) must be judged on what OCR read, not on the words
    added for it."""
    head, _, rest = text.strip().partition(" ")
    return head if rest and spelled_out(head) == f"{head} {rest}" else text

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

from ..symbols import SYMBOL_WORDS, spelled_out
from .sounds import key_similarity, sound_key

__all__ = [
    "SYMBOL_WORDS", "spelled_out", "text_similarity", "spoken_similarity", "instruction_terms", "same_label", "normalise",
]

_WORD = re.compile(r"\w+", re.UNICODE)
_QUOTED = re.compile(r"[\"'“‘«]([^\"'”’»]{1,200})[\"'”’»]")
_STOP = frozenset(
    "a an the to on in of for and or my me your this that it is be please click tap press hit select choose open "
    "go button link icon field menu item page tab type enter into with from at by up key".split()
)

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


def spoken_similarity(hypotheses: Sequence[str], label: str | None) -> float:
    """`text_similarity` for a spoken instruction: each of the recogniser's hypotheses is compared by
    spelling (text_similarity) and by sound (its content words' Metaphone key against the label's,
    sounds.py), and the best is kept, so "open the sanding" still finds "Settings"."""
    if not label or not hypotheses:
        return 0.0
    lab = sound_key(spelled_out(label))
    best = 0.0
    for h in hypotheses:
        best = max(best, text_similarity(h, label), key_similarity(sound_key(" ".join(instruction_terms(h))), lab))
    return float(best)


def same_label(a: str | None, b: str | None) -> bool:
    return bool(a and b and normalise(a) == normalise(b))

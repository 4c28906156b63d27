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

A quoted phrase is the element's own text, word for word, so for it the token overlap is replaced by
the token F1 of the phrase and the label (`exact_quotes`, session 7): the overlap only asks whether
the label *contains* the phrase, so 'Click "Orbit"' scored "Orbit" and "Orbit.io" / "Orbit Pro" /
"My Orbit" alike (1.0). The F1 also counts the label's extra words (and the phrase's missing
ones), so only the label that says exactly the phrase keeps 1.0. The trigram Dice is not used for a
quoted phrase (it forgave a missing "3" almost entirely: "orbit" vs "orbit 3" 0.93); an OCR slip of a
word counts partly inside the F1 instead (`slip`, the rule the shown words already used). An apostrophe inside a word ("Don't save", "the user's page", "users' list") opens
or closes no quote: the old pattern took "'t save on the user'" for a quoted phrase.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from functools import lru_cache

from ..symbols import SYMBOL_WORDS, spelled_out
from .sounds import key_similarity, sound_key

__all__ = [
    "SYMBOL_WORDS", "spelled_out", "text_similarity", "content_words", "shows_all", "quoted_phrases", "token_f1", "slip", "spoken_similarity", "instruction_terms", "same_label", "normalise",
]

_WORD = re.compile(r"\w+", re.UNICODE)
_QUOTED = re.compile(
    r'"([^"]{1,200})"|“([^”]{1,200})”|«([^»]{1,200})»'  # double quotes and guillemets are never apostrophes
    r"|(?<!\w)'(.{1,200}?)'(?!\w)|(?<!\w)‘(.{1,200}?)’(?!\w)"  # single quotes: not inside a word (don't, user's)
)
_OLD_QUOTED = re.compile(r"[\"'“‘«]([^\"'”’»]{1,200})[\"'”’»]")
_STOP = frozenset(
    "a an the to on in of for and or my me your this that it is be please click tap press hit select choose open "
    "go button link icon field menu item page tab type enter into with from at by up key".split()
)

def normalise(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def quoted_phrases(instruction: str, *, exact_quotes: bool = True) -> list[str]:
    """The phrases the instruction quotes ('...', "...", ‘...’, “...”, «...»), in order. A quote
    mark with a letter on its outer side is an apostrophe (Don't, user's, users'), not a quote.
    `exact_quotes=False`: the pattern before session 7 (any quote mark pairs with the next), to measure."""
    if not exact_quotes:
        return _OLD_QUOTED.findall(instruction)
    return ["".join(groups) for groups in _QUOTED.findall(instruction)]


def instruction_terms(instruction: str, *, exact_quotes: bool = True) -> list[str]:
    """The words of the instruction worth matching: a quoted phrase if any, else the non-command words."""
    quoted = quoted_phrases(instruction, exact_quotes=exact_quotes)
    if quoted:
        return normalise(" ".join(spelled_out(q) for q in quoted))
    return content_words(instruction) or normalise(instruction)


def shows_all(text: str | None, terms: Sequence[str]) -> bool:
    """Whether `text` (symbols spelled out) holds every one of `terms` (normalised words) and there are
    some: what "an element's words hold the instruction" means for the partial-read answer, a window's
    title and a control's label."""
    have = set(normalise(spelled_out(text or "")))
    return bool(terms) and all(t in have for t in terms)


def content_words(text: str) -> list[str]:
    """The words of `text` that are not command or filler words ("click", "the", "button": _STOP)."""
    return [w for w in normalise(text) if w not in _STOP]


def _trigrams(words: Sequence[str]) -> Counter[str]:
    grams: Counter[str] = Counter()
    for w in words:
        padded = f"#{w}#"
        grams.update(padded[i : i + 3] for i in range(len(padded) - 2))
    return grams


def slip(a: str, b: str) -> bool:
    """a is b, or an OCR slip of it (edit distance <= 2 when the longer word has 5+ letters, 'Leam'
    for 'Learn'; <= 1 for 4; none shorter)."""
    if a == b:
        return True
    if abs(len(a) - len(b)) > 2:
        return False
    longer = max(len(a), len(b))
    return _edits(a, b) <= (2 if longer >= 5 else 1 if longer == 4 else 0)


def _edits(a: str, b: str) -> int:
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


def _token_match(a: str, b: str) -> float:
    """1 for the same word, 1 - edits/length for an OCR slip of it ('leam' ~ 'learn' 0.6, 'contacts'
    ~ 'contact' 0.875: a slip still beats a missing word, never the exact word), else 0."""
    if a == b:
        return 1.0
    return 1.0 - _edits(a, b) / max(len(a), len(b)) if slip(a, b) else 0.0


def token_f1(phrase: Sequence[str], label: Sequence[str]) -> float:
    """F1 of two token lists, each phrase word matched to at most one label word (greedy, best match
    first; an OCR slip counts partly, `_token_match`): 1.0 only when they hold the same words, and
    each extra or missing word costs. Capped at the recall (the share of the phrase found), so a
    label holding only part of the phrase scores what it did before: F1 alone lifted a one-word
    label "remove" from 1/3 to 0.5 for 'remove after drop' above elements with no words. WHY: a quoted phrase names the element's whole text, and a
    label that merely contains it ("Orbit.io", "Orbit Pro", "Orbit 3" for "Orbit") is another
    element. The phrase and the label written without spaces ("Log in" / "Login") count as the same."""
    if not phrase or not label:
        return 0.0
    if "".join(phrase) == "".join(label):
        return 1.0
    pairs = sorted(((_token_match(p, w), i, j) for i, p in enumerate(phrase) for j, w in enumerate(label)), reverse=True)
    used_p: set[int] = set()
    used_l: set[int] = set()
    common = 0.0
    for sim, i, j in pairs:
        if sim > 0 and i not in used_p and j not in used_l:
            used_p.add(i)
            used_l.add(j)
            common += sim
    if not common:
        return 0.0
    precision, recall = common / len(label), common / len(phrase)
    return min(recall, 2 * precision * recall / (precision + recall))


@lru_cache(maxsize=65536)
def text_similarity(instruction: str, label: str | None, *, exact_quotes: bool = True) -> float:
    """How well an element's words answer the instruction, 0..1 (see the module docstring).
    Cached: an agent asks about the same screen's elements again and again (a repeat, a small change,
    the background warm-up), and each call compares a few hundred labels with the same instruction.
    `exact_quotes=False` is the rule before session 7 (a quoted phrase counts as matched when the
    label contains it; apostrophes pair up as quotes), kept for before/after measurements
    (bench/lexical_probe.py --ablate)."""
    if not label or not instruction.strip():
        return 0.0
    q = instruction_terms(instruction, exact_quotes=exact_quotes)
    lab = normalise(spelled_out(label))
    if not q or not lab:
        return 0.0
    lab_set = set(lab)
    if exact_quotes and quoted_phrases(instruction):
        return token_f1(q, lab)  # no trigram Dice: it forgives a missing "3" or ".io" (0.93), F1 does not
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

"""Matching a spoken query by what it sounds like, not only by what the recogniser spelled.

Whisper mishears short commands in ways a sentence encoder cannot repair: "sanding" for
"settings", "Simon" for "sign in", "presenter" for "press enter". Meaning-wise these are far
apart; sound-wise they are close. So wherever a spoken query meets candidate texts (recall,
rank_ui_elements, rank_states, the eval) each candidate also gets a *sound match*:

    sound(query, text) = max over the recogniser's n-best hypotheses h of
                         Dice(bigrams(key(h)), bigrams(key(text)))
    key(s)             = the Metaphone codes of s's words, concatenated

- Metaphone (jellyfish, a maintained Rust-backed library: one call, no data files) maps spellings
  to consonant skeletons: "settings" STNKS, "sanding" SNTNK, "setting" STNK. Vowels, which
  recognisers and accents swap most, are dropped except at a word's start.
- The codes are concatenated without word breaks, so a split or merged word ("press enter" /
  "presenter") still shares most bigrams.
- Dice of character bigrams over that key is a symmetric, length-aware overlap: a short label
  inside a long text scores low, as it should for whole-utterance retrieval (labels use
  `text.spoken_similarity`, which compares only the instruction's content words).
- Several hypotheses, best match taken: the right words are often in the beam's 2nd-5th
  hypothesis even when the first is wrong; taking the max is the usual n-best OR.

Fusion: `score = cosine + W_SOUND * sound`. W_SOUND = 0.5 is the weight the ranking core already
gives its word match (score.W_TEXT): the same scale for "the words match" whether typed or heard.
It was chosen before looking at the dev set and not tuned on it.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any

import numpy as np

W_SOUND = 0.5

_WORD = re.compile(r"[a-z]+|\d+")


@lru_cache(maxsize=16384)
def _word_key(word: str) -> str:
    if word.isdigit():
        return word
    import jellyfish

    return jellyfish.metaphone(word) or word[:1].upper()


def sound_key(text: str) -> str:
    """The Metaphone codes of the text's words, joined: 'open the settings' -> 'OPN0STNKS'."""
    return "".join(_word_key(w) for w in _WORD.findall(text.lower()))


@lru_cache(maxsize=16384)
def _bigrams(key: str) -> Counter[str]:
    padded = f"#{key}#"
    return Counter(padded[i : i + 2] for i in range(len(padded) - 1))


def key_similarity(a: str, b: str) -> float:
    """Dice coefficient of the padded bigrams of two sound keys, 0..1 (0 when either is empty)."""
    if not a or not b:
        return 0.0
    x, y = _bigrams(a), _bigrams(b)
    return 2 * sum((x & y).values()) / (sum(x.values()) + sum(y.values()))


def sound_similarity(hypotheses: Sequence[str], text: str | None) -> float:
    """How alike the best-matching hypothesis and the text sound, 0..1."""
    if not text:
        return 0.0
    key = sound_key(text)
    return max((key_similarity(sound_key(h), key) for h in hypotheses), default=0.0)


def heard(extras: Mapping[str, Any] | None) -> list[str] | None:
    """The recogniser's hypotheses when an embedding came from speech (extras['transcript']), else None."""
    t = (extras or {}).get("transcript")
    if not isinstance(t, Mapping):
        return None
    alts = [a for a in t.get("alternatives") or [] if isinstance(a, str) and a.strip()]
    if not alts and isinstance(t.get("text"), str) and t["text"].strip():
        alts = [t["text"]]
    return alts or None


def fused(cosines: np.ndarray, hypotheses: Sequence[str], texts: Sequence[str | None]) -> tuple[np.ndarray, np.ndarray]:
    """(cosine + W_SOUND * sound, sound) for each candidate text."""
    sound = np.array([sound_similarity(hypotheses, t) for t in texts], dtype=np.float64)
    return np.asarray(cosines, dtype=np.float64) + W_SOUND * sound, sound

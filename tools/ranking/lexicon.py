"""The UI lexicon: words icon sets attach to a UI concept, so a label also answers in other words.

WHY: the offline sentence encoder (all-MiniLM-L6-v2) places "show my agenda" far from a
"Calendar" label, and the trigram match sees no shared letters. Icon sets list exactly that
vocabulary as tags ("calendar": date, event, schedule, agenda), so a short label with a lexicon
entry is also compared as "label (related, words)" and the better reading counts, discounted
(score.py, LEXICON_DISCOUNT) so that an element showing the instruction's own word still wins.

The table (assets/ui_lexicon.json) is built by `python -m sensorium.tools.icons.train lexicon`
(tools/icons/train/lexicon.py) from the icon reader's permissively licensed training sets; its
sha256 is in assets/manifest.json and checked before first use. Words are keyed by their Snowball
(English) stem: snowballstemmer is a small pure-Python, BSD-licensed, long-maintained package, and
stems let "deleting" meet "delete" without a hand-made word list.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

from pydantic import BaseModel

from ..checksums import verified_files
from .text import instruction_terms, normalise

ASSETS = Path(__file__).resolve().parent / "assets"
FILE = "ui_lexicon.json"
MAX_LABEL_WORDS = 3
"""Only labels of up to this many words are expanded: a control's name, not a sentence (a paragraph's
words would each bring related words and match anything)."""
_FIX = "reinstall sensorium-mcp, or rebuild it with `python -m sensorium.tools.icons.train lexicon --data DIR`"


class UiLexicon(BaseModel):
    """Snowball stem -> [related word, sets that pair them, icons that pair them], best first."""

    entries: dict[str, list[tuple[str, int, int]]]

    def related(self, label: str | None, top: int) -> list[str]:
        """Up to `top` related words per word of a short label (none for longer text), round-robin
        over the label's words so a two-word label gets both meanings; words the label has are skipped."""
        if not label:
            return []
        words = [w for w in normalise(label) if not w.isdigit()]
        if not words or len(words) > MAX_LABEL_WORDS:
            return []
        stems = {stem(w) for w in words}
        lists = [[r for r, _, _ in self.entries.get(stem(w), [])] for w in words]
        out: list[str] = []
        for k in range(top):
            for rel in lists:
                if k < len(rel) and rel[k] not in out and stem(rel[k]) not in stems:
                    out.append(rel[k])
        return out


@lru_cache(maxsize=4096)
def stem(word: str) -> str:
    """The Snowball English stem of one lower-case word (cached: labels repeat across screens)."""
    return _stemmer().stemWord(word)


@lru_cache(maxsize=1)
def _stemmer():  # type: ignore[no-untyped-def]
    import snowballstemmer

    return snowballstemmer.stemmer("english")


def stem_overlap(instruction: str, related: Sequence[str]) -> float:
    """Share of the instruction's content words whose stem is one of the related words' stems."""
    terms = instruction_terms(instruction)
    if not terms or not related:
        return 0.0
    rel = {stem(w) for r in related for w in normalise(r)}
    return sum(stem(t) in rel for t in terms) / len(terms)


def load_lexicon(root: Path = ASSETS) -> UiLexicon:
    """The lexicon in `root`, after checking its sha256 against root/manifest.json (a clear
    BackendUnavailable for a missing, corrupt or unlisted file: ranking must not run on a half-written table)."""
    path = verified_files(root, (FILE,), "UI lexicon", _FIX)[FILE]
    doc = json.loads(path.read_text())
    return UiLexicon(entries=doc["entries"])


@lru_cache(maxsize=1)
def default_lexicon() -> UiLexicon:
    """The packaged lexicon, loaded and verified once per process."""
    return load_lexicon()

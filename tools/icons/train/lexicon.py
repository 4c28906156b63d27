"""Build the UI lexicon (tools/ranking/assets/ui_lexicon.json) from the icon sets' names and tags.

    python -m sensorium.tools.icons.train lexicon --data /work/icon-data

WHY: the offline text encoder (all-MiniLM-L6-v2) knows little UI vocabulary: an instruction that
says what a control does in other words ("show my agenda") barely meets the control's label
("Calendar"). Icon sets already write that vocabulary down: every icon has a name ("calendar")
and tags or aliases people search it by ("date", "schedule", "event", "agenda"). Counting, over
many sets, which tag words go with which name words gives a word -> related words table that the
ranking uses to compare a label also as "label (related words)" (tools/ranking/lexicon.py).

Sources: only the permissively licensed training sets of the icon reader that ship tags or aliases
(LEXICON_SETS, pinned in sources.py). Never lucide / feather / bootstrap-icons (the evaluation sets
come from them; sources.EXCLUDED) and never the icon reader's held-out sets (iconoir, heroicons:
the held-out grounding bench draws its screens from them, and they carry names only anyway).

What counts: for each icon (one per set and name, across drawing styles), each word of its name
paired with each word of its tags. A pair is kept when at least MIN_SETS sets make it (one set's
forty "calendar-*" icons tagged "date" are one opinion, not forty); a word found in more than
GENERIC_SHARE of one set's icons ("arrow", "line", a category tag such as mdi's "home automation")
says nothing about a meaning there and is dropped for that set.
Words are keyed by their Snowball stem, so "deleted", "delete" and "deleting" share one entry.
The output is deterministic (sorted) and its sha256 is written into the assets manifest.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections import Counter, defaultdict
from pathlib import Path

from .sources import EXCLUDED, PACKAGES, STYLE_WORDS, Package, fetch_packages, name_words, records

log = logging.getLogger(__name__)

LEXICON_SETS = ("tabler", "mdi", "phosphor", "fontawesome", "ionicons", "octicons", "carbon")
"""Training sets (sources.PACKAGES, role "train") whose metadata has tags or aliases. Material,
Fluent and Boxicons ship names only, so they add no pairs."""
MIN_SETS = 2
"""A name word - tag word pair must be made by at least this many sets to be kept."""
GENERIC_SHARE = 0.015
"""A word present in more than this share of one set's icons is too general there to relate meanings."""
TOP = 12
"""Related words kept per entry, most icons first (the ranking uses the first few)."""
MIN_LEN = 3
_STOP = frozenset(
    "and the for with from into onto off out over under non not any all alt one two new old via per "
    "icon icons symbol sign logo brand shape small large big mini image picture ui app web "
    "outline outlined fill filled solid regular bold light thin duotone sharp round rounded variant".split()
)
_TOKEN = re.compile(r"[a-z]+")

ASSETS = Path(__file__).resolve().parents[2] / "ranking" / "assets"
FILE = "ui_lexicon.json"


def lexicon_packages() -> tuple[Package, ...]:
    """The pinned packages the lexicon reads; asserts none is excluded or held out."""
    pkgs = tuple(p for p in PACKAGES if p.key in LEXICON_SETS)
    for p in pkgs:
        if p.key in EXCLUDED or p.npm in EXCLUDED or p.role != "train":
            raise ValueError(f"{p.spec} must not feed the lexicon")
    return pkgs


def _tokens(text: str) -> list[str]:
    return [t for t in _TOKEN.findall(text.lower()) if len(t) >= MIN_LEN and t not in _STOP and t not in STYLE_WORDS]


def _shown(forms: Counter[str]) -> str:
    """The commonest written form of a stem; ties alphabetically, so the file is byte-identical across runs."""
    return min(forms.items(), key=lambda kv: (-kv[1], kv[0]))[0]


def build(data_dir: Path, out_dir: Path | None = None) -> dict[str, object]:
    """Count name-word / tag-word pairs over the lexicon sets and write the table + manifest; returns the manifest."""
    import snowballstemmer

    stem = snowballstemmer.stemmer("english").stemWord
    packages = lexicon_packages()
    roots = fetch_packages(packages, data_dir)  # the icon reader's layout: an existing --data folder is reused
    concepts: dict[tuple[str, str], tuple[set[str], set[str]]] = {}
    for p in packages:
        for r in records(p, roots[p.key]):
            names = set(_tokens(name_words(r.name)))
            tags = {t for w in r.words for t in _tokens(w)}
            held = concepts.setdefault((p.key, name_words(r.name)), (set(), set()))
            held[0].update(names)
            held[1].update(tags)
    surface: dict[str, Counter[str]] = defaultdict(Counter)
    share: dict[str, Counter[str]] = defaultdict(Counter)  # per set: how many of its icons carry a stem
    size: Counter[str] = Counter()
    for (set_key, _), (names, tags) in concepts.items():
        for w in names | tags:
            surface[stem(w)][w] += 1
        share[set_key].update({stem(w) for w in names | tags})
        size[set_key] += 1
    generic = {k: {s for s, n in c.items() if n > GENERIC_SHARE * size[k]} for k, c in share.items()}
    pair_sets: dict[tuple[str, str], set[str]] = defaultdict(set)
    pair_icons: Counter[tuple[str, str]] = Counter()
    for (set_key, _), (names, tags) in sorted(concepts.items()):
        ns = {stem(n) for n in names} - generic[set_key]
        ts = {stem(t) for t in tags} - generic[set_key]
        for a in ns:
            for b in ts - ns:
                for pair in ((a, b), (b, a)):
                    pair_sets[pair].add(set_key)
                    pair_icons[pair] += 1
    entries: dict[str, list[list[object]]] = defaultdict(list)
    for (a, b), sets in pair_sets.items():
        if len(sets) >= MIN_SETS:
            entries[a].append([_shown(surface[b]), len(sets), pair_icons[(a, b)], b])
    table = {
        a: [[w, s, n] for w, s, n, _ in sorted(rel, key=lambda x: (-x[2], -x[1], x[3]))[:TOP]]  # type: ignore[operator]
        for a, rel in sorted(entries.items())
    }
    doc = {
        "about": "UI lexicon: Snowball stem of a word -> [related word, sets that pair them, icons that pair them], "
        "from icon names and tags (python -m sensorium.tools.icons.train lexicon; docs/RANKING.md)",
        "sources": [f"{p.spec} ({p.licence})" for p in packages],
        "min_sets": MIN_SETS,
        "generic_share": GENERIC_SHARE,
        "entries": table,
    }
    out = out_dir or ASSETS
    out.mkdir(parents=True, exist_ok=True)
    raw = json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()
    (out / FILE).write_bytes(raw)
    manifest = {"files": {FILE: {"sha256": hashlib.sha256(raw).hexdigest(), "bytes": len(raw)}},
                "entries": len(table), "icons": len(concepts), "sources": doc["sources"]}
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    log.info("lexicon: %d entries from %d icons, %d bytes", len(table), len(concepts), len(raw))
    return manifest

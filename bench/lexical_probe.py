"""Near-duplicate names on generated screens: does a QUOTED phrase find the element that says exactly it?
WHY: an instruction that quotes an element's text ('Click the "Orbit" link') names that element's whole
text, but the text match only asked whether a label *contains* the quoted words, so "Orbit", "Orbit.io",
"Orbit Pro" and "My Orbit" all scored 1.0 and the sentence encoder's cosine picked among them. Session 7
compares a quoted phrase by token F1 (text.py) and with the words a box shows, numbers included
(score.py). This probe measures that rule before/after in one process, on data of its own:

    python bench/lexical_probe.py [--screens 16] [--json bench/results/lexical_probe.json] [-v]

Every screen (1280x800, rendered with DejaVu) holds four groups of links: a base name from a vocabulary
written for this script (not from the dev set) beside near-duplicates made by general patterns
(X.io, X Pro, X 2, My X, X settings, X Labs, X Cloud, X Docs), and some groups a logo named "X Logo"
that shows "X <digit>" (the accessible name and the visible text disagree). The candidates are given
as an accessibility tree gives them (boxes, names, role link), the screen's words come from a real OCR
read (cached in --work), and every item is ranked by the real `rank_elements` with the local backend,
exactly as the eval's boxes+names variant. Kinds of item:

- quoted-exact: the base quoted ('Click the "Orbit" link', ‘Orbit’, “Orbit”, "Orbit") -> the base;
- quoted-longer: a near-duplicate quoted ("Open 'Orbit Pro'") -> that near-duplicate;
- quoted-shown: the logo's shown words quoted ("Click 'Orbit 3'") -> the logo named "Orbit Logo";
- unquoted-exact / unquoted-longer: the same asks without quotes (must score exactly as before);
- apostrophe: an unquoted ask with two in-word apostrophes ("Don't wait, open the team's Orbit Pro")
  -> the near-duplicate (the old quote pattern read "'t wait, open the team'" as a quoted phrase).

Before = `rank_elements(..., exact_quotes=False)` (--ablate prints only that).
"""

from __future__ import annotations

import argparse
import hashlib
import asyncio
import json
import random
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

sys.path.insert(0, str(Path(__file__).parent))
from ocr_cache import WordsCache  # noqa: E402
from scenes import font  # noqa: E402

Box = tuple[int, int, int, int]
BASES = ("Orbit Juniper Ledger Nimbus Harbor Quill Falcon Mosaic Tundra Prism Beacon Cobalt Sable Vertex Willow "
         "Zephyr Kestrel Marlin Cedar Lumen Fjord Onyx Pebble Sierra").split()
PATTERNS = ("{}.io", "{} Pro", "{} 2", "My {}", "{} settings", "{} Labs", "{} Cloud", "{} Docs")
QUOTED = ("Click the '{}' link", 'Click "{}"', "Open ‘{}’", "Select “{}”", "Go to '{}'", 'Press "{}"')
PLAIN = ("Open {}", "Go to {}", "Click {}", "Show {}")
POSSESSIVE = ("Don't wait, open the team's {}", "Show the user's {}, don't close it", "Let's open the admin's {}")
FILLERS = ("Dashboard", "Billing", "Members", "Reports", "Help", "Sign out", "Usage", "Archive")


@dataclass
class Screen:
    image: Image.Image
    names: list[str] = field(default_factory=list)
    boxes: list[Box] = field(default_factory=list)
    items: list[tuple[str, str, int]] = field(default_factory=list)  # (instruction, kind, target index)


def _link(draw: ImageDraw.ImageDraw, s: Screen, x: int, y: int, shown: str, name: str | None = None, size: int = 16) -> int:
    """Draw a link showing `shown`, add a candidate named `name` (default: what it shows), return its end x."""
    f = font(size)
    l, t, r, b = draw.textbbox((x, y), shown, font=f)
    draw.text((x, y), shown, font=f, fill=(37, 99, 235))
    s.names.append(name or shown)
    s.boxes.append((l - 6, t - 5, r + 6, b + 5))
    return r


def make_screen(seed: int) -> Screen:
    """Four rows of near-duplicate groups plus filler links; items per group (see the module docstring)."""
    r = random.Random(seed)
    img = Image.new("RGB", (1280, 800), (255, 255, 255))
    draw = ImageDraw.Draw(img)
    s = Screen(img)
    x = 30
    for name in r.sample(FILLERS, 5):  # a top bar that matches no ask
        x = _link(draw, s, x, 20, name, size=15) + 40
    for g, base in enumerate(r.sample(BASES, 4)):
        y = 110 + g * 160
        decoys = [p.format(base) for p in r.sample(PATTERNS, r.choice((1, 2, 3)))]
        logo = r.random() < 0.5
        entries: list[tuple[str, str | None]] = [(base, None)] + [(d, None) for d in decoys]
        digit = r.randint(3, 9)  # not 2: the "{} 2" near-duplicate would show the same words
        if logo:
            entries.append((f"{base} {digit}", f"{base} Logo"))
        r.shuffle(entries)
        x, idx = 40 + r.randint(0, 80), {}
        for shown, name in entries:
            idx[name or shown] = len(s.names)
            x = _link(draw, s, x, y + r.randint(0, 40), shown, name, size=r.choice((15, 16, 18))) + r.randint(50, 120)
        d = r.choice(decoys)
        s.items += [
            (r.choice(QUOTED).format(base), "quoted-exact", idx[base]),
            (r.choice(QUOTED).format(d), "quoted-longer", idx[d]),
            (r.choice(PLAIN).format(base), "unquoted-exact", idx[base]),
            (r.choice(PLAIN).format(d), "unquoted-longer", idx[d]),
            (r.choice(POSSESSIVE).format(d), "apostrophe", idx[d]),
        ]
        if logo:
            s.items.append((r.choice(QUOTED).format(f"{base} {digit}"), "quoted-shown", idx[f"{base} Logo"]))
    return s


async def evaluate(screens: int, work: Path, seed0: int, *, ablate: bool = False) -> dict[str, object]:
    """hit@1 per kind, after and before the quoted-phrase rule (one process, the same screens), and
    whether every unquoted item scored exactly the same both ways."""
    from sensorium.tools.backends.base import EmbedItem
    from sensorium.tools.backends.local.backend import LocalBackend
    from sensorium.tools.ranking.proposals import Proposal
    from sensorium.tools.ranking.score import rank_elements

    work.mkdir(parents=True, exist_ok=True)
    backend, cache = LocalBackend(), WordsCache(work)
    variants = (False,) if ablate else (False, True)
    hits: dict[bool, dict[str, list[float]]] = {v: {} for v in variants}
    rows, unquoted_same = [], True
    for n in range(screens):
        s = make_screen(seed0 + n)
        words = cache.words(s.image, hashlib.sha1(s.image.tobytes()).hexdigest()[:16])  # by pixels: a layout change re-reads
        props = [Proposal(box=b, label=nm, role="link", source="given") for b, nm in zip(s.boxes, s.names, strict=True)]
        for instruction, kind, target in s.items:
            [q] = await backend.embed([EmbedItem.of(instruction)], "query")
            scores = {}
            for rule in variants:
                ranked = await rank_elements(backend, s.image, q, instruction, props, words=words, exact_quotes=rule)
                rank = next(k for k, e in enumerate(ranked, 1) if e.index == target)
                hits[rule].setdefault(kind, []).append(float(rank == 1))
                scores[rule] = [(e.index, e.score) for e in ranked]
                rows.append({"screen": seed0 + n, "rule": rule, "instruction": instruction, "kind": kind, "rank": rank,
                             "target": s.names[target], "winner": s.names[ranked[0].index],
                             "winner_score": round(ranked[0].score, 3),
                             "target_score": round(next(e.score for e in ranked if e.index == target), 3)})
            if kind.startswith("unquoted") and len(variants) == 2 and scores[False] != scores[True]:
                unquoted_same = False

    def summary(h: dict[str, list[float]]) -> dict[str, dict[str, float]]:
        out = {k: {"n": len(v), "hit@1": round(float(np.mean(v)), 3)} for k, v in sorted(h.items())}
        every = [x for v in h.values() for x in v]
        out["all"] = {"n": len(every), "hit@1": round(float(np.mean(every)), 3)}
        return out

    result: dict[str, object] = {"screens": screens, "seed": seed0, "before": summary(hits[False])}
    if not ablate:
        result["after"] = summary(hits[True])
        result["unquoted_scores_identical"] = unquoted_same
    result["items"] = rows
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--screens", type=int, default=16)
    ap.add_argument("--seed", type=int, default=7000)
    ap.add_argument("--work", type=Path, default=Path("/tmp/lexical-probe"))
    ap.add_argument("--json", type=Path)
    ap.add_argument("--ablate", action="store_true", help="only the rule before session 7 (exact_quotes=False)")
    ap.add_argument("--save", type=int, default=0, help="also write the first N screens as PNG into --work")
    ap.add_argument("-v", "--verbose", action="store_true", help="print every miss")
    a = ap.parse_args()
    a.work.mkdir(parents=True, exist_ok=True)
    for n in range(a.save):
        make_screen(a.seed + n).image.save(a.work / f"screen-{a.seed + n}.png")
    out = asyncio.run(evaluate(a.screens, a.work, a.seed, ablate=a.ablate))
    if a.verbose:
        for row in out["items"]:  # type: ignore[union-attr]
            if row["rank"] != 1:
                print(row)
    print(json.dumps({k: v for k, v in out.items() if k != "items"}, indent=1))
    if a.json:
        a.json.parent.mkdir(parents=True, exist_ok=True)
        a.json.write_text(json.dumps(out, indent=1, ensure_ascii=False))


if __name__ == "__main__":
    main()

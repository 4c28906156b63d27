"""Words first, icons when words do not answer (screen.rank_read): what it changes on the proposed path.

    python bench/words_first.py [--data ../shared/eval] [--icons /work/icon-data/src] [--heldout 16] [--json out.json]

The decision `rank_ui_elements` makes without candidates, two ways on the same reads of each screen:

- before: every read ranked with the icon reader looking at textless elements from the start; a
  partial read's answer stands when its winner's own words hold the instruction (`needs_full_read`);
- now: `screen.rank_read`: each read ranked on words alone first; that answer stands when its winner
  holds the instruction; only a complete read is ranked again with icons.

Screens: the dev ui_grounding screenshots (--data, the final check, nothing tuned on them) and
held-out generated web-app screens (heldout_grounding.make_screen, icons from the two sets the icon
reader never saw; --heldout N screens, seeds from 6000). Printed per instruction kind: the share whose
click lands in an acceptable box before / now, items whose click moved, and the share answered without
reading icons. Timings are not taken here (bench_ranking.py and rank_breakdown.py have them).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

from PIL import Image

sys.path.insert(0, str(Path(__file__).parent))

Box = tuple[int, int, int, int]


def _inside(click: tuple[int, int], boxes: list[Box]) -> bool:
    return any(b[0] <= click[0] <= b[2] and b[1] <= click[1] <= b[3] for b in boxes)


async def _screens(args: argparse.Namespace) -> list[tuple[str, Image.Image, list[tuple[str, str, list[Box]]]]]:
    """(name, image, [(instruction, kind, acceptable boxes)]) for every screen."""
    out = []
    if args.data:
        from sensorium.tools.evaluation.datasets import load_ui_grounding

        ds = load_ui_grounding(args.data / "ui_grounding")
        by_image: dict[Path, list[Any]] = defaultdict(list)
        for it in ds.items:
            by_image[it.image].append(it)
        for path, items in sorted(by_image.items()):
            with Image.open(path) as img:
                image = img.convert("RGB")
            rows = [(it.instruction, f"dev {it.instruction_type}", [tuple(it.candidates[j].box) for j in it.acceptable_indices]) for it in items]
            out.append((path.name, image, rows))
    if args.heldout:
        from heldout_grounding import make_screen

        for n in range(args.heldout):
            s = make_screen(args.icons, 6000 + n)
            rows = [(ins, f"heldout {kind}", [s.cands[t].box]) for ins, kind, t in s.items]
            out.append((f"heldout-{6000 + n}", s.image, rows))
    return out


async def run(args: argparse.Namespace) -> dict[str, Any]:
    from sensorium.tools.backends.base import EmbedItem
    from sensorium.tools.backends.local.backend import LocalBackend
    from sensorium.tools.backends.local.ocr import engine_from_settings
    from sensorium.tools.config import LocalSettings
    from sensorium.tools.ranking.proposals import ProposalCache, click_point
    from sensorium.tools.ranking.score import rank_elements
    from sensorium.tools.ranking.screen import needs_full_read, rank_read, read_rounds

    settings = LocalSettings()
    engine = engine_from_settings(settings)
    backend = LocalBackend(settings, ocr=engine)
    stats: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    rows = []
    for name, image, items in await _screens(args):
        reads = await read_rounds(engine, image, settings.ocr_cold_budget or None, cache=ProposalCache(size=1))
        for instruction, kind, targets in items:
            [q] = await backend.embed([EmbedItem.of(instruction)], "query")
            for words, found in reads:  # before
                before = await rank_elements(backend, image, q, instruction, found.items, words=words, distinct=True)
                if not needs_full_read(before, found.items, words, instruction):
                    break
            old = click_point(found.items[before[0].index].box) if before else None
            icons_read = False
            for n, (words, found) in enumerate(reads, start=1):  # now
                now, done = await rank_read(backend, image, q, instruction, words, found, last=n == len(reads))
                if done:
                    icons_read = any("icon_words" in s.extras for s in now) or not now
                    break
            new = click_point(found.items[now[0].index].box) if now else None
            st = stats[kind]
            st["n"] += 1
            st["before"] += bool(old and _inside(old, targets))
            st["now"] += bool(new and _inside(new, targets))
            st["moved"] += old != new
            st["without icons"] += not icons_read
            rows.append({"screen": name, "instruction": instruction, "kind": kind, "before": old, "now": new,
                         "before_ok": bool(old and _inside(old, targets)), "now_ok": bool(new and _inside(new, targets))})
    engine.close()
    summary = {
        kind: {"n": s["n"], "click inside, before": round(s["before"] / s["n"], 3), "now": round(s["now"] / s["n"], 3),
               "moved": s["moved"], "answered without icons": round(s["without icons"] / s["n"], 3)}
        for kind, s in sorted(stats.items())
    }
    return {"summary": summary, "items": rows}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "eval")
    ap.add_argument("--icons", type=Path, default=Path("/work/icon-data/src"), help="unpacked heroicons/iconoir npm packages")
    ap.add_argument("--heldout", type=int, default=16, help="generated held-out screens (0 = none)")
    ap.add_argument("--no-dev", action="store_true", help="only the generated screens")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    if args.no_dev:
        args.data = None
    out = asyncio.run(run(args))
    for kind, s in out["summary"].items():
        print(f"{kind:32s} {json.dumps(s)}")
    changed = [r for r in out["items"] if r["before_ok"] != r["now_ok"]]
    for r in changed:
        print("changed:", r)
    if args.json:
        args.json.write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()

"""How much a cold rank_ui_elements reads before it answers, with and without word spotting.

    python bench/spotting_rounds.py [--data ../shared/eval/ui_grounding] [--types literal,form] [--json PATH]
                                    [--image PATH --instruction TEXT ...]

Word spotting (`tools/ranking/spotting.py`) renders the instruction's words and recognises the lines that
look most like them first. It only changes the order of reading, so what it buys is counted in lines and
rounds (host-independent) before the answer, and in wall seconds (this host, noisy: read, do not
assert). Each item runs the tool's own path (`screen.rank_proposed`, the default budget) from cold
(every OCR read, line text, encoded text and icon reading forgotten: `OcrEngine.clear`,
`LocalBackend.clear`), once with spotting and once without, and records whether the click point lies
in an acceptable box. On the dev set this reads the items to measure, never to tune: the two settings
of `spotting.py` were chosen once and are reported there.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
from PIL import Image


async def run(args: argparse.Namespace) -> dict[str, Any]:
    from sensorium.tools.backends.base import EmbedItem
    from sensorium.tools.backends.local.backend import LocalBackend
    from sensorium.tools.backends.local.ocr import engine_from_settings
    from sensorium.tools.config import LocalSettings
    from sensorium.tools.evaluation.datasets import load_ui_grounding
    from sensorium.tools.evaluation.metrics import point_in_box
    from sensorium.tools.ranking import screen
    from sensorium.tools.ranking.proposals import click_point

    settings = LocalSettings()
    engine = engine_from_settings(settings)
    engine.load()
    backend = LocalBackend(settings, ocr=engine)
    items: list[tuple[Path, str, list[list[float]], str]] = []
    if args.image:
        items = [(Path(p), ins, [], "given") for p, ins in zip(args.image, args.instruction, strict=True)]
    else:
        ds = load_ui_grounding(args.data)
        kinds = set(args.types.split(","))
        items = [
            (it.image, it.instruction, [it.candidates[j].box for j in it.acceptable_indices], it.instruction_type)
            for it in ds.items if it.instruction_type in kinds
        ]
    real_spotter = screen.LineSpotter
    rows: list[dict[str, Any]] = []
    for n, (path, instruction, targets, kind) in enumerate(items, 1):
        image = Image.open(path).convert("RGB")
        [query] = await backend.embed([EmbedItem.of(instruction)], "query")
        row: dict[str, Any] = {"image": path.name, "instruction": instruction, "type": kind}
        settings_ab = [("spotting", real_spotter), ("no spotting", lambda _i: SimpleNamespace(first=None))]
        for label, spotter in settings_ab if n % 2 else settings_ab[::-1]:  # alternate which goes first
            screen.LineSpotter = spotter  # type: ignore[assignment]
            engine.wait_idle()
            engine.clear()
            backend.clear()
            t0 = time.perf_counter()
            scored, found, _words, info = await screen.rank_proposed(
                backend, engine, image, query, instruction, budget=engine.cold_budget
            )
            wall = time.perf_counter() - t0
            hit = bool(scored) and any(point_in_box(click_point(found.items[scored[0].index].box), t) for t in targets)
            row[label] = {"s": round(wall, 3), "lines": info.read, "rounds": info.rounds, "full": info.full, "hit": hit}
        screen.LineSpotter = real_spotter  # type: ignore[assignment]
        rows.append(row)
        print(f"[{n}/{len(items)}] {path.name} {instruction!r}: " + " | ".join(
            f"{k} {v['s']:.2f}s {v['lines']} lines r{v['rounds']}{' full' if v['full'] else ''}{' hit' if v['hit'] else ''}"
            for k, v in row.items() if isinstance(v, dict)), file=sys.stderr)
    engine.close()
    return {"summary": summarise(rows), "rows": rows}


def summarise(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Per setting, over all rows and per instruction type: lines read before the answer, the share
    answered on the first round and read in full, wall seconds, point-in-box."""
    out: dict[str, Any] = {}
    for label in ("spotting", "no spotting"):
        groups: dict[str, list[dict[str, Any]]] = {"all": rows}
        for r in rows:
            groups.setdefault(r["type"], []).append(r)
        out[label] = {}
        for name, group in groups.items():
            got = [r[label] for r in group]
            out[label][name] = {
                "items": len(got),
                "mean_lines": round(float(np.mean([g["lines"] for g in got])), 1),
                "answered_round_1": round(float(np.mean([g["rounds"] == 1 for g in got])), 3),
                "read_in_full": round(float(np.mean([g["full"] for g in got])), 3),
                "median_s": round(float(np.median([g["s"] for g in got])), 3),
                "mean_s": round(float(np.mean([g["s"] for g in got])), 3),
                "point_in_box": round(float(np.mean([g["hit"] for g in got])), 3),
            }
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "eval" / "ui_grounding")
    p.add_argument("--types", default="literal,form", help="instruction types of the dev set to run (comma-separated)")
    p.add_argument("--image", action="append", help="a screenshot instead of the dev set (repeatable, with --instruction)")
    p.add_argument("--instruction", action="append")
    p.add_argument("--json", type=Path)
    args = p.parse_args()
    sys.path.insert(0, str(Path(__file__).parent))
    from bench_ranking import machine_info

    started = machine_info()
    out = {"machine": started, **asyncio.run(run(args))}
    for label, groups in out["summary"].items():  # type: ignore[attr-defined]
        for name, s in groups.items():
            print(f"{label:12s} {name:10s} " + "  ".join(f"{k} {v}" for k, v in s.items()))
    if args.json:
        args.json.write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()

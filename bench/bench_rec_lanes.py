"""Recogniser lanes (tools/backends/local/rec_lanes.py): one two-thread session vs single-threaded lanes.

    python bench/bench_rec_lanes.py [--screens 12] [--desktops 4] [--reps 2] [--json bench/results/rec_lanes.json]

Full reads (every line recognised; caches off) of the first --screens ui_grounding dev screenshots and
--desktops generated busy desktops (bench/scenes.py, 1920x1080 and 1280x800 alternating, seeds 400+),
with `OcrEngine(rec_lanes=1)` (RapidOCR's two-thread session alone: the baseline) and `rec_lanes=2`
(the default), interleaved rep by rep in one process. Reports the wall and CPU seconds of each pass
and whether both read every screen to the same lines (text and box). Timings are read, never asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from PIL import Image

sys.path.insert(0, str(Path(__file__).parent))

import scenes  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def screens(eval_dir: Path, n_dev: int, n_desktops: int) -> list[tuple[str, Image.Image]]:
    out = [(p.stem, Image.open(p).convert("RGB")) for p in sorted((eval_dir / "ui_grounding" / "images").glob("*.jpg"))[:n_dev]]
    for k in range(n_desktops):
        size = (1920, 1080) if k % 2 == 0 else (1280, 800)
        out.append((f"desktop_{size[0]}x{size[1]}_{400 + k}", scenes.desktop(size, seed=400 + k).image.convert("RGB")))
    return out


def main() -> None:
    from sensorium.tools.backends.local.ocr import OcrEngine

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--eval", type=Path, default=Path(os.environ.get("SENSORIUM_EVAL_DIR", REPO.parent / "shared" / "eval")))
    p.add_argument("--screens", type=int, default=12)
    p.add_argument("--desktops", type=int, default=4)
    p.add_argument("--reps", type=int, default=2)
    p.add_argument("--json", type=Path, default=REPO / "bench" / "results" / "rec_lanes.json")
    args = p.parse_args()
    shots = screens(args.eval, args.screens, args.desktops)
    engines = {lanes: OcrEngine(cache_size=0, line_cache_size=0, rec_lanes=lanes) for lanes in (1, 2)}
    for engine in engines.values():  # models loaded and warm before anything is timed
        engine.load()
        engine.read(shots[0][1])
    runs: dict[int, list[dict[str, float]]] = {1: [], 2: []}
    lines: dict[int, list[Any]] = {}
    load_start = os.getloadavg()
    for _ in range(args.reps):
        for lanes, engine in engines.items():
            wall, cpu = time.perf_counter(), time.process_time()
            lines[lanes] = [[(ln.text, ln.box) for ln in engine.read(img).lines] for _, img in shots]
            runs[lanes].append({"wall_s": round(time.perf_counter() - wall, 2), "cpu_s": round(time.process_time() - cpu, 2)})
    identical = [name for (name, _), a, b in zip(shots, lines[1], lines[2], strict=True) if a == b]
    result = {
        "screens": [name for name, _ in shots],
        "lines": sum(len(x) for x in lines[2]),
        "baseline_rec_lanes_1": runs[1],
        "rec_lanes_2": runs[2],
        "ratio_wall": [round(b["wall_s"] / a["wall_s"], 3) for a, b in zip(runs[1], runs[2], strict=True)],
        "identical_screens": len(identical),
        "load_avg_start": [round(x, 2) for x in load_start],
        "load_avg_end": [round(x, 2) for x in os.getloadavg()],
        "cpus": os.cpu_count(),
    }
    for lanes, engine in engines.items():
        engine.close()
    print(f"full reads of {len(shots)} screens ({result['lines']} lines), {args.reps} reps interleaved")
    print(f"  rec_lanes=1 (baseline): {runs[1]}")
    print(f"  rec_lanes=2           : {runs[2]}")
    print(f"  wall ratio lanes/baseline: {result['ratio_wall']}; identical lines on {len(identical)}/{len(shots)} screens")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()

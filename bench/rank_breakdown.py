"""Where a cold rank_ui_elements spends its wall time, step by step, on fresh busy desktops.

    python bench/rank_breakdown.py [--size 1920x1080] [--ocr-detector auto|int8|fp32] [--ocr-recogniser auto|int8|fp32] [--seeds 1,2,3] [--embed]

Each step of the tool (screenshot decoding, OCR detection, recognition, edge regions, proposing,
ranking, text encoding, icon reading, the marked-up image) is timed by wrapping the function that
does it (the background reader that runs after a cold answer is waited for before the next call
and not counted). Per desktop: the cold call, the same call again, and after one typed character. Timings
are wall seconds on a shared machine: read them, do not assert on them. bench_ranking.py has the
figures the issue's targets are about; this shows which step to work on (docs/RANKING.md, session 8).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import functools
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from PIL import Image

sys.path.insert(0, str(Path(__file__).parent))

import bench_ranking as br  # noqa: E402
import scenes  # noqa: E402

SPENT: collections.defaultdict[str, float] = collections.defaultdict(float)


def timed(owner: Any, name: str, label: str) -> None:
    """Replace owner.name with a wrapper adding its wall time to SPENT[label]."""
    f = getattr(owner, name)

    if asyncio.iscoroutinefunction(f):
        @functools.wraps(f)
        async def wrapper(*a: Any, **k: Any) -> Any:
            t = time.perf_counter()
            try:
                return await f(*a, **k)
            finally:
                SPENT[label] += time.perf_counter() - t
    else:
        @functools.wraps(f)
        def wrapper(*a: Any, **k: Any) -> Any:
            t = time.perf_counter()
            try:
                return f(*a, **k)
            finally:
                SPENT[label] += time.perf_counter() - t
    setattr(owner, name, wrapper)


def _gc_timer() -> None:
    """Add the interpreter's garbage-collection pauses to SPENT["gc pauses"] (any thread)."""
    import gc

    started: list[float] = []

    def callback(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            started.append(time.perf_counter())
        elif started:
            SPENT[f"gc pauses (gen {info['generation']})"] += time.perf_counter() - started.pop()

    gc.callbacks.append(callback)


def instrument() -> None:
    _gc_timer()
    from sensorium.server import ranking_tools as rt
    from sensorium.tools.backends.local import backend as lb
    from sensorium.tools.backends.local import ocr, text_encoder
    from sensorium.tools.ranking import marks, proposals, score, screen

    timed(ocr.OcrEngine, "_detect", "detect")
    timed(ocr.OcrEngine, "_texts", "recognise")
    timed(proposals.ProposalCache, "regions", "edge regions")
    timed(proposals, "_propose", "propose (merge, cut)")
    timed(lb.LocalBackend, "_read_icons", "icon reader")
    timed(lb.LocalBackend, "_read_image", "read image (embed)")
    timed(text_encoder.TextEncoder, "encode", "text encoder")
    timed(score, "rank_elements", "rank_elements (all)")
    screen.rank_elements = score.rank_elements
    timed(marks, "marks_image", "marks image")
    timed(rt, "_screenshot", "decode screenshot")
    timed(screen, "rank_proposed", "rank_proposed (all)")
    rt.screen = screen


async def run(args: argparse.Namespace) -> None:
    from mcp import Client

    from sensorium.server.app import build_server, build_services
    from sensorium.server.settings import Settings
    from sensorium.tools.config import IntakeSettings

    tmp = Path(tempfile.mkdtemp(prefix="rank-breakdown-"))
    settings = Settings(backend="local", data_dir=tmp / "data", intake=IntakeSettings(allowed_roots=[tmp]))
    settings = settings.model_copy(update={"local": settings.local.model_copy(
        update={"ocr_detector": args.ocr_detector, "ocr_recogniser": args.ocr_recogniser})})
    services = build_services(settings)
    server = build_server(settings, services=services)
    size = tuple(int(x) for x in args.size.split("x"))
    screens = []
    for i, path in enumerate(args.image):  # a given screenshot (no "one change" variant: the cold call twice)
        shot = tmp / f"image_{i}.png"
        Image.open(path).convert("RGB").save(shot)
        screens.append((f"image {path.name}", shot, shot))
    for seed in args.seeds if not args.image else []:
        scene = scenes.desktop(size, seed=seed)  # type: ignore[arg-type]
        cold, typed = tmp / f"desktop_{seed}.png", tmp / f"desktop_{seed}_typed.png"
        scene.image.save(cold)
        scenes.small_change(scene, "type").save(typed)
        screens.append((f"seed {seed}", cold, typed))
    warm = tmp / "warm.png"
    br.warm_image().save(warm)
    async with Client(server) as client:
        tb = br.ToolBench(client, services, 10, True)
        await client.call_tool("embed_text", {"text": "warm up"})
        await tb.rank(warm, "press continue")
        await asyncio.to_thread(services.ocr.wait_idle)
        for seed, cold, typed in screens:
            if args.embed:  # embed_screenshot of a capture built from the desktop, as a screen grab is
                for tag, image in (("embed cold", scenes.desktop(size, seed=seed).image), ("embed one change", Image.open(typed))):
                    SPENT.clear()
                    spent, _ = await tb.embed_capture(image)
                    steps = ", ".join(f"{k} {v:.3f}" for k, v in sorted(SPENT.items(), key=lambda kv: -kv[1]))
                    print(f"{seed} {tag}: {spent.wall:.3f} s (cpu {spent.cpu:.3f}) | {steps}")
                    await asyncio.to_thread(services.ocr.wait_idle)
                continue
            for tag, path in (("cold", cold), ("same capture", cold), ("one change", typed)):
                SPENT.clear()
                spent, out = await tb.rank(path, args.instruction)
                steps = ", ".join(f"{k} {v:.3f}" for k, v in sorted(SPENT.items(), key=lambda kv: -kv[1]))
                print(f"{seed} {tag}: {spent.wall:.3f} s (cpu {spent.cpu:.3f}), {out.get('total_candidates')} proposals | {steps}")
                if tag == "cold":
                    await asyncio.to_thread(services.ocr.wait_idle)  # the agent acts before its next call
        await services.aclose()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--size", default="1920x1080")
    p.add_argument("--ocr-detector", default="auto", choices=("auto", "int8", "fp32"))
    p.add_argument("--ocr-recogniser", default="auto", choices=("auto", "int8", "fp32"))
    p.add_argument("--embed", action="store_true", help="embed_screenshot (cold, one change) instead of rank_ui_elements")
    p.add_argument("--image", type=Path, action="append", default=[], help="a screenshot instead of generated desktops (repeatable)")
    p.add_argument("--instruction", default="press the sin key")
    p.add_argument("--seeds", type=lambda s: [int(x) for x in s.split(",")], default=[1, 2, 3])
    args = p.parse_args()
    instrument()
    asyncio.run(run(args))


if __name__ == "__main__":
    main()

"""rank_ui_elements on the issue's own screen: real X programs on Xvfb, not a generated picture.

    python bench/real_desktop.py [--size 1280x800] [--runs 2] [--json bench/results/real_desktop.json]

Issue 14 was filed from an Xvfb 1280x800 screen with xcalc, an xterm and the `python3 -m tkinter`
demo. This script builds that screen (Debian packages xvfb, x11-apps, xterm, tk8.6; openbox for window
frames when present): the xterm lists /usr/bin and prints /etc/os-release, xcalc sits on the right,
the tkinter demo below. It grabs the screen once (mss), then through an in-process MCP client calls
rank_ui_elements on that screenshot, cold (`ToolBench.forget_seen`: no OCR read, line, encoded text or
icon reading cached; the models loaded on an unrelated image) and again on the same capture, for a few
instructions of the kinds agents give: a key by its label, a key by what it does, a button by its
words, a window control by what it does. Printed table + JSON: seconds and CPU seconds, how much of the
screen was read before the answer, and rank 1's label. Wall seconds on a shared machine: read them, do
not assert on them. The screenshot is written beside the JSON (real_desktop.png, not committed) so a run
can be looked at.

The pixels depend on the fonts and program versions installed, so figures from two machines compare
only roughly; the script records both.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from PIL import Image
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).parent))

import bench_ranking as br  # noqa: E402

REPO = Path(__file__).resolve().parent.parent

INSTRUCTIONS: Sequence[str] = (
    "press the sin key",
    "press the equals key",
    "click the QUIT button",
    "close the calculator window",
    "close the tk window",
)
"""A key named by its label, a key named by what it does, a button by its words, a window control by
what it does in an unfocused and in the focused window's title bar (tools/ranking/windows.py: the
title's row; before session 15 the whole screen was read and rank 1 was the title)."""

PROGRAMS = ("Xvfb", "xcalc", "xterm")


@contextmanager
def xvfb_desktop(size: tuple[int, int]) -> Iterator[str]:
    """An Xvfb display running the issue's programs; yields the DISPLAY name, stops them all after."""
    missing = [p for p in PROGRAMS if shutil.which(p) is None]
    if missing:
        raise SystemExit(f"missing {', '.join(missing)}: apt-get install xvfb x11-apps xterm tk8.6")
    free = [n for n in range(90, 200) if not Path(f"/tmp/.X{n}-lock").exists() and not Path(f"/tmp/.X11-unix/X{n}").exists()]
    if not free:
        raise SystemExit("no free X display number in :90-:199")
    display = f":{free[0]}"
    procs: list[subprocess.Popen[bytes]] = []
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}

    def start(*cmd: str) -> None:
        procs.append(subprocess.Popen(list(cmd), env={**os.environ, "DISPLAY": display}, **quiet))  # type: ignore[call-overload]

    start("Xvfb", display, "-screen", "0", f"{size[0]}x{size[1]}x24", "-nolisten", "tcp")
    try:
        for _ in range(50):  # the display answers once its socket exists
            if Path(f"/tmp/.X11-unix/X{display[1:]}").exists():
                break
            if procs[0].poll() is not None:
                raise SystemExit(f"Xvfb {display} exited with {procs[0].returncode}")
            time.sleep(0.1)
        if shutil.which("openbox"):
            start("openbox")
            time.sleep(0.5)
        start("xcalc", "-geometry", f"+{size[0] - 430}+60")
        start("xterm", "-geometry", "100x40+10+10", "-e", "bash", "-c", "ls -la /usr/bin | head -60; cat /etc/os-release; exec sleep 600")
        start(sys.executable, "-m", "tkinter")
        time.sleep(3.0)  # programs map their windows and draw
        yield display
    finally:
        for p in reversed(procs):
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                p.kill()


def grab(display: str, path: Path) -> Image.Image:
    import mss

    os.environ["DISPLAY"] = display
    with mss.MSS() as shot:
        g = shot.grab(shot.monitors[1])
        img = Image.frombytes("RGB", g.size, g.rgb)
    if len(img.getcolors(maxcolors=1 << 16) or [0] * (1 << 16)) < 8:
        raise SystemExit(f"the screen grabbed from {display} is blank: did xcalc / xterm start? (run them on it by hand to see)")
    img.save(path)
    return img


async def measure(path: Path, runs: int, k: int) -> dict[str, Any]:
    from mcp import Client

    from sensorium.server.app import build_server, build_services
    from sensorium.server.settings import Settings
    from sensorium.tools.config import IntakeSettings

    tmp = Path(tempfile.mkdtemp(prefix="sensorium-real-desktop-"))
    try:
        shutil.copy(path, tmp / path.name)
        shot = tmp / path.name
        warm = tmp / "warm.png"
        br.warm_image().save(warm)
        settings = Settings(backend="local", data_dir=tmp / "data", intake=IntakeSettings(allowed_roots=[tmp]))
        services = build_services(settings)
        server = build_server(settings, services=services)
        rows: list[dict[str, Any]] = []
        async with Client(server) as client:
            tb = br.ToolBench(client, services, k, True)
            await client.call_tool("embed_text", {"text": "warm up"})
            await tb.rank(warm, "press continue")
            for instruction in INSTRUCTIONS:
                for run in range(runs):
                    await tb.forget_seen()
                    cold, out = await tb.rank(shot, instruction)
                    await asyncio.to_thread(services.ocr.wait_idle)
                    same, _ = await tb.rank(shot, instruction)
                    top = (out.get("candidates") or [{}])[0]
                    rows.append({
                        "instruction": instruction, "run": run + 1,
                        **br.figures(cold=cold, same_capture=same), **br.result_fields(out),
                        "rank1": top.get("label") or top.get("text"), "rank1_box": top.get("box"),
                    })
        await services.aclose()
        return {"rows": rows}
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def report(results: dict[str, Any], console: Console) -> None:
    t = Table(title=f"rank_ui_elements on {results['screen']} (Xvfb: xcalc, xterm, tkinter demo)")
    for col in ("instruction", "run", "cold s", "cold cpu-s", "same capture s", "lines read / left", "read in full", "rank 1"):
        t.add_column(col)
    for r in results["rows"]:
        t.add_row(r["instruction"], str(r["run"]), f"{r['cold_s']:.2f}", f"{r['cold_cpu_s']:.2f}", f"{r['same_capture_s']:.3f}",
                  f"{r.get('ocr_lines')} / {r.get('ocr_unread')}", "yes" if r.get("read_in_full") else "no", str(r.get("rank1") or r.get("rank1_box")))
    console.print(t)


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--size", default="1280x800")
    p.add_argument("--runs", type=int, default=2, help="cold calls per instruction")
    p.add_argument("--k", type=int, default=10)
    p.add_argument("--json", type=Path, default=REPO / "bench" / "results" / "real_desktop.json")
    args = p.parse_args(argv)
    size = tuple(int(v) for v in args.size.split("x"))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    shot = args.json.with_suffix(".png")
    load_before = os.getloadavg()
    with xvfb_desktop(size) as display:  # type: ignore[arg-type]
        grab(display, shot)
    results = {"machine": br.machine_info(), "screen": f"{args.size} Xvfb", "screenshot": shot.name,
               "instructions": list(INSTRUCTIONS), "runs": args.runs, "load_avg_before": [round(x, 2) for x in load_before],
               **asyncio.run(measure(shot, args.runs, args.k)), "load_avg_after": [round(x, 2) for x in os.getloadavg()],
               "notes": ["cold = no OCR read, line, encoded text or icon reading cached (bench_ranking.ToolBench.forget_seen); "
                         "models loaded on an unrelated image first", "same capture = the same call again after the background reader finished"]}
    args.json.write_text(json.dumps(results, indent=2, default=str))
    report(results, Console(width=None if sys.stdout.isatty() else 160))
    print(f"wrote {args.json} and {shot}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Local (offline) backend bench: each figure beside its baseline from the same run.

    python bench/bench_local.py [--json PATH] [--eval DIR]

| figure | baseline (same run) |
|---|---|
| MiniLM texts/s at batch 32 | texts/s at batch 1 |
| OCR ms, same screenshot again (content cache) | OCR ms cold (a fresh engine) |
| OCR ms, one small change (line cache) | OCR ms cold |
| embed_image end to end through MCP (cold / cached) | OCR ms cold of the same image |
| capture_screen + embed_screenshot of a 1920x1080 Xvfb screen | OCR ms cold of that screenshot |
| ASR seconds per clip | the clip's duration (real time) |
| server start -> first tools/list answer (stdio) | interpreter start + `import mcp` |
| peak RSS with every model loaded | RSS after imports, before any model |

Timings on a shared 2-core machine are noisy: read the table, do not assert on it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw
from rich.console import Console
from rich.table import Table

console = Console(stderr=True)


def _rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _time(fn: Any, repeat: int = 1) -> float:
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def _start_xvfb() -> tuple[subprocess.Popen[bytes], str] | None:
    """A 1920x1080 virtual display, or None (the screenshot row is then left out)."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    from display_support import start_xvfb

    try:
        started = start_xvfb()
    except RuntimeError as exc:
        console.print(f"{exc}: skipping the embed_screenshot row")
        return None
    if started is None:
        console.print("Xvfb not installed: skipping the embed_screenshot row")
    return started


_SHOW = """
import sys, tkinter as tk
from PIL import Image, ImageTk
root = tk.Tk(); root.overrideredirect(True); root.geometry("1920x1080+0+0")
photo = ImageTk.PhotoImage(Image.open(sys.argv[1]).convert("RGB"))
tk.Label(root, image=photo, borderwidth=0, highlightthickness=0).pack(); root.update(); print("ready", flush=True); root.mainloop()
"""


def _show(path: Path, display: str) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen([sys.executable, "-c", _SHOW, str(path)], env={**os.environ, "DISPLAY": display}, stdout=subprocess.PIPE)
    assert proc.stdout is not None and proc.stdout.readline().strip() == b"ready"
    time.sleep(0.5)
    return proc


def bench(eval_dir: Path) -> dict[str, Any]:
    from sensorium.tools.backends.local.backend import LocalBackend
    from sensorium.tools.backends.local.ocr import OcrEngine
    from sensorium.tools.config import LocalSettings

    results: dict[str, Any] = {}
    rss_before = _rss_mb()
    settings = LocalSettings(threads=2)
    tmp = Path(tempfile.mkdtemp(prefix="sensorium-bench-"))
    backend = LocalBackend(settings, cache_dir=tmp)

    # text encoder
    items = [json.loads(x) for x in (eval_dir / "ui_grounding" / "items.jsonl").read_text().splitlines()]
    texts = [i["instruction"] for i in items][:128]
    backend.encoder.encode(texts[:4])  # load
    t1 = _time(lambda: [backend.encoder.encode([t], batch_size=1) for t in texts], 2)
    t32 = _time(lambda: backend.encoder.encode(texts, batch_size=32), 2)
    results["text_encoder"] = {"texts_per_s_batch32": len(texts) / t32, "baseline_texts_per_s_batch1": len(texts) / t1}

    # OCR: cold, repeat, one small change
    shots = {"1280x800": "ui_dev_01.jpg", "1920x1080": "ui_dev_00.jpg"}
    for label, name in shots.items():
        img = Image.open(eval_dir / "ui_grounding" / "images" / name).convert("RGB")
        engine = OcrEngine(max_side=settings.ocr_max_side, threads=settings.threads, cache_size=8)
        engine.read(Image.new("RGB", (64, 64), "white"))  # load the models outside the timing
        cold = _time(lambda: engine.read(img))
        again = _time(lambda: engine.read(img), 3)
        changed = img.copy()
        ImageDraw.Draw(changed).text((img.width - 300, 10), "12:34 new mail", fill=(0, 0, 0))
        small = _time(lambda: engine.read(changed))
        results[f"ocr_{label}"] = {
            "ms_repeat": again * 1000, "ms_one_change": small * 1000, "baseline_ms_cold": cold * 1000,
        }

    ocr_only_1080 = results["ocr_1920x1080"]["baseline_ms_cold"] / 1000

    # embed_image end to end through MCP (in process), cold then cached
    from mcp import Client

    from sensorium.server.app import build_server
    from sensorium.server.settings import Settings
    from sensorium.tools.config import IntakeSettings

    async def end_to_end() -> tuple[float, float]:
        s = Settings(backend="local", data_dir=tmp / "data", cache_dir=tmp / "cache", intake=IntakeSettings(allowed_roots=[eval_dir]))
        path = str(eval_dir / "ui_grounding" / "images" / "ui_dev_02.jpg")
        async with Client(build_server(s)) as client:
            await client.call_tool("embed_text", {"text": "warm up"})
            t = time.perf_counter()
            r = await client.call_tool("embed_image", {"path": path})
            cold = time.perf_counter() - t
            assert not r.is_error, r.content
            t = time.perf_counter()
            await client.call_tool("embed_image", {"path": path})
            return cold, time.perf_counter() - t

    cold_e2e, cached_e2e = asyncio.run(end_to_end())

    async def screenshot_end_to_end(display: str) -> float:
        """capture_screen + embed_screenshot of a real X display showing a real screenshot."""
        s = Settings(backend="local", data_dir=tmp / "data3", cache_dir=tmp / "cache")
        async with Client(build_server(s)) as client:
            await client.call_tool("embed_text", {"text": "warm up"})
            t = time.perf_counter()
            r = await client.call_tool("embed_screenshot", {"monitor": 1})
            assert not r.is_error, r.content
            return time.perf_counter() - t

    xvfb = _start_xvfb()
    if xvfb is not None:
        proc, display = xvfb
        try:
            viewer = _show(eval_dir / "ui_grounding" / "images" / "ui_dev_00.jpg", display)
            os.environ["DISPLAY"] = display
            shot = asyncio.run(screenshot_end_to_end(display))
            results["embed_screenshot_e2e"] = {"ms_capture_ocr_embed": shot * 1000, "baseline_ms_ocr_only": ocr_only_1080 * 1000}
            viewer.kill()
        finally:
            proc.kill()
    img = Image.open(eval_dir / "ui_grounding" / "images" / "ui_dev_02.jpg").convert("RGB")
    engine = OcrEngine(max_side=settings.ocr_max_side, threads=settings.threads, cache_size=8)
    engine.read(Image.new("RGB", (64, 64), "white"))
    ocr_only = _time(lambda: engine.read(img))
    results["embed_image_e2e"] = {"ms_cold": cold_e2e * 1000, "ms_cached": cached_e2e * 1000, "baseline_ms_ocr_only": ocr_only * 1000}

    # ASR real-time factor
    from sensorium.tools.avmedia import decode_audio, media_duration

    clips = [json.loads(x) for x in (eval_dir / "spoken_instructions" / "items.jsonl").read_text().splitlines()][:10]
    rec = backend._recognizer()
    rec.load()
    audio_s = spent = 0.0
    for c in clips:
        data = (eval_dir / "spoken_instructions" / c["audio"]).read_bytes()
        audio_s += media_duration(data) or 0.0
        samples = decode_audio(data)
        t = time.perf_counter()
        rec.transcribe(samples)
        spent += time.perf_counter() - t
    results["asr"] = {"seconds_per_clip": spent / len(clips), "baseline_audio_seconds_per_clip": audio_s / len(clips), "real_time_factor": spent / audio_s}

    results["rss"] = {"peak_mb_all_models": _peak_mb(), "baseline_mb_before_models": rss_before}

    # start -> first tools/list (stdio subprocess), beside bare interpreter + import mcp
    from mcp import StdioServerParameters

    async def first_list() -> float:
        env = {**os.environ, "SENSORIUM_BACKEND": "local", "SENSORIUM_DATA_DIR": str(tmp / "d2")}
        t = time.perf_counter()
        async with Client(StdioServerParameters(command=sys.executable, args=["-m", "sensorium.server.cli", "serve"], env=env)) as c:
            await c.list_tools()
            return time.perf_counter() - t

    start = min(asyncio.run(first_list()) for _ in range(3))
    bare = _time(lambda: subprocess.run([sys.executable, "-c", "import mcp.server.mcpserver"], check=True), 3)
    results["startup"] = {"s_to_first_tools_list": start, "baseline_s_python_import_mcp": bare}
    return results


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--eval", type=Path, default=Path(os.environ.get("SENSORIUM_EVAL_DIR", Path(__file__).resolve().parents[2] / "shared" / "eval")))
    p.add_argument("--json", type=Path, default=None)
    args = p.parse_args()
    results = bench(args.eval)
    table = Table(title="sensorium local backend bench (one run, 2 threads)")
    table.add_column("measure")
    table.add_column("figure", justify="right")
    table.add_column("baseline (same run)", justify="right")
    for name, figs in results.items():
        base = {k: v for k, v in figs.items() if k.startswith("baseline_")}
        rest = {k: v for k, v in figs.items() if not k.startswith("baseline_")}
        table.add_row(
            name,
            ", ".join(f"{k} {v:.3g}" for k, v in rest.items()),
            ", ".join(f"{k.removeprefix('baseline_')} {v:.3g}" for k, v in base.items()),
        )
    console.print(table)
    if args.json:
        args.json.write_text(json.dumps({"machine": {"cpus": os.cpu_count()}, "results": results}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

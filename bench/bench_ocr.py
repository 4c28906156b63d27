"""OCR engine bench: the old settings (baseline) and the new ones, interleaved in one process.

    python bench/bench_ocr.py [--reps 3] [--per-class 2] [--json bench/results/ocr.json]

Per screen class (dev screenshots 1280x800 and 1920x1080 from ../shared/eval/ui_grounding, and a
generated busy 1920x1080 desktop: two terminals full of text, a calculator, a toolbar), three
figures for each engine:

| figure | what is timed |
|---|---|
| cold | the first read of a screen (models loaded, every cache empty) |
| same | the same pixels again (content cache) |
| change | the screen after one small change, right after the cold read |

Engines: `old` = the settings before issue 14 (memory arena off, recognition batch 6, RapidOCR's
own recognition loop with its 320 px canvas, no band re-reads; only the line cache); `new` = OcrEngine's defaults. Runs alternate old/new over the same
images (A/B/A/B) and the table reports medians and the median of per-pair ratios new/old, in
wall time and in process CPU time (the machine is shared: wall time grows with other people's
load, CPU time much less). The load average is recorded before and after.

Agreement: the `new` read after the change (a band re-read) against the `old` engine's full read
of the same changed screen: lines with the same text (spaces aside) and a box within 3 px.

The generated desktop comes from bench/scenes.py when it is importable (the ranking bench's
scenes); otherwise from a small generator here. Timings are not asserted anywhere.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent))
console = Console(stderr=True)
ROOT = Path(__file__).resolve().parent.parent

OLD = {"mem_arena": False, "rec_batch": 6, "history": 0, "own_rec_loop": False}
NEW: dict[str, Any] = {}


def _eval_dir() -> Path:
    env = os.environ.get("SENSORIUM_EVAL_DIR")
    return Path(env) if env else ROOT.parent / "shared" / "eval"


def _fallback_desktop() -> tuple[Image.Image, Image.Image]:
    """Two terminals of shell text on 1920x1080, and the same with one more character typed."""
    lines = [
        f"{i:4d}  drwxr-xr-x  dev  staff  {i * 37 % 9000:5d}  Nov {i % 28 + 1:2d} 10:{i % 60:02d}  project_{i}/src/module_{i % 13}.py"
        for i in range(60)
    ]

    def draw(typed: str) -> Image.Image:
        img = Image.new("RGB", (1920, 1080), (40, 42, 54))
        d = ImageDraw.Draw(img)
        for col, x0 in enumerate((20, 980)):
            d.rectangle((x0, 40, x0 + 920, 1060), fill=(10, 10, 10))
            for r, text in enumerate(lines[col * 7 : col * 7 + 54]):
                d.text((x0 + 10, 50 + r * 18), text, fill=(220, 220, 220), font_size=14)
        d.text((30, 50 + 54 * 18), "dev@devbox:~/project$ " + typed, fill=(120, 255, 120), font_size=14)
        return img

    return draw("ls"), draw("ls -")


def _busy() -> tuple[str, Image.Image, Image.Image]:
    try:
        from scenes import desktop, small_change  # the ranking bench's generated desktops
    except ImportError:
        before, after = _fallback_desktop()
        return "generated (bench_ocr fallback)", before, after
    scene = desktop((1920, 1080), seed=0)
    return "generated (bench/scenes.py desktop, type)", scene.image, small_change(scene, "type")


def _changed(img: Image.Image) -> Image.Image:
    """One small change to a screenshot: a clock-like word near the top right."""
    out = img.copy()
    d = ImageDraw.Draw(out)
    x = img.width - 260
    d.rectangle((x, 6, x + 150, 30), fill=(255, 255, 255))
    d.text((x + 4, 8), "12:34 new mail", fill=(0, 0, 0), font_size=16)
    return out


def _timed(fn: Any) -> tuple[float, float, Any]:
    w, c = time.perf_counter(), time.process_time()
    out = fn()
    return (time.perf_counter() - w) * 1000, (time.process_time() - c) * 1000, out


def _agree(a: Any, b: Any, tol: int = 3) -> tuple[int, int]:
    def same(x: str, y: str) -> bool:
        return x.replace(" ", "") == y.replace(" ", "")

    hits = sum(
        any(same(x.text, y.text) and all(abs(p - q) <= tol for p, q in zip(x.box, y.box)) for y in b.lines)
        for x in a.lines
    )
    return hits, max(len(a.lines), len(b.lines))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=3, help="A/B rounds per screen")
    ap.add_argument("--per-class", type=int, default=2, help="dev screenshots per size class")
    ap.add_argument("--json", type=Path, default=ROOT / "bench" / "results" / "ocr.json")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()

    from sensorium.tools.backends.local.ocr import OcrEngine

    images = _eval_dir() / "ui_grounding" / "images"
    screens: list[tuple[str, str, Image.Image, Image.Image]] = []
    for size in ((1280, 800), (1920, 1080)):
        picked = 0
        for p in sorted(images.glob("*.jpg")):
            img = Image.open(p).convert("RGB")
            if img.size == size and picked < args.per_class:
                screens.append((f"{size[0]}x{size[1]}", p.name, img, _changed(img)))
                picked += 1
    label, before, after = _busy()
    screens.append(("busy 1920x1080", label, before, after))

    engines = {"old": OcrEngine(threads=args.threads, **OLD), "new": OcrEngine(threads=args.threads, **NEW)}
    t_load = {}
    for name, e in engines.items():
        w, _, _ = _timed(e.load)
        t_load[name] = w
    load_before = os.getloadavg()
    rows: list[dict[str, Any]] = []
    for cls, name, img, changed in screens:
        for rep in range(args.reps):
            for eng_name in (("old", "new") if rep % 2 == 0 else ("new", "old")):
                e = engines[eng_name]
                e.clear()
                cw, cc, first = _timed(lambda: e.read(img))
                sw, sc, _ = _timed(lambda: e.read(img))
                xw, xc, after_read = _timed(lambda: e.read(changed))
                rows.append({
                    "class": cls, "screen": name, "engine": eng_name, "rep": rep, "lines": len(first.lines),
                    "cold_ms": cw, "cold_cpu_ms": cc, "same_ms": sw, "same_cpu_ms": sc,
                    "change_ms": xw, "change_cpu_ms": xc, "_after": after_read,
                })
            console.print(f"{cls} {name} rep {rep}: " + ", ".join(
                f"{r['engine']} cold {r['cold_ms']:.0f} change {r['change_ms']:.0f}" for r in rows[-2:]))
    load_after = os.getloadavg()

    # agreement: new's band re-read of the changed screen vs old's full read of it (last rep)
    agreement: dict[str, Any] = {}
    for cls, name, _, _ in screens:
        new = [r for r in rows if r["screen"] == name and r["engine"] == "new"][-1]["_after"]
        old = [r for r in rows if r["screen"] == name and r["engine"] == "old"][-1]["_after"]
        hits, n = _agree(new, old)
        agreement[name] = {"class": cls, "agree": hits, "lines": n, "share": round(hits / max(n, 1), 4)}

    summary: list[dict[str, Any]] = []
    table = Table(title=f"OCR old vs new (medians of {args.reps} A/B rounds; load avg {load_before[0]:.1f} -> {load_after[0]:.1f})")
    for col in ("class", "screen", "lines", "figure", "old ms", "new ms", "new/old wall", "new/old cpu", "agree"):
        table.add_column(col)
    for cls, name, _, _ in screens:
        mine = [r for r in rows if r["screen"] == name]
        for fig in ("cold", "same", "change"):
            per = {}
            for eng in ("old", "new"):
                rs = [r for r in mine if r["engine"] == eng]
                per[eng] = (statistics.median(r[f"{fig}_ms"] for r in rs), statistics.median(r[f"{fig}_cpu_ms"] for r in rs))
            pairs = [
                (n[f"{fig}_ms"] / max(o[f"{fig}_ms"], 1e-6), n[f"{fig}_cpu_ms"] / max(o[f"{fig}_cpu_ms"], 1e-6))
                for o in mine if o["engine"] == "old" for n in mine if n["engine"] == "new" and n["rep"] == o["rep"]
            ]
            ratio_w = statistics.median(p[0] for p in pairs)
            ratio_c = statistics.median(p[1] for p in pairs)
            summary.append({
                "class": cls, "screen": name, "figure": fig, "lines": mine[0]["lines"],
                "old_ms": round(per["old"][0], 1), "new_ms": round(per["new"][0], 1),
                "old_cpu_ms": round(per["old"][1], 1), "new_cpu_ms": round(per["new"][1], 1),
                "ratio_wall": round(ratio_w, 3), "ratio_cpu": round(ratio_c, 3),
            })
            table.add_row(cls, name, str(mine[0]["lines"]), fig, f"{per['old'][0]:.0f}", f"{per['new'][0]:.0f}",
                          f"{ratio_w:.2f}", f"{ratio_c:.2f}",
                          f"{agreement[name]['share']:.1%}" if fig == "change" else "")
    console.print(table)
    out = {
        "settings": {"old": OLD, "new": NEW or "OcrEngine defaults", "threads": args.threads, "reps": args.reps},
        "load_avg_before": load_before, "load_avg_after": load_after, "cpu_count": os.cpu_count(),
        "model_load_ms": t_load,
        "summary": summary,
        "change_agreement_vs_full_read": agreement,
        "runs": [{k: (round(v, 1) if isinstance(v, float) else v) for k, v in r.items() if not k.startswith("_")} for r in rows],
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(out, indent=2))
    console.print(f"wrote {args.json}")


if __name__ == "__main__":
    main()

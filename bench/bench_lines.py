"""Classical + DB-fallback line detection (`tools/backends/local/lines.py`) against DB alone.

Per screen, on the image the engine detects on (`OcrEngine._work_image`), DB and the hybrid run
interleaved in one process and each set of lines is read by the same recogniser:

- line recall vs DB: a DB line (one the recogniser reads, score >= 0.5) is found when a hybrid line
  covers it with IoU >= 0.5, or when a hybrid line covering >= 70 % of it reads a text that holds DB's
  text (DB splits lines at places no rule reproduces exactly: "Nov 30  11:43:14 devbox ..." as one or
  three lines; either way the words are read);
- text agreement: DB's words (space-separated tokens, as a multiset) that the hybrid read also has,
  and the hybrid's extra words (read where DB read nothing);
- detection CPU seconds (process time) of each, and how much of the image the hybrid sent to DB.

    python bench/bench_lines.py [--dev N] [--desktops N] [--xvfb] [--json bench/results/lines.json]

Screens: generated desktops (bench/scenes.py, 1920x1080 and 1280x800, several seeds, with a small
change), the ui_grounding dev screenshots (images only: DB's read is the reference, the eval's labels
are not read) and, with --xvfb, a Tk window on a real X server.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))

from scenes import desktop, small_change  # noqa: E402

from sensorium.tools.backends.local.lines import detect_lines  # noqa: E402
from sensorium.tools.backends.local.ocr import OcrEngine, _hulls  # noqa: E402

EVAL = Path(os.environ.get("SENSORIUM_EVAL_DIR", Path(__file__).resolve().parents[1].parent / "shared" / "eval"))


def screens(n_desk: int, n_dev: int, xvfb: bool) -> list[tuple[str, str, Image.Image]]:
    out: list[tuple[str, str, Image.Image]] = []
    for size in ((1920, 1080), (1280, 800)):
        for seed in range(n_desk):
            s = desktop(size, seed=seed)
            out.append((f"desktop {size[0]}x{size[1]}", f"desk{size[0]}_s{seed}", s.image))
            if seed == 0:
                out.append((f"desktop {size[0]}x{size[1]}", f"desk{size[0]}_s{seed}_typed", small_change(s)))
                out.append((f"desktop {size[0]}x{size[1]}", f"desk{size[0]}_s{seed}_display", small_change(s, "display")))
    images = sorted((EVAL / "ui_grounding" / "images").glob("*"))[:n_dev]
    for f in images:
        out.append(("ui_grounding dev", f.stem, Image.open(f).convert("RGB")))
    if xvfb:
        out.extend(("xvfb tk", name, img) for name, img in xvfb_screens())
    return out


def xvfb_screens() -> list[tuple[str, Image.Image]]:
    """A Tk window (labels, buttons, entry, listbox, text) on a private Xvfb, captured with mss."""
    import subprocess

    display = ":87"
    server = subprocess.Popen(["Xvfb", display, "-screen", "0", "1280x800x24", "-nolisten", "tcp"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(1.5)
        env = dict(os.environ, DISPLAY=display)
        app = subprocess.Popen([sys.executable, "-c", TK_APP], env=env)
        try:
            time.sleep(3)
            import mss

            shots = []
            with mss.MSS(display=display) as sct:
                s = sct.grab(sct.monitors[1])
                shots.append(("tk_form_1280", Image.frombytes("RGB", s.size, s.bgra, "raw", "BGRX")))
            return shots
        finally:
            app.terminate()
            app.wait(5)
    finally:
        server.terminate()
        server.wait(5)


TK_APP = r"""
import tkinter as tk
from tkinter import ttk
root = tk.Tk(); root.geometry("1280x800+0+0"); root.title("Settings")
menu = tk.Menu(root)
for name in ("File", "Edit", "View", "Tools", "Help"):
    menu.add_cascade(label=name, menu=tk.Menu(menu, tearoff=0))
root.config(menu=menu)
left = ttk.Frame(root, padding=12); left.pack(side="left", fill="y")
for i, label in enumerate(("Name", "Email address", "Password", "Server host", "Port")):
    ttk.Label(left, text=label).grid(row=i, column=0, sticky="w", pady=6)
    e = ttk.Entry(left, width=28); e.grid(row=i, column=1, pady=6); e.insert(0, ("Ada Lovelace", "ada@example.org", "", "127.0.0.1", "8765")[i])
ttk.Checkbutton(left, text="Remember me").grid(row=5, column=1, sticky="w")
ttk.Combobox(left, values=["Light", "Dark"]).grid(row=6, column=1, pady=6)
for j, b in enumerate(("Save changes", "Cancel", "Apply", "Reset to defaults")):
    ttk.Button(left, text=b).grid(row=7 + j, column=1, sticky="we", pady=3)
right = ttk.Frame(root, padding=12); right.pack(side="left", fill="both", expand=True)
lb = tk.Listbox(right, height=12)
for k in range(12): lb.insert("end", f"Recent file {k + 1}: report_{2020 + k}.pdf")
lb.pack(fill="x")
txt = tk.Text(right, height=20)
txt.insert("1.0", "\n".join(f"{k:03d}  INFO  worker {k % 4} finished job {k * 7} in {k * 0.13:.2f}s" for k in range(20)))
txt.pack(fill="both", expand=True, pady=8)
ttk.Label(right, text="Ready. 12 files, 3 selected").pack(anchor="w")
root.mainloop()
"""


def read(engine: OcrEngine, bgr: np.ndarray, quads: np.ndarray) -> list[tuple[np.ndarray, str]]:
    """(hull, text) of the lines the recogniser reads (score >= the engine's minimum)."""
    if not len(quads):
        return []
    eng = engine._load()
    crops = eng.crop_text_regions(bgr, [q.copy() for q in quads])
    texts = engine._recognise_crops(eng, crops)
    hulls = _hulls(list(quads))
    return [(hulls[i], t.strip()) for i, (t, s) in enumerate(texts) if t.strip() and s >= engine.min_score]


def _norm(text: str) -> str:
    return re.sub(r"\s+", "", text)


def compare(db: list[tuple[np.ndarray, str]], hy: list[tuple[np.ndarray, str]]) -> dict:
    hh = np.array([h for h, _ in hy]).reshape(-1, 4)
    found = by_iou = same_text = 0
    for box, text in db:
        if not len(hh):
            break
        iw = np.clip(np.minimum(box[2], hh[:, 2]) - np.maximum(box[0], hh[:, 0]), 0, None)
        ih = np.clip(np.minimum(box[3], hh[:, 3]) - np.maximum(box[1], hh[:, 1]), 0, None)
        inter = iw * ih
        area = (box[2] - box[0]) * (box[3] - box[1])
        iou = inter / np.maximum(area + (hh[:, 2] - hh[:, 0]) * (hh[:, 3] - hh[:, 1]) - inter, 1e-9)
        j = int(np.argmax(iou))
        if iou[j] >= 0.5:
            found += 1
            by_iou += 1
            same_text += hy[j][1] == text
            continue
        cover = np.flatnonzero(inter >= 0.7 * area)
        if any(_norm(text) in _norm(hy[k][1]) for k in cover):
            found += 1
    dbw = Counter(w for _, t in db for w in t.split())
    hyw = Counter(w for _, t in hy for w in t.split())
    common = sum((dbw & hyw).values())
    return {
        "db_lines": len(db), "hybrid_lines": len(hy), "recall": found / len(db) if db else 1.0,
        "iou_matched": by_iou, "iou_same_text": same_text / by_iou if by_iou else 1.0,
        "words_db": sum(dbw.values()), "word_agreement": common / max(1, sum(dbw.values())),
        "words_extra": sum((hyw - dbw).values()),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--desktops", type=int, default=3, help="seeds per desktop size")
    ap.add_argument("--dev", type=int, default=1000, help="at most this many ui_grounding dev screenshots")
    ap.add_argument("--xvfb", action="store_true", help="also a Tk window on a private Xvfb")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    engine = OcrEngine(cache_size=0, history=0)
    engine.load()
    det = engine._load()._load_det_model()

    def db(img: np.ndarray) -> np.ndarray:
        out = det(img)
        return np.zeros((0, 4, 2), np.float32) if out.boxes is None else np.asarray(out.boxes, np.float32)

    rows = []
    print(f"load {os.getloadavg()[0]:.1f}", file=sys.stderr)
    for cls, name, img in screens(args.desktops, args.dev, args.xvfb):
        work = engine._work_image(img)
        bgr = np.ascontiguousarray(np.asarray(work)[:, :, ::-1])
        t = time.process_time()
        dq = db(bgr)
        t_db = time.process_time() - t
        t = time.process_time()
        hyb = detect_lines(bgr, db)
        t_hy = time.process_time() - t
        row = {"class": cls, "screen": name, "size": list(img.size), "db_cpu": round(t_db, 3), "hybrid_cpu": round(t_hy, 3),
               "db_fraction": round(hyb.db_fraction, 3), "classical": hyb.classical, "db_in_hybrid": hyb.db}
        row.update(compare(read(engine, bgr, dq), read(engine, bgr, hyb.quads)))
        rows.append(row)
        print(f"{cls:22s} {name:22s} recall {row['recall']:.3f} words {row['word_agreement']:.3f} (+{row['words_extra']}) "
              f"iou-same {row['iou_same_text']:.3f} cpu db {t_db:.2f} hybrid {t_hy:.2f} (db on {hyb.db_fraction:.0%})", flush=True)
    summary = {}
    for cls in dict.fromkeys(r["class"] for r in rows):
        rs = [r for r in rows if r["class"] == cls]
        summary[cls] = {
            "screens": len(rs),
            "recall_min": min(r["recall"] for r in rs), "recall_mean": statistics.mean(r["recall"] for r in rs),
            "word_agreement_min": min(r["word_agreement"] for r in rs),
            "word_agreement_mean": statistics.mean(r["word_agreement"] for r in rs),
            "words_extra_per_screen": statistics.mean(r["words_extra"] for r in rs),
            "db_cpu_median": statistics.median(r["db_cpu"] for r in rs),
            "hybrid_cpu_median": statistics.median(r["hybrid_cpu"] for r in rs),
            "cpu_ratio_median": statistics.median(r["hybrid_cpu"] / max(r["db_cpu"], 1e-6) for r in rs),
            "db_fraction_median": statistics.median(r["db_fraction"] for r in rs),
        }
    print("\n| screens | n | line recall vs DB, min / mean | DB's words read, min / mean | extra words / screen | "
          "detection CPU-s DB / hybrid (median) | ratio | image sent to DB (median) |")
    print("|---|---|---|---|---|---|---|---|")
    for cls, s in summary.items():
        print(f"| {cls} | {s['screens']} | {s['recall_min']:.3f} / {s['recall_mean']:.3f} | {s['word_agreement_min']:.3f} / "
              f"{s['word_agreement_mean']:.3f} | {s['words_extra_per_screen']:.1f} | {s['db_cpu_median']:.2f} / "
              f"{s['hybrid_cpu_median']:.2f} | {s['cpu_ratio_median']:.2f}x | {s['db_fraction_median']:.0%} |")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"load": os.getloadavg(), "summary": summary, "screens": rows}, indent=1))


if __name__ == "__main__":
    main()

"""Measure proposal coverage on the ui_grounding set: `python -m sensorium.tools.ranking.coverage EVAL_DIR [OCR_CACHE.json]`.

Coverage of an item = 1 when the centre of at least one proposal lies inside its target box
(x1 <= cx < x2, y1 <= cy < y2); reported overall, per source (OCR only, regions only, both)
and per instruction_type, plus the mean number of proposals per screenshot. The stricter
`*_iou50` keys count a target as covered when some proposal overlaps it with IoU >= 0.5
(the proposal is the element, not just a box whose centre falls on it). OCR is slow
(seconds a screenshot), so its words can be cached in a JSON file between runs.
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict
from pathlib import Path

from PIL import Image

from ..backends.local.ocr import engine_from_settings
from ..config import LocalSettings
from .proposals import OcrWord, coverage, iou, merge, read_words, region_proposals, text_proposals


def run(eval_dir: Path, cache: Path | None = None) -> dict[str, object]:
    folder = eval_dir / "ui_grounding"
    items = [json.loads(line) for line in (folder / "items.jsonl").read_text().splitlines() if line.strip()]
    cached: dict[str, list[dict]] = json.loads(cache.read_text()) if cache and cache.exists() else {}
    reader = engine_from_settings(LocalSettings())
    by_image: dict[str, list[dict]] = defaultdict(list)
    for it in items:
        by_image[it["image"]].append(it)
    stats: dict[str, list[float]] = defaultdict(list)
    counts: list[int] = []
    for name, group in sorted(by_image.items()):
        image = Image.open(folder / name).convert("RGB")
        if name not in cached:
            cached[name] = [w.model_dump() for w in read_words(reader, image)]
            if cache:
                cache.write_text(json.dumps(cached))
            print(f"OCR {name}: {len(cached[name])} lines", file=sys.stderr)
        words = [OcrWord(**w) for w in cached[name]]
        ocr = text_proposals(words, image.size)
        regions = region_proposals(image)
        both = merge(ocr, regions, words)
        counts.append(len(both))
        for it in group:
            t = [it["candidates"][i]["box"] for i in it["acceptable_indices"]]
            hit = {k: max(coverage([b], p) for b in t) for k, p in (("ocr", ocr), ("region", regions), ("both", both))}
            for k, p in (("ocr", ocr), ("region", regions), ("both", both)):
                hit[f"{k}_iou50"] = float(any(iou(b, q.box) >= 0.5 for b in t for q in p))
            for k, v in hit.items():
                stats[k].append(v)
                stats[f"{k}/{it['instruction_type']}"].append(v)
    out: dict[str, object] = {k: round(sum(v) / len(v), 3) for k, v in sorted(stats.items())}
    out["items"] = len(items)
    out["screenshots"] = len(by_image)
    out["mean_proposals"] = round(sum(counts) / len(counts), 1)
    return out


if __name__ == "__main__":
    result = run(Path(sys.argv[1]), Path(sys.argv[2]) if len(sys.argv) > 2 else None)
    print(json.dumps(result, indent=2))

"""Per-item dump of the dev ui_grounding rankings (boxes and boxes+names), for failure analysis.

WHY: `sensorium eval` reports totals; grouping the misses by cause needs each item's target, its
words, the winner and the score parts. This reads the dev set only to LOOK at misses (nothing here
tunes anything). OCR reads are cached in --work so a re-run after a ranking change is cheap.

    python bench/ui_failures.py [--data ../shared/eval/ui_grounding] [--json out.json] [-v]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import pickle
from collections import defaultdict
from pathlib import Path

import numpy as np
from PIL import Image


async def run(data: Path, work: Path, variants: list[str]) -> dict[str, object]:
    from sensorium.server.settings import LocalSettings
    from sensorium.tools.backends.base import EmbedItem
    from sensorium.tools.backends.local.backend import LocalBackend
    from sensorium.tools.backends.local.ocr import engine_from_settings
    from sensorium.tools.evaluation.datasets import load_set
    from sensorium.tools.evaluation.runner import given_candidates
    from sensorium.tools.ranking.proposals import read_words
    from sensorium.tools.ranking.score import rank_elements

    ds = load_set("ui_grounding", data)
    work.mkdir(parents=True, exist_ok=True)
    backend = LocalBackend()
    engine = None
    rows = []
    hits: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    words_by: dict[Path, object] = {}
    for item in ds.items:
        if item.image not in words_by:
            cache = work / f"{item.image.stem}.pkl"
            if cache.exists():
                words_by[item.image] = pickle.loads(cache.read_bytes())
            else:
                engine = engine or engine_from_settings(LocalSettings())
                with Image.open(item.image) as im:
                    words_by[item.image] = read_words(engine, im.convert("RGB"))
                cache.write_bytes(pickle.dumps(words_by[item.image]))
        words = words_by[item.image]
        with Image.open(item.image) as im:
            image = im.convert("RGB")
        [q] = await backend.embed([EmbedItem.of(item.instruction)], "query")
        for variant in variants:
            props = given_candidates(item.candidates, variant)
            ranked = await rank_elements(backend, image, q, item.instruction, props, words=words)
            rank = next(k for k, e in enumerate(ranked, 1) if e.index in item.acceptable_indices)
            hits[variant][item.instruction_type].append(float(rank == 1))
            hits[variant]["all"].append(float(rank == 1))
            tgt = next(e for e in ranked if e.index == item.target_index)
            top = ranked[0]
            c = item.candidates
            rows.append({
                "id": item.id, "variant": variant, "type": item.instruction_type, "instruction": item.instruction,
                "rank": rank, "target": f"{c[item.target_index].role}:{c[item.target_index].name!r} text={c[item.target_index].text!r}",
                "target_words": tgt.words, "target_score": [round(tgt.score, 3), round(tgt.cosine, 3), round(tgt.text_match, 3)],
                "winner": f"{c[top.index].role}:{c[top.index].name!r}", "winner_words": top.words,
                "winner_score": [round(top.score, 3), round(top.cosine, 3), round(top.text_match, 3)],
            })
    summary = {v: {k: {"n": len(x), "hit@1": round(float(np.mean(x)), 3)} for k, x in sorted(g.items())} for v, g in hits.items()}
    return {"summary": summary, "items": rows}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[1].parent / "shared/eval/ui_grounding")
    ap.add_argument("--work", type=Path, default=Path("/tmp/ui-failures"))
    ap.add_argument("--variants", default="boxes,boxes+names")
    ap.add_argument("--json", type=Path)
    ap.add_argument("-v", "--verbose", action="store_true", help="print every miss")
    a = ap.parse_args()
    out = asyncio.run(run(a.data, a.work, a.variants.split(",")))
    if a.verbose:
        for row in out["items"]:  # type: ignore[union-attr]
            if row["rank"] != 1:
                print(json.dumps(row, ensure_ascii=False))
    print(json.dumps(out["summary"], indent=1))
    if a.json:
        a.json.write_text(json.dumps(out, indent=1, ensure_ascii=False))


if __name__ == "__main__":
    main()

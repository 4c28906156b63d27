"""Per-candidate features of held-out grounding items, for choosing how icon evidence is scored.

WHY: an icon's cosine (icon reader vector vs the instruction) and a text element's cosine
(MiniLM vs MiniLM) live on different scales; this dumps, for every item of the held-out screens of
`heldout_grounding.py` (iconoir + heroicons, never in the icon reader's training), each
candidate's signals so score rules can be compared offline in one pass:

    python bench/icon_rank_features.py --screens 24 --out /tmp/heldout-grounding/features.pkl

Dev data is never read here.
"""

from __future__ import annotations

import argparse
import asyncio
import pickle
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))

from heldout_grounding import make_screen  # noqa: E402
from ocr_cache import WordsCache  # noqa: E402


async def dump(root: Path, screens: int, work: Path, seed0: int) -> list[dict]:
    from sensorium.tools.backends.base import EmbedItem
    from sensorium.tools.backends.local.backend import LocalBackend
    from sensorium.tools.ranking.proposals import words_in
    from sensorium.tools.ranking.text import spelled_out, text_similarity
    from sensorium.tools.regions import crop, padded_box

    be = LocalBackend()
    cache = WordsCache(work)
    out = []
    for n in range(screens):
        s = make_screen(root, seed0 + n)
        words = cache.words(s.image, f"{seed0 + n}")
        raw = [c.name or words_in(c.box, words) or "" for c in s.cands]
        texts = [spelled_out(t) if t else "" for t in raw]
        tvec = be._encode_cached([t or "an image with no readable text" for t in texts])
        pad = be.icons.read([crop(s.image, c.box) for c in s.cands])
        tight = be.icons.read([s.image.crop(padded_box(c.box, s.image.size, pad_px=2, pad_frac=0.0)) for c in s.cands])
        wvec = be._encode_cached([" ".join(r.words) for r in pad])
        wvec_t = be._encode_cached([" ".join(r.words) for r in tight])
        for instruction, kind, target in s.items:
            [q] = await be.embed([EmbedItem.of(instruction)], "query")
            qv = q.vector.astype(np.float32)
            out.append({
                "instruction": instruction, "kind": kind, "target": target, "screen": seed0 + n,
                "raw": raw, "texts": texts,
                "cos_text": np.array([float(v @ qv) for v in tvec]),
                "tm": np.array([text_similarity(instruction, t) if t else 0.0 for t in texts]),
                "cos_icon": np.array([float(r.vector @ qv) for r in pad]),
                "cos_icon_tight": np.array([float(r.vector @ qv) for r in tight]),
                "conf": np.array([r.confidence for r in pad]),
                "conf_tight": np.array([r.confidence for r in tight]),
                "cos_words": np.array([float(v @ qv) for v in wvec]),
                "cos_words_tight": np.array([float(v @ qv) for v in wvec_t]),
                "iw_dot": np.array([float(r.vector @ v) for r, v in zip(pad, wvec, strict=True)]),
                "iw_dot_tight": np.array([float(r.vector @ v) for r, v in zip(tight, wvec_t, strict=True)]),
                "tm_words": np.array([text_similarity(instruction, " ".join(r.words)) for r in pad]),
                "icon_words": [r.words for r in pad],
                "icon_words_tight": [r.words for r in tight],
                "is_icon": np.array([c.icon is not None for c in s.cands]),
            })
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--icons", type=Path, default=Path("/work/icon-data/src"))
    ap.add_argument("--screens", type=int, default=24)
    ap.add_argument("--seed", type=int, default=1000)
    ap.add_argument("--work", type=Path, default=Path("/tmp/heldout-grounding"))
    ap.add_argument("--out", type=Path, required=True)
    a = ap.parse_args()
    a.work.mkdir(parents=True, exist_ok=True)
    rows = asyncio.run(dump(a.icons, a.screens, a.work, a.seed))
    a.out.write_bytes(pickle.dumps(rows))
    print(f"{len(rows)} items -> {a.out}")


if __name__ == "__main__":
    main()

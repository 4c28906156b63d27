"""Real embeddings for the memory bench: the dev eval sets through the local backend, cached.

Synthetic clustered vectors (tests/memory_support.py) are easy for HNSW; issue 16 asks for recall
on real embeddings too. The documents are what a memory store holds — screenshots (the ui_grounding
and screen_states images), every interactive element of each screenshot (`embed_regions`), icons,
and texts (element labels, icon descriptions, screen descriptions); the queries are the
instructions, the text queries and the perturbed screenshots. Embedding them takes minutes (OCR of
every screenshot), so the result is cached under bench/cache/ (not in git) and keyed by the
backend's space and perception version: a bench run re-embeds nothing unless the model changed.

    python bench/real_vectors.py               # build (or show) the cache
    python bench/real_vectors.py --texts-only  # texts only: no OCR, a minute
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import numpy as np

EVAL = Path("/work/shared/eval")
CACHE = Path(__file__).resolve().parent / "cache"


def _jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


async def _build_texts(eval_dir: Path) -> tuple[np.ndarray, np.ndarray, dict]:
    """Texts only (no OCR: a minute, where the images took over an hour on a loaded machine)."""
    from sensorium.tools.backends.base import EmbedItem
    from sensorium.tools.backends.factory import open_backend

    backend = open_backend("local")
    ui = _jsonl(eval_dir / "ui_grounding" / "items.jsonl")
    icons = _jsonl(eval_dir / "icons" / "items.jsonl")
    states = _jsonl(eval_dir / "screen_states" / "states.jsonl")
    tq = _jsonl(eval_dir / "screen_states" / "text_queries.jsonl")
    texts: list[str] = []
    for it in ui:
        texts += [c.get("name") or c.get("text") or "" for c in it["candidates"]]
    texts += [f"{i['name']}: {i['description']}; {', '.join(i['tags'])}" for i in icons] + [i["name"] for i in icons]
    texts += [s["description"] for s in states]
    texts = sorted({t.strip() for t in texts if t and t.strip()})
    docs = await backend.embed([EmbedItem.of(t) for t in texts], "document")
    queries = await backend.embed([EmbedItem.of(it["instruction"]) for it in ui] + [EmbedItem.of(q["text"]) for q in tq], "query")
    info = {"space": backend.space, "perception_version": backend.perception_version, "documents": {"texts": len(docs)},
            "queries": len(queries), "eval_dir": str(eval_dir), "texts_only": True}
    await backend.aclose()
    return (np.stack([np.asarray(e.vector, dtype=np.float32) for e in docs]),
            np.stack([np.asarray(e.vector, dtype=np.float32) for e in queries]), info)


async def _build(eval_dir: Path) -> tuple[np.ndarray, np.ndarray, dict]:
    from PIL import Image

    from sensorium.tools.backends.base import EmbedItem
    from sensorium.tools.backends.factory import open_backend
    from sensorium.tools.media import Media
    from sensorium.tools.regions import RegionItem

    backend = open_backend("local")

    def media(p: Path) -> Media:
        return Media.from_bytes(p.read_bytes(), source={"path": str(p)})

    ui = _jsonl(eval_dir / "ui_grounding" / "items.jsonl")
    icons = _jsonl(eval_dir / "icons" / "items.jsonl")
    states = _jsonl(eval_dir / "screen_states" / "states.jsonl")
    tq = _jsonl(eval_dir / "screen_states" / "text_queries.jsonl")
    iq = _jsonl(eval_dir / "screen_states" / "image_queries.jsonl")

    screens: dict[str, list[dict]] = {}
    for it in ui:
        screens.setdefault(it["image"], it["candidates"])
    texts: list[str] = []
    for cands in screens.values():
        texts += [c.get("name") or c.get("text") or "" for c in cands]
    texts += [f"{i['name']}: {i['description']}; {', '.join(i['tags'])}" for i in icons]
    texts += [s["description"] for s in states]
    texts = sorted({t.strip() for t in texts if t and t.strip()})

    docs: list[np.ndarray] = []
    counts: dict[str, int] = {}

    def keep(name: str, embs: list) -> None:
        counts[name] = len(embs)
        docs.extend(np.asarray(e.vector, dtype=np.float32) for e in embs)

    keep("texts", await backend.embed([EmbedItem.of(t) for t in texts], "document"))
    images = [eval_dir / "ui_grounding" / p for p in screens] + [eval_dir / "screen_states" / s["image"] for s in states]
    images += [eval_dir / "icons" / i["image"] for i in icons]
    keep("images", await backend.embed([EmbedItem.of(media(p)) for p in images], "document"))
    n_regions = 0
    for path, cands in screens.items():
        with Image.open(eval_dir / "ui_grounding" / path) as im:
            regions = [RegionItem(box=tuple(c["box"]), text=c.get("text") or None) for c in cands]
            embs = await backend.embed_regions(im.convert("RGB"), regions)
        docs.extend(np.asarray(e.vector, dtype=np.float32) for e in embs)
        n_regions += len(embs)
    counts["regions"] = n_regions
    queries = await backend.embed([EmbedItem.of(it["instruction"]) for it in ui] + [EmbedItem.of(q["text"]) for q in tq], "query")
    queries += await backend.embed([EmbedItem.of(media(eval_dir / "screen_states" / q["image"])) for q in iq], "query")
    info = {"space": backend.space, "perception_version": backend.perception_version, "documents": counts,
            "queries": len(queries), "eval_dir": str(eval_dir)}
    await backend.aclose()
    return np.stack(docs), np.stack([np.asarray(e.vector, dtype=np.float32) for e in queries]), info


def real_vectors(
    eval_dir: Path = EVAL, cache_dir: Path = CACHE, *, texts_only: bool = False
) -> tuple[np.ndarray, np.ndarray, dict]:
    """(documents, queries, info), L2-normalised; from the cache when it is there."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    path = cache_dir / ("real_texts.npz" if texts_only else "real_vectors.npz")
    if path.is_file():
        z = np.load(path, allow_pickle=False)
        return z["docs"], z["queries"], json.loads(str(z["info"]))
    docs, queries, info = asyncio.run(_build_texts(eval_dir) if texts_only else _build(eval_dir))
    docs /= np.linalg.norm(docs, axis=1, keepdims=True)
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    np.savez(path, docs=docs.astype(np.float32), queries=queries.astype(np.float32), info=json.dumps(info))
    return docs, queries, info


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if a != "--texts-only"]
    d, q, info = real_vectors(Path(args[0]) if args else EVAL, texts_only="--texts-only" in sys.argv)
    print(d.shape, q.shape, json.dumps(info))

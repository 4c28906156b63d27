"""Real embeddings for the memory bench: the dev eval sets through the local backend, cached.

Synthetic clustered vectors (tests/memory_support.py) are easy for HNSW; issue 16 asks for recall@10
on real embeddings, of screenshots AND texts. Two corpora, each with its own queries, so the engine's
recall is reported on each separately:

- **texts**: every element label of the ui_grounding screens, the icon descriptions and names, the
  screen descriptions (documents); the instructions and the screen_states text queries (queries).
- **screenshots**: the ui_grounding screenshots and the screen_states stored screens as whole images,
  every interactive element of each ui_grounding screenshot (`embed_regions`, what ranking stores) and
  the icon images (documents); the perturbed screenshots of screen_states (scrolled, resized,
  interacted) as image queries, and the instructions as text queries over the screenshot corpus.

Embedding an image means OCR of the whole screen (seconds each on the loaded 2-core machine), so
every image's vector is cached on its own under `bench/cache/real/<space + perception version>/`
(not in git): an interrupted build resumes where it stopped and a rerun embeds nothing unless the
backend's perception changed. The assembled sets are cached as `.npz` beside them.

    python bench/real_vectors.py               # build (or show) both corpora
    python bench/real_vectors.py --texts-only  # texts only: no OCR, a minute
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import sys
import time
from pathlib import Path

import numpy as np

EVAL = Path("/work/shared/eval")
CACHE = Path(__file__).resolve().parent / "cache"


def _jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _norm(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def _texts_of(eval_dir: Path) -> tuple[list[str], list[str]]:
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
    queries = [it["instruction"] for it in ui] + [q["text"] for q in tq]
    return texts, queries


async def _build_texts(eval_dir: Path, backend) -> tuple[np.ndarray, np.ndarray, dict]:
    """Texts only (no OCR: about a minute)."""
    from sensorium.tools.backends.base import EmbedItem

    texts, qtexts = _texts_of(eval_dir)
    docs = await backend.embed([EmbedItem.of(t) for t in texts], "document")
    queries = await backend.embed([EmbedItem.of(q) for q in qtexts], "query")
    info = {"space": backend.space, "perception_version": backend.perception_version, "documents": {"texts": len(docs)},
            "queries": {"text": len(queries)}, "eval_dir": str(eval_dir)}
    return (_norm(np.stack([e.vector for e in docs])), _norm(np.stack([e.vector for e in queries])), info)


async def _build_screens(
    eval_dir: Path, backend, folder: Path, log, cached_only: bool = False
) -> tuple[np.ndarray, np.ndarray, dict]:
    """Screenshots, their elements and icons (documents); perturbed screenshots and instructions (queries).
    Each image's vector is cached in `folder` as soon as it is made (resumable). `cached_only`: use the
    images embedded so far and skip the rest (the counts in `info` say how many)."""
    from PIL import Image

    from sensorium.tools.backends.base import EmbedItem
    from sensorium.tools.media import Media
    from sensorium.tools.regions import RegionItem

    ui = _jsonl(eval_dir / "ui_grounding" / "items.jsonl")
    icons = _jsonl(eval_dir / "icons" / "items.jsonl")
    states = _jsonl(eval_dir / "screen_states" / "states.jsonl")
    iq = _jsonl(eval_dir / "screen_states" / "image_queries.jsonl")
    screens: dict[str, list[dict]] = {}
    for it in ui:
        screens.setdefault(it["image"], it["candidates"])

    async def image_vector(path: Path, role: str) -> np.ndarray | None:
        data = path.read_bytes()
        f = folder / f"{role}-{hashlib.sha256(data).hexdigest()[:20]}.npy"
        if f.is_file():
            return np.load(f)
        if cached_only:
            return None
        t = time.perf_counter()
        [e] = await backend.embed([EmbedItem.of(Media.from_bytes(data, source={"path": str(path)}))], role)
        v = np.asarray(e.vector, dtype=np.float32)
        np.save(f.with_suffix(".tmp.npy"), v)
        f.with_suffix(".tmp.npy").replace(f)
        log(f"embedded {path.name} ({role}) in {time.perf_counter() - t:.1f} s")
        return v

    counts: dict[str, int] = {}
    docs: list[np.ndarray] = []
    screen_paths = [eval_dir / "ui_grounding" / p for p in screens] + [eval_dir / "screen_states" / s["image"] for s in states]
    got = [v for p in screen_paths if (v := await image_vector(p, "document")) is not None]
    docs += got
    counts["screenshots"] = len(got)
    n_regions = 0
    for path, cands in screens.items():
        with Image.open(eval_dir / "ui_grounding" / path) as im:
            regions = [RegionItem(box=tuple(c["box"]), text=c.get("text") or c.get("name") or None) for c in cands]
            embs = await backend.embed_regions(im.convert("RGB"), regions)
        docs.extend(np.asarray(e.vector, dtype=np.float32) for e in embs)
        n_regions += len(embs)
    counts["elements"] = n_regions
    queries = [v for q in iq if (v := await image_vector(eval_dir / "screen_states" / q["image"], "query")) is not None]
    got = [v for i in icons if (v := await image_vector(eval_dir / "icons" / i["image"], "document")) is not None]
    docs += got
    counts["icons"] = len(got)
    n_image_q = len(queries)
    queries += [np.asarray(e.vector, dtype=np.float32)
                for e in await backend.embed([EmbedItem.of(it["instruction"]) for it in ui], "query")]
    info = {"space": backend.space, "perception_version": backend.perception_version, "documents": counts,
            "queries": {"screenshot": n_image_q, "instruction": len(queries) - n_image_q}, "eval_dir": str(eval_dir),
            "complete": not cached_only or (counts["screenshots"] == len(screen_paths) and counts["icons"] == len(icons)
                                            and n_image_q == len(iq))}
    return _norm(np.stack(docs)), _norm(np.stack(queries)), info


def _key(space: str, perception: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", f"{space}-{perception}")


def real_vectors(
    eval_dir: Path = EVAL, cache_dir: Path = CACHE, *, corpus: str = "texts", log=print, cached_only: bool = False
) -> tuple[np.ndarray, np.ndarray, dict]:
    """(documents, queries, info) of one corpus, "texts" or "screenshots", L2-normalised, from the
    cache when it is there (keyed by the backend's space and perception version)."""
    from sensorium.tools.backends.factory import open_backend
    from sensorium.tools.config import LocalSettings

    if corpus not in ("texts", "screenshots"):
        raise ValueError(f"corpus is 'texts' or 'screenshots', not {corpus!r}")

    async def run() -> tuple[np.ndarray, np.ndarray, dict]:
        backend = open_backend("local", local=LocalSettings())
        try:
            folder = cache_dir / "real" / _key(backend.space, backend.perception_version)
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / f"{corpus}.npz"
            if path.is_file():
                z = np.load(path, allow_pickle=False)
                return z["docs"], z["queries"], json.loads(str(z["info"]))
            if corpus == "texts":
                docs, queries, info = await _build_texts(eval_dir, backend)
            else:
                docs, queries, info = await _build_screens(eval_dir, backend, folder, log, cached_only)
            if info.get("complete", True):
                np.savez(path, docs=docs, queries=queries, info=json.dumps(info))
            return docs, queries, info
        finally:
            await backend.aclose()

    return asyncio.run(run())


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    for name in ("texts",) if "--texts-only" in sys.argv else ("texts", "screenshots"):
        d, q, info = real_vectors(Path(args[0]) if args else EVAL, corpus=name,
                                  log=lambda m: print(m, file=sys.stderr, flush=True))
        print(name, d.shape, q.shape, json.dumps(info), flush=True)

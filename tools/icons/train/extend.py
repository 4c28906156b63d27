"""Session 5: extend a built data folder with more icon sets and "in the wild" renders, without
touching the base cache (other runs may read it).

Writes `<out>/cache/` beside nothing else:
  images.npy       (N, 32, 32) uint8 preprocessed renders
  image_keys.json  concept key ("set:name") of each render
  image_wild.npy   (N,) bool: a wild render (badge / neighbour / crop / focus ring / low contrast / tiny)
  concepts.json    the NEW concepts (sets added in session 5), same fields as the base cache
  texts.json, text_emb.npy, text_concept.npy   their texts (vectors reused from the base cache
                   when the same string was embedded there)

Per new concept: one icon file (the first style), a clean 96 px render, one UI render and one wild
render. Per base concept (training and held-out sets): one wild render, so validation can
measure the held-out sets under badges and occlusion too. WHY capped: the whole build must fit
in minutes on 2 shared cores; the wild renders are what the old data lacked.
Seeds are fixed per chunk, so the same inputs give the same pictures.
"""

from __future__ import annotations

import json
import logging
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from .data import _texts, text_encoder
from .sources import EXTENSION_SETS, PACKAGES, IconRecord, Package, fetch_packages, name_words, records, unpack

log = logging.getLogger(__name__)

NEW_SETS = EXTENSION_SETS


def _fetch(pkgs: list[Package], base: Path, out: Path) -> dict[str, Path]:
    """Unpacked roots: base sets from the base folder, new ones npm-packed into `out`."""
    roots = {}
    for p in pkgs:
        if p.key not in NEW_SETS:
            roots[p.key] = unpack(base / "npm" / f"{p.folder}.tgz", base / "src")
            continue
        roots.update(fetch_packages([p], out))
    return roots


def _chunk(args: tuple[list[tuple[str, str, bool, bool]], int]) -> list[tuple[str, int, np.ndarray]]:
    """Render (key, kind, picture) for each (key, svg, stroke, full) item; kind 0 clean, 1 UI, 2 wild."""
    from .render import icon_variants, wild_variant

    items, seed = args
    rng = np.random.default_rng(seed)
    out = []
    for key, svg, stroke, full in items:
        try:
            if full:
                for kind, v in enumerate(icon_variants(svg, stroke, 2, rng)):
                    out.append((key, kind, v))
            w = wild_variant(svg, stroke, rng)
            if w is not None:
                out.append((key, 2, w))
        except Exception:  # an SVG resvg cannot draw: skipped
            continue
    return out


def extend(base: Path, out: Path, *, workers: int = 2, threads: int = 2, seed: int = 0) -> Path:
    cache = out / "cache"
    cache.mkdir(parents=True, exist_ok=True)
    roots = _fetch(list(PACKAGES), base, out)
    first: dict[str, IconRecord] = {}
    new_concepts: dict[str, dict] = {}
    for p in PACKAGES:
        for r in records(p, roots[p.key]):
            first.setdefault(r.concept, r)
            if p.key in NEW_SETS:
                c = new_concepts.setdefault(r.concept, {"concept": r.concept, "set": p.key, "name": name_words(r.name), "role": p.role, "words": []})
                c["words"] += [w for w in r.words if w not in c["words"]]
    if not (cache / "images.npy").exists():
        items = [(k, r.svg, r.stroke, k in new_concepts) for k, r in first.items()]
        jobs = [(items[s : s + 300], seed * 100_003 + 7919 * (s // 300) + 17) for s in range(0, len(items), 300)]
        log.info("rendering %d concepts (%d new) in %d chunks", len(items), len(new_concepts), len(jobs))
        keys, wild, images = [], [], []
        with ProcessPoolExecutor(max_workers=workers) as ex:
            for n, res in enumerate(ex.map(_chunk, jobs)):
                for k, kind, v in res:
                    keys.append(k)
                    wild.append(kind == 2)
                    images.append(v)
                if n % 10 == 0:
                    log.info("chunk %d/%d: %d pictures", n + 1, len(jobs), len(images))
        (cache / "image_keys.json").write_text(json.dumps(keys))
        np.save(cache / "image_wild.npy", np.array(wild, dtype=bool))
        np.save(cache / "images.npy", np.stack(images))
        log.info("rendered %d pictures (%d wild)", len(images), sum(wild))
    if not (cache / "text_emb.npy").exists():
        rng = np.random.default_rng(seed)
        concepts = list(new_concepts.values())
        for c in concepts:
            c["texts"] = _texts(c["name"], c["words"], rng)[:2]  # capped: embedding time on 2 shared cores
        texts = [t for c in concepts for t in c["texts"]]
        owner = [i for i, c in enumerate(concepts) for _ in c["texts"]]
        known = {t: i for i, t in enumerate(json.loads((base / "cache" / "texts.json").read_text()))}
        base_emb = np.load(base / "cache" / "text_emb.npy", mmap_mode="r")
        todo = sorted({t for t in texts if t not in known})
        log.info("%d texts of %d new concepts: %d reused from the base cache, embedding %d", len(texts), len(concepts), len(texts) - sum(t in set(todo) for t in texts), len(todo))
        fresh = dict(zip(todo, text_encoder(threads).encode(todo, batch_size=256))) if todo else {}
        emb = np.stack([fresh[t] if t in fresh else base_emb[known[t]] for t in texts]).astype(np.float32)
        (cache / "concepts.json").write_text(json.dumps(concepts))
        (cache / "texts.json").write_text(json.dumps(texts))
        np.save(cache / "text_concept.npy", np.array(owner, dtype=np.int32))
        np.save(cache / "text_emb.npy", emb)
    return cache

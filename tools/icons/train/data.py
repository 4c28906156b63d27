"""Build the training data folder: pinned npm tarballs -> renders + frozen MiniLM text vectors.

Layout of `data_dir` (outside the repo; nothing here is committed):
  npm/<pkg>-<ver>.tgz        tarballs fetched with `npm pack <name>@<version>`
  src/<pkg>-<ver>/package/   unpacked
  cache/images.npy           (N, 32, 32) uint8 preprocessed renders
  cache/image_concept.npy    (N,) int32 concept index of each render
  cache/negatives.npy        (M, 32, 32) uint8 textless non-icon crops
  cache/concepts.json        one entry per concept: set, name, words, role, texts
  cache/text_emb.npy         (T, 384) float32 MiniLM vectors of every text (project TextEncoder)
  cache/text_concept.npy     (T,) int32 concept index of each text

WHY texts in the eval-like "name (tag, tag, tag)" shape: that is how people describe an icon to
an agent ("trash (delete, bin)"), so the image vector is pulled towards those sentences in the
frozen MiniLM space. Several texts per concept (name only, name + tags, tags only) teach it to
sit near all of them.
"""

from __future__ import annotations

import json
import logging
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from .sources import BASE_PACKAGES, IconRecord, Package, fetch_packages, name_words, records

log = logging.getLogger(__name__)

TRAIN_VARIANTS = 4
VAL_VARIANTS = 2
NEGATIVES = 6000


def fetch(data_dir: Path) -> dict[str, Path]:
    """npm pack every pinned base package (once) and unpack it; {key: package root}."""
    return fetch_packages(BASE_PACKAGES, data_dir)


def _render_chunk(args: tuple[list[tuple[str, bool]], int, int]) -> list[list[np.ndarray]]:
    from .render import icon_variants

    items, count, seed = args
    rng = np.random.default_rng(seed)
    out = []
    for svg, stroke in items:
        try:
            out.append(icon_variants(svg, stroke, count, rng))
        except Exception:  # an SVG resvg cannot draw: skipped, counted by the caller
            out.append([])
    return out


def _negatives_chunk(args: tuple[int, int]) -> np.ndarray:
    from .render import non_icon

    n, seed = args
    rng = np.random.default_rng(seed)
    return np.stack([non_icon(rng) for _ in range(n)])


def _texts(name: str, words: list[str], rng: np.random.Generator) -> list[str]:
    """name; name (first 3 words); name (3 random words) or words only — deduplicated."""
    base = name_words(name)
    seen, clean = {base}, []
    for w in words:
        w = w.strip().lower()
        if w and w not in seen and len(w) < 40:
            seen.add(w)
            clean.append(w)
    texts = [base]
    if clean:
        texts.append(f"{base} ({', '.join(clean[:3])})")
    if len(clean) > 3:
        pick = [clean[i] for i in sorted(rng.choice(len(clean), size=3, replace=False))]
        texts.append(f"{base} ({', '.join(pick)})")
    elif len(clean) >= 2:
        texts.append(", ".join(clean[:3]))
    return texts


def build(data_dir: Path, *, workers: int = 2, threads: int = 2, seed: int = 0) -> None:
    """Fetch, parse, render and embed everything into data_dir/cache (skips finished steps)."""
    cache = data_dir / "cache"
    cache.mkdir(parents=True, exist_ok=True)
    roots = fetch(data_dir)

    if not (cache / "images.npy").exists():
        concepts, recs = collect(roots)
        keys = list(concepts)
        index = {k: i for i, k in enumerate(keys)}
        jobs, chunk = [], 200
        for start in range(0, len(recs), chunk):
            part = recs[start : start + chunk]
            count = TRAIN_VARIANTS if part[0][0].role == "train" else VAL_VARIANTS
            # a chunk never mixes roles: split where the role changes
            same = [(r.svg, r.stroke) for p, r in part if p.role == part[0][0].role]
            other = [(r.svg, r.stroke) for p, r in part if p.role != part[0][0].role]
            jobs.append((same, count, seed * 100_003 + start))
            if other:
                jobs.append((other, VAL_VARIANTS if count == TRAIN_VARIANTS else TRAIN_VARIANTS, seed * 100_003 + start + 1))
        # records in the order of the jobs (each chunk split by role)
        flat: list[IconRecord] = []
        for start in range(0, len(recs), chunk):
            part = recs[start : start + chunk]
            flat += [r for p, r in part if p.role == part[0][0].role] + [r for p, r in part if p.role != part[0][0].role]
        assert len(flat) == len(recs)
        images, owner = [], []
        with ProcessPoolExecutor(max_workers=workers) as ex:
            results = [v for res in ex.map(_render_chunk, jobs) for v in res]
            for r, vs in zip(flat, results):
                for v in vs:
                    images.append(v)
                    owner.append(index[r.concept])
            negs = np.concatenate(list(ex.map(_negatives_chunk, [(NEGATIVES // 4, seed + k) for k in range(4)])))
        log.info("rendered %d pictures of %d concepts (%d icons skipped)", len(images), len(keys), sum(1 for v in results if not v))
        add_texts(concepts, seed)
        (cache / "concepts.json").write_text(json.dumps([concepts[k] for k in keys]))
        np.save(cache / "image_concept.npy", np.array(owner, dtype=np.int32))
        np.save(cache / "negatives.npy", negs)
        np.save(cache / "images.npy", np.stack(images))

    if not (cache / "text_emb.npy").exists():
        embed_texts(cache, json.loads((cache / "concepts.json").read_text()), threads)


def collect(roots: dict[str, Path]) -> tuple[dict[str, dict], list[tuple[Package, IconRecord]]]:
    """Concepts (one meaning per set, styles merged) with their words, and every icon record."""
    concepts: dict[str, dict] = {}
    recs: list[tuple[Package, IconRecord]] = []
    for p in BASE_PACKAGES:
        n = 0
        for r in records(p, roots[p.key]):
            c = concepts.setdefault(r.concept, {"concept": r.concept, "set": p.key, "name": name_words(r.name), "role": p.role, "words": []})
            for w in r.words:
                if w not in c["words"]:
                    c["words"].append(w)
            recs.append((p, r))
            n += 1
        log.info("%s: %d icons", p.key, n)
    return concepts, recs


def add_texts(concepts: dict[str, dict], seed: int) -> None:
    """Each concept's training texts, deterministic for a seed (concepts in insertion order)."""
    rng = np.random.default_rng(seed)
    for c in concepts.values():
        c["texts"] = _texts(c["name"], c["words"], rng)


def embed_texts(cache: Path, concepts_list: list[dict], threads: int) -> None:
    """Every concept text -> frozen MiniLM vector (the server's own TextEncoder)."""
    texts, owner_t = [], []
    for i, c in enumerate(concepts_list):
        for t in c["texts"]:
            texts.append(t)
            owner_t.append(i)
    log.info("embedding %d texts with the project's MiniLM TextEncoder", len(texts))
    emb = text_encoder(threads).encode(texts, batch_size=256)
    np.save(cache / "text_concept.npy", np.array(owner_t, dtype=np.int32))
    (cache / "texts.json").write_text(json.dumps(texts))
    np.save(cache / "text_emb.npy", emb.astype(np.float32))


def text_encoder(threads: int):
    """The same MiniLM encoder the server uses for queries (verified package file)."""
    from ...backends.local.models import MINILM, ModelStore
    from ...backends.local.text_encoder import TextEncoder
    from ...config import LocalSettings

    store = ModelStore(LocalSettings())
    return TextEncoder(lambda: store.path(MINILM), threads=threads, batch_size=256)

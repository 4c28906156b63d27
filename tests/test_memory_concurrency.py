"""Parallel remember + recall + forget for a few seconds: no errors, and the counts add up."""

from __future__ import annotations

import time
from pathlib import Path

import anyio
import numpy as np
import pytest
from memory_support import clustered
from sensorium.memory.config import MemorySettings
from sensorium.memory.local import LocalMemoryStore
from sensorium.memory.store import Filter, NewMemory

SPACE = "test/conc@64"
DIM = 64
SECONDS = 4.0


@pytest.mark.slow
async def test_parallel_add_search_delete_stay_consistent(tmp_path: Path) -> None:
    vectors = clustered(60_000, DIM, seed=31)
    settings = MemorySettings(
        exact_below=150,  # crosses from exact to HNSW search mid-run
        initial_capacity=64,  # and resizes the graph several times under load
        checkpoint_every=500,
        checkpoint_min_seconds=0.5,
        compact_min_deleted=50,
        compact_deleted_fraction=0.2,
    )
    store = await LocalMemoryStore.open(tmp_path, SPACE, DIM, settings)
    stored: dict[int, int] = {}  # id -> row in `vectors`
    deleted: set[int] = set()
    next_row = 0
    searches = 0
    deadline = time.monotonic() + SECONDS

    async def writer(w: int) -> None:
        nonlocal next_row
        while time.monotonic() < deadline:
            size = 1 + next_row % 13
            rows = list(range(next_row, next_row + size))
            next_row += size
            results = await store.add(
                [NewMemory(vector=vectors[r], space=SPACE, modality="text", episode_id=f"w{w}", tags=[f"r{r % 5}"]) for r in rows]
            )
            for r, res in zip(rows, results, strict=True):
                assert res.status == "stored"
                stored[res.id] = r  # type: ignore[index]

    async def searcher(s: int) -> None:
        nonlocal searches
        rng = np.random.default_rng(s)
        while time.monotonic() < deadline:
            if not stored:
                await anyio.sleep(0.01)
                continue
            q = vectors[rng.integers(0, max(next_row, 1))]
            flt = Filter(episode_id=f"w{s % 2}", tags=["r1"]) if s % 2 else None
            hits = await store.search(q, 10, space=SPACE, filter=flt)
            assert len(hits) <= 10
            assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
            if flt is not None:
                assert all(h.memory.episode_id == f"w{s % 2}" and "r1" in h.memory.tags for h in hits)
            searches += 1

    async def forgetter() -> None:
        rng = np.random.default_rng(99)
        while time.monotonic() < deadline:
            await anyio.sleep(0.05)
            candidates = [i for i in list(stored) if i not in deleted]
            if len(candidates) < 20:
                continue
            victims = rng.choice(candidates, size=5, replace=False).tolist()
            n = await store.delete(victims)
            assert n == 5
            deleted.update(victims)

    async with anyio.create_task_group() as tg:
        tg.start_soon(writer, 0)
        tg.start_soon(writer, 1)
        for s in range(3):
            tg.start_soon(searcher, s)
        tg.start_soon(forgetter)

    alive = set(stored) - deleted
    st = await store.stats()
    assert searches > 0 and len(deleted) > 0
    assert st.memories == st.index_elements == len(alive)
    assert st.index_capacity > 64 and not st.exact_search
    # every surviving memory is found by its own vector; every forgotten one is gone
    sample = sorted(alive)[:: max(1, len(alive) // 300)]
    for id_ in sample:
        hits = await store.search(vectors[stored[id_]], 1, space=SPACE)
        assert hits[0].memory.id == id_
    assert await store.get_many(sorted(deleted)) == []
    await store.close()

    store = await LocalMemoryStore.open(tmp_path, SPACE, DIM, settings)
    st = await store.stats()
    assert st.opened == "loaded" and st.memories == st.index_elements == len(alive)
    await store.close()

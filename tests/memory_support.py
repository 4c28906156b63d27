"""Shared by the memory tests and the memory bench: seeded clustered vectors and a crash writer.

Uniform random vectors in 768-d have no neighbourhoods (recall@10 ~0.05 at any ef, STACK.md),
so recall is measured on clustered data with a low intrinsic dimension, the way real
embeddings are: Gaussian clusters in a small latent space, projected into `dim` dimensions,
plus a little ambient noise.
"""

from __future__ import annotations

import numpy as np


def clustered(
    n: int, dim: int = 768, *, seed: int = 0, clusters: int | None = None, latent: int = 32, noise: float = 0.05
) -> np.ndarray:
    rng = np.random.default_rng(seed)
    clusters = clusters or max(1, n // 100)
    centers = rng.standard_normal((clusters, latent)).astype(np.float32) * 3.0
    assign = rng.integers(0, clusters, size=n)
    z = centers[assign] + rng.standard_normal((n, latent)).astype(np.float32)
    projection = rng.standard_normal((latent, dim)).astype(np.float32) / np.sqrt(latent)
    x = z @ projection + noise * rng.standard_normal((n, dim)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x.astype(np.float32)


def queries_near(data: np.ndarray, m: int, *, seed: int = 1, jitter: float = 0.5) -> np.ndarray:
    """Queries drawn near stored points (not equal to them), as recall would see them."""
    rng = np.random.default_rng(seed)
    picks = data[rng.integers(0, len(data), size=m)]
    q = picks + jitter * rng.standard_normal(picks.shape).astype(np.float32) / np.sqrt(data.shape[1])
    return (q / np.linalg.norm(q, axis=1, keepdims=True)).astype(np.float32)


def exact_knn(data: np.ndarray, queries: np.ndarray, k: int) -> np.ndarray:
    scores = queries @ data.T
    top = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    order = np.take_along_axis(scores, top, axis=1).argsort(axis=1)[:, ::-1]
    return np.take_along_axis(top, order, axis=1)


def recall_at_k(found: list[list[int]], truth: np.ndarray) -> float:
    k = truth.shape[1]
    return float(np.mean([len(set(f[:k]) & set(t.tolist())) / k for f, t in zip(found, truth, strict=True)]))


# ---- a writer process for the crash tests ---------------------------------------------------
# run as: python tests/memory_support.py <mode> <data_dir>; it prints "ack <id> <seq>" for every
# record whose add() returned (the acknowledgement), flushing each line, until it is killed.

CRASH_SPACE = "test/crash@64"
CRASH_DIM = 64
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 60 + b"\xff\xd9"


def crash_vectors() -> np.ndarray:
    return clustered(20_000, CRASH_DIM, seed=7)


def _writer(mode: str, data_dir: str) -> None:
    import asyncio
    import sys
    from pathlib import Path

    from sensorium.memory.config import MemorySettings
    from sensorium.memory.local import LocalMemoryStore
    from sensorium.memory.records import NewMemory

    vectors = crash_vectors()

    def rec(seq: int) -> NewMemory:
        return NewMemory(
            vector=vectors[seq], space=CRASH_SPACE, modality="text", text=f"record {seq}",
            episode_id=f"ep{seq % 7}", tags=["crash"], metadata={"seq": seq}, thumbnail=JPEG,
        )

    async def main() -> None:
        if mode == "stale":
            settings = MemorySettings(exact_below=0, checkpoint_every=10**9)
            store = await LocalMemoryStore.open(Path(data_dir), CRASH_SPACE, CRASH_DIM, settings)
            await store.add([rec(i) for i in range(100)])
            await store.checkpoint()
            await store.add([rec(i) for i in range(100, 150)])
            await store.delete(list(range(1, 11)))
            print("ready", flush=True)
            await asyncio.sleep(3600)
            return
        if mode == "tail":
            # rows acknowledged while the graph is held back: they live only in SQLite and the index's
            # tail when the process is killed
            settings = MemorySettings(exact_below=0, checkpoint_every=10**9)
            store = await LocalMemoryStore.open(Path(data_dir), CRASH_SPACE, CRASH_DIM, settings)
            await store.add([rec(i) for i in range(100)])
            assert await store.wait_indexed(60)
            await store.checkpoint()
            store._stop_indexer(0)  # test support: nothing more reaches the graph
            for i in range(100, 160):
                [r] = await store.add([rec(i)])
                # read-your-writes while the row is only in the tail
                assert (await store.search(vectors[i], 1, space=CRASH_SPACE))[0].memory.id == r.id
                print(f"ack {r.id} {i}", flush=True)
            st = await store.stats()
            print(f"pending {st.index_pending}", flush=True)
            await asyncio.sleep(3600)
            return
        settings = MemorySettings(exact_below=0, checkpoint_every=40, checkpoint_min_seconds=0.0)
        store = await LocalMemoryStore.open(Path(data_dir), CRASH_SPACE, CRASH_DIM, settings)
        seq = int(sys.argv[3]) if len(sys.argv) > 3 else 0
        while True:
            batch = [rec(seq + j) for j in range(1 + seq % 3)]
            results = await store.add(batch)
            for j, r in enumerate(results):
                print(f"ack {r.id} {seq + j}", flush=True)
            seq += len(batch)

    asyncio.run(main())


if __name__ == "__main__":
    import sys

    _writer(sys.argv[1], sys.argv[2])

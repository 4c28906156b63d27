"""A Milvus store for the memory bench: starts a standalone Milvus server and opens a store on it.

Use beside the local engine in bench/bench_memory.py:

    from milvus_server import milvus_store

    async with milvus_store(space, dim, MemorySettings(...)) as store:   # a MilvusMemoryStore
        await store.add([...]); await store.search(q, k, space=space, filter=...)

The server is the `milvus` PyPI package's standalone build (test extra), on free ports, with its
data in a temporary directory removed afterwards. It starts in 20-50 s on the shared 2-core
machine (not part of any timing) and takes ~400 MB RSS. The store reads at the settings'
`milvus_consistency` (Strong by default: every search waits for the server's 200 ms time tick,
so also bench `Session` / `Bounded` to see what that wait costs).
Set MILVUS_URI to bench an already running server instead (then nothing is started).
"""

from __future__ import annotations

import os
import sys
import tempfile
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from milvus_support import MilvusProcess  # noqa: E402

from sensorium.memory.config import MemorySettings  # noqa: E402
from sensorium.memory.milvus import MilvusMemoryStore  # noqa: E402


@asynccontextmanager
async def milvus_store(space: str, dim: int, settings: MemorySettings | None = None) -> AsyncIterator[MilvusMemoryStore]:
    """An open MilvusMemoryStore of `space` in a fresh collection; the server (if started here) and the
    collection are gone afterwards. `settings` supplies HNSW and consistency settings; uri/prefix are set here."""
    settings = settings or MemorySettings()
    uri = os.environ.get("MILVUS_URI")
    with tempfile.TemporaryDirectory(prefix="bench-milvus-") as tmp:
        server = None if uri else MilvusProcess(Path(tmp)).start()
        try:
            mine = settings.model_copy(
                update={"engine": "milvus", "milvus_uri": uri or server.uri, "milvus_collection_prefix": f"bench{uuid.uuid4().hex[:8]}_"}  # type: ignore[union-attr]
            )
            store = await MilvusMemoryStore.open(mine, space, dim)
            try:
                yield store
            finally:
                if not store._closed:
                    store.drop_sync()
                    await store.close()
        finally:
            if server is not None:
                server.stop()


if __name__ == "__main__":  # a smoke run: python bench/milvus_server.py
    import asyncio
    import time

    import numpy as np

    from sensorium.memory.store import NewMemory

    async def smoke() -> None:
        t0 = time.perf_counter()
        async with milvus_store("bench/smoke@64", 64) as store:
            print(f"server + store ready in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
            vecs = np.random.default_rng(0).standard_normal((1000, 64)).astype(np.float32)
            t = time.perf_counter()
            await store.add([NewMemory(vector=v, space="bench/smoke@64", modality="text") for v in vecs])
            print(f"1000 adds in one call: {time.perf_counter() - t:.2f} s", file=sys.stderr)
            t = time.perf_counter()
            for v in vecs[:20]:
                await store.search(v, 10, space="bench/smoke@64")
            print(f"search: {(time.perf_counter() - t) / 20 * 1000:.0f} ms each", file=sys.stderr)

    asyncio.run(smoke())

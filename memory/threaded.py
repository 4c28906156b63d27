"""The async face of a store whose work is blocking (SQLite + hnswlib, pymilvus).

Both engines implement the `MemoryStore` protocol as `*_sync` methods and answer the protocol's
coroutines by running those in a worker thread, so the event loop never waits on disk or network.
This base holds that mapping once; an engine overrides a coroutine only where it does better
(the local store answers cheap recalls on the loop itself).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Self

import anyio
import numpy as np

from .records import AddResult, EpisodeSummary, Filter, Hit, Memory, NewMemory, StoreStats


class ThreadedStore:
    # the engine provides these blocking methods
    add_sync: Any
    search_sync: Any
    get_many_sync: Any
    get_thumbnail_sync: Any
    list_ids_sync: Any
    delete_sync: Any
    list_episodes_sync: Any
    stats_sync: Any
    close_sync: Any

    async def add(self, records: Sequence[NewMemory], *, merge_duplicates: bool = True) -> list[AddResult]:
        return await anyio.to_thread.run_sync(lambda: self.add_sync(list(records), merge_duplicates=merge_duplicates))

    async def search(
        self, vector: np.ndarray, k: int = 10, *, space: str, filter: Filter | None = None, min_score: float | None = None
    ) -> list[Hit]:
        return await anyio.to_thread.run_sync(
            lambda: self.search_sync(vector, k, space=space, filter=filter, min_score=min_score)
        )

    async def get(self, id: int, *, with_vector: bool = False) -> Memory | None:
        found = await self.get_many([id], with_vector=with_vector)
        return found[0] if found else None

    async def get_many(self, ids: Sequence[int], *, with_vector: bool = False) -> list[Memory]:
        return await anyio.to_thread.run_sync(lambda: self.get_many_sync(list(ids), with_vector=with_vector))

    async def get_thumbnail(self, id: int) -> bytes | None:
        return await anyio.to_thread.run_sync(self.get_thumbnail_sync, id)

    async def list_ids(self, filter: Filter | None = None) -> list[int]:
        return await anyio.to_thread.run_sync(self.list_ids_sync, filter)

    async def delete(self, target: Sequence[int] | Filter) -> int:
        return await anyio.to_thread.run_sync(self.delete_sync, target)

    async def list_episodes(self) -> list[EpisodeSummary]:
        return await anyio.to_thread.run_sync(self.list_episodes_sync)

    async def stats(self) -> StoreStats:
        return await anyio.to_thread.run_sync(self.stats_sync)

    async def close(self) -> None:
        await anyio.to_thread.run_sync(self.close_sync)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

"""The MemoryStore protocol: the one API every engine (local SQLite+HNSW, later Milvus) offers.

Like qdrant-client's local mode: one interface, several engines, one behavioural test
suite. The MCP tools (`server/memory_tools.py`) should only validate, call one of these
methods and shape the answer; every rule about what is stored (privacy exclusions,
near-duplicate merges, spaces) lives behind this protocol so every engine enforces it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np

from .errors import SpaceMismatch, StoreCorrupt
from .records import AddResult, EpisodeSummary, Filter, Hit, Memory, NewMemory, Source, StoreStats

__all__ = [
    "AddResult",
    "EpisodeSummary",
    "Filter",
    "Hit",
    "Memory",
    "MemoryStore",
    "NewMemory",
    "Source",
    "SpaceMismatch",
    "StoreCorrupt",
    "StoreStats",
    "store_dirname",
]


@runtime_checkable
class MemoryStore(Protocol):
    @property
    def space(self) -> str: ...

    @property
    def dimension(self) -> int: ...

    async def add(self, records: Sequence[NewMemory], *, merge_duplicates: bool = True) -> list[AddResult]:
        """Store (or merge, or skip) each record; returns when the records are durable (the acknowledgement).

        `merge_duplicates=False` stores every record even if it is a near-duplicate (copying a store)."""
        ...

    async def search(
        self,
        vector: np.ndarray,
        k: int = 10,
        *,
        space: str,
        filter: Filter | None = None,
        min_score: float | None = None,
    ) -> list[Hit]:
        """The k nearest memories (fewer only when fewer match), best first. `space` is the query vector's space
        and must equal the store's: it is required so a caller cannot forget to say it."""
        ...

    async def get(self, id: int, *, with_vector: bool = False) -> Memory | None: ...

    async def get_many(self, ids: Sequence[int], *, with_vector: bool = False) -> list[Memory]:
        """The memories that exist, in the order asked (unknown ids are left out)."""
        ...

    async def get_thumbnail(self, id: int) -> bytes | None:
        """The stored JPEG thumbnail of a memory, None if it has none or does not exist."""
        ...

    async def list_ids(self, filter: Filter | None = None) -> list[int]:
        """Every id (matching the filter), oldest first."""
        ...

    async def delete(self, target: Sequence[int] | Filter) -> int:
        """Remove rows, vectors and thumbnail files for ids or for a non-empty filter; returns how many."""
        ...

    async def list_episodes(self) -> list[EpisodeSummary]: ...

    async def stats(self) -> StoreStats: ...

    async def close(self) -> None: ...


def store_dirname(space: str) -> str:
    """A filename-safe, still readable, collision-free folder name for a space id.

    `gemini/gemini-embedding-2@768` -> `gemini_gemini-embedding-2@768-1a2b3c4d`: the short hash
    keeps two spaces that sanitise alike (`a/b` vs `a_b`) apart.
    """
    import hashlib
    import re

    safe = re.sub(r"[^A-Za-z0-9@._-]+", "_", space).strip("._") or "space"
    return f"{safe[:80]}-{hashlib.sha256(space.encode()).hexdigest()[:8]}"

"""The MemoryStore protocol: the one API every engine (local SQLite+HNSW, later Milvus) offers.

Like qdrant-client's local mode: one interface, several engines, one behavioural test
suite. The MCP tools (`server/memory_tools.py`) should only validate, call one of these
methods and shape the answer; every rule about what is stored (privacy exclusions,
near-duplicate merges, spaces) lives behind this protocol so every engine enforces it.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np
from pydantic import BaseModel

from .config import MemorySettings
from .errors import InvalidRequest, MemoryStoreError, SpaceMismatch, StoreCorrupt, StoreUnavailable
from .records import AddResult, EpisodeSummary, Filter, Hit, Memory, NewMemory, Source, StoreStats

__all__ = [
    "AddResult",
    "EpisodeSummary",
    "Filter",
    "Hit",
    "Memory",
    "InvalidRequest",
    "MemoryStore",
    "MemoryStoreError",
    "NewMemory",
    "Source",
    "SpaceMismatch",
    "StoreCorrupt",
    "StoreStats",
    "StoreUnavailable",
    "StoredSpace",
    "existing_spaces",
    "open_store",
    "store_dirname",
]

ENGINES = ("local", "milvus")
"""Engines `open_store` can open: 'local' (SQLite + HNSW files in the data dir) and 'milvus' (a Milvus server,
memory/milvus.py). Anything else is refused with a message naming the setting."""


@runtime_checkable
class MemoryStore(Protocol):
    """Every engine's API. Get one with `open_store`; list stores with `existing_spaces`: callers never
    name an engine's class."""

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


class StoredSpace(BaseModel):
    """One store found in the data dir: its embedding space and where it lives (a folder for 'local')."""

    space: str
    location: str


def _require_engine(settings: MemorySettings) -> str:
    if settings.engine not in ENGINES:
        raise StoreUnavailable(
            f"unknown memory engine {settings.engine!r} (SENSORIUM_MEMORY__ENGINE={settings.engine}); "
            f"available: {', '.join(ENGINES)}. Unset SENSORIUM_MEMORY__ENGINE or set it to one of them"
        )
    return settings.engine


async def open_store(settings: MemorySettings, data_dir: Path, space: str, dimension: int) -> MemoryStore:
    """Open (or create) the store of `space` with the configured engine: the one way callers get a store.

    Opening may rebuild an index (seconds on a large store) or connect to a server; it runs off the event
    loop. An unreachable Milvus server is a `StoreUnavailable` naming SENSORIUM_MEMORY__MILVUS_URI."""
    if _require_engine(settings) == "milvus":
        from .milvus import MilvusMemoryStore

        return await MilvusMemoryStore.open(settings, space, dimension)
    from .local import LocalMemoryStore

    return await LocalMemoryStore.open(data_dir, space, dimension, settings)


def existing_spaces(settings: MemorySettings, data_dir: Path) -> list[StoredSpace]:
    """Every store of the configured engine (under the data dir, or on the Milvus server), read without
    opening them (doctor, reindex, CLI)."""
    if _require_engine(settings) == "milvus":
        from .milvus import MilvusMemoryStore

        return [StoredSpace(space=space, location=loc) for space, loc in MilvusMemoryStore.existing_spaces(settings)]
    from .local import LocalMemoryStore

    return [StoredSpace(space=space, location=str(path)) for space, path in LocalMemoryStore.existing_spaces(data_dir)]


def choose_space(existing: Sequence[str], asked: str | None, configured: str) -> str | None:
    """Which existing store a command that only *reads* one (report, export) works on: the one asked
    for; else the configured backend's, when it has a store; else the only store there is. Several
    stores and none of them the configured backend's is refused (guessing would export or show the
    wrong agent's memories); no store at all is None (the caller says so in its own words).

    One rule for every reader, so `memory report` and `memory export` never pick different stores."""
    if asked is not None:
        if asked not in existing:
            raise InvalidRequest(f"no memory store of space {asked!r}; stores: {', '.join(existing) or 'none'}")
        return asked
    if configured in existing:
        return configured
    if len(existing) > 1:
        raise InvalidRequest(
            f"there are {len(existing)} memory stores ({', '.join(existing)}) and none of the configured "
            f"backend's space {configured!r}: choose one with --space"
        )
    return existing[0] if existing else None


def dimension_of(space: str) -> int:
    """The dimension a space id ends in (`gemini/gemini-embedding-2@768` -> 768)."""
    try:
        return int(space.rsplit("@", 1)[1])
    except (IndexError, ValueError) as exc:
        raise InvalidRequest(f"space {space!r} does not end in @<dimension>") from exc


def store_dirname(space: str) -> str:
    """A filename-safe, still readable, collision-free folder name for a space id.

    `gemini/gemini-embedding-2@768` -> `gemini_gemini-embedding-2@768-1a2b3c4d`: the short hash
    keeps two spaces that sanitise alike (`a/b` vs `a_b`) apart.
    """
    import hashlib
    import re

    safe = re.sub(r"[^A-Za-z0-9@._-]+", "_", space).strip("._") or "space"
    return f"{safe[:80]}-{hashlib.sha256(space.encode()).hexdigest()[:8]}"


async def thumbnails_of(store: MemoryStore, memories: Sequence[Memory]) -> dict[int, bytes]:
    """The thumbnails of `memories` that have one, by id. Copying, exporting and reporting a store all need
    a batch of them: one round trip per batch where the engine offers `get_thumbnails` (Milvus), else one
    `get_thumbnail` each (the protocol's own call)."""
    wanted = [m.id for m in memories if m.has_thumbnail]
    many = getattr(store, "get_thumbnails", None)
    if many is not None:
        return await many(wanted)
    out = {}
    for id_ in wanted:
        thumb = await store.get_thumbnail(id_)
        if thumb is not None:
            out[id_] = thumb
    return out

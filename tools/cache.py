"""A content-hash embedding cache, so the same bytes never cost a second API call.

Key: the item's content hash (every part's bytes and the title) + the role + the space (which
names the backend, model and dimension). Value: the float32 vector and the extras JSON. The
cache is a plain SQLite file in the data dir (WAL, so readers never wait for the writer);
it survives restarts, which is where most of the saving is (an agent re-embedding the same
screen or file in the next session).

`CachedBackend` wraps any `EmbeddingBackend` and is one itself: hits come from SQLite, the
misses of a batch go to the inner backend in ONE call (duplicates inside the batch count
once). SQLite runs in worker threads behind a lock; the event loop never blocks on disk.

Extras are stored as JSON. Backends put numpy scalars and arrays, tuples and floats there;
those are converted (arrays to lists). An extras dict that still cannot be represented in
JSON is not cached at all, rather than cached without its extras: a hit must return what a
miss would have returned.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio
import numpy as np

from .backends.base import BackendStatus, Capabilities, EmbeddingBackend, EmbedItem, Embedding, ProgressCallback, Role
from .errors import BackendError
from .regions import RegionItem, embed_crops

if TYPE_CHECKING:
    from PIL import Image

log = logging.getLogger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS embeddings (
    content_hash TEXT NOT NULL,
    role TEXT NOT NULL,
    space TEXT NOT NULL,
    dimension INTEGER NOT NULL,
    vector BLOB NOT NULL,
    extras TEXT NOT NULL,
    created REAL NOT NULL,
    PRIMARY KEY (content_hash, role, space)
) WITHOUT ROWID
"""

CacheKey = tuple[str, str, str]
"""(content_hash, role, space)"""


class _Unserialisable(Exception):
    pass


def _jsonable(value: Any) -> Any:
    """numpy and tuples to plain JSON types; raises _Unserialisable for anything else."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise _Unserialisable(f"key {k!r} is not a string")
            out[k] = _jsonable(v)
        return out
    raise _Unserialisable(f"{type(value).__name__} is not JSON-serialisable")


def encode_extras(extras: dict[str, Any]) -> str | None:
    """Extras as JSON text, or None when they cannot be stored faithfully."""
    try:
        return json.dumps(_jsonable(extras), allow_nan=True, separators=(",", ":"))
    except (_Unserialisable, ValueError, TypeError) as exc:
        log.debug("extras not cacheable: %s", exc)
        return None


class EmbeddingCache:
    """SQLite store of embeddings by (content hash, role, space).

    Construction does no I/O (the server builds it before the data dir may exist); the file
    and its folder are created on first use, in a worker thread.
    """

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._conn: sqlite3.Connection | None = None
        self._lock = threading.Lock()
        self._closed = False

    # -- blocking core (runs in worker threads, under the lock) ------------------------

    def _connection(self) -> sqlite3.Connection:
        if self._closed:
            raise BackendError("the embedding cache is closed")
        if self._conn is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.path, check_same_thread=False, timeout=30.0)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute(_SCHEMA)
            conn.commit()
            self._conn = conn
        return self._conn

    def get_many_sync(self, keys: Sequence[CacheKey]) -> dict[CacheKey, Embedding]:
        found: dict[CacheKey, Embedding] = {}
        if not keys:
            return found
        with self._lock:
            conn = self._connection()
            for key in dict.fromkeys(keys):
                row = conn.execute(
                    "SELECT dimension, vector, extras FROM embeddings WHERE content_hash=? AND role=? AND space=?", key
                ).fetchone()
                if row is None:
                    continue
                dimension, blob, extras = row
                vector = np.frombuffer(blob, dtype=np.float32).copy()
                if vector.shape[0] != dimension:
                    log.warning("dropping a corrupt cache entry for %s", key)
                    continue
                found[key] = Embedding(vector=vector, space=key[2], extras=json.loads(extras))
        return found

    def put_many_sync(self, entries: Iterable[tuple[CacheKey, Embedding]]) -> int:
        rows = []
        now = time.time()
        for (content_hash, role, space), emb in entries:
            extras = encode_extras(emb.extras)
            if extras is None:
                continue
            vector = np.ascontiguousarray(emb.vector, dtype=np.float32)
            if vector.ndim != 1:
                raise BackendError(f"cannot cache a vector of shape {vector.shape}: one vector per item is expected")
            rows.append((content_hash, role, space, int(vector.shape[0]), vector.tobytes(), extras, now))
        if not rows:
            return 0
        with self._lock:
            conn = self._connection()
            conn.executemany("INSERT OR REPLACE INTO embeddings VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
            conn.commit()
        return len(rows)

    def count_sync(self) -> int:
        with self._lock:
            return int(self._connection().execute("SELECT COUNT(*) FROM embeddings").fetchone()[0])

    def clear_sync(self, space: str | None = None) -> int:
        with self._lock:
            conn = self._connection()
            if space is None:
                n = conn.execute("DELETE FROM embeddings").rowcount
            else:
                n = conn.execute("DELETE FROM embeddings WHERE space=?", (space,)).rowcount
            conn.commit()
            return int(n)

    def close_sync(self) -> None:
        with self._lock:
            self._closed = True
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    # -- async API ---------------------------------------------------------------------

    async def get_many(self, keys: Sequence[CacheKey]) -> dict[CacheKey, Embedding]:
        return await anyio.to_thread.run_sync(self.get_many_sync, list(keys))

    async def put_many(self, entries: Sequence[tuple[CacheKey, Embedding]]) -> int:
        return await anyio.to_thread.run_sync(self.put_many_sync, list(entries))

    async def count(self) -> int:
        return await anyio.to_thread.run_sync(self.count_sync)

    async def clear(self, space: str | None = None) -> int:
        return await anyio.to_thread.run_sync(self.clear_sync, space)

    async def aclose(self) -> None:
        await anyio.to_thread.run_sync(self.close_sync)


class CachedBackend:
    """Any EmbeddingBackend behind the cache; the same protocol, fewer calls.

    Owns both the inner backend and the cache: `aclose` closes the two.
    """

    def __init__(self, inner: EmbeddingBackend, cache: EmbeddingCache) -> None:
        self.inner = inner
        self.cache = cache
        self.name = inner.name
        self.hits = 0
        self.misses = 0

    @property
    def space(self) -> str:
        return self.inner.space

    @property
    def dimension(self) -> int:
        return self.inner.dimension

    @property
    def perception_version(self) -> str:
        return self.inner.perception_version

    @property
    def capabilities(self) -> Capabilities:
        return self.inner.capabilities

    @property
    def region_embedding(self) -> str:
        return self.inner.region_embedding

    async def embed_regions(
        self, image: Image.Image, regions: Sequence[RegionItem], *, progress: ProgressCallback | None = None,
        icons: bool = True,
    ) -> list[Embedding]:
        """Crops go through `self.embed`, so repeated crops come from the cache; native readers are asked directly."""
        if self.inner.region_embedding == "crops":
            return await embed_crops(self, image, regions, progress)
        return await self.inner.embed_regions(image, regions, progress=progress, icons=icons)

    async def embed(
        self, items: Sequence[EmbedItem], role: Role, *, progress: ProgressCallback | None = None
    ) -> list[Embedding]:
        items = list(items)
        if not items:
            return []
        space = self.inner.space
        # a backend whose *reading* of media changes while its vector space stays (OCR settings,
        # ASR model) bumps `perception_version`, so stale extras and vectors are not served
        version = self.inner.perception_version
        role_key = f"{role}@{version}" if version else role
        # content hashes read every byte of every part (50 MB files): off the event loop
        keys: list[CacheKey] = await anyio.to_thread.run_sync(lambda: [(item.content_hash, role_key, space) for item in items])
        try:
            found = await self.cache.get_many(keys)
        except (sqlite3.Error, OSError) as exc:  # a broken or unwritable cache must not break embedding
            log.warning("embedding cache unreadable (%s): embedding without it", exc)
            found = {}
        missing: dict[CacheKey, EmbedItem] = {}
        for key, item in zip(keys, items, strict=True):
            if key not in found and key not in missing:
                missing[key] = item
        self.hits += len(items) - sum(1 for k in keys if k in missing)
        self.misses += len(missing)
        if missing:
            fresh = await self.inner.embed(list(missing.values()), role, progress=progress)
            if len(fresh) != len(missing):
                raise BackendError(
                    f"backend {self.inner.name} returned {len(fresh)} embeddings for {len(missing)} items"
                )
            computed = {key: _as_stored(emb) for key, emb in zip(missing, fresh, strict=True)}
            try:
                await self.cache.put_many(list(computed.items()))
            except (sqlite3.Error, OSError) as exc:
                log.warning("embedding cache not writable (%s): results not cached", exc)
            found.update(computed)
        elif progress is not None:
            await progress(float(len(items)), float(len(items)), "all from the embedding cache")
        return [_copy(found[key]) for key in keys]

    async def status(self) -> BackendStatus:
        return await self.inner.status()

    async def probe(self) -> BackendStatus:
        """Never cached: an online check must reach the service."""
        return await self.inner.probe()

    async def aclose(self) -> None:
        try:
            await self.inner.aclose()
        finally:
            await self.cache.aclose()


def _copy(emb: Embedding) -> Embedding:
    """A fresh Embedding per result: duplicates in a batch must not share mutable state.

    JSON-able extras are rebuilt from JSON (cheap, fully independent); others are passed on
    by reference, since deep-copying arbitrary objects (handles, models) can be wrong.
    """
    text = encode_extras(emb.extras)
    extras = json.loads(text) if text is not None else dict(emb.extras)
    return Embedding(vector=emb.vector.copy(), space=emb.space, extras=extras)


def _as_stored(emb: Embedding) -> Embedding:
    """What a later hit will return (extras through JSON), so hits and misses look the same."""
    text = encode_extras(emb.extras)
    if text is None:
        return emb
    return Embedding(vector=np.asarray(emb.vector, dtype=np.float32), space=emb.space, extras=json.loads(text))

"""LocalMemoryStore: SQLite (WAL) is the truth, an hnswlib graph is a checkpoint of it.

Why this split: SQLite gives transactions, so a `remember` is acknowledged only after its
row *and its vector* (a float32 BLOB) are committed; the HNSW file is just a cache that can
always be rebuilt or caught up from those rows. On open, a missing, corrupt (checksum) or
stale index is repaired automatically and the repair is logged and reported in `stats().opened`.

Layout of one store (one embedding space) under `<data_dir>/memory/<space, filename-safe>/`:
`memory.db` (+ WAL), `hnsw-<generation>.bin` (the checkpoint the database points at),
`thumbs/<id>.jpg`, and three lock files (below).

Several processes (one `sensorium serve` per MCP client) share one store. SQLite (WAL +
busy_timeout) serialises their writes; each process keeps its own HNSW graph and catches it
up before every search (and after each of its own writes): `PRAGMA data_version` on a probe
connection says cheaply whether anyone committed; if so, rows with an id above the highest this
graph has seen are inserted (ids are AUTOINCREMENT, assigned under SQLite's write lock, so they
grow in commit order) and the `deletions` log — written in the same transaction as each delete —
is replayed from the last sequence number this process applied. Lock files (fcntl.flock):
`open.lock` (exclusive, blocking) serialises the opening procedure; `store.lock` is held *shared*
by every open store for its lifetime, so an opener that can take it exclusively knows it is
alone, and only then removes crash leftovers (temp checkpoints, orphan thumbnails — a live
writer writes a thumbnail just before its commit) and prunes the deletions log (only live
processes ever need it; alone, nobody does). `checkpoint.lock` lets one process at a time write
the checkpoint (others skip, non-blocking) and keeps the file from being replaced while an
opener loads it. A store held exclusively by an older Sensorium is refused with a clear error.

Threads: every public coroutine runs its blocking body in `anyio.to_thread.run_sync`. One
writer at a time (a lock around the writer connection and every index mutation); readers
use pooled connections (WAL lets them read while the writer writes) and the index's read lock.

`open` is an async classmethod (the rebuild it may do is blocking); `open_sync` is there
for CLIs and scripts that have no event loop.
"""

from __future__ import annotations

import json
import logging
import math
import os
import queue
import sqlite3
import sys
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import anyio
import anyio.lowlevel
import numpy as np
from pydantic import BaseModel

from .threaded import ThreadedStore
from .config import MemorySettings, privacy_exclusion
from .frozen import FrozenDict, FrozenList, freeze
from .errors import InvalidRequest, SpaceMismatch, StoreCorrupt, StoreUnavailable
from .loopshare import LoopShare
from .index import CheckpointInfo, HnswIndex, IndexCorrupt, WouldBlock, exact_top_k
from .records import (
    AddResult,
    EpisodeSummary,
    Filter,
    Hit,
    Memory,
    NewMemory,
    Source,
    StoreStats,
)
from .store import store_dirname

try:  # POSIX advisory lock; Windows has no fcntl (there a second opener is not detected)
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None  # type: ignore[assignment]

log = logging.getLogger(__name__)
_M = TypeVar("_M", bound="BaseModel")

SCHEMA_VERSION = "1"  # the deletions table is additive (IF NOT EXISTS): version-1 stores open unchanged

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS memories (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    created_at REAL NOT NULL,
    last_seen REAL NOT NULL,
    seen_count INTEGER NOT NULL DEFAULT 1,
    modality TEXT NOT NULL,
    content_hash TEXT,
    episode_id TEXT,
    app TEXT,
    window_title TEXT,
    source TEXT NOT NULL,
    text TEXT,
    tags TEXT NOT NULL,
    metadata TEXT NOT NULL,
    thumb_bytes INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS memories_episode ON memories (episode_id, modality, id);
CREATE INDEX IF NOT EXISTS memories_created ON memories (created_at);
CREATE INDEX IF NOT EXISTS memories_last_seen ON memories (last_seen);
CREATE INDEX IF NOT EXISTS memories_app ON memories (app COLLATE NOCASE);
CREATE INDEX IF NOT EXISTS memories_modality ON memories (modality);
CREATE TABLE IF NOT EXISTS vectors (id INTEGER PRIMARY KEY, vector BLOB NOT NULL, visual BLOB);
CREATE TABLE IF NOT EXISTS tags (tag TEXT NOT NULL, memory_id INTEGER NOT NULL, PRIMARY KEY (tag, memory_id)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS tags_memory ON tags (memory_id);
CREATE TABLE IF NOT EXISTS deletions (seq INTEGER PRIMARY KEY AUTOINCREMENT, id INTEGER NOT NULL, at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS meta_kv (key TEXT NOT NULL, value NOT NULL, memory_id INTEGER NOT NULL,
    PRIMARY KEY (key, value, memory_id)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS meta_kv_memory ON meta_kv (memory_id);
CREATE TRIGGER IF NOT EXISTS memories_meta_kv_insert AFTER INSERT ON memories BEGIN
    INSERT OR IGNORE INTO meta_kv (key, value, memory_id)
        SELECT j.key, j.value, NEW.id FROM json_each(NEW.metadata) j WHERE j.type != 'null';
END;
CREATE TRIGGER IF NOT EXISTS memories_meta_kv_delete AFTER DELETE ON memories BEGIN
    DELETE FROM meta_kv WHERE memory_id = OLD.id;
END;
CREATE TABLE IF NOT EXISTS updates (seq INTEGER PRIMARY KEY AUTOINCREMENT, id INTEGER NOT NULL);
CREATE TRIGGER IF NOT EXISTS memories_updated AFTER UPDATE ON memories BEGIN
    INSERT INTO updates (id) VALUES (NEW.id);
END;
"""
# `updates` logs every changed row (a near-duplicate merge moves seen_count and last_seen), written
# by a trigger so any writer logs it: each process's row cache re-reads those rows when it catches
# up, as its graph replays `deletions`. Emptied with the deletions log when an opener is alone.
# meta_kv indexes top-level metadata values so `Filter(metadata=...)` is an index range, not a
# json_extract over every row (54 ms at 100k for a 1 % filter, issue 16). json_each yields the same
# SQL values json_extract does (true -> 1, objects/arrays as their JSON text), so the answers are
# the same. Triggers (stored in the database) keep it in step whoever writes, older versions
# included; `_init_schema` backfills stores made before it existed.
_META_KV_BACKFILL = (
    "INSERT OR IGNORE INTO meta_kv (key, value, memory_id) "
    "SELECT j.key, j.value, m.id FROM memories m, json_each(m.metadata) j WHERE j.type != 'null'"
)

_COLUMNS = (
    "m.id, m.created_at, m.last_seen, m.seen_count, m.modality, m.content_hash, m.episode_id, "
    "m.source, m.text, m.tags, m.metadata, m.thumb_bytes"
)


_JSON_COLUMNS = (
    # times as %.17g text: JSON numbers from SQLite carry 15 digits, which moved a stored time by a microsecond
    "m.id, printf('%.17g', m.created_at), printf('%.17g', m.last_seen), m.seen_count, m.modality, m.content_hash, "
    "m.episode_id, json(m.source), m.text, json(m.tags), json(m.metadata), m.thumb_bytes"
)


def _ts(dt: datetime) -> float:
    return dt.timestamp()


def _dt(ts: float, _from: Callable[..., datetime] = datetime.fromtimestamp, _utc: Any = UTC) -> datetime:
    return _from(ts, _utc)


def _unit(vector: np.ndarray, what: str) -> np.ndarray:
    v = np.asarray(vector, dtype=np.float32).reshape(-1)
    n = math.sqrt(float(np.dot(v, v)))  # np.linalg.norm's dispatch cost more than the sum (~10 us a call)
    if not math.isfinite(n) or n == 0.0:  # math, not np.isfinite: a ufunc call on one float costs ~1 us
        raise InvalidRequest(f"{what} is all zeros (or not finite): it has no direction to compare by")
    return (v / n).astype(np.float32, copy=False)  # float32 / a Python float is float32 already


def _cosine(a: np.ndarray, b: np.ndarray) -> float:
    na, nb = float(np.linalg.norm(a)), float(np.linalg.norm(b))
    return float(a @ b) / (na * nb) if na and nb else 0.0


_SOURCE_DEFAULTS = {name: f.default for name, f in Source.model_fields.items()}
_EMPTY_SOURCE = Source()
_EMPTY_SOURCE_JSON = _EMPTY_SOURCE.model_dump_json()


def _trusted(cls: type[_M], values: dict[str, Any]) -> _M:
    """A pydantic model from values that are already valid and complete (every field given): what
    `model_construct` does without its per-field default handling, ~1 us instead of ~8 us a model.
    Only for rows this store validated when they came in."""
    obj = cls.__new__(cls)
    object.__setattr__(obj, "__dict__", values)
    object.__setattr__(obj, "__pydantic_fields_set__", set(values))
    object.__setattr__(obj, "__pydantic_extra__", None)
    object.__setattr__(obj, "__pydantic_private__", None)
    return obj


def _trusted_maker(cls: type[_M]) -> Callable[[dict[str, Any]], _M]:
    """`_trusted` for one class, its lookups bound once: a recall builds three models a hit (Hit,
    Memory, Source), and the generic call was a quarter of its Python (issue 16). Every model made
    has all its fields set, so they share one fields-set (pydantic only adds to it, on assigning a
    field, which is already in it; copies copy it)."""
    fields = set(cls.model_fields)
    new, put = cls.__new__, object.__setattr__

    def make(values: dict[str, Any]) -> _M:
        obj = new(cls)
        put(obj, "__dict__", values)
        put(obj, "__pydantic_fields_set__", fields)
        put(obj, "__pydantic_extra__", None)
        put(obj, "__pydantic_private__", None)
        return obj

    return make


_HIT_FIELDS = set(Hit.model_fields)
"""The shared fields-set of the hits a recall builds (every field set; see `_trusted_maker`)."""
_SLOT_SETTERS = tuple(BaseModel.__dict__[name].__set__ for name in (
    "__dict__", "__pydantic_fields_set__", "__pydantic_extra__", "__pydantic_private__"))
"""The setters of the four slots every pydantic model instance has (BaseModel's `__slots__`), called
directly: what `object.__setattr__` finds after looking the name up, at ~0.1 us less a call; a recall
sets four a hit (issue 16)."""
_new_memory = _trusted_maker(Memory)
_new_source = _trusted_maker(Source)
_new_hit = _trusted_maker(Hit)


_NO_TAGS, _NO_METADATA, _NO_SOURCE = FrozenList(), FrozenDict(), _new_source(dict(_SOURCE_DEFAULTS))
"""Shared by every cached row without tags, metadata or a source (read-only, so sharing is safe; the
Source has every field set, as each row's own Source has)."""


def _pack_row(text: str, space: str) -> Memory:
    """A row-cache entry: the row's Memory, decoded once from its JSON (as SQLite gives it) and then
    shared by every recall that finds the row, so a hit costs one small Hit object. Through session 5
    each hit built its own Memory, Source, list and dict from marshal bytes (36 us of a recall's ~100 us of
    Python at 20k, issue 16). Sharing is safe because nothing in it can change: Memory and Source are
    frozen models, tags and metadata read-only lists and dicts (memory/frozen.py, nested values
    included), ids, strings and datetimes immutable. A row without a source shares one empty Source;
    episode ids and modalities are interned, so repeated ones are kept once. No validation: the row was
    validated on the way in."""
    (id_, created, last, seen, modality, chash, episode, src, text_, tags, metadata, thumb) = json.loads(text)
    if all(v is None for v in src.values()):
        source = _NO_SOURCE
    else:
        if src.get("region") is not None:
            src["region"] = tuple(src["region"])
        source = _new_source({**_SOURCE_DEFAULTS, **src})
    created, last = float(created), float(last)
    created_at = _dt(created)
    return _new_memory({
        "id": id_, "space": space, "modality": sys.intern(modality), "content_hash": chash, "source": source,
        "episode_id": None if episode is None else sys.intern(episode), "text": text_,
        "tags": freeze(tags) if tags else _NO_TAGS, "metadata": freeze(metadata) if metadata else _NO_METADATA,
        "has_thumbnail": thumb > 0, "created_at": created_at,
        "last_seen": created_at if last == created else _dt(last), "seen_count": seen, "vector": None, "visual": None,
    })


def _row_size(row: Memory) -> int:
    """What a row-cache entry is counted as against `_ROW_CACHE_CHARS`: an estimate of its bytes, the same
    on add and removal. Fitted with tracemalloc on rows built by `_pack_row` from generated stores (the
    bench's 20k short rows: "record N", {"i": N}, no source or tags; 3,000 rows with tags, sources and
    nested metadata): ~850 bytes for the Memory, its 15-entry dict and a datetime, plus its strings and
    ~7 bytes per character of the repr of its tags and metadata, ~700 for a Source of its own."""
    extra = len(row.text or "") + len(row.content_hash or "")
    if row.tags:
        extra += 7 * len(repr(row.tags))
    if row.metadata:
        extra += 7 * len(repr(row.metadata))
    if row.source is not _NO_SOURCE:
        extra += 700
    return 850 + extra


def _rounded_scores(found: list[int], scores: np.ndarray, min_score: float | None) -> tuple[list[int], list[float]]:
    """Drop scores below `min_score` (compared unrounded, as doubles), round the rest to 6 decimals.
    float32 scores (every search path gives them) are rounded in one numpy call: a float32 times 1e6 is
    exact in a double (24 + 20 significant bits), so rint-then-divide lands on the same double as
    Python's correctly rounded `round(x, 6)` (0 differences in 20M values, ties included); ten
    `round` calls were ~5 % of a recall's cost around the walk (issue 16). Other dtypes: `round`."""
    if min_score is None and scores.dtype == np.float32:  # the usual recall: three C calls
        return found, scores.astype(np.float64).round(6).tolist()
    return _rounded_scores_general(found, scores, min_score)


def _rounded_scores_general(found: list[int], scores: np.ndarray, min_score: float | None) -> tuple[list[int], list[float]]:
    s64 = np.asarray(scores, dtype=np.float64)
    if min_score is not None:  # before the rows are built: a row below it would be thrown away
        keep = s64 >= min_score
        if not keep.all():
            found = [f for f, kept in zip(found, keep.tolist(), strict=True) if kept]
            s64 = s64[keep]
    if np.asarray(scores).dtype == np.float32:
        return found, s64.round(6).tolist()
    return found, [round(v, 6) for v in s64.tolist()]


def _json_ids(ids: Sequence[int]) -> str:
    return json.dumps([int(i) for i in ids])


def compile_id_sets(flt: Filter) -> tuple[str, list[Any]] | None:
    """A query listing the matching ids straight from the indexed side tables (tags, meta_kv), when
    every criterion of the filter is one of them; None otherwise. It skips the per-row lookups into
    `memories` that `compile_filter`'s `m.id IN (...)` needs (30k of them for a 30 % filter)."""
    if any(v is not None for v in (flt.since, flt.until, flt.modalities, flt.episode_id, flt.app)):
        return None
    if any(v is None for v in (flt.metadata or {}).values()):
        return None
    parts: list[str] = []
    params: list[Any] = []
    for tag in sorted(set(flt.tags or [])):
        parts.append("SELECT memory_id FROM tags WHERE tag = ?")
        params.append(tag)
    for key, value in (flt.metadata or {}).items():
        parts.append("SELECT memory_id FROM meta_kv WHERE key = ? AND value = ?")
        params += [key, int(value) if isinstance(value, bool) else value]
    if not parts:  # ids alone may name deleted rows: only `memories` knows
        return None
    if flt.ids is not None:
        parts.append("SELECT value FROM json_each(?)")
        params.append(_json_ids(flt.ids))
    return " INTERSECT ".join(parts), params


def compile_filter(flt: Filter | None, *, probe: bool = False) -> tuple[str, list[Any]]:
    """A WHERE clause over `memories m` (and bound parameters) for a Filter; `1` when empty.

    `probe=True` writes the tag and metadata criteria as correlated primary-key lookups (EXISTS),
    for checking a few given rows: the `IN (SELECT ...)` form lists every matching id first,
    which is right for listing them but costs 30k rows to check 60 at a 30 % filter."""
    if flt is None or flt.is_empty():
        return "1", []
    parts: list[str] = []
    params: list[Any] = []
    if flt.since is not None:
        parts.append("m.last_seen >= ?")
        params.append(_ts(flt.since))
    if flt.until is not None:
        parts.append("m.created_at <= ?")
        params.append(_ts(flt.until))
    if flt.modalities is not None:
        parts.append("m.modality IN (SELECT value FROM json_each(?))")
        params.append(json.dumps(flt.modalities))
    if flt.episode_id is not None:
        parts.append("m.episode_id = ?")
        params.append(flt.episode_id)
    if flt.app is not None:
        parts.append("m.app = ? COLLATE NOCASE")
        params.append(flt.app)
    if flt.tags:
        tags = sorted(set(flt.tags))  # all-of: intersect the (tag, memory_id) primary-key ranges
        if probe:
            parts += ["EXISTS (SELECT 1 FROM tags t WHERE t.tag = ? AND t.memory_id = m.id)"] * len(tags)
        else:
            parts.append("m.id IN (" + " INTERSECT ".join(["SELECT memory_id FROM tags WHERE tag = ?"] * len(tags)) + ")")
        params += tags
    for key, value in (flt.metadata or {}).items():
        if value is None:  # also matches rows without the key, which the side table cannot list
            parts.append("json_extract(m.metadata, ?) IS NULL")
            params.append(f'$."{key}"')
        elif probe:
            parts.append("EXISTS (SELECT 1 FROM meta_kv k WHERE k.key = ? AND k.value = ? AND k.memory_id = m.id)")
            params += [key, int(value) if isinstance(value, bool) else value]
        else:
            parts.append("m.id IN (SELECT memory_id FROM meta_kv WHERE key = ? AND value = ?)")
            params += [key, int(value) if isinstance(value, bool) else value]
    if flt.ids is not None:
        parts.append("m.id IN (SELECT value FROM json_each(?))")
        params.append(_json_ids(flt.ids))
    return (" AND ".join(parts) or "1"), params  # `tags: []` alone adds no clause: an empty WHERE was a syntax error


_INLINE_EXACT_MAX = 2_000
"""An exact pass over at most this many rows runs on the event loop (~0.3 ms at 768-d); more hop."""

_GRAPH_CHUNK_SECONDS = 0.03
"""The background indexer inserts the tail into the graph in chunks sized to take about this long:
hnswlib cannot search while inserting, so a search arriving mid-chunk waits for it."""

_ROW_CACHE_CHARS = 256 << 20
"""Rows kept in memory (decoded once, as the Memory every recall of the row shares: see `_pack_row`), up
to this many bytes in all (as `_row_size` counts them: ~92 MB for 100k short rows, so ~280k such rows;
session 5's marshal layout, ~2.7x smaller a row, held ~800k but built each hit afresh); rows beyond
it, or whose JSON is longer than _ROW_CACHE_ROW_CHARS, are read from SQLite."""
_ROW_CACHE_ROW_CHARS = 16_384

_LOOP_BUDGET_S = 0.001
"""Recalls answered on the event loop let its other tasks run once they have held it this long (1 ms, the
order the issue asked for; not tuned): see memory/loopshare.py."""
_LOOP_MAX_CALLS = 16
"""... and at least once every this many such recalls, whatever they cost: the store cannot see what its
caller does between them (16 recalls on the smallest, exact path take ~0.3-0.8 ms on this machine)."""

_FILTER_CACHE_BYTES = 64 << 20
"""Vectors of recently used small filters kept gathered (a 1 % filter at 100k x 768: 3 MB)."""

_INDEXER_THREADS = max(1, (os.cpu_count() or 2) - 1)
"""hnswlib threads of the background indexer: one core is left to the writers and searches."""

_CLOSE_GRAPH_SECONDS = 10.0
"""`close` lets the indexer finish the tail for at most this long before the checkpoint; whatever is
left is rebuilt from SQLite into the tail on the next open (a slow close of a huge backlog is worse)."""


def _must_wait(wait: bool, why: str) -> None:
    if not wait:
        raise WouldBlock(why)


class _AddTicket:
    """One `add_sync` call waiting for (or done by) a group commit."""

    __slots__ = ("prepared", "merge_duplicates", "results", "error", "done")

    def __init__(self, prepared: list[Any], merge_duplicates: bool) -> None:
        self.prepared = prepared
        self.merge_duplicates = merge_duplicates
        self.results: list[AddResult] = []
        self.error: BaseException | None = None
        self.done = False


class _Candidates:
    """The rows one filter matched, with their vectors gathered into one contiguous matrix: valid
    while `token` (the index's identity and version, the database's data_version) is current."""

    __slots__ = ("token", "labels", "matrix")

    def __init__(self, token: tuple[int, int, int | None], labels: np.ndarray, matrix: np.ndarray) -> None:
        self.token = token
        self.labels = labels
        self.matrix = matrix


class LocalMemoryStore(ThreadedStore):
    """The `MemoryStore` of one embedding space on local disk. Build it with `open` / `open_sync`."""

    engine = "local"

    def __init__(self, path: Path, space: str, dimension: int, settings: MemorySettings) -> None:
        # private: `open_sync` does the work (locks, schema, index recovery) before handing it out
        self.path = path
        self._space = space
        self._dimension = dimension
        self._settings = settings
        self._wlock = threading.RLock()
        self._pending_lock = threading.Lock()
        self._pending: list[_AddTicket] = []
        self._readers: queue.SimpleQueue[sqlite3.Connection] = queue.SimpleQueue()
        self._all_conns: list[sqlite3.Connection] = []
        self._conns_lock = threading.Lock()
        self._closed = False
        self._changes = 0
        self._last_checkpoint = time.monotonic()
        self._lock_fd: int | None = None
        self._ckpt_fd: int | None = None
        self._alone = True
        # catch-up state, guarded by _sync_lock: the probe connection, the last data_version it
        # saw, the highest id the graph has seen and the last deletions-log seq it applied
        self._sync_lock = threading.Lock()
        self._probe: sqlite3.Connection
        self._data_version: int | None = None
        # the WAL-index header (the -shm file's first 48 bytes) as read before the last catch-up
        # that completed: see _unchanged_since_catch_up. None: unknown, ask SQLite
        self._shm_fd: int | None = None
        self._hdr_seen: bytes | None = None
        self._seen_max = 0
        self._seen_seq = 0
        self.opened = "new"
        self._index: HnswIndex
        self._w: sqlite3.Connection
        # the background indexer: acknowledged rows wait in the index's tail (searched exactly)
        # until this thread has put them in the graph (issue 16: the graph insert capped ingest)
        self._changes_lock = threading.Lock()
        self._indexer: threading.Thread | None = None
        self._indexer_wake = threading.Event()
        self._indexer_stop = False
        self._last_write = 0.0
        # filter -> its matching rows and their vectors (small filters only; see _small_candidates)
        self._flt_cache: OrderedDict[str, _Candidates] = OrderedDict()
        self._flt_cache_bytes = 0
        self._flt_lock = threading.Lock()
        # id -> the row's Memory, shared and read-only (see _pack_row, _ROW_CACHE_CHARS): a recall's k
        # rows without a SQL round trip.
        # Filled and refreshed only by catch-ups (under _sync_lock), from the same snapshot as the
        # graph; read by searches, which catch up first. `get` still reads SQLite (always current).
        self._rows: dict[int, Memory] = {}
        self._loop_share = LoopShare(_LOOP_BUDGET_S, _LOOP_MAX_CALLS)
        self._rows_chars = 0
        self._seen_upd = 0

    # ---- opening -------------------------------------------------------------------------
    @staticmethod
    def store_path(data_dir: Path, space: str) -> Path:
        return Path(data_dir) / "memory" / store_dirname(space)

    @classmethod
    async def open(cls, root: Path, space: str, dimension: int, settings: MemorySettings) -> LocalMemoryStore:
        """Open (or create) the store of `space` under the data dir `root`."""
        return await anyio.to_thread.run_sync(cls.open_sync, root, space, dimension, settings)

    @classmethod
    def open_sync(cls, root: Path, space: str, dimension: int, settings: MemorySettings) -> LocalMemoryStore:
        return cls.open_dir(cls.store_path(root, space), space, dimension, settings)

    @classmethod
    def open_dir(cls, path: Path, space: str, dimension: int, settings: MemorySettings) -> LocalMemoryStore:
        """Open the store in exactly this folder (blocking). Refuses a folder made for another space."""
        if dimension <= 0:
            raise InvalidRequest(f"dimension must be positive, got {dimension}")
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        (path / "thumbs").mkdir(exist_ok=True)
        self = cls(path, space, dimension, settings)
        open_fd = self._lock_file("open.lock")
        try:
            if open_fd is not None:
                fcntl.flock(open_fd, fcntl.LOCK_EX)  # one opener at a time (a rebuild may take a while)
            self._acquire_process_lock()
            self._w = self._connect()
            self._probe = self._connect()
            self._init_schema()
            if self._alone:
                self._cleanup_files()
            self._recover_index()
            self._open_shm()
            self._start_indexer()
        except BaseException:
            self._close_everything()
            raise
        finally:
            if open_fd is not None:
                os.close(open_fd)  # releases open.lock
        return self

    @staticmethod
    def existing_spaces(root: Path) -> list[tuple[str, Path]]:
        """(space, folder) of every store under a data dir, read without opening them (for doctor / reindex)."""
        out: list[tuple[str, Path]] = []
        base = Path(root) / "memory"
        for db in sorted(base.glob("*/memory.db")) if base.is_dir() else []:
            try:
                con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
                try:
                    row = con.execute("SELECT value FROM meta WHERE key='space'").fetchone()
                finally:
                    con.close()
            except sqlite3.Error:
                continue
            if row:
                out.append((row[0], db.parent))
        return out

    def _lock_file(self, name: str) -> int | None:
        if fcntl is None:  # Windows: no advisory locks; every opener believes it is alone
            return None
        return os.open(self.path / name, os.O_RDWR | os.O_CREAT, 0o600)

    def _acquire_process_lock(self) -> None:
        """Hold store.lock shared for the store's lifetime; learn on the way whether we are alone
        (called under open.lock, so no other opener can be between the two flock calls)."""
        fd = self._lock_file("store.lock")
        if fd is None:
            return
        self._lock_fd = fd
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            self._alone = True
        except OSError:
            self._alone = False
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError as exc:
            # only a process that holds it exclusively for its whole life (an older Sensorium) gets here
            raise StoreUnavailable(
                f"the memory store at {self.path} is held exclusively by another process (an older Sensorium "
                "version?); upgrade or stop that server, or point this one at another data dir (SENSORIUM_DATA_DIR)"
            ) from exc
        self._ckpt_fd = self._lock_file("checkpoint.lock")

    def _connect(self) -> sqlite3.Connection:
        try:
            con = sqlite3.connect(self.path / "memory.db", check_same_thread=False, isolation_level=None, timeout=30.0)
            con.execute("PRAGMA journal_mode=WAL")
            con.execute(f"PRAGMA synchronous={self._settings.sqlite_synchronous}")
            con.execute("PRAGMA busy_timeout=30000")
            # reads through a memory map and a larger page cache: a recall's k rows are scattered
            # over the table, and with the default 2 MB cache each was a pread() (measured: the row
            # fetch cost 3x more for a search's ids than for ids read a moment before)
            con.execute(f"PRAGMA mmap_size={1 << 30}")
            con.execute("PRAGMA cache_size=-65536")
        except sqlite3.DatabaseError as exc:
            raise StoreCorrupt(f"cannot open the memory database {self.path / 'memory.db'}: {exc}") from exc
        with self._conns_lock:
            self._all_conns.append(con)
        return con

    def _init_schema(self) -> None:
        w = self._w
        try:
            w.executescript(_SCHEMA)
        except sqlite3.DatabaseError as exc:
            raise StoreCorrupt(f"the memory database {self.path / 'memory.db'} is unreadable: {exc}") from exc
        meta = dict(w.execute("SELECT key, value FROM meta").fetchall())
        if "space" not in meta:
            w.execute("BEGIN IMMEDIATE")
            w.executemany(
                "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
                [
                    ("schema_version", SCHEMA_VERSION),
                    ("space", self._space),
                    ("dimension", str(self._dimension)),
                    ("created_at", datetime.now(UTC).isoformat()),
                    ("meta_kv", "1"),
                ],
            )
            w.execute("COMMIT")
            return
        if meta["space"] != self._space or int(meta["dimension"]) != self._dimension:
            raise SpaceMismatch(
                f"the memory store at {self.path} holds vectors of space {meta['space']!r} "
                f"({meta['dimension']}-d), not {self._space!r} ({self._dimension}-d): vectors of different "
                "spaces are not comparable. Use the backend that made this store, or open the store of this "
                "space (`sensorium memory reindex` re-embeds stored media into a new space)"
            )
        if meta.get("schema_version") != SCHEMA_VERSION:
            raise StoreCorrupt(
                f"the memory store at {self.path} has schema {meta.get('schema_version')!r}; this version reads "
                f"{SCHEMA_VERSION!r}"
            )
        if "meta_kv" not in meta:  # made before the metadata side table: fill it once
            w.execute("BEGIN IMMEDIATE")
            try:
                if self._meta("meta_kv") is None:  # another opener may have just done it
                    w.execute(_META_KV_BACKFILL)
                    w.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('meta_kv', '1')")
                w.execute("COMMIT")
            except BaseException:
                w.execute("ROLLBACK")
                raise

    def _meta(self, key: str) -> str | None:
        row = self._w.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def _cleanup_files(self) -> None:
        """Remove what a crash can leave behind: temp checkpoints, superseded checkpoints, and
        thumbnails whose row was never committed (or was deleted just before the crash).
        Only when no other process has the store open (their in-flight files look the same), which is
        also when the deletions log can be emptied: it only serves processes that are running."""
        self._w.execute("DELETE FROM deletions")
        self._w.execute("DELETE FROM updates")
        current = json.loads(self._meta("checkpoint") or "null")
        keep = current["file"] if current else None
        for f in self.path.glob("hnsw-*"):
            if f.name != keep:
                f.unlink(missing_ok=True)
        thumbs = {}
        for f in (self.path / "thumbs").iterdir():
            stem = f.name.split(".", 1)[0]
            if f.name.endswith(".jpg") and stem.isdigit():
                thumbs[int(stem)] = f
            else:
                f.unlink(missing_ok=True)
        if thumbs:
            rows = self._w.execute(
                "SELECT id FROM memories WHERE thumb_bytes > 0 AND id IN (SELECT value FROM json_each(?))",
                (_json_ids(list(thumbs)),),
            ).fetchall()
            for orphan in set(thumbs) - {r[0] for r in rows}:
                thumbs[orphan].unlink(missing_ok=True)
                log.info("removed orphan thumbnail %s", thumbs[orphan].name)

    def _recover_index(self) -> None:
        index: HnswIndex | None = None
        # hold checkpoint.lock while reading the pointer and the file: another process may not
        # replace (and delete) the file under us
        with self._checkpoint_lock(blocking=True):
            raw = self._meta("checkpoint")
            n_rows = self._w.execute("SELECT COUNT(*) FROM memories").fetchone()[0]
            if raw:
                info = CheckpointInfo(**json.loads(raw))
                try:
                    index = HnswIndex.load(self.path / info.file, self._dimension, self._settings, info)
                    self.opened = "loaded"
                except IndexCorrupt as exc:
                    log.warning("memory index at %s cannot be trusted (%s): rebuilding it from SQLite", self.path, exc)
                    self.opened = f"rebuilt ({exc})"
            elif n_rows:
                log.warning("memory store at %s has %d rows but no index checkpoint: building it", self.path, n_rows)
                self.opened = "rebuilt (no checkpoint)"
        if index is None:
            capacity = max(self._settings.initial_capacity, int(n_rows * 1.25))
            index = HnswIndex(self._dimension, self._settings, capacity=capacity)
        t0 = time.perf_counter()
        # rows the checkpoint lacks go to the tail: searchable at once, graphed by the indexer, so
        # an open after a crash (or a big backlog) does not wait minutes for hnswlib
        added, deleted, seen_max, seen_seq = self._reconcile_from_snapshot(index, graph=False, rows=True)
        with self._sync_lock:
            self._index = index
            self._seen_max, self._seen_seq, self._data_version = seen_max, seen_seq, None
            self._hdr_seen = None
        if added or deleted:
            if self.opened == "loaded":
                self.opened = f"caught up (+{added} added, {deleted} deleted since the checkpoint)"
            log.info(
                "memory index at %s: %s in %.1f s", self.path, self.opened, time.perf_counter() - t0
            )
            if deleted:  # added ones are checkpointed once the indexer has graphed them
                self._checkpoint()

    def _reconcile_from_snapshot(
        self, index: HnswIndex, *, graph: bool = True, rows: bool = False
    ) -> tuple[int, int, int, int]:
        """Make `index` hold exactly the rows of one read snapshot (other processes keep writing:
        the ids, their vectors and the deletions-log position must agree). Returns (added,
        deleted, highest id seen, last deletions seq): where catching up continues from."""
        w = self._w
        w.execute("BEGIN")  # deferred: a read snapshot from the first SELECT to the COMMIT
        try:
            ids = [r[0] for r in w.execute("SELECT id FROM memories")]
            seq = w.execute("SELECT COALESCE(MAX(seq), 0) FROM deletions").fetchone()[0]
            if rows:
                self._seen_upd = w.execute("SELECT COALESCE(MAX(seq), 0) FROM updates").fetchone()[0]
                self._rows.clear()
                self._rows_chars = 0
                self._cache_rows(w.execute(f"SELECT m.id, json_array({_JSON_COLUMNS}) FROM memories m"))
            added, deleted = index.reconcile(ids, self._load_vectors, graph=graph)
        finally:
            w.execute("COMMIT")
        return added, deleted, max(ids, default=0), int(seq)

    def _open_shm(self) -> None:
        """Keep the WAL-index file (`memory.db-shm`) open for `_unchanged_since_catch_up`; without
        it (not there, another platform) every check asks SQLite."""
        try:
            self._shm_fd = os.open(self.path / "memory.db-shm", os.O_RDONLY)
        except OSError:
            self._shm_fd = None

    def _wal_header(self) -> bytes | None:
        fd = self._shm_fd
        if fd is None:
            return None
        try:
            hdr = os.pread(fd, 48, 0)
        except OSError:
            return None
        return hdr if len(hdr) == 48 else None

    def _unchanged_since_catch_up(self) -> bool:
        """True when no connection of any process has committed since the last completed
        catch-up read its snapshot, without a lock or a SQL statement (~1 us against ~20 us for
        `PRAGMA data_version` on the shared machine, which took its WAL read lock: issue 16).

        Every commit in WAL mode rewrites the WAL-index header at the start of the -shm file
        (its frame count, checksums and change counter; salts when the WAL restarts) before the
        commit returns (https://www.sqlite.org/walformat.html), and its first copy last. So
        bytes equal to the ones read before that catch-up mean nothing was committed since:
        an acknowledged write of any process is seen by the next search. A difference (a
        commit, a torn read of one in progress, a reader's recovery) only sends the check the
        slow way. The file stays in place while this store has connections open (SQLite
        truncates or removes it only with no connection left), and it is read with pread, not a
        memory map, so even then the answer is just 'unknown'."""
        seen = self._hdr_seen
        return seen is not None and self._wal_header() == seen

    def _caught_up_nowait(self) -> None:
        """Raise `WouldBlock` unless the graph is already up to date (nobody committed since the
        last catch-up), checked without waiting for another thread's catch-up."""
        if self._unchanged_since_catch_up():
            return
        if not self._sync_lock.acquire(blocking=False):
            raise WouldBlock("another thread is catching the index up")
        try:
            if self._probe.execute("PRAGMA data_version").fetchone()[0] != self._data_version:
                raise WouldBlock("another connection committed: the index must catch up first")
        finally:
            self._sync_lock.release()

    def _catch_up(self, *, force: bool = False) -> None:
        """Bring this process's graph up to what every process has committed: new rows (ids above
        the highest seen) are inserted, the deletions log is replayed. Cheap when nothing changed:
        the WAL-index header unchanged (`_unchanged_since_catch_up`), else one `PRAGMA
        data_version`, which changes when any *other* connection (this process's writer
        included) committed."""
        if not force and self._unchanged_since_catch_up():
            return
        with self._sync_lock:
            p = self._probe
            hdr = self._wal_header()  # before the catch-up's snapshot: a commit after this changes it
            version = p.execute("PRAGMA data_version").fetchone()[0]
            if version == self._data_version and not force:
                self._hdr_seen = hdr
                return
            self._data_version = version  # read first: a commit after this is seen next time
            self._hdr_seen = None  # until this catch-up completes
            p.execute("BEGIN")
            try:
                rows = p.execute(
                    f"SELECT v.id, v.vector, json_array({_JSON_COLUMNS}) FROM vectors v JOIN memories m ON m.id = v.id "
                    "WHERE v.id > ? ORDER BY v.id", (self._seen_max,)
                ).fetchall()
                dels = p.execute(
                    "SELECT seq, id FROM deletions WHERE seq > ? ORDER BY seq", (self._seen_seq,)
                ).fetchall()
                upds = p.execute(
                    f"SELECT u.seq, m.id, json_array({_JSON_COLUMNS}) FROM updates u JOIN memories m ON m.id = u.id "
                    "WHERE u.seq > ? ORDER BY u.seq", (self._seen_upd,)
                ).fetchall()
                if upds:
                    self._seen_upd = int(upds[-1][0])
            finally:
                p.execute("COMMIT")
            self._cache_rows((r[0], r[2]) for r in rows)
            self._cache_rows((u[1], u[2]) for u in upds)
            index = self._index
            if rows:
                fresh = [(i, v) for i, v, _ in rows if i not in index]
                if fresh:
                    # into the tail: the indexer thread graphs them; searches scan the tail exactly
                    index.add(
                        np.asarray([i for i, _ in fresh], dtype=np.int64),
                        np.frombuffer(b"".join(v for _, v in fresh), dtype=np.float32).reshape(len(fresh), -1),
                        graph=False,
                    )
                    self._indexer_wake.set()
                self._seen_max = int(rows[-1][0])
            if dels:
                index.mark_deleted(d[1] for d in dels)
                self._seen_seq = int(dels[-1][0])
                for d in dels:
                    gone = self._rows.pop(d[1], None)
                    if gone is not None:
                        self._rows_chars -= _row_size(gone)
            self._hdr_seen = hdr

    def _cache_rows(self, rows: Iterable[tuple[int, str]]) -> None:
        """Keep (or refresh) rows in the row cache, within its budget (caller holds _sync_lock or is opening)."""
        cache = self._rows
        for id_, text in rows:
            old = cache.pop(id_, None)
            if old is not None:
                self._rows_chars -= _row_size(old)
            if len(text) <= _ROW_CACHE_ROW_CHARS and self._rows_chars + len(text) <= _ROW_CACHE_CHARS:
                row = _pack_row(text, self._space)
                cache[id_] = row
                self._rows_chars += _row_size(row)

    # ---- helpers -------------------------------------------------------------------------
    def _reader(self) -> sqlite3.Connection:
        try:
            return self._readers.get_nowait()
        except queue.Empty:
            return self._connect()

    def _release(self, con: sqlite3.Connection) -> None:
        self._readers.put(con)

    def _check_open(self) -> None:
        if self._closed:
            raise StoreUnavailable("the memory store is closed")

    def _load_vectors(self, ids: list[int]) -> np.ndarray:
        rows = dict(
            self._w.execute(
                "SELECT id, vector FROM vectors WHERE id IN (SELECT value FROM json_each(?))", (_json_ids(ids),)
            ).fetchall()
        )
        out = np.empty((len(ids), self._dimension), dtype=np.float32)
        for i, id_ in enumerate(ids):
            out[i] = np.frombuffer(rows[id_], dtype=np.float32)
        return out

    def _check_space(self, space: str, what: str) -> None:
        if space != self._space:
            raise SpaceMismatch(
                f"{what} is in space {space!r} but this memory store holds {self._space!r} vectors: they are not "
                "comparable. Embed it with the store's backend, or open the store of that space"
            )

    def _check_dimension(self, vector: np.ndarray, what: str) -> None:
        if vector.shape[-1] != self._dimension:
            raise InvalidRequest(
                f"{what} has {vector.shape[-1]} dimensions; space {self._space!r} has {self._dimension}"
            )

    def _excluded(self, source: Source) -> str | None:
        return privacy_exclusion(self._settings, source.app, source.window_title)

    def _json_to_memory(self, row: list[Any]) -> Memory:
        """`_row_to_memory` for a row read as JSON (its JSON columns already decoded)."""
        (id_, created, last, seen, modality, chash, episode, src, text, tags, metadata, thumb) = row
        if src.get("region") is not None:
            src["region"] = tuple(src["region"])
        return _trusted(Memory, {
            "id": id_, "space": self._space, "modality": modality, "content_hash": chash,
            "source": _trusted(Source, {**_SOURCE_DEFAULTS, **src}) if len(src) != len(_SOURCE_DEFAULTS) else _trusted(Source, src),
            "episode_id": episode, "text": text, "tags": tags, "metadata": metadata, "has_thumbnail": thumb > 0,
            "created_at": _dt(float(created)), "last_seen": _dt(float(last)), "seen_count": seen,
            "vector": None, "visual": None,
        })

    def _row_to_memory(self, row: tuple[Any, ...], vec: bytes | None = None, visual: bytes | None = None) -> Memory:
        """Build a Memory from a row this store wrote (and so validated on the way in) without
        validating it again: pydantic validation was most of the row hydration that made a recall
        3x slower than the graph walk (issue 16). The JSON columns are decoded once, by json.loads."""
        (id_, created, last, seen, modality, chash, episode, source, text, tags, metadata, thumb) = row[:12]
        src = json.loads(source)
        if src.get("region") is not None:
            src["region"] = tuple(src["region"])
        return _trusted(Memory, {
            "id": id_,
            "space": self._space,
            "modality": modality,
            "content_hash": chash,
            "source": _trusted(Source, {**_SOURCE_DEFAULTS, **src}),
            "episode_id": episode,
            "text": text,
            "tags": json.loads(tags),
            "metadata": json.loads(metadata),
            "has_thumbnail": thumb > 0,
            "created_at": _dt(created),
            "last_seen": _dt(last),
            "seen_count": seen,
            "vector": None if vec is None else np.frombuffer(vec, dtype=np.float32).copy(),
            "visual": None if visual is None else np.frombuffer(visual, dtype=np.float32).tolist(),
        })

    def _thumb_path(self, id_: int) -> Path:
        return self.path / "thumbs" / f"{id_}.jpg"

    # ---- add -----------------------------------------------------------------------------
    def add_sync(self, records: Sequence[NewMemory], *, merge_duplicates: bool = True) -> list[AddResult]:
        self._check_open()
        prepared: list[tuple[NewMemory, np.ndarray, np.ndarray | None] | str] = []
        for n, rec in enumerate(records):
            what = f"memory {n}" if len(records) > 1 else "the memory"
            self._check_space(rec.space, what)
            self._check_dimension(rec.vector, what + "'s vector")
            if rec.thumbnail is not None:
                if not rec.thumbnail.startswith(b"\xff\xd8\xff"):
                    raise InvalidRequest(f"{what}'s thumbnail is not a JPEG: encode it as JPEG first")
                if len(rec.thumbnail) > self._settings.max_thumbnail_bytes:
                    raise InvalidRequest(
                        f"{what}'s thumbnail is {len(rec.thumbnail):,} bytes, the limit is "
                        f"{self._settings.max_thumbnail_bytes:,} (memory.max_thumbnail_bytes): downscale it"
                    )
            reason = self._excluded(rec.source)
            if reason:
                prepared.append(reason)
                continue
            visual = None if rec.visual is None else np.asarray(rec.visual, dtype=np.float32)
            vec = _unit(rec.vector, what + "'s vector")
            if rec.id is not None and np.allclose(vec, rec.vector, rtol=0, atol=1e-6):
                vec = np.asarray(rec.vector, dtype=np.float32)  # a copied store keeps its vectors bit for bit
            prepared.append((rec, vec, visual))
        if not prepared:
            return []
        # Group commit: concurrent adds queue a ticket; whichever thread gets the writer lock
        # next writes every queued ticket in one transaction, so N concurrent single remembers
        # cost one commit (one fsync at synchronous=FULL) instead of N (issue 16). Each caller
        # still returns only after the commit that holds its records.
        ticket = _AddTicket(prepared, merge_duplicates)
        with self._pending_lock:
            self._pending.append(ticket)
        with self._wlock:
            if not ticket.done:
                with self._pending_lock:
                    group, self._pending = self._pending, []
                self._commit_group(group)
        if ticket.error is not None:
            raise ticket.error
        if self._index.pending_count > self._settings.max_index_tail:
            self._help_index()
        return ticket.results

    def _help_index(self) -> None:
        """Back-pressure: the writer whose commit left the tail over `memory.max_index_tail` rows graphs
        the excess itself before its add returns (its rows are already durable and searchable). Every
        search scans the tail exactly, so without a bound a bulk import faster than the graph (7k/s
        acknowledged against ~1.2k/s graphed at 100k x 768) made every recall grow with the lag; with
        it, writers slow to the graph's pace once the tail is full and searches stay bounded. Chunks
        as the indexer's (a search waits at most one), outside the writer lock (other writers commit
        meanwhile; they help too)."""
        index, cap = self._index, self._settings.max_index_tail
        chunk = 64
        while not self._closed and index.pending_count > cap:
            t0 = time.perf_counter()
            n = index.graph_pending(min(chunk, index.pending_count - cap), threads=_INDEXER_THREADS)
            if not n:
                break
            chunk = max(8, min(2_000, int(n / max(time.perf_counter() - t0, 1e-4) * _GRAPH_CHUNK_SECONDS)))
            self._changed(n)

    def _commit_group(self, group: list[_AddTicket]) -> None:
        """Write the tickets together; if that fails, each alone, so one bad ticket (a disk error
        on its thumbnail, say) fails only its own caller."""
        try:
            try:
                for ticket, results in zip(group, self._write_group(group), strict=True):
                    ticket.results = results
            except BaseException as exc:
                if len(group) == 1:
                    group[0].error = exc
                else:
                    for ticket in group:
                        try:
                            ticket.results = self._write_group([ticket])[0]
                        except BaseException as one:  # noqa: BLE001 - handed to the ticket's own caller
                            ticket.error = one
            changes = sum(r.id is not None for t in group for r in t.results)
            if changes:
                self._after_commit(changes)  # committed: an error here must not write the tickets again
        except BaseException as exc:
            for ticket in group:
                if ticket.error is None:
                    ticket.error = exc
            raise
        finally:
            for ticket in group:
                ticket.done = True

    def _write_group(self, group: list[_AddTicket]) -> list[list[AddResult]]:
        """One transaction for every ticket (caller holds the writer lock).

        Rows are written with one `executemany` per table rather than a statement per row, with
        ids assigned here: under BEGIN IMMEDIATE no other connection can write, so the next
        AUTOINCREMENT id is max(sqlite_sequence, MAX(id)) + 1, exactly what SQLite would pick
        (and inserting them moves sqlite_sequence on, so an id is still never reused). Pending
        rows are flushed before a near-duplicate lookup, which must see the rows before it."""
        out: list[list[AddResult]] = []
        written: list[Path] = []
        mem_rows: list[tuple[Any, ...]] = []
        vec_rows: list[tuple[Any, ...]] = []
        tag_rows: list[tuple[str, int]] = []
        with self._wlock:
            self._check_open()
            w = self._w

            def flush() -> None:
                if mem_rows:
                    w.executemany(
                        "INSERT INTO memories (id, created_at, last_seen, seen_count, modality, content_hash, episode_id, "
                        "app, window_title, source, text, tags, metadata, thumb_bytes) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                        mem_rows,
                    )
                    w.executemany("INSERT INTO vectors (id, vector, visual) VALUES (?, ?, ?)", vec_rows)
                    mem_rows.clear()
                    vec_rows.clear()
                if tag_rows:
                    w.executemany("INSERT INTO tags (tag, memory_id) VALUES (?, ?)", tag_rows)
                    tag_rows.clear()

            w.execute("BEGIN IMMEDIATE")
            try:
                last_id = w.execute(
                    "SELECT MAX(COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'memories'), 0), "
                    "COALESCE((SELECT MAX(id) FROM memories), 0))"
                ).fetchone()[0]
                for ticket in group:
                    results: list[AddResult] = []
                    out.append(results)
                    merge_duplicates = ticket.merge_duplicates
                    for item in ticket.prepared:
                        if isinstance(item, str):
                            results.append(AddResult(id=None, skipped=item))
                            continue
                        rec, vec, visual = item
                        merged = None
                        if merge_duplicates and rec.merge_near_duplicate:
                            flush()
                            merged = self._find_duplicate(rec, vec, visual)
                        ts = _ts(rec.created_at)
                        if merged is not None:
                            w.execute(
                                "UPDATE memories SET seen_count = seen_count + 1, last_seen = MAX(last_seen, ?) WHERE id = ?",
                                (ts, merged),
                            )
                            results.append(AddResult(id=merged, merged_into=merged))
                            continue
                        # None: the next id; given (memory migrate): kept, ascending (a taken one fails the insert)
                        id_ = last_id + 1 if rec.id is None else int(rec.id)
                        last_id = max(last_id, id_)
                        src = rec.source
                        mem_rows.append((
                            id_,
                            ts,
                            ts if rec.last_seen is None else max(ts, _ts(rec.last_seen)),
                            rec.seen_count,
                            rec.modality,
                            rec.content_hash,
                            rec.episode_id,
                            src.app,
                            src.window_title,
                            _EMPTY_SOURCE_JSON if src == _EMPTY_SOURCE else src.model_dump_json(),
                            rec.text,
                            json.dumps(rec.tags) if rec.tags else "[]",
                            json.dumps(rec.metadata),
                            len(rec.thumbnail or b""),
                        ))
                        vec_rows.append((id_, vec.tobytes(), None if visual is None else visual.tobytes()))
                        tag_rows += [(t, id_) for t in rec.tags]
                        if rec.thumbnail:
                            # written before the commit: a crash leaves an orphan file (removed on open),
                            # never a committed row pointing at nothing
                            p = self._thumb_path(id_)
                            p.write_bytes(rec.thumbnail)
                            written.append(p)
                        results.append(AddResult(id=id_))
                flush()
                w.execute("COMMIT")  # the acknowledgement: from here the records survive a crash
            except BaseException:
                w.execute("ROLLBACK")
                for p in written:
                    p.unlink(missing_ok=True)
                raise
        return out

    def _after_commit(self, changes: int) -> None:
        # the index learns the new rows from SQLite, with any other process's rows before them:
        # the highest id seen only ever advances over a complete prefix of the ids. They enter the
        # tail; the indexer counts them as changes (for the checkpoint) once they are graphed
        self._last_write = time.monotonic()
        self._catch_up(force=True)
        self._maybe_compact()

    def _find_duplicate(self, rec: NewMemory, vec: np.ndarray, visual: np.ndarray | None) -> int | None:
        """The previous memory of the same episode and modality, if the new one is a near-duplicate of it.
        The visual descriptor is preferred when both have one: it sees pixels, while a semantic
        vector of two different screens of the same app can be very close."""
        row = self._w.execute(
            "SELECT m.id, v.vector, v.visual FROM memories m JOIN vectors v ON v.id = m.id "
            "WHERE m.episode_id IS ? AND m.modality = ? ORDER BY m.id DESC LIMIT 1",
            (rec.episode_id, rec.modality),
        ).fetchone()
        if row is None:
            return None
        prev_id, prev_vec, prev_visual = row
        if visual is not None and prev_visual is not None and len(prev_visual) == visual.nbytes:
            score = _cosine(visual, np.frombuffer(prev_visual, dtype=np.float32))
        else:
            score = float(vec @ np.frombuffer(prev_vec, dtype=np.float32))
        return int(prev_id) if score >= self._settings.dedup_threshold else None

    # ---- search --------------------------------------------------------------------------
    def search_sync(
        self,
        vector: np.ndarray,
        k: int = 10,
        *,
        space: str,
        filter: Filter | None = None,
        min_score: float | None = None,
        wait: bool = True,
    ) -> list[Hit]:
        """`wait=False` (a caller on an event loop) raises `WouldBlock` rather than wait for a lock,
        a catch-up or a filtered (SQL-driven) search: those go to a worker thread."""
        if self._closed:
            self._check_open()
        if not 1 <= k <= self._settings.max_k:
            raise InvalidRequest(f"k must be between 1 and {self._settings.max_k} (memory.max_k), got {k}")
        if space != self._space:
            self._check_space(space, "the query vector")
        q = np.asarray(vector, dtype=np.float32)
        if q.ndim != 1:
            q = q.reshape(-1)
        if q.shape[0] != self._dimension:
            self._check_dimension(q, "the query vector")
        # `_unit` with fewer numpy calls: on a busy machine each one costs microseconds cold (issue 16)
        norm = math.sqrt(float(q.dot(q)))
        if not math.isfinite(norm) or norm == 0.0:
            _unit(q, "the query vector")  # raises the error
        q = q / norm  # float32 (same values as `_unit`)
        if wait:
            self._catch_up()
        else:
            self._caught_up_nowait()
        # the usual recall (no filter, a graph with nothing waiting in its tail) as Python lists straight
        # from the walk; anything else through _nearest's strategies
        top = None
        if (filter is None or filter.is_empty()) and self._index.live_count > self._settings.exact_below:
            top = self._index.search_top(q, k, wait=wait)
        if top is None:
            labels, scores = self._nearest(q, k, filter, wait=wait)
            top = labels.tolist(), scores
        found, values = _rounded_scores(*top, min_score)
        hits = self._cached_hits(found, values)
        if hits is not None:
            return hits
        memories = self._hit_rows(found)
        return [
            _new_hit({"memory": memories[label], "score": score})
            for label, score in zip(found, values, strict=True)
            if label in memories  # else deleted between the index walk and the row fetch
        ]

    def _cached_hits(self, found: list[int], values: list[float]) -> list[Hit] | None:
        """The hits (`values`: their scores, rounded) when every row is in the row cache (the usual case;
        None otherwise): one Hit a row around the row's cached Memory, shared with every other recall of
        it (read-only: see `_pack_row`), built with every lookup bound once and the four pydantic slots
        set through their descriptors. No validation (validated on the way in)."""
        get = self._rows.get
        new, hit_cls, hit_fields = object.__new__, Hit, _HIT_FIELDS
        set_dict, set_fields, set_extra, set_private = _SLOT_SETTERS
        hits: list[Hit] = []
        for label, score in zip(found, values, strict=True):
            memory = get(label)
            if memory is None:
                return None
            hit = new(hit_cls)
            set_dict(hit, {"memory": memory, "score": score})
            set_fields(hit, hit_fields)
            set_extra(hit, None)
            set_private(hit, None)
            hits.append(hit)
        return hits

    def _nearest(self, q: np.ndarray, k: int, flt: Filter | None, *, wait: bool = True) -> tuple[np.ndarray, np.ndarray]:
        """Which strategy answers: see docs/MEMORY.md for the measurements behind it. With
        `wait=False` (on the event loop) the cheap strategies run and the others raise `WouldBlock`:
        an exact pass over more than `_INLINE_EXACT_MAX` rows, the filter callback, the fallbacks."""
        index = self._index
        small = index.live_count <= self._settings.exact_below
        if index.pending_count > _INLINE_EXACT_MAX:
            _must_wait(wait, f"an exact pass over the {index.pending_count} rows not yet in the graph")
        if flt is None or flt.is_empty():
            if small:
                return index.exact(q, k, wait=wait)
            found = index.search(q, k, wait=wait)
            if found is None:
                _must_wait(wait, "the graph walk came up short")
                log.warning("HNSW search could not return %d results; answering exactly", k)
                return index.exact(q, k)
            return found
        # choose by how many match, counted (up to the threshold) in SQLite's indexes
        cap = index.live_count if small else self._settings.filter_exact_below
        few = self._small_candidates(flt, cap, index, wait)
        if few is not None:
            return exact_top_k(q, few.matrix, few.labels, k)
        # many match: an unfiltered walk for a few times k, keeping the matches (checked in SQL by
        # primary key, a few dozen rows): when the walk's top `want` is right, the matches among them
        # are the filtered top k. Widened while too few match (a rarer or query-anticorrelated filter)
        live = index.live_count
        want = min(live, k * 6)
        while want <= max(self._settings.filter_oversample_max, k):
            found = index.search(q, want, wait=wait)
            if found is None:
                break
            keep = self._matching(found[0], flt)
            mask = np.fromiter((int(x) in keep for x in found[0]), dtype=bool, count=len(found[0]))
            if int(mask.sum()) >= k or want >= live:
                return found[0][mask][:k], found[1][mask][:k]
            want = min(live, want * 4)
        _must_wait(wait, "the filter callback over every matching id")
        candidates = self._candidate_ids(flt)
        allowed = set(candidates.tolist())
        found = index.search(q, k, allowed.__contains__)
        if found is None or len(found[0]) < min(k, len(candidates)):
            return index.exact(q, k, candidates)
        return found

    def _small_candidates(self, flt: Filter, cap: int, index: HnswIndex, wait: bool) -> _Candidates | None:
        """The rows matching `flt` and their vectors when at most `cap` match (None when more do).

        A filter repeated while nothing is written (an agent recalling within one episode, app or
        tag) is answered from the cache: no SQL count or listing, no gather of scattered rows (the
        gather cost 3x the scan itself at 1,000 x 768). Any commit by any process, or any change
        of the index, makes every entry stale (the token)."""
        key = flt.model_dump_json()
        token = (id(index), index.version, self._data_version)
        with self._flt_lock:
            hit = self._flt_cache.get(key)
            if hit is not None and hit.token == token:
                self._flt_cache.move_to_end(key)
                return hit
        matching = self._count_candidates(flt, cap + 1)
        if matching > cap:
            return None
        if matching > _INLINE_EXACT_MAX:
            _must_wait(wait, f"an exact pass over {matching} rows")
        labels, matrix = index.vectors(self._candidate_ids(flt), wait=wait)
        found = _Candidates(token, labels, np.ascontiguousarray(matrix))
        if found.matrix.nbytes <= _FILTER_CACHE_BYTES // 4:
            with self._flt_lock:
                for stale in [kk for kk, c in self._flt_cache.items() if c.token != token or kk == key]:
                    self._flt_cache_bytes -= self._flt_cache.pop(stale).matrix.nbytes
                self._flt_cache[key] = found
                self._flt_cache_bytes += found.matrix.nbytes
                while self._flt_cache_bytes > _FILTER_CACHE_BYTES:
                    _, dropped = self._flt_cache.popitem(last=False)
                    self._flt_cache_bytes -= dropped.matrix.nbytes
        return found

    def _candidate_sql(self, flt: Filter) -> tuple[str, list[Any]]:
        direct = compile_id_sets(flt)
        if direct is not None:
            return direct
        where, params = compile_filter(flt)
        return f"SELECT m.id FROM memories m WHERE {where}", params

    def _count_candidates(self, flt: Filter, limit: int) -> int:
        """How many rows match, counting at most `limit` (the count runs inside SQLite's indexes)."""
        sql, params = self._candidate_sql(flt)
        con = self._reader()
        try:
            return int(con.execute(f"SELECT COUNT(*) FROM ({sql} LIMIT ?)", [*params, limit]).fetchone()[0])
        finally:
            self._release(con)

    def _matching(self, labels: np.ndarray, flt: Filter) -> set[int]:
        """Which of these ids match the filter (a primary-key probe per id)."""
        where, params = compile_filter(flt, probe=True)
        con = self._reader()
        try:
            rows = con.execute(
                f"SELECT m.id FROM memories m WHERE m.id IN (SELECT value FROM json_each(?)) AND {where}",
                [_json_ids(labels.tolist()), *params],
            ).fetchall()
        finally:
            self._release(con)
        return {r[0] for r in rows}

    def _candidate_ids(self, flt: Filter) -> np.ndarray:
        sql, params = self._candidate_sql(flt)
        con = self._reader()
        try:
            rows = con.execute(sql, params).fetchall()
        finally:
            self._release(con)
        return np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))

    def list_ids_sync(self, flt: Filter | None = None) -> list[int]:
        """Every id (matching `flt`), oldest first: for walking a whole store (reindex, export)."""
        self._check_open()
        if flt is None or flt.is_empty():
            con = self._reader()
            try:
                return [r[0] for r in con.execute("SELECT id FROM memories ORDER BY id").fetchall()]
            finally:
                self._release(con)
        return sorted(int(i) for i in self._candidate_ids(flt))

    # ---- get -----------------------------------------------------------------------------
    def get_many_sync(self, ids: Sequence[int], *, with_vector: bool = False) -> list[Memory]:
        self._check_open()
        if not ids:
            return []
        # a handful of ids (a recall's k) as bound parameters: no JSON to build and parse
        if len(ids) <= 100:
            where, args = f"m.id IN ({','.join('?' * len(ids))})", [int(i) for i in ids]
        else:
            where, args = "m.id IN (SELECT value FROM json_each(?))", [_json_ids(ids)]
        con = self._reader()
        try:
            if with_vector:
                rows = con.execute(
                    f"SELECT {_COLUMNS}, v.vector, v.visual FROM memories m JOIN vectors v ON v.id = m.id WHERE {where}",
                    args,
                ).fetchall()
                by_id = {r[0]: self._row_to_memory(r, r[12], r[13]) for r in rows}
            else:
                # SQLite writes every row (its JSON columns inlined) into one JSON document and
                # json.loads reads it in one C call: a third cheaper than a tuple per row plus three
                # json.loads each (issue 16: hydration was 45 % of a recall)
                doc = con.execute(f"SELECT json_group_array(json_array({_JSON_COLUMNS})) FROM memories m WHERE {where}", args).fetchone()[0]
                by_id = {r[0]: self._json_to_memory(r) for r in json.loads(doc)}
        finally:
            self._release(con)
        return [by_id[i] for i in map(int, ids) if i in by_id]

    def _hit_rows(self, ids: list[int]) -> dict[int, Memory]:
        """A search's rows, from the row cache, SQLite for any not in it. Only for searches: they
        caught up first, so the cache is as current as SQLite."""
        cache = self._rows
        out: dict[int, Memory] = {}
        missing = []
        for i in ids:
            cached = cache.get(i)
            if cached is None:
                missing.append(i)
            else:
                out[i] = cached
        if missing:
            out.update((m.id, m) for m in self.get_many_sync(missing))
        return out

    def get_thumbnail_sync(self, id: int) -> bytes | None:
        self._check_open()
        try:
            return self._thumb_path(int(id)).read_bytes()
        except FileNotFoundError:
            return None

    # ---- delete --------------------------------------------------------------------------
    def delete_sync(self, target: Sequence[int] | Filter) -> int:
        self._check_open()
        if isinstance(target, Filter):
            if target.is_empty():
                raise InvalidRequest(
                    "an empty filter would forget every memory: pass ids, an episode, a time range or another criterion"
                )
            where, params = compile_filter(target)
        else:
            where, params = "m.id IN (SELECT value FROM json_each(?))", [_json_ids(list(target))]
        with self._wlock:
            self._check_open()
            w = self._w
            w.execute("BEGIN IMMEDIATE")
            try:
                ids = [r[0] for r in w.execute(f"SELECT m.id FROM memories m WHERE {where}", params)]
                if ids:
                    arg = (_json_ids(ids),)
                    w.execute("DELETE FROM memories WHERE id IN (SELECT value FROM json_each(?))", arg)
                    w.execute("DELETE FROM vectors WHERE id IN (SELECT value FROM json_each(?))", arg)
                    w.execute("DELETE FROM tags WHERE memory_id IN (SELECT value FROM json_each(?))", arg)
                    # every process's graph replays this log (ours too, in _catch_up below)
                    w.execute(
                        "INSERT INTO deletions (id, at) SELECT value, ? FROM json_each(?)", (time.time(), arg[0])
                    )
                w.execute("COMMIT")
            except BaseException:
                w.execute("ROLLBACK")
                raise
            if not ids:
                return 0
            self._catch_up(force=True)
            for id_ in ids:
                self._thumb_path(id_).unlink(missing_ok=True)
            self._changed(len(ids))
            self._maybe_compact()
        return len(ids)

    def _maybe_compact(self) -> None:
        idx = self._index
        total = idx.live_count + idx.deleted_count
        if idx.deleted_count >= self._settings.compact_min_deleted and idx.deleted_count >= (
            self._settings.compact_deleted_fraction * total
        ):
            self.compact_sync()

    def compact_sync(self) -> None:
        """Rebuild the graph without its deleted elements (writers wait; searches go on against the old one)."""
        with self._wlock:
            self._check_open()
            t0 = time.perf_counter()
            n = self._w.execute("SELECT COUNT(*) FROM memories").fetchone()[0]
            fresh = HnswIndex(
                self._dimension, self._settings, capacity=max(self._settings.initial_capacity, int(n * 1.25))
            )
            # searches (and their catch-ups) go on against the old graph meanwhile; the fresh one
            # takes over with the snapshot's position and catches up from there
            _, _, seen_max, seen_seq = self._reconcile_from_snapshot(fresh)
            with self._sync_lock:
                dropped = self._index.deleted_count
                self._index = fresh
                self._seen_max, self._seen_seq = seen_max, seen_seq
                self._hdr_seen = None
            self._catch_up(force=True)
            log.info(
                "memory index compacted: %d deletions dropped, %d live, %.1f s",
                dropped, fresh.live_count, time.perf_counter() - t0,
            )
            self._checkpoint()

    # ---- the background indexer -------------------------------------------------------------
    def _start_indexer(self) -> None:
        self._indexer_stop = False
        self._indexer = threading.Thread(target=self._index_loop, name=f"memory-indexer-{self.path.name}", daemon=True)
        self._indexer.start()
        if self._index.pending_count:
            self._indexer_wake.set()

    def _index_loop(self) -> None:
        """Move the tail into the graph, a chunk at a time, whenever there is one. Chunks are sized
        to take ~_GRAPH_CHUNK_SECONDS (hnswlib cannot search while inserting: a search waits at
        most one chunk). Graphed rows count as changes for the checkpoint."""
        # Not niced: tried at +10, and on this shared machine (load 20) the indexer then got almost
        # no CPU and the graph never caught up. A core is left to writers by the thread count instead.
        chunk = 16
        while not self._indexer_stop:
            self._indexer_wake.clear()
            index = self._index
            t0 = time.perf_counter()
            try:
                # a core is left to writers while they write; once they pause, every core graphs
                busy = time.monotonic() - self._last_write < 1.0
                n = index.graph_pending(chunk, threads=_INDEXER_THREADS if busy else -1)
            except Exception:  # noqa: BLE001 - the tail stays searchable exactly; retried
                log.exception("memory indexer: graph insert failed; retrying in 1 s")
                self._indexer_wake.wait(1.0)
                continue
            if not n:
                self._indexer_wake.wait(5.0)
                continue
            rate = n / max(time.perf_counter() - t0, 1e-4)
            chunk = max(8, min(2_000, int(rate * _GRAPH_CHUNK_SECONDS)))
            if self._indexer_stop:
                break
            try:
                self._changed(n)
            except Exception:  # noqa: BLE001 - a failed checkpoint is retried on the next one
                log.exception("memory indexer: checkpoint failed")

    def wait_indexed_sync(self, timeout: float | None = None) -> bool:
        """Block until the graph holds every acknowledged row (the tail is empty); False on timeout.
        Not needed for correctness (searches scan the tail): for benches, tests and `close`."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while self._index.pending_count and not self._closed:
            if deadline is not None and time.monotonic() >= deadline:
                return False
            self._indexer_wake.set()
            time.sleep(0.005)
        return not self._index.pending_count

    async def wait_indexed(self, timeout: float | None = None) -> bool:
        return await anyio.to_thread.run_sync(lambda: self.wait_indexed_sync(timeout))

    def _stop_indexer(self, graph_seconds: float) -> None:
        if self._indexer is None:
            return
        if graph_seconds > 0:
            self.wait_indexed_sync(graph_seconds)
        self._indexer_stop = True
        self._indexer_wake.set()
        if self._indexer is not threading.current_thread():
            self._indexer.join()
        self._indexer = None

    # ---- checkpoint ----------------------------------------------------------------------
    def _changed(self, n: int) -> None:
        with self._changes_lock:
            self._changes += n
            due = (
                self._changes >= self._settings.checkpoint_every
                and time.monotonic() - self._last_checkpoint >= self._settings.checkpoint_min_seconds
            )
        if due and not self._closed:
            self._checkpoint()

    @contextmanager
    def _checkpoint_lock(self, *, blocking: bool) -> Iterator[bool]:
        """checkpoint.lock: yields whether it is held (always True without fcntl)."""
        fd = self._ckpt_fd
        if fd is None or fcntl is None:
            yield True
            return
        try:
            fcntl.flock(fd, fcntl.LOCK_EX if blocking else fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)

    def _checkpoint(self) -> None:
        """Write a new generation of the index file, point the database at it, drop the old one.
        A crash at any step leaves the database pointing at a complete, checksummed file.
        One process at a time: if another is writing one, this one is skipped (and retried after
        `checkpoint_min_seconds`); a checkpoint from any process is one that the others' rows
        catch up from on open."""
        with self._wlock:
            self._catch_up()
            with self._checkpoint_lock(blocking=False) as held:
                if not held:
                    log.debug("memory index checkpoint skipped: another process is writing one")
                    self._last_checkpoint = time.monotonic()
                    return
                self._checkpoint_locked()

    def _checkpoint_locked(self) -> None:
        with self._wlock:
            old = json.loads(self._meta("checkpoint") or "null")
            gen = int(self._meta("checkpoint_gen") or 0) + 1
            t0 = time.perf_counter()
            info = self._index.save(self.path, f"hnsw-{gen}.bin")
            w = self._w
            w.execute("BEGIN IMMEDIATE")
            w.executemany(
                "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
                [
                    ("checkpoint", json.dumps(info.__dict__)),
                    ("checkpoint_gen", str(gen)),
                    ("checkpoint_at", datetime.now(UTC).isoformat()),
                ],
            )
            w.execute("COMMIT")
            if old and old["file"] != info.file:
                (self.path / old["file"]).unlink(missing_ok=True)
            self._changes = 0
            self._last_checkpoint = time.monotonic()
            log.debug("memory index checkpoint %s: %d live in %.2f s", info.file, info.live, time.perf_counter() - t0)

    def checkpoint_sync(self) -> None:
        """Write the checkpoint now, after letting the indexer graph the tail (for up to
        _CLOSE_GRAPH_SECONDS): a checkpoint asked for is one the next open can load as it is."""
        self._check_open()
        self.wait_indexed_sync(_CLOSE_GRAPH_SECONDS)
        self._checkpoint()

    # ---- listing -------------------------------------------------------------------------
    def list_episodes_sync(self) -> list[EpisodeSummary]:
        self._check_open()
        con = self._reader()
        try:
            rows = con.execute(
                "SELECT episode_id, COUNT(*), SUM(seen_count), MIN(created_at), MAX(last_seen), "
                "json_group_array(DISTINCT modality) FROM memories GROUP BY episode_id ORDER BY MAX(last_seen) DESC"
            ).fetchall()
        finally:
            self._release(con)
        return [
            EpisodeSummary(
                episode_id=e, memories=n, seen=s, first_at=_dt(a), last_at=_dt(b), modalities=sorted(json.loads(mods))
            )
            for e, n, s, a, b, mods in rows
        ]

    def stats_sync(self) -> StoreStats:
        self._check_open()
        self._catch_up()
        con = self._reader()
        try:
            by_modality = dict(con.execute("SELECT modality, COUNT(*) FROM memories GROUP BY modality").fetchall())
            episodes = con.execute("SELECT COUNT(*) FROM (SELECT DISTINCT episode_id FROM memories)").fetchone()[0]
            thumb_bytes = con.execute("SELECT COALESCE(SUM(thumb_bytes), 0) FROM memories").fetchone()[0]
            meta = dict(con.execute("SELECT key, value FROM meta").fetchall())
        finally:
            self._release(con)
        ckpt = json.loads(meta.get("checkpoint", "null"))
        index_file = self.path / ckpt["file"] if ckpt else None
        return StoreStats(
            engine=self.engine,
            space=self._space,
            dimension=self._dimension,
            memories=sum(by_modality.values()),
            episodes=episodes,
            by_modality=by_modality,
            index_elements=self._index.live_count,
            index_pending=self._index.pending_count,
            index_deleted=self._index.deleted_count,
            index_capacity=self._index.capacity,
            exact_search=self._index.live_count <= self._settings.exact_below,
            db_bytes=sum(f.stat().st_size for f in self.path.glob("memory.db*")),
            index_bytes=index_file.stat().st_size if index_file and index_file.exists() else 0,
            thumbnail_bytes=thumb_bytes,
            last_checkpoint_at=datetime.fromisoformat(meta["checkpoint_at"]) if "checkpoint_at" in meta else None,
            opened=self.opened,
            root=str(self.path),
        )

    # ---- closing -------------------------------------------------------------------------
    def close_sync(self) -> None:
        if self._closed:
            return
        # outside the writer lock: the indexer may be waiting for it to write a checkpoint
        self._stop_indexer(_CLOSE_GRAPH_SECONDS)
        with self._wlock:
            if self._closed:
                return
            try:
                if self._changes:
                    self._checkpoint()
            finally:
                self._closed = True
                self._close_everything()

    def _close_everything(self) -> None:
        if self._shm_fd is not None:
            os.close(self._shm_fd)
            self._shm_fd = None
        self._hdr_seen = None
        with self._conns_lock:
            for con in self._all_conns:
                try:
                    con.close()
                except sqlite3.Error:  # pragma: no cover
                    pass
            self._all_conns.clear()
        for name in ("_lock_fd", "_ckpt_fd"):
            fd = getattr(self, name)
            if fd is not None:
                os.close(fd)  # releases its flock
                setattr(self, name, None)

    # ---- the async MemoryStore API -------------------------------------------------------
    @property
    def space(self) -> str:
        return self._space

    @property
    def dimension(self) -> int:
        return self._dimension

    async def search(
        self,
        vector: np.ndarray,
        k: int = 10,
        *,
        space: str,
        filter: Filter | None = None,
        min_score: float | None = None,
    ) -> list[Hit]:
        # A recall that needs no lock, catch-up or long scan is answered right here: the graph walk
        # (or a counted filter's short exact pass) and the k-row fetch take well under a millisecond,
        # less than the hop to a worker thread (~0.1 ms idle, ~5 ms on a loaded machine, issue 16).
        # Anything that could wait or run long hops. A run of recalls answered here lets the loop's other
        # tasks run once it has held the loop for `_LOOP_BUDGET_S` (or `_LOOP_MAX_CALLS` recalls): a
        # checkpoint on every recall cost ~26 us each (session 5), a tenth of the walk (memory/loopshare.py).
        share = self._loop_share
        if share.due():
            await anyio.lowlevel.checkpoint()
            share.let_go()
        t = time.perf_counter()
        try:
            hits = self.search_sync(vector, k, space=space, filter=filter, min_score=min_score, wait=False)
        except WouldBlock:
            pass
        else:
            share.held(time.perf_counter() - t)
            return hits
        share.let_go()  # the hop below awaits a worker thread: the loop runs other tasks meanwhile
        return await anyio.to_thread.run_sync(
            lambda: self.search_sync(vector, k, space=space, filter=filter, min_score=min_score)
        )

    async def compact(self) -> None:
        await anyio.to_thread.run_sync(self.compact_sync)

    async def checkpoint(self) -> None:
        await anyio.to_thread.run_sync(self.checkpoint_sync)

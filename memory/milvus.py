"""MilvusMemoryStore: the MemoryStore protocol on a Milvus server (standalone, cluster or Zilliz Cloud).

Why Milvus: when one machine's memory outgrows the local store (many agents on many machines,
millions of screenshots), several Sensorium processes anywhere can share one collection per
embedding space. Everything a memory is lives in Milvus, so any process that can reach the
server sees the same memories; nothing is kept on the local disk.

Layout (collection names are `memory.milvus_collection_prefix` + a readable, hashed space name):
- `<prefix><space>`: one row per memory. `id` (INT64 primary key, ours, see below), `vector`
  (FLOAT_VECTOR, unit length, metric IP = cosine, HNSW), the scalars filters use
  (`created_at`, `last_seen`, `seen_count`, `modality`, `episode`/`has_episode`, `app` folded like
  SQLite's NOCASE, `thumb_bytes`) and `doc` (JSON: source, text, tags, metadata, content hash,
  visual descriptor as base64 float32 so it round-trips exactly). The collection description
  records the space and dimension, so a store is never opened with vectors of another space.
- `<prefix><space>_blobs`: thumbnails (up to `memory.max_thumbnail_bytes`, 1 MB) and any text or
  visual descriptor too large for the row, as base64 chunks of 48 KB in VARCHAR rows (a Milvus
  VARCHAR holds at most 65,535 bytes). Kept in Milvus rather than on a shared disk so a cluster
  deployment needs nothing but the Milvus endpoint. Milvus requires a vector field in every
  collection: the blob rows carry a 2-d dummy one.

Ids: Milvus cannot hand out small increasing integers (its auto ids are ~2^58, beyond what a
JavaScript MCP client can hold in a JSON number). Ids here are `(ms since 2024-01-01) << 11 |
slot`: time-ordered (so oldest-first is id order, as in the local store), below 2^53, and each
process starts its slot at a random value and counts up within a millisecond. Two processes
collide only when they write in the same millisecond with the same slot (a chance of ~1/2048 per
such pair of writes); copied stores keep their ids (local ids are small, so they sort first).

Consistency: searches and gets run at `memory.milvus_consistency` (Strong by default): Milvus's
default, Bounded, hid fresh inserts and deletes from the next query here (STACK.md), which breaks
read-your-writes. Strong waits for the server's time tick (~200 ms on the standalone build). The
reads that decide a write (a delete's rows, a merge's previous row) are always Strong.

Near-duplicate merges read the episode's previous row and write it back with `upsert`: Milvus has
no transactions, so two processes merging into the same row at the same moment can lose one
`seen_count` increment (the memory itself is never lost).

Threads: pymilvus is blocking; every public coroutine runs its body in `anyio.to_thread.run_sync`.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import math
import os
import random
import re
import threading
import time
import uuid
import warnings
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

import anyio
import numpy as np

from .threaded import ThreadedStore
from .config import MemorySettings, privacy_exclusion
from .errors import InvalidRequest, MemoryStoreError, SpaceMismatch, StoreUnavailable
from .records import AddResult, EpisodeSummary, Filter, Hit, Memory, NewMemory, Source, StoreStats

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
ID_EPOCH = datetime(2024, 1, 1, tzinfo=UTC).timestamp()
SLOT_BITS = 11
CHUNK = 48_000  # raw bytes per blob row: base64 makes 64,000 characters, under VARCHAR's 65,535
DOC_LIMIT = 60_000  # a `doc` JSON above this moves its text / visual to blob rows
QUERY_WINDOW = 16_000  # Milvus returns at most 16,384 rows per query (offset + limit)
KIND_THUMB, KIND_TEXT, KIND_VISUAL = 0, 1, 2
_SCALARS = ["id", "created_at", "last_seen", "seen_count", "modality", "episode", "has_episode", "thumb_bytes", "doc"]


def _ts(dt: datetime) -> float:
    return dt.timestamp()


def _dt(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


def _nocase(s: str) -> str:
    """SQLite's NOCASE folds ASCII letters only: the local engine's app filter, matched exactly."""
    return s.translate(_ASCII_LOWER)


_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def _lit(value: str) -> str:
    """A Milvus string literal (double quotes; backslash and quote escaped)."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _unit(vector: np.ndarray, what: str) -> np.ndarray:
    v = np.asarray(vector, dtype=np.float32).reshape(-1)
    n = float(np.linalg.norm(v))
    if not math.isfinite(n) or n == 0.0:
        raise InvalidRequest(f"{what} is all zeros (or not finite): it has no direction to compare by")
    if abs(n - 1.0) <= 1e-6:
        return v  # already unit length: keep it bit for bit (copied stores compare vectors exactly)
    return (v / n).astype(np.float32)


def _cosine(a: np.ndarray, b: np.ndarray) -> float:
    na, nb = float(np.linalg.norm(a)), float(np.linalg.norm(b))
    return float(a @ b) / (na * nb) if na and nb else 0.0


def _meta_value(v: Any) -> Any:
    """How the local engine compares metadata (SQLite `json_extract(...) IS ?`): booleans are 0/1,
    strings never equal numbers, 1 equals 1.0, a missing key equals None."""
    return int(v) if isinstance(v, bool) else v


def _meta_match(stored: dict[str, Any], wanted: dict[str, Any]) -> bool:
    for key, value in wanted.items():
        have, want = _meta_value(stored.get(key)), _meta_value(value)
        if have is None or want is None:
            if have is not want:
                return False
        elif isinstance(have, dict | list) or isinstance(have, str) != isinstance(want, str) or have != want:
            return False
    return True


def collection_name(prefix: str, space: str) -> str:
    """Collection names allow letters, digits and '_' only: a readable part plus a hash of the space."""
    safe = re.sub(r"[^A-Za-z0-9_]+", "_", space).strip("_") or "space"
    return f"{prefix}{safe[:60]}_{hashlib.sha256(space.encode()).hexdigest()[:8]}"


def _meta_expr(field: str, value: Any) -> str | None:
    """A Milvus expression selecting exactly the rows `_meta_match` accepts for this value, or None when
    there is none (null also matches a missing key; lists and objects never match). Measured on the
    standalone server (2.3): `== 1` matches stored 1 and 1.0 but not true, `== true` only true, and a
    mixed-type `in [true, 1]` fails, hence the `or`. The local engine treats true as 1 and false as 0."""
    if isinstance(value, str):
        return f"{field} == {_lit(value)}"
    if isinstance(value, bool):
        return f"({field} == {str(value).lower()} or {field} == {int(value)})"
    if isinstance(value, int) and -(2**63) <= value < 2**63:
        extra = {1: f" or {field} == true", 0: f" or {field} == false"}.get(value, "")
        return f"({field} == {value}{extra})"
    if isinstance(value, float) and math.isfinite(value) and "e" not in repr(value):
        extra = {1.0: f" or {field} == true", 0.0: f" or {field} == false"}.get(value, "")
        return f"({field} == {value!r}{extra})"
    return None


class _Compiled:
    """A Filter as a Milvus boolean expression, plus what Milvus cannot say exactly (metadata
    equality with the local engine's typing rules), checked in Python on the candidate rows."""

    def __init__(self, flt: Filter | None) -> None:
        self.empty_result = False
        self.metadata: dict[str, Any] = {}
        self.narrowed = True  # every metadata condition is also in `expr`, selecting exactly its rows
        parts: list[str] = []
        if flt is not None and not flt.is_empty():
            if flt.since is not None:
                parts.append(f"last_seen >= {_ts(flt.since)!r}")
            if flt.until is not None:
                parts.append(f"created_at <= {_ts(flt.until)!r}")
            if flt.modalities is not None:
                if not flt.modalities:
                    self.empty_result = True
                parts.append("modality in [" + ", ".join(_lit(m) for m in flt.modalities) + "]")
            if flt.episode_id is not None:
                parts.append(f"has_episode == true and episode == {_lit(flt.episode_id)}")
            if flt.app is not None:
                parts.append(f"app == {_lit(_nocase(flt.app).encode()[:2_000].decode(errors='ignore'))}")
            if flt.tags:
                parts.append('json_contains_all(doc["tags"], [' + ", ".join(_lit(t) for t in sorted(set(flt.tags))) + "])")
            for key, value in (flt.metadata or {}).items():
                narrowed = _meta_expr(f"doc[\"metadata\"][{_lit(key)}]", value)
                if narrowed is None:
                    self.narrowed = False
                else:
                    parts.append(narrowed)
                self.metadata[key] = value
            if flt.ids is not None:
                if not flt.ids:
                    self.empty_result = True
                parts.append("id in [" + ", ".join(str(int(i)) for i in flt.ids) + "]")
        self.expr = " and ".join(f"({p})" for p in parts) if parts else "id >= 0"

    @property
    def exact_in_milvus(self) -> bool:
        return not self.metadata


class MilvusMemoryStore(ThreadedStore):
    """The `MemoryStore` of one embedding space in one Milvus collection. Build it with `open`/`open_sync`."""

    engine = "milvus"

    def __init__(self, settings: MemorySettings, space: str, dimension: int) -> None:
        self._settings = settings
        self._space = space
        self._dimension = dimension
        self._alias = f"sensorium-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self._name = collection_name(settings.milvus_collection_prefix, space)
        self._lock = threading.RLock()  # one writer at a time in this process (id slots, merges)
        self._last_id = 0
        self._slot = random.randrange(1 << SLOT_BITS)
        self._last_of: dict[tuple[str | None, str], int] = {}  # (episode, modality) -> newest id seen
        self._closed = False
        self.opened = "new"
        self._col: Any = None
        self._blobs: Any = None

    # ---- opening -------------------------------------------------------------------------
    @classmethod
    async def open(cls, settings: MemorySettings, space: str, dimension: int) -> MilvusMemoryStore:
        return await anyio.to_thread.run_sync(lambda: cls.open_sync(settings, space, dimension))

    @classmethod
    def open_sync(cls, settings: MemorySettings, space: str, dimension: int) -> MilvusMemoryStore:
        store = cls(settings, space, dimension)
        store._connect()
        try:
            store._open_collections()
        except BaseException:
            store._disconnect()
            raise
        return store

    def _connect(self) -> None:
        s = self._settings
        if not s.milvus_uri:
            raise StoreUnavailable(
                "memory.engine is 'milvus' but no server is configured: set SENSORIUM_MEMORY__MILVUS_URI "
                "(e.g. http://127.0.0.1:19530), or SENSORIUM_MEMORY__ENGINE=local"
            )
        try:
            with warnings.catch_warnings():  # pymilvus 2.3 imports pkg_resources, which warns on every start
                warnings.simplefilter("ignore", UserWarning)
                warnings.simplefilter("ignore", DeprecationWarning)
                from pymilvus import connections
        except ImportError as exc:
            raise StoreUnavailable(
                "SENSORIUM_MEMORY__ENGINE=milvus needs the pymilvus client: pip install 'sensorium-mcp[milvus]'"
            ) from exc
        token = s.milvus_token.get_secret_value() if s.milvus_token else ""
        try:
            connections.connect(
                self._alias, uri=s.milvus_uri, token=token, db_name=s.milvus_database, timeout=s.milvus_timeout
            )
        except Exception as exc:  # noqa: BLE001 - pymilvus raises many kinds; all mean "cannot use it"
            raise StoreUnavailable(
                f"cannot reach the Milvus server at {s.milvus_uri} (SENSORIUM_MEMORY__MILVUS_URI; database "
                f"{s.milvus_database!r}, SENSORIUM_MEMORY__MILVUS_DATABASE; credentials SENSORIUM_MEMORY__MILVUS_TOKEN) "
                f"within {s.milvus_timeout:g} s (SENSORIUM_MEMORY__MILVUS_TIMEOUT): {_brief(exc)}"
            ) from exc

    def _disconnect(self) -> None:
        from pymilvus import connections

        try:
            connections.disconnect(self._alias)
        except Exception:  # noqa: BLE001
            pass

    def _description(self) -> str:
        return json.dumps({"sensorium": SCHEMA_VERSION, "space": self._space, "dimension": self._dimension})

    def _open_collections(self) -> None:
        from pymilvus import Collection, utility

        t = self._settings.milvus_timeout
        try:
            exists = utility.has_collection(self._name, using=self._alias, timeout=t)
            if exists:
                col = Collection(self._name, using=self._alias)
                self._check_description(col.description)
                self.opened = "existing collection"
            else:
                col = self._create_main()
            blob_name = self._name + "_blobs"
            blobs = (
                Collection(blob_name, using=self._alias)
                if utility.has_collection(blob_name, using=self._alias, timeout=t)
                else self._create_blobs(blob_name)
            )
            self._load([col, blobs], timeout=max(t, 60))
        except MemoryStoreError:
            raise
        except Exception as exc:  # noqa: BLE001
            raise StoreUnavailable(
                f"Milvus at {self._settings.milvus_uri} refused collection {self._name!r}: {_brief(exc)}"
            ) from exc
        self._col, self._blobs = col, blobs

    def _load(self, cols: list[Any], timeout: float) -> None:
        """Load the collections together and poll their progress every 50 ms. pymilvus's own `load()` waits
        for one collection at a time, polling every 0.5 s: opening a store took 6-7 s here, 5 of them these
        two waits (measured; the server itself needs ~1.5-3 s to load an empty collection)."""
        from pymilvus import utility

        for col in cols:
            col.load(timeout=timeout, _async=True)
        deadline = time.monotonic() + timeout
        pending = [col.name for col in cols]
        while True:
            pending = [
                name for name in pending
                if utility.loading_progress(name, using=self._alias, timeout=timeout)["loading_progress"] != "100%"
            ]
            if not pending:
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"collections {pending} not loaded after {timeout:g} s")
            time.sleep(0.05)

    def _check_description(self, description: str) -> None:
        try:
            info = json.loads(description)
            space, dim = info["space"], int(info["dimension"])
        except (ValueError, KeyError, TypeError) as exc:
            raise StoreUnavailable(
                f"Milvus collection {self._name!r} exists but was not made by Sensorium: choose another "
                "SENSORIUM_MEMORY__MILVUS_COLLECTION_PREFIX"
            ) from exc
        if space != self._space or dim != self._dimension:
            raise SpaceMismatch(
                f"Milvus collection {self._name!r} holds space {space!r} ({dim}-d), not {self._space!r} "
                f"({self._dimension}-d): vectors of different spaces are not comparable. Open the store of that "
                "space, or choose another SENSORIUM_MEMORY__MILVUS_COLLECTION_PREFIX"
            )

    def _create_main(self) -> Any:
        from pymilvus import Collection, CollectionSchema, DataType, FieldSchema

        s = self._settings
        fields = [
            FieldSchema("id", DataType.INT64, is_primary=True, auto_id=False),
            FieldSchema("vector", DataType.FLOAT_VECTOR, dim=self._dimension),
            FieldSchema("created_at", DataType.DOUBLE),
            FieldSchema("last_seen", DataType.DOUBLE),
            FieldSchema("seen_count", DataType.INT64),
            FieldSchema("modality", DataType.VARCHAR, max_length=64),
            FieldSchema("episode", DataType.VARCHAR, max_length=1024),
            FieldSchema("has_episode", DataType.BOOL),
            FieldSchema("app", DataType.VARCHAR, max_length=2048),
            FieldSchema("thumb_bytes", DataType.INT64),
            FieldSchema("doc", DataType.JSON),
        ]
        col = Collection(
            self._name, CollectionSchema(fields, description=self._description()), using=self._alias,
            consistency_level=s.milvus_consistency, timeout=s.milvus_timeout,
        )
        col.create_index(
            "vector",
            {"index_type": "HNSW", "metric_type": "IP", "params": {"M": s.hnsw_m, "efConstruction": s.hnsw_ef_construction}},
            timeout=max(s.milvus_timeout, 60),
            sync=False,  # the collection is empty: nothing to build, so do not poll (pymilvus sleeps 0.5 s first)
        )
        return col

    def _create_blobs(self, name: str) -> Any:
        from pymilvus import Collection, CollectionSchema, DataType, FieldSchema

        fields = [
            FieldSchema("pk", DataType.INT64, is_primary=True, auto_id=False),
            FieldSchema("memory_id", DataType.INT64),
            FieldSchema("kind", DataType.INT64),
            FieldSchema("chunk", DataType.INT64),
            FieldSchema("data", DataType.VARCHAR, max_length=65_535),
            FieldSchema("dummy", DataType.FLOAT_VECTOR, dim=2),  # Milvus requires a vector field
        ]
        col = Collection(
            name, CollectionSchema(fields, description=self._description()), using=self._alias,
            consistency_level=self._settings.milvus_consistency, timeout=self._settings.milvus_timeout,
        )
        col.create_index("dummy", {"index_type": "FLAT", "metric_type": "L2", "params": {}}, sync=False)
        return col

    @classmethod
    def existing_spaces(cls, settings: MemorySettings) -> list[tuple[str, str]]:
        """(space, collection) of every Sensorium collection under the prefix, without loading them."""
        store = cls(settings, "probe@1", 1)
        store._connect()
        try:
            from pymilvus import Collection, utility

            out = []
            for name in utility.list_collections(using=store._alias, timeout=settings.milvus_timeout):
                if not name.startswith(settings.milvus_collection_prefix) or name.endswith("_blobs"):
                    continue
                try:
                    info = json.loads(Collection(name, using=store._alias).description)
                    out.append((str(info["space"]), f"{settings.milvus_uri}/{settings.milvus_database}/{name}"))
                except (ValueError, KeyError, TypeError):
                    continue
            return sorted(out)
        finally:
            store._disconnect()

    # ---- helpers -------------------------------------------------------------------------
    def _check_open(self) -> None:
        if self._closed:
            raise StoreUnavailable("the memory store is closed")

    def _check_space(self, space: str, what: str) -> None:
        if space != self._space:
            raise SpaceMismatch(
                f"{what} is in space {space!r} but this memory store holds {self._space!r} vectors: they are not "
                "comparable. Embed it with the store's backend, or open the store of that space"
            )

    def _check_dimension(self, vector: np.ndarray, what: str) -> None:
        if vector.shape[-1] != self._dimension:
            raise InvalidRequest(f"{what} has {vector.shape[-1]} dimensions; space {self._space!r} has {self._dimension}")

    def _call(self, what: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
        """A pymilvus call whose failure becomes a StoreUnavailable naming the server."""
        try:
            return fn(*args, timeout=self._settings.milvus_timeout, **kwargs)
        except MemoryStoreError:
            raise
        except Exception as exc:  # noqa: BLE001
            raise StoreUnavailable(
                f"Milvus at {self._settings.milvus_uri} failed to {what}: {_brief(exc)}"
            ) from exc

    def _query(self, col: Any, expr: str, fields: list[str], *, strong: bool = False) -> list[dict[str, Any]]:
        """Every row matching `expr`. One query returns at most 16,384 rows (and not the first ones by
        id), so a full page means "walk them all" with pymilvus's query iterator instead. `strong`: the
        reads that decide a write (which rows a delete removes, which row a merge updates, which ids
        exist) are Strong whatever `memory.milvus_consistency` says: at Bounded a delete right after an
        add found nothing to delete, and at Session a deleted row stayed visible (measured, docs/MEMORY.md)."""
        pk = "id" if col is self._col else "pk"
        fields = fields if pk in fields else [*fields, pk]
        level = "Strong" if strong else self._settings.milvus_consistency
        rows = self._call("query", col.query, expr, output_fields=fields, limit=QUERY_WINDOW, consistency_level=level)
        if len(rows) < QUERY_WINDOW:
            return list(rows)
        out: dict[int, dict[str, Any]] = {}
        it = self._call(
            "query", col.query_iterator, batch_size=8_000, expr=expr, output_fields=fields, consistency_level=level
        )
        try:
            while True:
                page = self._call("query", lambda timeout=None: it.next())
                if not page:
                    break
                for r in page:
                    out[int(r[pk])] = r
        finally:
            it.close()
        return list(out.values())

    def _next_id(self) -> int:
        """Time-ordered ids below 2^53: (ms since 2024) << 11 | slot, strictly increasing in this process."""
        now = (int((time.time() - ID_EPOCH) * 1000) << SLOT_BITS) | self._slot
        self._last_id = max(self._last_id + 1, now)
        return self._last_id

    # ---- blobs ---------------------------------------------------------------------------
    @staticmethod
    def _blob_rows(memory_id: int, kind: int, data: bytes) -> list[list[Any]]:
        rows = []
        for n, start in enumerate(range(0, max(len(data), 1), CHUNK)):
            piece = base64.b64encode(data[start : start + CHUNK]).decode()
            rows.append([(memory_id << 12) | (kind << 10) | n, memory_id, kind, n, piece, [0.0, 0.0]])
        return rows

    def _read_blobs(self, ids: Iterable[int], kind: int) -> dict[int, bytes]:
        ids = [int(i) for i in ids]
        if not ids:
            return {}
        rows = self._query(
            self._blobs, f"kind == {kind} and memory_id in [{', '.join(map(str, ids))}]", ["memory_id", "chunk", "data"]
        )
        parts: dict[int, list[tuple[int, str]]] = {}
        for r in rows:
            parts.setdefault(int(r["memory_id"]), []).append((int(r["chunk"]), r["data"]))
        return {i: b"".join(base64.b64decode(d) for _, d in sorted(p)) for i, p in parts.items()}

    # ---- rows ----------------------------------------------------------------------------
    def _row(self, id_: int, rec: NewMemory, vec: np.ndarray, visual: np.ndarray | None, blobs: list) -> dict[str, Any]:
        ts = _ts(rec.created_at)
        doc: dict[str, Any] = {
            "content_hash": rec.content_hash,
            "episode_id": rec.episode_id,
            "source": rec.source.model_dump(mode="json"),
            "text": rec.text,
            "tags": rec.tags,
            "metadata": rec.metadata,
            "visual": None if visual is None else base64.b64encode(visual.astype(np.float32).tobytes()).decode(),
        }
        if len(json.dumps(doc)) > DOC_LIMIT:  # big OCR text or descriptor: into blob rows
            if doc["text"] is not None:
                blobs += self._blob_rows(id_, KIND_TEXT, doc["text"].encode())
                doc["text"], doc["text_blob"] = None, True
            if doc["visual"] is not None:
                blobs += self._blob_rows(id_, KIND_VISUAL, visual.astype(np.float32).tobytes())  # type: ignore[union-attr]
                doc["visual"], doc["visual_blob"] = None, True
            if len(json.dumps(doc)) > DOC_LIMIT:
                raise InvalidRequest(
                    f"memory's tags, metadata and source take {len(json.dumps(doc)):,} bytes; the Milvus engine keeps "
                    f"at most {DOC_LIMIT:,} per memory: shorten the metadata"
                )
        return {
            "id": id_,
            "vector": vec.astype(np.float32).tolist(),
            "created_at": ts,
            "last_seen": ts if rec.last_seen is None else max(ts, _ts(rec.last_seen)),
            "seen_count": rec.seen_count,
            "modality": rec.modality,
            "episode": rec.episode_id or "",
            "has_episode": rec.episode_id is not None,
            "app": _nocase(rec.source.app or "").encode()[:2_000].decode(errors="ignore"),  # the field holds 2,048 bytes
            "thumb_bytes": len(rec.thumbnail or b""),
            "doc": doc,
        }

    def _insert(self, col: Any, rows: list[dict[str, Any]], *, upsert: bool = False) -> None:
        if not rows:
            return
        names = ["id", "vector", "created_at", "last_seen", "seen_count", "modality", "episode", "has_episode", "app",
                 "thumb_bytes", "doc"]  # the schema's order
        columns = [[r[n] for r in rows] for n in names]
        self._call("upsert" if upsert else "insert", col.upsert if upsert else col.insert, columns)

    def _to_memory(self, r: dict[str, Any], *, with_vector: bool, blobs: dict[str, dict[int, bytes]]) -> Memory:
        doc = r["doc"]
        id_ = int(r["id"])
        text = doc.get("text")
        if doc.get("text_blob"):
            text = blobs["text"].get(id_, b"").decode()
        visual = None
        if with_vector:
            raw = blobs["visual"].get(id_) if doc.get("visual_blob") else (
                base64.b64decode(doc["visual"]) if doc.get("visual") else None
            )
            visual = None if raw is None else np.frombuffer(raw, dtype=np.float32).tolist()
        return Memory(
            id=id_,
            space=self._space,
            modality=r["modality"],
            content_hash=doc.get("content_hash"),
            source=Source.model_validate(doc.get("source") or {}),
            episode_id=r["episode"] if r["has_episode"] else None,
            text=text,
            tags=list(doc.get("tags") or []),
            metadata=dict(doc.get("metadata") or {}),
            has_thumbnail=int(r["thumb_bytes"]) > 0,
            created_at=_dt(r["created_at"]),
            last_seen=_dt(r["last_seen"]),
            seen_count=int(r["seen_count"]),
            vector=np.asarray(r["vector"], dtype=np.float32) if with_vector else None,
            visual=visual,
        )

    def _hydrate(self, rows: list[dict[str, Any]], *, with_vector: bool) -> list[Memory]:
        blobs: dict[str, dict[int, bytes]] = {"text": {}, "visual": {}}
        need_text = [int(r["id"]) for r in rows if r["doc"].get("text_blob")]
        if need_text:
            blobs["text"] = self._read_blobs(need_text, KIND_TEXT)
        need_visual = [int(r["id"]) for r in rows if with_vector and r["doc"].get("visual_blob")]
        if need_visual:
            blobs["visual"] = self._read_blobs(need_visual, KIND_VISUAL)
        return [self._to_memory(r, with_vector=with_vector, blobs=blobs) for r in rows]

    # ---- add -----------------------------------------------------------------------------
    def add_sync(self, records: Sequence[NewMemory], *, merge_duplicates: bool = True) -> list[AddResult]:
        self._check_open()
        s = self._settings
        prepared: list[tuple[NewMemory, np.ndarray, np.ndarray | None] | str] = []
        for n, rec in enumerate(records):
            what = f"memory {n}" if len(records) > 1 else "the memory"
            self._check_space(rec.space, what)
            self._check_dimension(rec.vector, what + "'s vector")
            if rec.thumbnail is not None:
                if not rec.thumbnail.startswith(b"\xff\xd8\xff"):
                    raise InvalidRequest(f"{what}'s thumbnail is not a JPEG: encode it as JPEG first")
                if len(rec.thumbnail) > s.max_thumbnail_bytes:
                    raise InvalidRequest(
                        f"{what}'s thumbnail is {len(rec.thumbnail):,} bytes, the limit is "
                        f"{s.max_thumbnail_bytes:,} (memory.max_thumbnail_bytes): downscale it"
                    )
            reason = privacy_exclusion(s, rec.source.app, rec.source.window_title)
            if reason:
                prepared.append(reason)
                continue
            visual = None if rec.visual is None else np.asarray(rec.visual, dtype=np.float32)
            prepared.append((rec, _unit(rec.vector, what + "'s vector"), visual))
        if not prepared:
            return []
        with self._lock:
            self._check_open()
            given = [item[0].id for item in prepared if not isinstance(item, str) and item[0].id is not None]
            if given:
                taken = {int(r["id"]) for r in self._query(self._col, f"id in [{', '.join(map(str, given))}]", ["id"], strong=True)}
                if taken:
                    raise InvalidRequest(f"ids {sorted(taken)[:5]} are already in the store: a copy skips them")
            results: list[AddResult] = []
            new_rows: list[dict[str, Any]] = []
            blob_rows: list[list[Any]] = []
            merged_rows: dict[int, dict[str, Any]] = {}
            latest: dict[tuple[str | None, str], dict[str, Any]] = {}  # this batch's rows, by (episode, modality)
            for item in prepared:
                if isinstance(item, str):
                    results.append(AddResult(id=None, skipped=item))
                    continue
                rec, vec, visual = item
                if merge_duplicates and rec.merge_near_duplicate:
                    prev = latest.get((rec.episode_id, rec.modality)) or self._previous(rec.episode_id, rec.modality)
                    if prev is not None and self._is_duplicate(prev, vec, visual):
                        prev["seen_count"] += 1
                        prev["last_seen"] = max(prev["last_seen"], _ts(rec.created_at))
                        if not prev.get("_new"):
                            merged_rows[prev["id"]] = prev
                        latest[(rec.episode_id, rec.modality)] = prev
                        results.append(AddResult(id=prev["id"], merged_into=prev["id"]))
                        continue
                id_ = rec.id if rec.id is not None else self._next_id()
                row = self._row(id_, rec, vec, visual, blob_rows)
                if rec.thumbnail:
                    blob_rows += self._blob_rows(id_, KIND_THUMB, rec.thumbnail)
                new_rows.append(row)
                latest[(rec.episode_id, rec.modality)] = {**row, "_new": True}
                results.append(AddResult(id=id_))
            for key, prev in latest.items():  # merges into rows of this batch land in the rows inserted
                if prev.get("_new"):
                    for row in new_rows:
                        if row["id"] == prev["id"]:
                            row["seen_count"], row["last_seen"] = prev["seen_count"], prev["last_seen"]
            # blobs before the rows: a crash leaves orphan blobs under an id never handed out, never a row
            # without its thumbnail; in calls of at most ~16 MB (gRPC messages are capped at 64 MB)
            group: list[list[Any]] = []
            size = 0
            for row in blob_rows:
                group.append(row)
                size += len(row[4])
                if size >= 16_000_000:
                    self._call("insert blobs", self._blobs.insert, [list(c) for c in zip(*group, strict=True)])
                    group, size = [], 0
            if group:
                self._call("insert blobs", self._blobs.insert, [list(c) for c in zip(*group, strict=True)])
            self._insert(self._col, new_rows)
            for row in new_rows:
                key = (row["episode"] if row["has_episode"] else None, row["modality"])
                self._last_of[key] = max(self._last_of.get(key, 0), row["id"])
            self._insert(self._col, [{k: v for k, v in r.items() if not k.startswith("_")} for r in merged_rows.values()], upsert=True)
        return results

    def _previous(self, episode: str | None, modality: str) -> dict[str, Any] | None:
        """The newest row of an episode and modality (ids are time-ordered), with its vector."""
        where = ("has_episode == false" if episode is None else f"has_episode == true and episode == {_lit(episode)}")
        expr = f"{where} and modality == {_lit(modality)}"
        # the newest row is at or above the last one this process saw (ids are time-ordered): a long
        # episode then costs one small query per screenshot, not a walk over all of its rows
        hint = self._last_of.get((episode, modality))
        ids = [] if hint is None else [int(r["id"]) for r in self._query(self._col, f"{expr} and id >= {hint}", ["id"], strong=True)]
        if not ids:
            ids = [int(r["id"]) for r in self._query(self._col, expr, ["id"], strong=True)]
        if not ids:
            return None
        self._last_of[(episode, modality)] = max(ids)
        rows = self._call(
            "query", self._col.query, f"id == {max(ids)}", output_fields=["vector", *_SCALARS, "app"],
            consistency_level="Strong",
        )
        return dict(rows[0]) if rows else None

    def _is_duplicate(self, prev: dict[str, Any], vec: np.ndarray, visual: np.ndarray | None) -> bool:
        prev_visual = None
        doc = prev["doc"]
        if visual is not None:
            if doc.get("visual"):
                prev_visual = np.frombuffer(base64.b64decode(doc["visual"]), dtype=np.float32)
            elif doc.get("visual_blob"):
                raw = self._read_blobs([prev["id"]], KIND_VISUAL).get(prev["id"])
                prev_visual = None if raw is None else np.frombuffer(raw, dtype=np.float32)
        if visual is not None and prev_visual is not None and prev_visual.shape == visual.shape:
            score = _cosine(visual, prev_visual)
        else:
            score = float(vec @ np.asarray(prev["vector"], dtype=np.float32))
        return score >= self._settings.dedup_threshold

    # ---- search --------------------------------------------------------------------------
    def search_sync(
        self,
        vector: np.ndarray,
        k: int = 10,
        *,
        space: str,
        filter: Filter | None = None,
        min_score: float | None = None,
    ) -> list[Hit]:
        self._check_open()
        s = self._settings
        if not 1 <= k <= s.max_k:
            raise InvalidRequest(f"k must be between 1 and {s.max_k} (memory.max_k), got {k}")
        self._check_space(space, "the query vector")
        q = np.asarray(vector, dtype=np.float32).reshape(-1)
        self._check_dimension(q, "the query vector")
        q = _unit(q, "the query vector")
        compiled = _Compiled(filter)
        if compiled.empty_result:
            return []
        rows, scores = self._search(q, k, compiled.expr) if compiled.narrowed else ([], [])
        if not compiled.exact_in_milvus and (
            not compiled.narrowed
            or not all(_meta_match(r["doc"].get("metadata") or {}, compiled.metadata) for r in rows)
        ):
            # metadata rules Milvus cannot express (null, lists), or a hit the expression let through that
            # the local typing rules refuse: list the matching ids in Python first (reads every candidate
            # row's doc: 89 ms at 3k rows in a Session search, growing with the rows, which is why numbers
            # and booleans are narrowed in the expression: 100 ms at 100k, bench/results/memory.json)
            ids = self._matching_ids(compiled)
            if not ids:
                return []
            rows, scores = self._search(q, k, "id in [" + ", ".join(map(str, ids)) + "]")
        hits = []
        for m, score in zip(self._hydrate(rows, with_vector=False), scores, strict=True):
            if min_score is not None and score < min_score:
                continue
            hits.append(Hit(memory=m, score=round(score, 6)))
        return hits

    def _search(self, q: np.ndarray, k: int, expr: str) -> tuple[list[dict[str, Any]], list[float]]:
        s = self._settings
        results = self._call(
            "search", self._col.search, [q.tolist()], "vector",
            {"metric_type": "IP", "params": {"ef": max(s.hnsw_ef_search, k)}},
            limit=k, expr=None if expr == "id >= 0" else expr,
            output_fields=_SCALARS[1:], consistency_level=s.milvus_consistency,
        )
        rows, scores = [], []
        for hit in results[0]:
            row = {name: hit.entity.get(name) for name in _SCALARS[1:]}
            row["id"] = int(hit.id)
            rows.append(row)
            scores.append(float(hit.distance))
        return rows, scores

    def _matching_ids(self, compiled: _Compiled, *, strong: bool = False) -> list[int]:
        if compiled.empty_result:
            return []
        if compiled.exact_in_milvus:
            return sorted(int(r["id"]) for r in self._query(self._col, compiled.expr, ["id"], strong=strong))
        rows = self._query(self._col, compiled.expr, ["id", "doc"], strong=strong)
        return sorted(int(r["id"]) for r in rows if _meta_match(r["doc"].get("metadata") or {}, compiled.metadata))

    def list_ids_sync(self, flt: Filter | None = None) -> list[int]:
        self._check_open()
        return self._matching_ids(_Compiled(flt))

    # ---- get -----------------------------------------------------------------------------
    def get_many_sync(self, ids: Sequence[int], *, with_vector: bool = False) -> list[Memory]:
        self._check_open()
        ids = [int(i) for i in ids]
        if not ids:
            return []
        fields = _SCALARS + (["vector"] if with_vector else [])
        rows = self._query(self._col, f"id in [{', '.join(map(str, sorted(set(ids))))}]", fields)
        by_id = {m.id: m for m in self._hydrate(rows, with_vector=with_vector)}
        return [by_id[i] for i in ids if i in by_id]

    def get_thumbnail_sync(self, id: int) -> bytes | None:
        self._check_open()
        # one query: blob rows exist only for acknowledged memories that have a thumbnail (a crash between
        # the blob insert and the row insert leaves rows under an id that was never handed out)
        return self._read_blobs([int(id)], KIND_THUMB).get(int(id))

    # ---- delete --------------------------------------------------------------------------
    def delete_sync(self, target: Sequence[int] | Filter) -> int:
        self._check_open()
        if isinstance(target, Filter):
            if target.is_empty():
                raise InvalidRequest(
                    "an empty filter would forget every memory: pass ids, an episode, a time range or another criterion"
                )
            flt = target
        else:
            flt = Filter(ids=[int(i) for i in target])
        with self._lock:
            ids = self._matching_ids(_Compiled(flt), strong=True)
            for start in range(0, len(ids), 10_000):
                part = ", ".join(map(str, ids[start : start + 10_000]))
                self._call("delete", self._col.delete, f"id in [{part}]")
                blob_pks = [int(r["pk"]) for r in self._query(self._blobs, f"memory_id in [{part}]", ["pk"], strong=True)]
                for b in range(0, len(blob_pks), 10_000):
                    self._call("delete blobs", self._blobs.delete, f"pk in [{', '.join(map(str, blob_pks[b : b + 10_000]))}]")
        return len(ids)

    # ---- listing -------------------------------------------------------------------------
    def list_episodes_sync(self) -> list[EpisodeSummary]:
        self._check_open()
        rows = self._query(self._col, "id >= 0", ["episode", "has_episode", "seen_count", "created_at", "last_seen", "modality"])
        groups: dict[str | None, dict[str, Any]] = {}
        for r in rows:
            key = r["episode"] if r["has_episode"] else None
            g = groups.setdefault(key, {"n": 0, "seen": 0, "first": math.inf, "last": -math.inf, "mods": set()})
            g["n"] += 1
            g["seen"] += int(r["seen_count"])
            g["first"] = min(g["first"], r["created_at"])
            g["last"] = max(g["last"], r["last_seen"])
            g["mods"].add(r["modality"])
        ordered = sorted(groups.items(), key=lambda kv: -kv[1]["last"])
        return [
            EpisodeSummary(
                episode_id=e, memories=g["n"], seen=g["seen"], first_at=_dt(g["first"]), last_at=_dt(g["last"]),
                modalities=sorted(g["mods"]),
            )
            for e, g in ordered
        ]

    def stats_sync(self) -> StoreStats:
        self._check_open()
        rows = self._query(self._col, "id >= 0", ["modality", "episode", "has_episode", "thumb_bytes"])
        by_modality: dict[str, int] = {}
        for r in rows:
            by_modality[r["modality"]] = by_modality.get(r["modality"], 0) + 1
        n = len(rows)
        s = self._settings
        return StoreStats(
            engine=self.engine,
            space=self._space,
            dimension=self._dimension,
            memories=n,
            episodes=len({r["episode"] if r["has_episode"] else None for r in rows}),
            by_modality=by_modality,
            index_elements=n,
            index_deleted=0,
            index_capacity=n,
            exact_search=False,
            db_bytes=0,
            index_bytes=0,
            thumbnail_bytes=sum(int(r["thumb_bytes"]) for r in rows),
            last_checkpoint_at=None,
            opened=f"{self.opened} ({s.milvus_consistency} consistency)",
            root=f"{s.milvus_uri}/{s.milvus_database}/{self._name}",
        )

    def close_sync(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._disconnect()

    # ---- the async MemoryStore API -------------------------------------------------------
    @property
    def space(self) -> str:
        return self._space

    @property
    def dimension(self) -> int:
        return self._dimension

    @property
    def collection(self) -> str:
        return self._name

    async def get_thumbnails(self, ids: Sequence[int]) -> dict[int, bytes]:
        """Thumbnails of many memories in one round trip (`memory migrate`); ids without one are left out."""
        self._check_open()
        return await anyio.to_thread.run_sync(lambda: self._read_blobs(ids, KIND_THUMB))

    def drop_sync(self) -> None:
        """Remove both collections (tests, and `memory migrate` onto a fresh target on request)."""
        from pymilvus import utility

        for name in (self._name, self._name + "_blobs"):
            self._call("drop", utility.drop_collection, name, using=self._alias)


def _brief(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:300]

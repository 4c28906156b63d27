"""Export a memory store to a file and import it back (`sensorium memory export|import`).

Why a file format at all: users already run vector stores (Chroma, Qdrant, LanceDB, ...) and
dataframes; an export lets them take Sensorium's vectors there without re-embedding (an API call
each on Gemini), and an import restores or moves a store through a file instead of a live
connection (`memory migrate` needs both engines reachable at once).

Two formats, the same fields:

- **Parquet** (pyarrow, the `integrations` extra): one row per memory, the vector as a
  `fixed_size_list<float32>[dimension]` column (LanceDB and pandas take it as it is), thumbnails as
  a binary column. The manifest is the file's key-value metadata under `sensorium_export`.
- **JSONL** (nothing extra to install): the first line is the manifest, then one memory per line;
  vectors are JSON numbers of 9 significant digits (each reads back to the same float32),
  thumbnails as base64.

The manifest (`Manifest`) names the format version, the embedding space and its dimension, the
count and when it was made: an import into a store of another space or dimension is refused
before anything is written, and a file holding fewer rows than its manifest says (a truncated
copy) is refused as corrupt. Every row is validated in a first pass, so a bad file imports nothing.

Import keeps ids (so `sensorium://memory/{id}` links survive) and is idempotent: ids already in the
target are compared (vector bytes, time, modality, text) and skipped when equal, refused when they
differ; missing ids are added in ascending order, never merged as near-duplicates. Missing ids
must all be above the target's highest id: the local engine's other processes catch their graphs
up by "ids above the last one seen", so a lower id added later would be invisible to them.
Afterwards the target must hold every id of the file (counts) and a sample must equal the file
field by field, vectors and thumbnails byte for byte.
"""

from __future__ import annotations

import base64
import json
import os
import random
from collections.abc import Awaitable, Callable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, Field, ValidationError, field_validator

from .errors import InvalidRequest, MemoryStoreError
from .records import Filter, Memory, NewMemory, Source, as_utc
from .store import MemoryStore, dimension_of, thumbnails_of

FORMAT_VERSION = 1
FORMATS = ("parquet", "jsonl")
MANIFEST_KEY = "sensorium_export"
PARQUET_MAGIC = b"PAR1"
INTEGRATIONS_HINT = "pip install 'sensorium-mcp[integrations]'"

Progress = Callable[[str, int, int], Awaitable[None] | None]
"""progress(phase, done, total): phase is 'export', 'check' or 'import'."""


class ExchangeError(MemoryStoreError):
    """An export or import that cannot go ahead: the message says what is wrong and how to fix it."""


class Manifest(BaseModel):
    """What an export holds, checked before any row is read."""

    sensorium_export: int = Field(description="format version")
    format: Literal["parquet", "jsonl"]
    space: str
    dimension: int = Field(ge=1)
    count: int = Field(ge=0)
    created: datetime
    metric: Literal["cosine"] = Field("cosine", description="vectors are unit length: inner product = cosine")
    thumbnails: bool
    episodes: list[str] | None = Field(None, description="the --episode filter, None: every memory")
    engine: str | None = Field(None, description="the engine exported from")


class ExportRow(BaseModel):
    """One memory as exported (also the import's validation of a row)."""

    model_config = {"arbitrary_types_allowed": True}

    id: int = Field(ge=1, lt=2**53)
    space: str
    dimension: int
    vector: np.ndarray
    modality: str
    text: str | None = None
    tags: list[str] = Field(default_factory=list)
    metadata: dict[str, Any] = Field(default_factory=dict)
    episode_id: str | None = None
    created_at: datetime
    last_seen: datetime
    seen_count: int = Field(1, ge=1)
    content_hash: str | None = None
    app: str | None = None
    window_title: str | None = None
    monitor: int | None = None
    region: list[int] | None = None
    path: str | None = None
    visual: list[float] | None = None
    thumbnail: bytes | None = None

    @field_validator("vector", mode="before")
    @classmethod
    def _vector(cls, v: Any) -> np.ndarray:
        try:
            return np.asarray(v, dtype=np.float32)
        except (TypeError, ValueError) as exc:
            raise ValueError("must be a list of numbers") from exc


class ExportReport(BaseModel):
    path: str
    format: str
    space: str
    dimension: int
    memories: int
    thumbnails: int
    bytes: int


class ImportReport(BaseModel):
    path: str
    format: str
    space: str
    in_file: int
    already_there: int
    imported: int
    skipped: int = Field(description="refused by the target's privacy exclusions")
    target_memories: int
    sampled: int
    mismatches: list[str]

    @property
    def ok(self) -> bool:
        return not self.mismatches and self.skipped == 0


# ---- shared -------------------------------------------------------------------------------------


def resolve_format(path: Path, fmt: str | None) -> str:
    """`--format`, else the file's suffix (.parquet / .jsonl)."""
    if fmt is None:
        suffix = path.suffix.lower().lstrip(".")
        fmt = {"parquet": "parquet", "pq": "parquet", "jsonl": "jsonl", "ndjson": "jsonl"}.get(suffix)
        if fmt is None:
            raise ExchangeError(f"cannot tell the format from {path.name!r}: pass --format parquet or --format jsonl")
    if fmt not in FORMATS:
        raise ExchangeError(f"unknown export format {fmt!r}: use one of {', '.join(FORMATS)}")
    return fmt


def _pyarrow() -> tuple[Any, Any]:
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError as exc:
        raise ExchangeError(
            f"Parquet needs pyarrow, which is not installed: {INTEGRATIONS_HINT} (or use --format jsonl)"
        ) from exc
    return pa, pq


async def _report(progress: Progress | None, phase: str, done: int, total: int) -> None:
    if progress is not None:
        maybe = progress(phase, done, total)
        if maybe is not None:
            await maybe


def _row_of(m: Memory, thumb: bytes | None, dimension: int) -> ExportRow:
    assert m.vector is not None
    return ExportRow(
        id=m.id, space=m.space, dimension=dimension, vector=np.asarray(m.vector, dtype=np.float32), modality=m.modality,
        text=m.text, tags=list(m.tags), metadata=dict(m.metadata), episode_id=m.episode_id, created_at=m.created_at,
        last_seen=m.last_seen, seen_count=m.seen_count, content_hash=m.content_hash, app=m.source.app,
        window_title=m.source.window_title, monitor=m.source.monitor,
        region=None if m.source.region is None else list(m.source.region), path=m.source.path,
        visual=None if m.visual is None else [float(x) for x in np.asarray(m.visual, dtype=np.float32)],
        thumbnail=thumb,
    )


def _as_new(row: ExportRow) -> NewMemory:
    return NewMemory(
        id=row.id, vector=row.vector, space=row.space, modality=row.modality, content_hash=row.content_hash,
        source=Source(
            app=row.app, window_title=row.window_title, monitor=row.monitor,
            region=None if row.region is None else tuple(row.region), path=row.path,  # type: ignore[arg-type]
        ),
        episode_id=row.episode_id, text=row.text, tags=row.tags, metadata=row.metadata, thumbnail=row.thumbnail,
        visual=row.visual, created_at=row.created_at, last_seen=row.last_seen, seen_count=row.seen_count,
    )


# ---- export -------------------------------------------------------------------------------------


async def _export_ids(store: MemoryStore, episodes: Sequence[str] | None) -> list[int]:
    if not episodes:
        return await store.list_ids()
    ids: set[int] = set()
    for ep in episodes:
        ids.update(await store.list_ids(Filter(episode_id=ep)))
    return sorted(ids)


async def _export_rows(
    store: MemoryStore, ids: list[int], thumbnails: bool, batch: int, progress: Progress | None
) -> Any:
    """Rows in id order, a batch at a time (memories forgotten meanwhile are left out)."""
    for start in range(0, len(ids), batch):
        memories = await store.get_many(ids[start : start + batch], with_vector=True)
        thumbs = await thumbnails_of(store, memories) if thumbnails else {}
        yield [_row_of(m, thumbs.get(m.id), store.dimension) for m in memories]
        await _report(progress, "export", min(start + batch, len(ids)), len(ids))


def _iso(t: datetime) -> str:
    return as_utc(t).isoformat()


def _vector_json(vector: np.ndarray) -> str:
    """9 significant digits: enough for every float32 to read back to itself (FLT_DECIMAL_DIG), also through a
    float64 parse (the 9-digit number is far closer to its float32 than to the midpoint of two float32s). 2.9x
    faster and 38 % shorter than json.dumps of the float64 values (measured, 768-d unit vectors)."""
    numbers = list(map("{:.9g}".format, vector.tolist()))
    if np.any((vector == 0) & np.signbit(vector)):  # "-0" would read back as the integer 0: keep the sign
        numbers = ["-0.0" if n == "-0" else n for n in numbers]
    return "[" + ",".join(numbers) + "]"


def _json_line(row: ExportRow, thumbnails: bool) -> str:
    head = json.dumps({"id": row.id, "space": row.space, "dimension": row.dimension}, ensure_ascii=False)
    d: dict[str, Any] = {
        "modality": row.modality, "text": row.text, "tags": row.tags, "metadata": row.metadata,
        "episode_id": row.episode_id, "created_at": _iso(row.created_at), "last_seen": _iso(row.last_seen),
        "seen_count": row.seen_count, "content_hash": row.content_hash, "app": row.app,
        "window_title": row.window_title, "monitor": row.monitor, "region": row.region, "path": row.path,
        "visual": row.visual,
    }
    if thumbnails:
        d["thumbnail"] = None if row.thumbnail is None else base64.b64encode(row.thumbnail).decode("ascii")
    tail = json.dumps(d, ensure_ascii=False, allow_nan=False)
    return f'{head[:-1]}, "vector": {_vector_json(row.vector)}, {tail[1:]}'



def parquet_schema(dimension: int, thumbnails: bool) -> Any:
    """The export's Arrow schema (public so recipes and tests can name the columns)."""
    pa, _ = _pyarrow()
    fields = [
        pa.field("id", pa.int64(), nullable=False),
        pa.field("space", pa.string(), nullable=False),
        pa.field("dimension", pa.int32(), nullable=False),
        pa.field("vector", pa.list_(pa.float32(), dimension), nullable=False),
        pa.field("modality", pa.string(), nullable=False),
        pa.field("text", pa.string()),
        pa.field("tags", pa.list_(pa.string())),
        pa.field("metadata", pa.string(), metadata={"encoding": "json"}),  # free-form: one JSON document
        pa.field("episode_id", pa.string()),
        pa.field("created_at", pa.timestamp("us", tz="UTC"), nullable=False),
        pa.field("last_seen", pa.timestamp("us", tz="UTC"), nullable=False),
        pa.field("seen_count", pa.int32(), nullable=False),
        pa.field("content_hash", pa.string()),
        pa.field("app", pa.string()),
        pa.field("window_title", pa.string()),
        pa.field("monitor", pa.int32()),
        pa.field("region", pa.list_(pa.int32())),
        pa.field("path", pa.string()),
        pa.field("visual", pa.list_(pa.float32())),
    ]
    if thumbnails:
        fields.append(pa.field("thumbnail", pa.binary()))
    return pa.schema(fields)


def _arrow_batch(rows: list[ExportRow], schema: Any, dimension: int, thumbnails: bool) -> Any:
    pa, _ = _pyarrow()
    vectors = np.stack([r.vector for r in rows]).astype(np.float32, copy=False).reshape(-1)
    columns: dict[str, Any] = {
        "id": pa.array([r.id for r in rows], pa.int64()),
        "space": pa.array([r.space for r in rows], pa.string()),
        "dimension": pa.array([r.dimension for r in rows], pa.int32()),
        "vector": pa.FixedSizeListArray.from_arrays(pa.array(vectors, pa.float32()), dimension),
        "modality": pa.array([r.modality for r in rows], pa.string()),
        "text": pa.array([r.text for r in rows], pa.string()),
        "tags": pa.array([r.tags for r in rows], pa.list_(pa.string())),
        "metadata": pa.array([json.dumps(r.metadata, ensure_ascii=False) for r in rows], pa.string()),
        "episode_id": pa.array([r.episode_id for r in rows], pa.string()),
        "created_at": pa.array([as_utc(r.created_at) for r in rows], pa.timestamp("us", tz="UTC")),
        "last_seen": pa.array([as_utc(r.last_seen) for r in rows], pa.timestamp("us", tz="UTC")),
        "seen_count": pa.array([r.seen_count for r in rows], pa.int32()),
        "content_hash": pa.array([r.content_hash for r in rows], pa.string()),
        "app": pa.array([r.app for r in rows], pa.string()),
        "window_title": pa.array([r.window_title for r in rows], pa.string()),
        "monitor": pa.array([r.monitor for r in rows], pa.int32()),
        "region": pa.array([r.region for r in rows], pa.list_(pa.int32())),
        "path": pa.array([r.path for r in rows], pa.string()),
        "visual": pa.array([r.visual for r in rows], pa.list_(pa.float32())),
    }
    if thumbnails:
        columns["thumbnail"] = pa.array([r.thumbnail for r in rows], pa.binary())
    return pa.RecordBatch.from_pydict(columns, schema=schema)


async def export_store(
    store: MemoryStore, out: Path, fmt: str | None = None, *, thumbnails: bool = False,
    episodes: Sequence[str] | None = None, overwrite: bool = False, batch: int = 500, engine: str | None = None,
    progress: Progress | None = None,
) -> ExportReport:
    """Write every memory of `store` (or of the given episodes) to `out`, atomically (a temp file renamed
    into place at the end, so an interrupted export leaves no half file under the name)."""
    fmt = resolve_format(out, fmt)
    if out.exists() and not overwrite:
        raise ExchangeError(f"{out} exists: choose another name or pass --force to replace it")
    if not out.parent.is_dir():
        raise ExchangeError(f"the folder {out.parent} does not exist")
    if fmt == "parquet":
        pa, pq = _pyarrow()
    ids = await _export_ids(store, episodes)
    if episodes and not ids:
        known = sorted({e.episode_id for e in await store.list_episodes() if e.episode_id is not None})
        raise ExchangeError(f"no memories in episode(s) {list(episodes)}; episodes in this store: {known[:20] or 'none'}")
    tmp = out.with_name(f".{out.name}.{os.getpid()}.part")
    count = thumbs = 0
    try:
        if fmt == "parquet":
            schema = parquet_schema(store.dimension, thumbnails)
            with pq.ParquetWriter(tmp, schema, compression="zstd") as writer:
                async for rows in _export_rows(store, ids, thumbnails, batch, progress):
                    if rows:
                        writer.write_batch(_arrow_batch(rows, schema, store.dimension, thumbnails))
                    count += len(rows)
                    thumbs += sum(r.thumbnail is not None for r in rows)
                manifest = _manifest(store, fmt, count, thumbnails, episodes, engine)
                writer.add_key_value_metadata({MANIFEST_KEY: manifest.model_dump_json()})
        else:
            body = tmp.with_suffix(".body")
            try:
                with body.open("w", encoding="utf-8") as fh:
                    async for rows in _export_rows(store, ids, thumbnails, batch, progress):
                        fh.writelines(_json_line(r, thumbnails) + "\n" for r in rows)
                        count += len(rows)
                        thumbs += sum(r.thumbnail is not None for r in rows)
                # the manifest goes first (a reader checks the space before reading rows), and its count is
                # only known now: memories forgotten during the export are left out
                manifest = _manifest(store, fmt, count, thumbnails, episodes, engine)
                with tmp.open("w", encoding="utf-8") as fh, body.open("r", encoding="utf-8") as src:
                    fh.write(manifest.model_dump_json() + "\n")
                    while chunk := src.read(1 << 20):
                        fh.write(chunk)
            finally:
                body.unlink(missing_ok=True)
        with tmp.open("rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, out)
    except OSError as exc:  # disk full, no permission: say where, not a traceback
        raise ExchangeError(f"cannot write {out}: {exc.strerror or exc}") from exc
    finally:
        tmp.unlink(missing_ok=True)
    return ExportReport(
        path=str(out), format=fmt, space=store.space, dimension=store.dimension, memories=count, thumbnails=thumbs,
        bytes=out.stat().st_size,
    )


def _manifest(
    store: MemoryStore, fmt: str, count: int, thumbnails: bool, episodes: Sequence[str] | None, engine: str | None
) -> Manifest:
    return Manifest(
        sensorium_export=FORMAT_VERSION, format=fmt, space=store.space, dimension=store.dimension,  # type: ignore[arg-type]
        count=count, created=datetime.now(UTC), thumbnails=thumbnails, episodes=list(episodes) if episodes else None,
        engine=engine,
    )


# ---- reading ------------------------------------------------------------------------------------


class ExportFile:
    """An export opened for reading: its manifest, and its rows in batches (validated)."""

    def __init__(self, path: Path) -> None:
        if not path.exists():
            raise ExchangeError(f"no such file: {path}")
        if not path.is_file():
            raise ExchangeError(f"{path} is not a file")
        self.path = path
        try:
            with path.open("rb") as fh:
                head = fh.read(4)
        except OSError as exc:
            raise ExchangeError(f"cannot read {path}: {exc.strerror or exc}") from exc
        if head == PARQUET_MAGIC:
            self.format = "parquet"
        elif head[:1] == b"{":
            self.format = "jsonl"
        else:
            raise ExchangeError(
                f"{path} is not a Sensorium export: neither Parquet nor JSONL (make one with `sensorium memory export`)"
            )
        self.manifest = self._read_manifest()
        if self.manifest.sensorium_export != FORMAT_VERSION:
            raise ExchangeError(
                f"{path} is export format version {self.manifest.sensorium_export}; this Sensorium reads version "
                f"{FORMAT_VERSION}: use the Sensorium release that made it, or a newer one"
            )
        try:
            space_dim = dimension_of(self.manifest.space)
        except InvalidRequest as exc:
            raise ExchangeError(f"{path}: {exc}") from exc
        if space_dim != self.manifest.dimension:
            raise ExchangeError(
                f"{path} is corrupt: its manifest says dimension {self.manifest.dimension} for space "
                f"{self.manifest.space!r}"
            )

    def _read_manifest(self) -> Manifest:
        raw: Any
        if self.format == "parquet":
            _, pq = _pyarrow()
            try:
                kv = pq.ParquetFile(self.path).metadata.metadata or {}
            except Exception as exc:  # pyarrow raises ArrowInvalid / OSError for a damaged file
                raise ExchangeError(f"{self.path} is not a readable Parquet file (damaged or truncated?): {exc}") from exc
            raw = kv.get(MANIFEST_KEY.encode())
            if raw is None:
                raise ExchangeError(
                    f"{self.path} is a Parquet file but not a Sensorium export (no {MANIFEST_KEY!r} metadata)"
                )
        else:
            with self.path.open("rb") as fh:
                raw = fh.readline()
        try:
            return Manifest.model_validate_json(raw)
        except ValidationError as exc:
            raise ExchangeError(f"{self.path} has no valid Sensorium export manifest: {_first_error(exc)}") from exc

    def batches(self, size: int = 500) -> Iterator[list[ExportRow]]:
        """Every row, validated, in batches; a bad row raises ExchangeError naming it."""
        if self.format == "parquet":
            yield from self._parquet_batches(size)
        else:
            yield from self._jsonl_batches(size)

    def _jsonl_batches(self, size: int) -> Iterator[list[ExportRow]]:
        out: list[ExportRow] = []
        with self.path.open("r", encoding="utf-8", errors="strict") as fh:
            fh.readline()
            for n, line in enumerate(fh, start=2):
                if not line.strip():
                    continue
                try:
                    d = json.loads(line)
                except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                    raise ExchangeError(f"{self.path}, line {n}: not valid JSON ({exc}): the file is damaged") from exc
                if not isinstance(d, dict):
                    raise ExchangeError(f"{self.path}, line {n}: expected a JSON object per memory")
                thumb = d.get("thumbnail")
                if thumb is not None:
                    try:
                        d["thumbnail"] = base64.b64decode(thumb, validate=True)
                    except (ValueError, TypeError) as exc:
                        raise ExchangeError(f"{self.path}, line {n}: thumbnail is not valid base64") from exc
                out.append(self._row(d, f"line {n}"))
                if len(out) >= size:
                    yield out
                    out = []
        if out:
            yield out

    def _parquet_batches(self, size: int) -> Iterator[list[ExportRow]]:
        pa, pq = _pyarrow()
        dim = self.manifest.dimension
        try:
            pf = pq.ParquetFile(self.path)
            names = set(pf.schema_arrow.names)
            missing = {"id", "vector", "space", "modality", "created_at", "last_seen"} - names
            if missing:
                raise ExchangeError(f"{self.path}: columns {sorted(missing)} are missing: not a Sensorium export")
            vtype = pf.schema_arrow.field("vector").type
            if not (pa.types.is_fixed_size_list(vtype) and vtype.list_size == dim):
                raise ExchangeError(
                    f"{self.path}: the vector column is {vtype}, expected fixed_size_list<float32>[{dim}] "
                    f"as the manifest says"
                )
            row_no = 0
            for batch in pf.iter_batches(batch_size=size):
                vectors = batch.column("vector").flatten().to_numpy(zero_copy_only=False).astype(np.float32)
                vectors = vectors.reshape(-1, dim)
                records = batch.drop_columns(["vector"]).to_pylist()
                out = []
                for i, d in enumerate(records):
                    row_no += 1
                    d["vector"] = vectors[i]
                    md = d.get("metadata")
                    try:
                        d["metadata"] = {} if md is None else json.loads(md)
                    except json.JSONDecodeError as exc:
                        raise ExchangeError(f"{self.path}, row {row_no}: metadata is not valid JSON") from exc
                    out.append(self._row(d, f"row {row_no}"))
                yield out
        except ExchangeError:
            raise
        except Exception as exc:  # pyarrow's errors for a damaged page or footer
            raise ExchangeError(f"{self.path} is not a readable Parquet file (damaged or truncated?): {exc}") from exc

    def _row(self, d: dict[str, Any], where: str) -> ExportRow:
        try:
            row = ExportRow.model_validate(d)
        except ValidationError as exc:
            raise ExchangeError(f"{self.path}, {where}: {_first_error(exc)}") from exc
        vec = np.asarray(row.vector, dtype=np.float32)
        if vec.ndim != 1 or vec.shape[0] != self.manifest.dimension:
            raise ExchangeError(
                f"{self.path}, {where}: the vector has {vec.size} numbers, the manifest says dimension "
                f"{self.manifest.dimension}"
            )
        if not np.all(np.isfinite(vec)):
            raise ExchangeError(f"{self.path}, {where}: the vector contains NaN or infinity")
        if row.space != self.manifest.space:
            raise ExchangeError(f"{self.path}, {where}: space {row.space!r} differs from the manifest's {self.manifest.space!r}")
        row.vector = vec
        try:
            _as_new(row)  # what the store will be given: its rules (tags, metadata keys, ...) hold before anything is written
        except ValidationError as exc:
            raise ExchangeError(f"{self.path}, {where}: {_first_error(exc)}") from exc
        return row


def _first_error(exc: ValidationError) -> str:
    err = exc.errors()[0]
    where = ".".join(str(p) for p in err.get("loc", ())) or "value"
    return f"{where}: {err.get('msg')}"


def require_space(man: Manifest, path: Path, space: str, dimension: int) -> None:
    """Refuse an export of another space or dimension than the target store's (before anything is opened)."""
    if man.space != space or man.dimension != dimension:
        raise ExchangeError(
            f"{path} holds memories of space {man.space!r} ({man.dimension}-d); this store is of {space!r} "
            f"({dimension}-d): vectors of different spaces cannot be searched together. Import it into its "
            f"own store with --space {man.space} (then `sensorium memory reindex --from-space {man.space}` "
            f"re-embeds it into the configured backend's space)"
        )


def check_export(path: Path, *, batch: int = 500, space: str | None = None, dimension: int | None = None) -> tuple[ExportFile, list[int]]:
    """Open and validate every row of an export (nothing is written): its ids, in file order. With `space`
    and `dimension` (the target store's), an export of another space is refused before any row is read."""
    ef = ExportFile(path)
    if space is not None and dimension is not None:
        require_space(ef.manifest, path, space, dimension)
    ids: list[int] = []
    for rows in ef.batches(batch):
        ids.extend(r.id for r in rows)
    if len(ids) != ef.manifest.count:
        raise ExchangeError(
            f"{path} holds {len(ids)} memories but its manifest says {ef.manifest.count}: the file is truncated "
            f"or damaged; export it again"
        )
    if len(set(ids)) != len(ids):
        raise ExchangeError(f"{path} holds the same id more than once: the file is damaged; export it again")
    if any(b < a for a, b in zip(ids, ids[1:])):
        # ids are added in file order and must only grow (the local engine's catch-up follows the highest id)
        raise ExchangeError(f"{path}: the ids are not in ascending order, as `sensorium memory export` writes them: sort the rows by id")
    return ef, ids


# ---- import -------------------------------------------------------------------------------------


def _same_memory(row: ExportRow, m: Memory) -> str | None:
    if m.vector is None or np.asarray(m.vector, np.float32).tobytes() != row.vector.tobytes():
        return "vector"
    if as_utc(m.created_at) != as_utc(row.created_at):
        return "created_at"
    if m.modality != row.modality:
        return "modality"
    if (m.text or None) != (row.text or None):
        return "text"
    return None


def _compare(row: ExportRow, m: Memory, thumb: bytes | None, with_thumbnails: bool) -> str | None:
    differs = _same_memory(row, m)
    if differs:
        return f"memory {row.id}: {differs} differs"
    expected = _row_of(m, thumb, row.dimension)
    for key in ("tags", "metadata", "episode_id", "seen_count", "content_hash", "app", "window_title", "monitor",
                "region", "path", "visual"):
        if getattr(expected, key) != getattr(row, key):
            return f"memory {row.id}: {key} differs ({getattr(row, key)!r} in the file, {getattr(expected, key)!r} stored)"
    if as_utc(expected.last_seen) != as_utc(row.last_seen):
        return f"memory {row.id}: last_seen differs"
    if with_thumbnails and thumb != row.thumbnail:
        return f"memory {row.id}: thumbnail differs"
    return None


async def import_export(
    store: MemoryStore, path: Path, *, batch: int = 500, sample: int = 100, seed: int = 0,
    progress: Progress | None = None,
) -> ImportReport:
    """Add the memories of an export that `store` lacks (ids kept), then verify. See the module docstring."""
    ef, ids = check_export(path, batch=batch, space=store.space, dimension=store.dimension)
    man = ef.manifest
    await _report(progress, "check", 0, len(ids))
    present = set(await store.list_ids())
    highest = max(present, default=0)
    # ids already there: the same memory (a re-import) is skipped, another one under the same id is refused
    already = [i for i in ids if i in present]
    missing = sorted(i for i in ids if i not in present)
    if missing and missing[0] <= highest:
        raise ExchangeError(
            f"the export's id {missing[0]} is not in this store, whose highest id is {highest}: ids are kept on "
            f"import and can only be added above a store's highest id. Import into an empty store (another "
            f"SENSORIUM_DATA_DIR)"
        )
    want_already, want_missing = set(already), set(missing)
    done = imported = skipped = 0
    for rows in ef.batches(batch):
        known = [r for r in rows if r.id in want_already]
        if known:
            stored = {m.id: m for m in await store.get_many([r.id for r in known], with_vector=True)}
            for r in known:
                m = stored.get(r.id)
                differs = "missing" if m is None else _same_memory(r, m)
                if differs:
                    raise ExchangeError(
                        f"memory {r.id} is already in this store but differs from the one in {path.name} ({differs}): "
                        f"this is another store's memory under the same id. Import into an empty store "
                        f"(another SENSORIUM_DATA_DIR), or forget id {r.id} here first"
                    )
        new = sorted((r for r in rows if r.id in want_missing), key=lambda r: r.id)
        if new:
            results = await store.add([_as_new(r) for r in new], merge_duplicates=False)
            imported += sum(res.status == "stored" for res in results)
            skipped += sum(res.status != "stored" for res in results)
        done += len(rows)
        await _report(progress, "import", done, len(ids))
    # verify: every id of the file is there (counts), and a sample equals the file field by field
    target_ids = set(await store.list_ids())
    mismatches: list[str] = []
    absent = [i for i in ids if i not in target_ids]
    if absent:
        mismatches.append(f"{len(absent)} memories of the file are not in the store (e.g. {absent[:5]})")
    picks = set(random.Random(seed).sample(ids, min(sample, len(ids))))
    for rows in ef.batches(batch):
        chosen = [r for r in rows if r.id in picks and r.id in target_ids]
        if not chosen:
            continue
        stored_list = await store.get_many([r.id for r in chosen], with_vector=True)
        thumbs = await thumbnails_of(store, stored_list) if man.thumbnails else {}
        by_id = {m.id: m for m in stored_list}
        for r in chosen:
            problem = _compare(r, by_id[r.id], thumbs.get(r.id), man.thumbnails) if r.id in by_id else f"memory {r.id}: missing"
            if problem:
                mismatches.append(problem)
    return ImportReport(
        path=str(path), format=ef.format, space=man.space, in_file=len(ids), already_there=len(already),
        imported=imported, skipped=skipped, target_memories=len(target_ids), sampled=len(picks),
        mismatches=mismatches[:20],
    )

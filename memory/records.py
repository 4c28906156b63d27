"""The records that cross the memory store's boundary (pydantic, so the MCP layer can dump them as-is).

Ids are SQLite rowids (AUTOINCREMENT, so an id is never reused after `forget`): the same
integer is the hnswlib label, which keeps the index and the truth trivially joinable and
makes `sensorium://memory/{id}` short.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

_META_KEY = re.compile(r"^[A-Za-z0-9_.\- ]{1,64}$")
MetaValue = str | int | float | bool | None


INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


def _key(key: str) -> str:
    return repr(key) if len(key) <= 70 else repr(key[:64]) + "…"


def _json_value(value: Any, where: str, depth: int = 0) -> None:
    """Refuse what JSON or SQLite cannot keep faithfully: NaN/Infinity (JSON has none; they became
    null) and integers beyond 64 bits (SQLite raised OverflowError on a filter, issue 18)."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{where} is {value}: numbers must be finite (JSON has no NaN or Infinity)")
    elif isinstance(value, int):
        if not INT64_MIN <= value <= INT64_MAX:
            raise ValueError(f"{where} is outside the 64-bit integer range (±9.2e18): store it as a string")
    elif isinstance(value, (list, tuple, dict)):
        if depth > 16:
            raise ValueError(f"{where} is nested more than 16 levels deep")
        children = value.values() if isinstance(value, dict) else value
        for child in children:
            _json_value(child, where, depth + 1)


def utcnow() -> datetime:
    return datetime.now(UTC)


def as_utc(value: datetime) -> datetime:
    """Naive datetimes are taken as UTC: the store keeps every time as UTC epoch seconds."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _as_vector(value: Any, what: str) -> np.ndarray:
    v = np.asarray(value, dtype=np.float32)
    if v.ndim != 1 or v.shape[0] == 0:
        raise ValueError(f"{what} must be a non-empty 1-D array, got shape {v.shape}")
    if not np.all(np.isfinite(v)):
        raise ValueError(f"{what} contains NaN or infinity")
    return v


class Source(BaseModel):
    """Where a memory came from, as far as it is known (all optional). Frozen, as Memory is: a recalled
    memory's source is shared by every recall that finds it."""

    model_config = ConfigDict(frozen=True)

    app: str | None = None
    window_title: str | None = None
    monitor: int | None = None
    region: tuple[int, int, int, int] | None = Field(None, description="left, top, width, height in screen pixels")
    path: str | None = None


class NewMemory(BaseModel):
    """What `add` takes: a vector already made by a backend, plus everything worth remembering about it."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    vector: np.ndarray
    space: str
    modality: str = Field(min_length=1, max_length=32)
    id: int | None = Field(
        None, ge=1, lt=2**53,
        description="keep this id (copying a store with `memory migrate`, in ascending id order); None: the store "
        "assigns one. An id already in the store is refused",
    )
    content_hash: str | None = None
    source: Source = Field(default_factory=Source)
    episode_id: str | None = Field(None, max_length=200)
    text: str | None = Field(None, description="instruction / caption / transcript / OCR text")
    tags: list[str] = Field(default_factory=list)
    metadata: dict[str, Any] = Field(default_factory=dict, description="JSON-serialisable user metadata")
    thumbnail: bytes | None = Field(None, description="JPEG bytes, kept as a file next to the database")
    visual: list[float] | None = Field(None, description="compact visual descriptor; preferred for near-duplicate tests")
    created_at: datetime = Field(default_factory=utcnow)
    last_seen: datetime | None = Field(None, description="copying a store: when it was last seen (None: created_at)")
    seen_count: int = Field(1, ge=1, description="copying a store: 1 + near-duplicates already merged into it")
    merge_near_duplicate: bool = Field(
        False,
        description="merge into the previous memory of the same episode and modality when near-identical "
        "(cosine >= memory.dedup_threshold, on the visual descriptors when both have one): the caller says "
        "which inputs repeat (screenshots of an unchanged screen), the store does not guess from the modality",
    )

    @field_validator("vector", mode="before")
    @classmethod
    def _vector(cls, v: Any) -> np.ndarray:
        return _as_vector(v, "vector")

    @field_validator("visual")
    @classmethod
    def _visual(cls, v: list[float] | None) -> list[float] | None:
        if v is not None:
            _as_vector(v, "visual descriptor")
        return v

    @field_validator("tags")
    @classmethod
    def _tags(cls, tags: list[str]) -> list[str]:
        out: list[str] = []
        for t in tags:
            t = t.strip()
            if not t:
                raise ValueError("tags must not be empty")
            if len(t) > 100:
                raise ValueError(f"tag {t[:20]!r}... is longer than 100 characters")
            if t not in out:
                out.append(t)
        return out

    @field_validator("metadata")
    @classmethod
    def _metadata(cls, md: dict[str, Any]) -> dict[str, Any]:
        for key, value in md.items():
            if not _META_KEY.match(key):
                raise ValueError(f"metadata key {_key(key)} must be 1-64 letters, digits, '_', '.', '-' or spaces")
            _json_value(value, f"metadata[{key!r}]")
        return md

    @field_validator("created_at")
    @classmethod
    def _utc(cls, v: datetime) -> datetime:
        return as_utc(v)

    @field_validator("last_seen")
    @classmethod
    def _utc_or_none(cls, v: datetime | None) -> datetime | None:
        return None if v is None else as_utc(v)


class Memory(BaseModel):
    """A stored record. `vector` only when asked for (it is 3 KB at 768-d and rarely needed).

    Frozen (a field cannot be assigned; `model_copy(update=...)` makes a changed copy): the local store
    hands the same cached Memory to every recall that finds its row, and its tags and metadata are then
    read-only lists and dicts (memory/frozen.py), so no caller can change what another recall sees."""

    model_config = ConfigDict(arbitrary_types_allowed=True, frozen=True)

    id: int
    space: str
    modality: str
    content_hash: str | None
    source: Source
    episode_id: str | None
    text: str | None
    tags: list[str]
    metadata: dict[str, Any]
    has_thumbnail: bool
    created_at: datetime
    last_seen: datetime = Field(description="last time a near-duplicate was merged into it (= created_at if never)")
    seen_count: int = Field(1, description="1 + near-duplicates merged into it")
    vector: np.ndarray | None = Field(None, exclude=True)
    visual: list[float] | None = Field(None, exclude=True)


class Hit(BaseModel):
    memory: Memory
    score: float = Field(description="cosine similarity (inner product of unit vectors), higher is closer")


class AddResult(BaseModel):
    """One per NewMemory, in order. `id` is where the memory lives now: a new row, or the row it merged into."""

    id: int | None
    merged_into: int | None = None
    skipped: str | None = Field(None, description="why nothing was stored (privacy exclusion)")

    @property
    def status(self) -> str:
        return "skipped" if self.skipped else "merged" if self.merged_into is not None else "stored"


class Filter(BaseModel):
    """Every criterion given must hold (AND); within a list, any value (OR) except tags, which are all-of.

    Time is an overlap test: a memory matches when the span it was seen in
    [created_at, last_seen] meets [since, until], so "forget the last ten minutes" also
    removes a screenshot first taken earlier but seen again within them.
    """

    model_config = ConfigDict(extra="forbid")

    since: datetime | None = None
    until: datetime | None = None
    modalities: list[str] | None = None
    episode_id: str | None = None
    app: str | None = None
    tags: list[str] | None = Field(None, description="all of these tags", max_length=64)
    metadata: dict[str, MetaValue] | None = Field(None, description="equality on top-level metadata keys", max_length=64)
    ids: list[int] | None = None

    @field_validator("since", "until")
    @classmethod
    def _utc(cls, v: datetime | None) -> datetime | None:
        return None if v is None else as_utc(v)

    @field_validator("metadata")
    @classmethod
    def _keys(cls, md: dict[str, MetaValue] | None) -> dict[str, MetaValue] | None:
        for key, value in (md or {}).items():
            if not _META_KEY.match(key):
                raise ValueError(f"metadata key {_key(key)} must be 1-64 letters, digits, '_', '.', '-' or spaces")
            _json_value(value, f"metadata value for {key!r}")
        return md

    @model_validator(mode="after")
    def _range(self) -> Filter:
        if self.since and self.until and self.since > self.until:
            raise ValueError(f"since ({self.since.isoformat()}) is after until ({self.until.isoformat()})")
        return self

    def is_empty(self) -> bool:
        return not any(
            v is not None
            for v in (self.since, self.until, self.modalities, self.episode_id, self.app, self.tags, self.metadata, self.ids)
        )


class EpisodeSummary(BaseModel):
    episode_id: str | None = Field(description="None groups the memories stored without an episode")
    memories: int
    seen: int = Field(description="memories plus merged near-duplicates")
    first_at: datetime
    last_at: datetime
    modalities: list[str]


class StoreStats(BaseModel):
    engine: str
    space: str
    dimension: int
    memories: int
    episodes: int
    by_modality: dict[str, int]
    index_elements: int = Field(description="live vectors in the HNSW index (equals memories when healthy)")
    index_pending: int = Field(
        0, description="of those, acknowledged but not yet in the graph (searched exactly until the indexer graphs them)"
    )
    index_deleted: int = Field(description="deleted vectors still occupying the graph until compaction")
    index_capacity: int
    exact_search: bool = Field(description="whether recall currently searches exactly (store below exact_below)")
    db_bytes: int
    index_bytes: int
    thumbnail_bytes: int
    last_checkpoint_at: datetime | None
    opened: str = Field(description="what happened to the index at open: new, loaded, caught up, rebuilt (and why)")
    root: str

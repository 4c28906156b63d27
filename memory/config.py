"""Settings section owned by the memory layer (composed into the server's Settings)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, SecretStr


class MemorySettings(BaseModel):
    engine: str = Field(
        "local", pattern="^(local|milvus)$",
        description="memory store engine (local: SQLite + HNSW files in the data dir; milvus: a Milvus server, "
        "memory.milvus_uri, docs/MEMORY.md)",
    )
    hnsw_m: int = Field(16, ge=4, le=128, description="HNSW graph links per node (more: better recall, more memory)")
    hnsw_ef_construction: int = Field(200, ge=10, le=2000, description="HNSW build-time search width")
    hnsw_ef_search: int = Field(64, ge=10, le=5000, description="HNSW query-time search width")
    exact_below: int = Field(2_000, ge=0, description="below this many vectors, search exactly with numpy")
    dedup_threshold: float = Field(0.985, ge=0.0, le=1.0, description="cosine above which a memory marked merge_near_duplicate (a screenshot) merges into the previous one of its episode")
    excluded_apps: list[str] = Field(default_factory=list, description="privacy: `remember` stores nothing whose app is one of these (case-insensitive, `.exe` ignored)")
    excluded_titles: list[str] = Field(default_factory=list, description="privacy: `remember` stores nothing whose window title contains one of these (case-insensitive)")
    checkpoint_every: int = Field(1_000, ge=1, description="write the HNSW checkpoint after this many changes")
    milvus_uri: str | None = Field(
        None, description="Milvus server URI for engine=milvus (http://host:19530, or a Zilliz Cloud endpoint)"
    )
    # --- added by the Milvus engine (issue 16) ---
    milvus_token: SecretStr | None = Field(
        None, description="Milvus credentials: `user:password`, or a Zilliz Cloud API key (empty: no auth)"
    )
    milvus_database: str = Field("default", min_length=1, description="Milvus database the collections live in")
    milvus_collection_prefix: str = Field(
        "sensorium_", pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,63}$",
        description="prefix of the collection names (one collection per embedding space, plus one for blobs)",
    )
    milvus_consistency: Literal["Strong", "Session", "Bounded", "Eventually"] = Field(
        "Strong",
        description="read consistency: Strong (default) makes every acknowledged write and delete of any process "
        "visible to the next read; Session only this process's own; Bounded/Eventually may hide fresh writes",
    )
    milvus_timeout: float = Field(10.0, gt=0, description="seconds to wait for the Milvus server on connect and per call")
    # --- added by the memory store (issue 4) ---
    checkpoint_min_seconds: float = Field(
        30.0, ge=0.0,
        description="and at most this often: a checkpoint of a large index takes seconds and blocks writers; "
        "SQLite catches a stale index up on open, so a late checkpoint costs only start-up time",
    )
    filter_exact_below: int = Field(
        5_000, ge=0,
        description="a filtered recall whose matching rows are at most this many is answered exactly from them "
        "(faster there, and exact); above it, hnswlib's filter callback, with an exact fallback when the walk "
        "cannot find k (measured crossover: ~1-5k matches at 10k-100k x 768, docs/MEMORY.md)",
    )
    filter_oversample_max: int = Field(
        1_000, ge=10,
        description="a filtered recall matching more than filter_exact_below rows walks the graph unfiltered for "
        "6k, 24k, ... neighbours up to this many and keeps the matches; past it, hnswlib's filter callback",
    )
    compact_deleted_fraction: float = Field(
        0.3, gt=0.0, le=1.0, description="rebuild the HNSW graph when this fraction of its elements are deletions"
    )
    compact_min_deleted: int = Field(1_000, ge=1, description="... and at least this many (small stores never bother)")
    initial_capacity: int = Field(1_024, ge=16, description="first HNSW allocation; it grows by half as it fills")
    sqlite_synchronous: Literal["NORMAL", "FULL"] = Field(
        "FULL",
        description="FULL: an acknowledged remember survives power loss (one fsync per add call); "
        "NORMAL: survives a process crash only, faster single adds",
    )
    max_k: int = Field(1_000, ge=1, description="largest k a recall may ask for")
    max_index_tail: int = Field(
        100_000, ge=0,
        description="local engine: acknowledged rows not yet in the HNSW graph (searched exactly by every recall) "
        "kept at most this many; past it the writer graphs the excess before its remember returns (bulk imports "
        "slow to the graph's pace, ~1-2k/s at 768-d, instead of every recall growing with the lag; 0: graph on "
        "every write)",
    )
    max_thumbnail_bytes: int = Field(
        1_000_000, ge=1_000, description="largest thumbnail kept (it is served as ImageContent, whose budget is 1 MB)"
    )


def privacy_exclusion(settings: MemorySettings, app: str | None, title: str | None) -> str | None:
    """Why nothing may be stored for this app/window title (None: allowed). The one privacy rule:
    stores apply it on add, and watch mode before a frame is even embedded."""
    if app:
        name = app.casefold().removesuffix(".exe")
        for ex in settings.excluded_apps:
            if name == ex.casefold().removesuffix(".exe"):
                return f"app {app!r} is in memory.excluded_apps: nothing was stored"
    if title:
        folded = title.casefold()
        for ex in settings.excluded_titles:
            if ex and ex.casefold() in folded:
                return f"window title contains {ex!r} (memory.excluded_titles): nothing was stored"
    return None

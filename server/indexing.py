"""Index a long recording or document: one memory per window, resumable, cancellable.

The flow the `index_media` tool and the `sensorium index` command share. Each window is cut,
embedded and stored on its own, so what is acknowledged (stored) stays when the caller
cancels or the process dies, and a second run over the same file stores only the windows that
are missing: windows are found again by the file's sha256 and the window's span, which are
kept in the memory's metadata (filterable: `recall(filter={"metadata": {"media_sha256": …}})`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import IO, Any, Literal

import anyio
from pydantic import BaseModel, Field

from ..memory.records import Filter, NewMemory, Source
from ..memory.store import MemoryStore
from ..tools import intake
from ..tools.backends.base import EmbeddingBackend, EmbedItem, require_capabilities
from ..tools.config import IndexSettings, IntakeSettings
from ..tools.longmedia import LongMediaInfo, MediaWindow, check_index_limits, cut_window, page_windows, probe_file, time_windows
from ..tools.media import Modality
from .results import text_seen

Progress = Callable[[float, float | None, str | None], Awaitable[None]]

META_SHA = "media_sha256"
META_KEY = "media_window"


class IndexReport(BaseModel):
    path: str
    sha256: str
    modality: str
    duration_s: float | None = None
    pages: int | None = None
    episode_id: str = Field(description="every window of the file is in this episode")
    windows: int = Field(description="windows the file was cut into")
    stored: int = Field(description="windows embedded and stored by this call")
    already_stored: int = Field(description="windows found from an earlier run and skipped")
    space: str


def open_media_file(path: str, settings: IntakeSettings) -> tuple[IO[bytes], Path]:
    """The file opened once inside the allowed folders (intake.open_allowed): every window is cut from
    this descriptor, so a path swapped after the check is never what is read."""
    return intake.open_allowed(path, settings)


def plan(info: LongMediaInfo, settings: IndexSettings, window_seconds: float | None, overlap_seconds: float | None) -> list[MediaWindow]:
    if info.modality is Modality.PDF:
        return page_windows(int(info.pages or 0), settings.pdf_pages_per_window)
    window = window_seconds if window_seconds is not None else settings.window_seconds
    overlap = overlap_seconds if overlap_seconds is not None else min(settings.overlap_seconds, window / 2)
    return time_windows(float(info.duration_s or 0.0), window, overlap)


def window_metadata(info: LongMediaInfo, window: MediaWindow) -> dict[str, Any]:
    meta: dict[str, Any] = {META_SHA: info.sha256, META_KEY: window.key}
    if window.first_page is not None:
        meta.update(media_first_page=window.first_page, media_last_page=window.last_page)
    else:
        meta.update(media_start_s=window.start_s, media_end_s=window.end_s)
    return meta


async def stored_windows(store: MemoryStore, sha256: str) -> set[str]:
    ids = await store.list_ids(Filter(metadata={META_SHA: sha256}))
    return {str(m.metadata.get(META_KEY)) for m in await store.get_many(ids)}


async def index_file(
    backend: EmbeddingBackend,
    store: MemoryStore,
    fh: IO[bytes],
    real: Path,
    settings: IndexSettings,
    *,
    episode_id: str | None = None,
    note: str | None = None,
    tags: list[str] | None = None,
    window_seconds: float | None = None,
    overlap_seconds: float | None = None,
    progress: Progress | None = None,
) -> IndexReport:
    """Cut, embed and store every window not stored yet; progress after each one."""
    info = await anyio.to_thread.run_sync(probe_file, fh, real)
    check_index_limits(info, max_bytes=settings.max_file_bytes, max_seconds=settings.max_seconds, max_pages=settings.max_pages)
    require_capabilities(backend, [info.modality], "index_media")
    windows = plan(info, settings, window_seconds, overlap_seconds)
    episode = episode_id or f"media:{real.name}:{info.sha256[:12]}"
    done = await stored_windows(store, info.sha256)
    todo = [w for w in windows if w.key not in done]
    report = IndexReport(
        path=info.path, sha256=info.sha256, modality=info.modality.value, duration_s=info.duration_s, pages=info.pages,
        episode_id=episode, windows=len(windows), stored=0, already_stored=len(windows) - len(todo), space=backend.space,
    )
    if progress is not None:
        await progress(report.already_stored, len(windows), f"{real.name}: {len(todo)} of {len(windows)} windows to embed")
    for window in todo:
        cut = await anyio.to_thread.run_sync(
            lambda w=window: cut_window(fh, info, w, video_fps=settings.video_fps, video_side=settings.video_max_side)
        )
        [emb] = await backend.embed([EmbedItem.of(cut.media, title=real.name)], "document")
        seen = text_seen(emb.extras)
        visual = emb.extras.get("visual")
        record = NewMemory(
            vector=emb.vector, space=emb.space, modality=info.modality.value,
            content_hash=hashlib.sha256(f"{info.sha256}:{window.key}".encode()).hexdigest(),
            source=Source(path=info.path), episode_id=episode,
            text="\n".join(t for t in (note, seen) if t) or None, tags=tags or [],
            metadata=window_metadata(info, window), thumbnail=cut.thumbnail,
            visual=visual if isinstance(visual, list) else None,
        )
        await store.add([record], merge_duplicates=False)
        report.stored += 1
        if progress is not None:
            await progress(report.already_stored + report.stored, len(windows), f"{real.name}: {window.label()}")
    return report


# -- recall: windows of one file come back as one hit per moment --------------------------------


class MediaMoment(BaseModel):
    """Where in a long file a hit is: its window, and the span of the neighbours folded into it."""

    path: str | None = None
    unit: Literal["s", "page"] = Field(description="start/end are seconds or 1-based pages")
    start: float
    end: float
    span: list[float] = Field(description="[start, end] of this window and the neighbours grouped with it")
    grouped_ids: list[int] = Field(default_factory=list, description="neighbouring windows folded into this hit")

    @classmethod
    def of(cls, metadata: dict[str, Any], path: str | None) -> MediaMoment | None:
        if META_SHA not in metadata:
            return None
        paged = metadata.get("media_first_page") is not None
        lo = metadata.get("media_first_page" if paged else "media_start_s")
        hi = metadata.get("media_last_page" if paged else "media_end_s")
        if not isinstance(lo, int | float) or not isinstance(hi, int | float):
            return None
        return cls(path=path, unit="page" if paged else "s", start=lo, end=hi, span=[float(lo), float(hi)])

    def touches(self, other: MediaMoment) -> bool:
        """Overlapping or back to back (pages: the next page; times: within half a second)."""
        gap = 1.0 if self.unit == "page" else 0.5
        return other.span[0] <= self.span[1] + gap and self.span[0] <= other.span[1] + gap


def group_media_hits(hits: list[tuple[int, dict[str, Any], str | None]]) -> tuple[list[int], dict[int, MediaMoment]]:
    """Which hits (ids, best first) to keep, and each kept media hit's moment.

    A hit from a window that overlaps or adjoins a better hit's window of the same file is folded
    into it (its id listed, the span widened): six overlapping windows around one scene are one
    answer, not six near-identical rows. Hits that are not windows pass through untouched."""
    kept: list[int] = []
    moments: dict[int, MediaMoment] = {}
    by_file: dict[str, list[int]] = {}
    for hit_id, metadata, path in hits:
        moment = MediaMoment.of(metadata, path)
        if moment is None:
            kept.append(hit_id)
            continue
        sha = str(metadata[META_SHA])
        home = next((k for k in by_file.get(sha, []) if moments[k].touches(moment)), None)
        if home is None:
            kept.append(hit_id)
            moments[hit_id] = moment
            by_file.setdefault(sha, []).append(hit_id)
            continue
        best = moments[home]
        best.span = [min(best.span[0], moment.span[0]), max(best.span[1], moment.span[1])]
        best.grouped_ids.append(hit_id)
    return kept, moments

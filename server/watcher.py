"""Watch mode: a passive episodic memory of the screen.

Every `interval_s` the watcher captures a monitor, reads which window is in front, and
remembers the frame with that window's app and title, so "what was I looking at when I read
about X?" and "have I been on this page before?" work without the agent storing anything.

Privacy comes first, and is judged before anything is embedded (with Gemini, embedding means
sending the frame to Google): a frame whose active window is excluded (`memory.excluded_apps`,
`memory.excluded_titles`) is dropped; when exclusions are configured and the active window
cannot be read, the frame is dropped too (fail closed). `pause` stops capturing at once.

Cost stays bounded: a frame that looks like the last stored one (visual descriptor above the
store's dedup threshold) is not embedded again, it only bumps that memory's seen_count (the
store's near-duplicate merge); a tick that comes while the previous frame is still being
embedded is skipped and counted, never queued. Retention (age, bytes) is enforced by a sweep
after every `sweep_every` frames and at start.
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import anyio
from pydantic import BaseModel, Field

from ..memory.config import privacy_exclusion
from ..memory.records import Filter, NewMemory, Source
from ..tools.activewindow import ActiveWindow, read_active_window
from ..tools.backends.base import EmbedItem
from ..tools.media import Media
from .app import Services
from .settings import WatchSettings

log = logging.getLogger(__name__)

WATCH_TAG = "watch"


class WatchStatus(BaseModel):
    running: bool
    paused: bool
    interval_s: float
    monitor: int
    episode_id: str | None
    frames: int = Field(0, description="ticks that captured a frame")
    stored: int = 0
    unchanged: int = Field(0, description="frames like the last stored one: seen_count bumped, not embedded again")
    excluded: int = Field(0, description="frames dropped by the privacy settings (or an unknown window while exclusions are set)")
    skipped_busy: int = Field(0, description="ticks skipped because the previous frame was still being embedded")
    swept: int = Field(0, description="memories deleted by retention")
    cpu_s_per_frame: float | None = Field(None, description="mean CPU seconds (this process) per embedded frame")
    wall_s_per_frame: float | None = None
    last_frame_at: datetime | None = None
    last_window: ActiveWindow | None = None
    last_error: str | None = None
    frames_leave_machine: bool = Field(description="true with Gemini: every embedded frame is sent to Google")


class Watcher:
    """One watch loop per server process; start/stop/pause from tools or the CLI."""

    def __init__(self, services: Services, settings: WatchSettings, *, read_window: Any = read_active_window) -> None:
        self._services = services
        self._settings = settings
        self._read_window = read_window
        self._task: asyncio.Task[None] | None = None
        self._busy = False
        self._paused = False
        self._interval = settings.interval_s
        self._monitor = settings.monitor
        self._episode: str | None = None
        self._last: tuple[int, list[float], list[float], tuple[str | None, str | None]] | None = None
        """id, vector, visual descriptor and (app, title) of the last stored frame"""
        self._cpu = 0.0
        self._wall = 0.0
        self.status_counts: dict[str, Any] = {}
        self._reset()

    def _reset(self) -> None:
        self.status_counts = dict(frames=0, stored=0, unchanged=0, excluded=0, skipped_busy=0, swept=0,
                                  last_frame_at=None, last_window=None, last_error=None)
        self._cpu = self._wall = 0.0

    def status(self) -> WatchStatus:
        c = self.status_counts
        embedded = max(c["stored"], 1)
        return WatchStatus(
            running=self._task is not None and not self._task.done(), paused=self._paused, interval_s=self._interval,
            monitor=self._monitor, episode_id=self._episode,
            cpu_s_per_frame=round(self._cpu / embedded, 3) if c["stored"] else None,
            wall_s_per_frame=round(self._wall / embedded, 3) if c["stored"] else None,
            frames_leave_machine=self._services.settings.resolved_backend == "gemini", **c,
        )

    async def start(self, interval_s: float | None = None, monitor: int | None = None) -> WatchStatus:
        if self._task is not None and not self._task.done():
            self._paused = False
            return self.status()
        self._interval = interval_s or self._settings.interval_s
        self._monitor = self._settings.monitor if monitor is None else monitor
        self._episode = "watch:" + datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S")
        self._paused = False
        self._last = None
        self._reset()
        await self.sweep()
        self._task = asyncio.get_running_loop().create_task(self._loop(), name="sensorium-watch")
        return self.status()

    async def stop(self) -> WatchStatus:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass
        return self.status()

    def pause(self, paused: bool) -> WatchStatus:
        self._paused = paused
        return self.status()

    async def _loop(self) -> None:
        ticks: set[asyncio.Task[None]] = set()
        try:
            while True:
                if not self._paused:
                    if self._busy:
                        self.status_counts["skipped_busy"] += 1
                    else:
                        t = asyncio.get_running_loop().create_task(self.tick())
                        ticks.add(t)
                        t.add_done_callback(ticks.discard)
                await asyncio.sleep(self._interval)
        finally:
            for t in list(ticks):  # a frame being stored finishes its add (the store is atomic); then we stop
                await asyncio.shield(t)

    async def tick(self) -> str:
        """Capture, judge, embed and store one frame; returns what happened (for tests and logs)."""
        self._busy = True
        try:
            return await self._tick()
        except Exception as exc:  # a failed frame must not end the watch: say it in the status
            self.status_counts["last_error"] = f"{exc.__class__.__name__}: {exc}"[:300]
            log.warning("watch frame failed: %s", exc)
            return "error"
        finally:
            self._busy = False

    async def _tick(self) -> str:
        from ..tools.capture import grab
        from ..tools.visual import visual_descriptor
        from .memory_tools import stored_image

        services = self._services
        window: ActiveWindow | None = await anyio.to_thread.run_sync(self._read_window)
        mem_settings = services.settings.memory
        self.status_counts["last_window"] = window
        reason = privacy_exclusion(mem_settings, window.app if window else None, window.title if window else None)
        if reason is None and window is None and (mem_settings.excluded_apps or mem_settings.excluded_titles):
            reason = "the active window cannot be read and exclusions are set: frame dropped"
        if reason is not None:
            self.status_counts["excluded"] += 1
            return "excluded"
        wall0, cpu0 = time.perf_counter(), time.process_time()
        cap = await anyio.to_thread.run_sync(lambda: grab(self._monitor, None, services.settings.capture))
        self.status_counts["frames"] += 1
        self.status_counts["last_frame_at"] = cap.timestamp
        visual = [round(float(x), 4) for x in await anyio.to_thread.run_sync(visual_descriptor, cap.image)]
        source = Source(app=window.app if window else None, window_title=window.title if window else None, monitor=self._monitor)
        store = await services.memory()
        media = Media.from_bytes(cap.data, source={"kind": "capture", "capture_id": cap.id})
        thumb = await anyio.to_thread.run_sync(stored_image, media)
        same_window = self._last is not None and self._last[3] == (source.app, source.window_title)
        if same_window and self._last is not None and _cosine(visual, self._last[2]) >= mem_settings.dedup_threshold:
            vector = self._last[1]  # the screen did not change: no embedding, the store merges it
            space = store.space
            outcome = "unchanged"
        else:
            [emb] = await services.backend.embed([EmbedItem.of(media, title=source.window_title)], "document")
            vector, space = list(map(float, emb.vector)), emb.space
            outcome = "stored"
        size = len(thumb or b"") + 4 * len(vector)
        [res] = await store.add([NewMemory(
            vector=vector, space=space, modality="image", source=source, episode_id=self._episode,
            tags=[WATCH_TAG], metadata={"watch_bytes": size}, thumbnail=thumb, visual=visual,
            merge_near_duplicate=same_window,  # another window is another state, however alike the pixels
        )])
        if res.status == "skipped":  # the store's own privacy check (same rule): never counted as stored
            self.status_counts["excluded"] += 1
            return "excluded"
        if res.status == "merged":
            outcome = "unchanged"
        self.status_counts[outcome] += 1
        if outcome == "stored":
            self._cpu += time.process_time() - cpu0
            self._wall += time.perf_counter() - wall0
            self._last = (int(res.id or 0), vector, visual, (source.app, source.window_title))
        log.info("watch: %s memory #%s (%s | %s)", outcome, res.merged_into or res.id, source.app, source.window_title)
        if (self.status_counts["frames"] % self._settings.sweep_every) == 0:
            await self.sweep()
        return outcome

    async def sweep(self) -> int:
        """Delete watch memories not seen for max_age_hours, then the oldest until the rest fit in max_bytes."""
        store = await self._services.memory()
        cutoff = datetime.now(UTC) - timedelta(hours=self._settings.max_age_hours)
        memories = await store.get_many(await store.list_ids(Filter(tags=[WATCH_TAG])))  # oldest first
        total = sum(int(m.metadata.get("watch_bytes", 0) or 0) for m in memories)
        drop: list[int] = []
        for m in memories:
            if m.last_seen >= cutoff and total <= self._settings.max_bytes:
                continue
            drop.append(m.id)
            total -= int(m.metadata.get("watch_bytes", 0) or 0)
        if not drop:
            return 0
        deleted = await store.delete(drop)
        if self._last is not None and self._last[0] in drop:
            self._last = None
        self.status_counts["swept"] += deleted
        return deleted


def _cosine(a: list[float], b: list[float]) -> float:
    """The store's near-duplicate measure (cosine of visual descriptors), so "unchanged" here is what it merges."""
    import numpy as np

    x, y = np.asarray(a, dtype=np.float32), np.asarray(b, dtype=np.float32)
    return float(x @ y / ((np.linalg.norm(x) * np.linalg.norm(y)) or 1.0))

"""The watch tool: start, pause, resume, stop or read the passive screen memory (server/watcher.py).

One tool with an `action` rather than five: the agent pays for every tool in its context on every
turn, and the five share their arguments and their result."""

from __future__ import annotations

from typing import Annotated, Literal

from mcp.types import ToolAnnotations
from pydantic import Field

from .app import Services
from .toolkit import ToolDef
from .watcher import WatchStatus


async def watch(
    services: Services,
    action: Literal["start", "stop", "status", "pause", "resume"] = "status",
    interval_s: Annotated[float | None, Field(ge=1, le=3600, description="seconds between frames (start)")] = None,
    monitor: Annotated[int | None, Field(ge=0, description="0 = all screens, 1 = primary (start)")] = None,
) -> WatchStatus:
    """Passive screen memory: every interval_s, remember the screen with the active window's app and title
    (excluded apps/titles dropped before embedding; unchanged screens only bump seen_count). Status: counts,
    CPU per frame, whether frames leave this machine (Gemini). recall/rank_states then find them."""
    watcher = services.watcher
    if action == "start":
        return await watcher.start(interval_s, monitor)
    if action == "stop":
        return await watcher.stop()
    if action in ("pause", "resume"):
        return watcher.pause(action == "pause")
    return watcher.status()


TOOLS = (
    ToolDef(watch, "Watch the screen", ToolAnnotations(readOnlyHint=False, destructiveHint=False, idempotentHint=False, openWorldHint=True)),
)

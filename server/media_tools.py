"""The index_media tool: long video, audio and PDFs into memory, one window (or page) per memory."""

from __future__ import annotations

from typing import Annotated

import anyio
from mcp.server.mcpserver import Context
from mcp.types import ToolAnnotations
from pydantic import Field

from .app import Services
from .indexing import IndexReport, index_file, open_media_file
from .inputs import progress_reporter
from .toolkit import ToolDef, ToolSet


async def index_media(
    services: Services,
    ctx: Context,
    path: Annotated[str, Field(description="a video, audio or PDF file")],
    episode_id: Annotated[str | None, Field(description="default: one episode per file", max_length=200)] = None,
    note: str | None = None,
    tags: Annotated[list[str] | None, Field(max_length=32)] = None,
    window_seconds: Annotated[float | None, Field(ge=2, le=120, description="default 30")] = None,
    overlap_seconds: Annotated[float | None, Field(ge=0, le=60, description="default 5")] = None,
) -> IndexReport:
    """Make a long video, audio or PDF searchable by moment: one memory per ~30 s window or page, with a
    thumbnail; recall hits carry `media` (file, start/end s or page). Resumable; reports progress."""
    settings = services.settings
    fh, real = await anyio.to_thread.run_sync(open_media_file, path, settings.intake)
    try:
        store = await services.memory()
        return await index_file(
            services.backend, store, fh, real, settings.index, episode_id=episode_id, note=note, tags=tags,
            window_seconds=window_seconds, overlap_seconds=overlap_seconds, progress=progress_reporter(ctx),
        )
    finally:
        fh.close()


TOOLS = (
    ToolDef(
        index_media, "Index long media",
        ToolAnnotations(readOnlyHint=False, destructiveHint=False, idempotentHint=True, openWorldHint=True),
    ),
)


def register(tools: ToolSet, services: Services) -> None:
    tools.add_all(TOOLS, services)

"""Tool inputs shared by the tool modules: media from a path/base64/capture, filters, progress.

One place for how an MCP argument becomes a domain object, so every tool refuses bad input the
same way and with the same words.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import anyio
from mcp.server.mcpserver import Context
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ..memory.records import Filter
from ..tools import capture as capture_mod
from ..tools import intake
from ..tools.backends.base import EmbedItem, Embedding, ProgressCallback, Role, require_capabilities
from ..tools.capture import Region
from ..tools.errors import InvalidInput, LimitExceeded
from ..tools.media import Media, Modality
from .app import Services

TOOL_FOR_MODALITY: dict[Modality, str] = {
    Modality.TEXT: "embed_text",
    Modality.IMAGE: "embed_image",
    Modality.AUDIO: "embed_audio",
    Modality.VIDEO: "embed_media",
    Modality.PDF: "embed_media",
}
"""The tool that takes each modality, for intake's "wrong tool" messages (intake knows no tool names)."""
LONG_MEDIA = {Modality.AUDIO, Modality.VIDEO, Modality.PDF}


def progress_reporter(ctx: Context | None) -> ProgressCallback | None:
    if ctx is None:
        return None

    async def report(done: float, total: float | None, message: str | None) -> None:
        await ctx.report_progress(done, total, message)

    return report


async def media_from_args(
    services: Services, path: str | None, data_base64: str | None, allowed: set[Modality], tool: str
) -> Media:
    given = [x for x in (path, data_base64) if x is not None]
    if len(given) != 1:
        raise InvalidInput(f"{tool} needs exactly one of 'path' or 'data_base64' (got {len(given)})")
    settings = services.settings.intake

    def load() -> Media:
        media = intake.media_from_path(path, settings) if path is not None else intake.media_from_base64(data_base64 or "", settings)
        intake.require_modality(media, allowed, tool, elsewhere=TOOL_FOR_MODALITY)
        try:
            intake.check_limits(media, settings)
        except LimitExceeded as exc:
            if media.modality in LONG_MEDIA and path is not None:
                raise LimitExceeded(f"{exc}; or index the whole file with index_media (one memory per window or page)") from exc
            raise
        return media

    return await anyio.to_thread.run_sync(load)


async def embed_one(services: Services, item: EmbedItem, role: Role, ctx: Context | None, tool: str) -> Embedding:
    """Embed one item for a tool: refused before any work when the backend cannot embed one of its parts."""
    require_capabilities(services.backend, item.part_modalities, tool)
    [embedding] = await services.backend.embed([item], role, progress=progress_reporter(ctx))
    return embedding


async def capture_now(services: Services, monitor: int, region: Region | None) -> capture_mod.Capture:
    settings = services.settings.capture
    cap = await anyio.to_thread.run_sync(lambda: capture_mod.grab(monitor, region, settings))
    services.captures.put(cap)
    return cap


ANY_MEDIA = {Modality.IMAGE, Modality.AUDIO, Modality.VIDEO, Modality.PDF}
FILTER_SIZES = {"tags": 32, "metadata": 32, "modalities": 8, "ids": 10_000}
"""Most entries a filter field takes: each tag or metadata key becomes a SQL term, and 1,000 tags
overflowed SQLite. Checked here rather than published as maxItems, to keep the tool list short."""


class MemoryFilterArgs(BaseModel):
    # no docstring: it would become the schema's description in every tool that takes a filter

    model_config = ConfigDict(extra="forbid")

    since: datetime | None = Field(None, description="seen at/after")
    until: datetime | None = Field(None, description="seen at/before")
    modalities: list[str] | None = Field(None, description="e.g. ['image']")
    episode_id: str | None = None
    app: str | None = None
    tags: list[str] | None = Field(None, description="all of these")
    metadata: dict[str, str | int | float | bool | None] | None = Field(None, description="equality on keys")
    ids: list[int] | None = None


def filter_from_args(args: MemoryFilterArgs | None) -> Filter | None:
    if args is None:
        return None
    for name, most in FILTER_SIZES.items():
        value = getattr(args, name)
        if value is not None and len(value) == 0 and name != "ids":
            empty = "{}" if name == "metadata" else "[]"
            raise InvalidInput(f"filter.{name} is empty ({empty}): omit it, or give at least one to match")
        if value is not None and len(value) > most:
            raise InvalidInput(f"filter.{name} has {len(value)} entries, at most {most} are taken: narrow the filter")
    try:
        flt = Filter(**args.model_dump(exclude_none=True))
    except ValidationError as exc:
        raise InvalidInput(f"bad filter: {exc.errors()[0]['msg']}") from exc
    return None if flt.is_empty() else flt


def snippet(text: str | None, n: int = 300) -> str | None:
    if not text:
        return None
    return text if len(text) <= n else text[:n] + "…"


async def one_input(
    services: Services, tool: str, text: str | None, path: str | None, data_base64: str | None, capture_id: str | None
) -> tuple[EmbedItem, Media | None, dict[str, Any]]:
    given = {k: v for k, v in {"text": text, "path": path, "data_base64": data_base64, "capture_id": capture_id}.items() if v is not None}
    if len(given) != 1:
        raise InvalidInput(f"{tool} needs exactly one input: text, path, data_base64 or capture_id (got {sorted(given) or 'none'})")
    if text is not None:
        if not text.strip():
            raise InvalidInput("text is empty")
        return EmbedItem.of(text), None, {"kind": "text"}
    if capture_id is not None:
        media = intake.media_from_capture(capture_id, services.captures)
    else:
        media = await media_from_args(services, path, data_base64, ANY_MEDIA, tool)
    return EmbedItem.of(media), media, {"kind": media.modality.value, "path": path}

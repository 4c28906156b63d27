"""Perception tools: list and capture screens, embed text, screens, regions, images, audio, media.

Thin on purpose: validate, call tools/, shape the result. Each tool is a module-level function
taking `services` first (`toolkit.bind` hides it from the schema); `register` publishes them.
Descriptions are written for the model that calls them: what the tool does and returns, its limits.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import anyio
from mcp.server.mcpserver import Context
from mcp.types import CallToolResult, TextContent, ToolAnnotations
from pydantic import BaseModel, ConfigDict, Field

from ..tools import capture as capture_mod
from ..tools import intake
from ..tools.backends.base import EmbedItem, Role
from ..tools.capture import Region
from ..tools.errors import InvalidInput
from ..tools.limits import check_total_pixels
from ..tools.media import Media, Modality
from .app import Services
from .inputs import ANY_MEDIA, capture_now, embed_one, media_from_args
from .results import CaptureResult, EmbeddingHandle, MonitorInfo, MonitorList, image_content
from .toolkit import ToolDef, ToolSet

READ_ONLY = ToolAnnotations(readOnlyHint=True, destructiveHint=False, idempotentHint=True, openWorldHint=False)
EMBEDS = ToolAnnotations(readOnlyHint=True, destructiveHint=False, idempotentHint=True, openWorldHint=True)
"""Embedding may call a remote API (open world) but changes nothing the caller can see."""
CAPTURES = ToolAnnotations(readOnlyHint=True, destructiveHint=False, idempotentHint=False, openWorldHint=False)

PART_INPUTS = ("text", "path", "data_base64", "capture_id")


class Part(BaseModel):
    # one part: exactly one of text, path, data_base64, capture_id (the schema's `not` says so; a
    # docstring would repeat it as the schema's description in the tool list)

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"not": {"anyOf": [
            *({"required": [a, b]} for i, a in enumerate(PART_INPUTS) for b in PART_INPUTS[i + 1 :]),
            {"properties": {n: False for n in PART_INPUTS}},
        ]}},
    )

    text: str | None = None
    path: str | None = None
    data_base64: str | None = None
    capture_id: str | None = None


IncludeVector = bool
"""include_vector: the name says it; the tool descriptions say a handle comes back instead."""
Monitor = Annotated[int, Field(ge=0, description="0 = all screens, 1 = primary")]
Path_ = Annotated[str | None, Field(description="absolute path in the allowed roots")]
Base64 = Annotated[str | None, Field(description="file contents as base64 or a data: URL")]
RoleArg = Annotated[Literal["query", "document"], Field(description="query: looked for; document: stored or ranked")]


def _crop_capture(cap: capture_mod.Capture, region: Region) -> Media:
    if region.left + region.width > cap.width or region.top + region.height > cap.height:
        raise InvalidInput(
            f"region {region.geometry()} extends past capture "
            f"{cap.id} ({cap.width}x{cap.height} image pixels): regions on a capture_id are in that capture's pixels"
        )
    crop = cap.image.crop((region.left, region.top, region.left + region.width, region.top + region.height))
    return Media.from_image(crop, source={"capture_id": cap.id, "region": region.model_dump()})


async def _handle(
    services: Services, item: EmbedItem, role: Role, source: dict[str, Any], include_vector: bool, ctx: Context | None, tool: str
) -> EmbeddingHandle:
    embedding = await embed_one(services, item, role, ctx, tool)
    # off the loop: hashing the input and downscaling a kept image take time on large inputs
    stored = await anyio.to_thread.run_sync(lambda: services.handles.put(embedding, item, role, source))
    return EmbeddingHandle.of(stored, include_vector)


def _file_source(kind: str, path: str | None) -> dict[str, Any]:
    return {"kind": kind, "path": path} if path else {"kind": kind, "base64": True}


async def list_monitors(services: Services) -> MonitorList:
    """List the screens capture_screen can capture (screen pixels): 0 = all screens, 1 = primary."""
    monitors = await anyio.to_thread.run_sync(capture_mod.list_monitors)
    return MonitorList(monitors=[MonitorInfo(**m.model_dump(include=set(MonitorInfo.model_fields))) for m in monitors])


async def capture_screen(
    services: Services,
    monitor: Monitor = 1,
    region: Annotated[Region | None, Field(description="part of the monitor (screen pixels)")] = None,
) -> Annotated[CallToolResult, CaptureResult]:
    """Take a screenshot now: a preview image (under 1 MB) and a capture_id that the embed, remember
    and rank tools reuse. Large screens are downscaled: screen_x = screen_left + x * scale."""
    cap = await capture_now(services, monitor, region)
    data, mime = await anyio.to_thread.run_sync(lambda: capture_mod.preview(cap, services.settings.capture.preview_max_bytes))
    result = CaptureResult(
        capture_id=cap.id, monitor=cap.monitor, width=cap.width, height=cap.height, screen_left=cap.left,
        screen_top=cap.top, scale=cap.scale, preview_bytes=len(data),
    )
    summary = f"capture {cap.id}: monitor {cap.monitor}, {cap.width}x{cap.height} px, scale {cap.scale:g}"
    return CallToolResult(
        content=[image_content(data, mime), TextContent(type="text", text=summary)],
        structured_content=result.model_dump(),
    )


async def embed_text(
    services: Services,
    text: Annotated[str, Field(description="an instruction, a caption, a note")],
    ctx: Context,
    role: RoleArg = "query",
    include_vector: IncludeVector = False,
) -> EmbeddingHandle:
    """Embed a text; returns a handle (not the vector) to pass to remember or the rank tools."""
    if not text.strip():
        raise InvalidInput("text is empty: pass the words to embed")
    limit = services.settings.intake.max_text_chars
    if len(text) > limit:
        raise InvalidInput(f"text is {len(text)} characters, the limit is {limit}: split it or summarise it")
    return await _handle(services, EmbedItem.of(text), role, {"kind": "text"}, include_vector, ctx, "embed_text")


async def embed_screenshot(
    services: Services,
    ctx: Context,
    capture_id: Annotated[str | None, Field(description="reuse a capture; omit to capture now")] = None,
    monitor: Monitor = 1,
    title: Annotated[str | None, Field(description="window title or page name, embedded with it")] = None,
    include_vector: IncludeVector = False,
) -> EmbeddingHandle:
    """Embed a whole screenshot (a capture_id, or a fresh capture); returns a handle with the text read on it."""
    if not capture_id:
        capture_id = (await capture_now(services, monitor, None)).id
    media = intake.media_from_capture(capture_id, services.captures)
    source = {"kind": "screenshot", **media.source}
    handle = await _handle(services, EmbedItem.of(media, title=title), "document", source, include_vector, ctx, "embed_screenshot")
    # the local backend embeds a bounded read of the screen (its vector never changes); the lines it left
    # are read in the background after the answer, so a rank_ui_elements on this capture finds them read
    services.ocr.read_later()
    return handle


async def embed_region(
    services: Services,
    region: Region,
    ctx: Context,
    capture_id: Annotated[str | None, Field(description="a capture (region in its pixels); omit = capture now (screen pixels)")] = None,
    monitor: Monitor = 1,
    include_vector: IncludeVector = False,
) -> EmbeddingHandle:
    """Embed one rectangle of the screen (a dialog, a button, a panel)."""
    if capture_id:
        cap = services.captures.get(capture_id)
        media = await anyio.to_thread.run_sync(_crop_capture, cap, region)  # crop + PNG encode: off the loop
    else:
        media = intake.media_from_capture((await capture_now(services, monitor, region)).id, services.captures)
    source = {"kind": "region", "region": region.model_dump(), "capture_id": media.source.get("capture_id")}
    return await _handle(services, EmbedItem.of(media), "document", source, include_vector, ctx, "embed_region")


async def embed_image(
    services: Services,
    ctx: Context,
    path: Path_ = None,
    data_base64: Base64 = None,
    caption: Annotated[str | None, Field(description="embedded with the image")] = None,
    role: RoleArg = "document",
    include_vector: IncludeVector = False,
) -> EmbeddingHandle:
    """Embed an image (PNG, JPEG, WebP, GIF, BMP; type read from the bytes): path or data_base64."""
    media = await media_from_args(services, path, data_base64, {Modality.IMAGE}, "embed_image")
    parts: tuple[str | Media, ...] = (media, caption) if caption and caption.strip() else (media,)
    return await _handle(services, EmbedItem.of(*parts), role, _file_source("image", path), include_vector, ctx, "embed_image")


async def embed_audio(
    services: Services,
    ctx: Context,
    path: Path_ = None,
    data_base64: Base64 = None,
    role: RoleArg = "document",
    include_vector: IncludeVector = False,
) -> EmbeddingHandle:
    """Embed audio (WAV, MP3, FLAC, OGG): path or data_base64. Spoken instructions (role='query')
    match text; the offline backend takes speech only."""
    media = await media_from_args(services, path, data_base64, {Modality.AUDIO}, "embed_audio")
    return await _handle(services, EmbedItem.of(media), role, _file_source("audio", path), include_vector, ctx, "embed_audio")


async def embed_media(
    services: Services,
    ctx: Context,
    path: Path_ = None,
    data_base64: Base64 = None,
    include_vector: IncludeVector = False,
) -> EmbeddingHandle:
    """Embed a video (MP4, MOV, WebM; up to 120 s) or a PDF (up to 6 pages) as one vector; sends progress."""
    media = await media_from_args(services, path, data_base64, {Modality.VIDEO, Modality.PDF}, "embed_media")
    source = _file_source(media.modality.value, path)
    return await _handle(services, EmbedItem.of(media), "document", source, include_vector, ctx, "embed_media")


async def embed_multimodal(
    services: Services,
    parts: Annotated[list[Part], Field(min_length=1, max_length=16)],
    ctx: Context,
    role: RoleArg = "document",
    include_vector: IncludeVector = False,
) -> EmbeddingHandle:
    """Embed several parts (text, images, audio, captures) as ONE vector, e.g. a screenshot and its instruction."""
    if not parts:
        raise InvalidInput("parts is empty: give at least one part")
    items: list[str | Media] = []
    kinds: list[str] = []
    for n, part in enumerate(parts):
        given = [k for k, v in part.model_dump().items() if v is not None]
        if len(given) != 1:
            raise InvalidInput(f"parts[{n}] must have exactly one of text, path, data_base64, capture_id (got {given or 'none'})")
        if part.text is not None:
            if not part.text.strip():
                raise InvalidInput(f"parts[{n}].text is empty")
            items.append(part.text)
        elif part.capture_id is not None:
            items.append(intake.media_from_capture(part.capture_id, services.captures))
        else:
            items.append(await media_from_args(services, part.path, part.data_base64, ANY_MEDIA, "embed_multimodal"))
        kinds.append(given[0])
    pictures = [m.data for m in items if isinstance(m, Media) and m.modality is Modality.IMAGE]
    if len(pictures) > 1:
        await anyio.to_thread.run_sync(check_total_pixels, pictures, services.settings.intake)
    source = {"kind": "multimodal", "parts": kinds}
    return await _handle(services, EmbedItem.of(*items), role, source, include_vector, ctx, "embed_multimodal")


FILE_INPUTS = ("path", "data_base64")

TOOLS = (
    ToolDef(list_monitors, "List monitors", READ_ONLY),
    ToolDef(capture_screen, "Capture the screen", CAPTURES),
    ToolDef(embed_text, "Embed text", EMBEDS),
    ToolDef(embed_screenshot, "Embed a screenshot", EMBEDS),
    ToolDef(embed_region, "Embed a screen region", EMBEDS),
    ToolDef(embed_image, "Embed an image", EMBEDS, one_of=FILE_INPUTS),
    ToolDef(embed_audio, "Embed audio", EMBEDS, one_of=FILE_INPUTS),
    ToolDef(embed_media, "Embed a video or PDF", EMBEDS, one_of=FILE_INPUTS),
    ToolDef(embed_multimodal, "Embed parts as one vector", EMBEDS),
)


def register(tools: ToolSet, services: Services) -> None:
    tools.add_all(TOOLS, services)

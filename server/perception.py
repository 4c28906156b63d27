"""Perception tools: list and capture screens, embed text, screens, regions, images, audio, media.

Thin on purpose: validate, call tools/, shape the result. Descriptions are written for the
model that calls them: what the tool does, what it returns, its limits and side effects.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import anyio
from mcp.server.mcpserver import Context, MCPServer
from mcp.types import CallToolResult, TextContent, ToolAnnotations
from pydantic import BaseModel, Field

from ..tools import capture as capture_mod
from ..tools import intake
from ..tools.backends.base import EmbedItem, Role
from ..tools.errors import InvalidInput
from ..tools.media import Media, Modality
from .app import Services
from .errors import tool_errors
from .inputs import Region, capture_now, media_from_args, progress_reporter
from .results import CaptureResult, EmbeddingHandle, MonitorInfo, MonitorList, image_content

READ_ONLY = ToolAnnotations(readOnlyHint=True, destructiveHint=False, idempotentHint=True, openWorldHint=False)
EMBEDS = ToolAnnotations(readOnlyHint=True, destructiveHint=False, idempotentHint=True, openWorldHint=True)
"""Embedding may call a remote API (open world) but changes nothing the caller can see."""


class Part(BaseModel):
    """One part of a multimodal item: exactly one of text, path, data_base64, capture_id."""

    text: str | None = None
    path: str | None = None
    data_base64: str | None = None
    capture_id: str | None = None


IncludeVector = Annotated[bool, Field(description="also return the raw float vector (large; off by default)")]
Monitor = Annotated[int, Field(ge=0, description="monitor index from list_monitors; 0 = all screens, 1 = primary")]
Path_ = Annotated[str | None, Field(description="file path (must be inside the server's allowed roots)")]
Base64 = Annotated[str | None, Field(description="file contents as base64 or a data: URL")]
RoleArg = Annotated[Literal["query", "document"], Field(description="query = what you look for (an instruction); document = what is stored or ranked")]


async def _embed(
    services: Services, item: EmbedItem, role: Role, source: dict[str, Any], include_vector: bool, ctx: Context | None
) -> EmbeddingHandle:
    [embedding] = await services.backend.embed([item], role, progress=progress_reporter(ctx))
    stored = services.handles.put(embedding, item, role, source)
    return EmbeddingHandle.of(stored, include_vector)


def _crop_capture(cap: capture_mod.Capture, region: Region) -> Media:
    if region.left + region.width > cap.width or region.top + region.height > cap.height:
        raise InvalidInput(
            f"region {region.width}x{region.height}+{region.left}+{region.top} extends past capture "
            f"{cap.id} ({cap.width}x{cap.height} image pixels): regions on a capture_id are in that capture's pixels"
        )
    crop = cap.image.crop((region.left, region.top, region.left + region.width, region.top + region.height))
    return Media.from_image(crop, source={"capture_id": cap.id, "region": region.model_dump()})


def register(server: MCPServer, services: Services) -> None:
    @server.tool(annotations=READ_ONLY)
    @tool_errors
    async def list_monitors() -> MonitorList:
        """List the screens that capture_screen can capture: index, position and size in screen pixels.

        Index 0 is the bounding box of all screens, 1 the primary monitor. Fails with a clear
        message when the server has no display (headless, Wayland without X)."""
        monitors = await anyio.to_thread.run_sync(capture_mod.list_monitors)
        return MonitorList(monitors=[MonitorInfo(**m.model_dump(include=set(MonitorInfo.model_fields))) for m in monitors])

    @server.tool(annotations=ToolAnnotations(readOnlyHint=True, destructiveHint=False, idempotentHint=False, openWorldHint=False))
    @tool_errors
    async def capture_screen(
        monitor: Monitor = 1,
        region: Annotated[Region | None, Field(description="part of the monitor, in its screen pixels")] = None,
    ) -> Annotated[CallToolResult, CaptureResult]:
        """Take a screenshot now and return a preview image (under 1 MB) plus a capture_id.

        The capture is kept in memory (the most recent few dozen) so embed_screenshot,
        embed_region and the rank tools can reuse it by capture_id without capturing again.
        Large screens are downscaled (longest side 1568 px by default); 'scale' maps image
        pixels back to screen pixels: screen_x = screen_left + x * scale."""
        cap = await capture_now(services, monitor, region)
        data, mime = await anyio.to_thread.run_sync(
            lambda: capture_mod.preview(cap, services.settings.capture.preview_max_bytes)
        )
        result = CaptureResult(
            capture_id=cap.id,
            monitor=cap.monitor,
            width=cap.width,
            height=cap.height,
            screen_left=cap.left,
            screen_top=cap.top,
            scale=cap.scale,
            preview_bytes=len(data),
        )
        summary = f"capture {cap.id}: monitor {cap.monitor}, {cap.width}x{cap.height} px, scale {cap.scale:g}"
        return CallToolResult(
            content=[image_content(data, mime), TextContent(type="text", text=summary)],
            structured_content=result.model_dump(),
        )

    @server.tool(annotations=EMBEDS)
    @tool_errors
    async def embed_text(
        text: Annotated[str, Field(description="the text to embed (an instruction, a caption, a note)")],
        ctx: Context,
        role: RoleArg = "query",
        include_vector: IncludeVector = False,
    ) -> EmbeddingHandle:
        """Embed a text into the shared vector space and return a handle (not the vector).

        Use role='query' for what you are looking for (an instruction such as 'open the
        settings'), role='document' for text you will store or rank against."""
        if not text.strip():
            raise InvalidInput("text is empty: pass the words to embed")
        limit = services.settings.intake.max_text_chars
        if len(text) > limit:
            raise InvalidInput(f"text is {len(text)} characters, the limit is {limit}: split it or summarise it")
        return await _embed(services, EmbedItem.of(text), role, {"kind": "text"}, include_vector, ctx)

    @server.tool(annotations=EMBEDS)
    @tool_errors
    async def embed_screenshot(
        ctx: Context,
        capture_id: Annotated[str | None, Field(description="reuse a capture from capture_screen; omit to capture now")] = None,
        monitor: Monitor = 1,
        title: Annotated[str | None, Field(description="window title or page name, stored with the embedding")] = None,
        include_vector: IncludeVector = False,
    ) -> EmbeddingHandle:
        """Embed a whole screenshot: an existing capture_id, or a fresh capture of a monitor.

        Returns a handle with what the backend read on the screen (text_seen)."""
        if not capture_id:
            capture_id = (await capture_now(services, monitor, None)).id
        media = intake.media_from_capture(capture_id, services.captures)
        source = {"kind": "screenshot", **media.source}
        return await _embed(services, EmbedItem.of(media, title=title), "document", source, include_vector, ctx)

    @server.tool(annotations=EMBEDS)
    @tool_errors
    async def embed_region(
        region: Annotated[Region, Field(description="the rectangle to embed")],
        ctx: Context,
        capture_id: Annotated[str | None, Field(description="crop this capture (region in its image pixels); omit to capture the region now")] = None,
        monitor: Monitor = 1,
        include_vector: IncludeVector = False,
    ) -> EmbeddingHandle:
        """Embed one rectangle of the screen (a dialog, a button, a panel).

        With capture_id the region is in that capture's image pixels; without it the region
        is captured now, in the monitor's screen pixels."""
        if capture_id:
            media = _crop_capture(services.captures.get(capture_id), region)
        else:
            media = intake.media_from_capture((await capture_now(services, monitor, region)).id, services.captures)
        source = {"kind": "region", "region": region.model_dump(), "capture_id": media.source.get("capture_id")}
        return await _embed(services, EmbedItem.of(media), "document", source, include_vector, ctx)

    @server.tool(annotations=EMBEDS)
    @tool_errors
    async def embed_image(
        ctx: Context,
        path: Path_ = None,
        data_base64: Base64 = None,
        caption: Annotated[str | None, Field(description="optional text embedded together with the image")] = None,
        role: RoleArg = "document",
        include_vector: IncludeVector = False,
    ) -> EmbeddingHandle:
        """Embed an image file (PNG, JPEG, WebP, GIF, BMP) given as a path or base64.

        The MIME type is taken from the bytes, not the file name."""
        media = await media_from_args(services, path, data_base64, {Modality.IMAGE}, "embed_image")
        parts: tuple[str | Media, ...] = (media, caption) if caption and caption.strip() else (media,)
        source = {"kind": "image", "path": path} if path else {"kind": "image", "base64": True}
        return await _embed(services, EmbedItem.of(*parts), role, source, include_vector, ctx)

    @server.tool(annotations=EMBEDS)
    @tool_errors
    async def embed_audio(
        ctx: Context,
        path: Path_ = None,
        data_base64: Base64 = None,
        role: RoleArg = "document",
        include_vector: IncludeVector = False,
    ) -> EmbeddingHandle:
        """Embed an audio clip (WAV, MP3, FLAC, OGG): speech or, on the Gemini backend, any sound.

        A spoken instruction can be embedded with role='query' and matched against text.
        The local (offline) backend understands speech only and says so for other sounds."""
        media = await media_from_args(services, path, data_base64, {Modality.AUDIO}, "embed_audio")
        source = {"kind": "audio", "path": path} if path else {"kind": "audio", "base64": True}
        return await _embed(services, EmbedItem.of(media), role, source, include_vector, ctx)

    @server.tool(annotations=EMBEDS)
    @tool_errors
    async def embed_media(
        ctx: Context,
        path: Path_ = None,
        data_base64: Base64 = None,
        include_vector: IncludeVector = False,
    ) -> EmbeddingHandle:
        """Embed a video (MP4, MOV, WebM; up to 120 s) or a PDF (up to 6 pages) as one vector.

        Long work: progress notifications are sent while frames or pages are processed."""
        media = await media_from_args(services, path, data_base64, {Modality.VIDEO, Modality.PDF}, "embed_media")
        source = {"kind": media.modality.value, "path": path} if path else {"kind": media.modality.value, "base64": True}
        return await _embed(services, EmbedItem.of(media), "document", source, include_vector, ctx)

    @server.tool(annotations=EMBEDS)
    @tool_errors
    async def embed_multimodal(
        parts: Annotated[list[Part], Field(description="the parts, in order: each has exactly one of text, path, data_base64, capture_id", max_length=16)],
        ctx: Context,
        role: RoleArg = "document",
        include_vector: IncludeVector = False,
    ) -> EmbeddingHandle:
        """Embed several parts (text, images, audio, captures) together into ONE vector.

        Use it for a screenshot plus the instruction given on it, or an image with its caption."""
        if not parts:
            raise InvalidInput("parts is empty: give at least one part")
        items: list[str | Media] = []
        kinds: list[str] = []
        any_media = {Modality.IMAGE, Modality.AUDIO, Modality.VIDEO, Modality.PDF}
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
                items.append(await media_from_args(services, part.path, part.data_base64, any_media, "embed_multimodal"))
            kinds.append(given[0])
        return await _embed(services, EmbedItem.of(*items), role, {"kind": "multimodal", "parts": kinds}, include_vector, ctx)

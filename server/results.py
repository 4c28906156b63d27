"""Result models of the MCP tools (their output schemas) and the ImageContent budget."""

from __future__ import annotations

import base64
from datetime import datetime
from typing import Any

from mcp.types import ImageContent
from pydantic import BaseModel, Field

from ..memory.records import Memory
from ..tools.handles import StoredEmbedding


class EmbeddingHandle(BaseModel):
    """What every embed_* tool returns: a handle to pass on, and what the backend saw."""

    handle_id: str = Field(description="pass this to remember / rank tools instead of re-embedding")
    space: str = Field(description="embedding space, e.g. gemini/gemini-embedding-2@768; vectors of different spaces never mix")
    dimension: int
    modality: str = Field(description="text, image, audio, video, pdf or multimodal")
    role: str = Field(description="query (what is looked for) or document (what is stored/ranked)")
    content_hash: str = Field(description="sha256 of the embedded content: equal content, equal hash")
    source: dict[str, Any] = Field(default_factory=dict, description="where the input came from (capture, file, base64)")
    text_seen: str | None = Field(None, description="text the backend read or heard (OCR, transcript), truncated")
    vector: list[float] | None = Field(None, description="the raw vector, only with include_vector=true")

    @classmethod
    def of(cls, stored: StoredEmbedding, include_vector: bool, max_text: int = 500) -> EmbeddingHandle:
        emb = stored.embedding
        seen = text_seen(emb.extras)
        return cls(
            handle_id=stored.id,
            space=emb.space,
            dimension=emb.dimension,
            modality=stored.modality,
            role=stored.role,
            content_hash=stored.content_hash,
            source=stored.source,
            text_seen=(seen[:max_text] + "…" if seen and len(seen) > max_text else seen),
            vector=[round(float(x), 7) for x in emb.vector] if include_vector else None,
        )


def text_seen(extras: dict[str, Any]) -> str | None:
    if "text" in extras and isinstance(extras["text"], str):
        return extras["text"] or None
    transcript = extras.get("transcript")
    if isinstance(transcript, dict) and transcript.get("text"):
        return str(transcript["text"])
    ocr = extras.get("ocr")
    if isinstance(ocr, list) and ocr:
        return " ".join(str(w.get("text", "")) for w in ocr if isinstance(w, dict)) or None
    return None


class MonitorInfo(BaseModel):
    index: int = Field(description="0 is the union of all screens; 1.. are the physical monitors")
    left: int
    top: int
    width: int
    height: int


class MonitorList(BaseModel):
    monitors: list[MonitorInfo]


class CaptureResult(BaseModel):
    capture_id: str = Field(description="pass to embed_screenshot / embed_region / rank tools to reuse this capture")
    monitor: int
    width: int = Field(description="width of the stored capture in image pixels (after downscaling)")
    height: int
    screen_left: int = Field(description="screen x of the capture's top-left pixel")
    screen_top: int
    scale: float = Field(description="screen pixels per image pixel: screen_x = screen_left + x * scale")
    preview_bytes: int = Field(description="size of the attached preview image")


def image_content(data: bytes, mime_type: str) -> ImageContent:
    return ImageContent(type="image", data=base64.b64encode(data).decode("ascii"), mime_type=mime_type)


class MemorySummary(BaseModel):
    """What a tool says about a stored memory (recall hits and rank_states matches alike)."""

    id: int
    modality: str
    created_at: datetime
    last_seen: datetime
    seen_count: int
    episode_id: str | None
    text: str | None = Field(description="stored note/instruction/OCR/transcript, truncated")
    tags: list[str]
    source: dict[str, Any]
    metadata: dict[str, Any]
    has_thumbnail: bool

    @staticmethod
    def fields_of(m: Memory, max_text: int = 300) -> dict[str, Any]:
        text = m.text if not m.text or len(m.text) <= max_text else m.text[:max_text] + "…"
        return dict(
            id=m.id, modality=m.modality, created_at=m.created_at, last_seen=m.last_seen, seen_count=m.seen_count,
            episode_id=m.episode_id, text=text or None, tags=m.tags, source=m.source.model_dump(exclude_none=True),
            metadata=m.metadata, has_thumbnail=m.has_thumbnail,
        )

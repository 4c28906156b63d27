"""Memory tools: remember, recall, forget, list_episodes, memory_stats; resources sensorium://memory/{id}.

The store is opened lazily on first use, for the backend's space: vectors of another space
never enter it. Everything about *how* things are stored (exclusions, near-duplicate merges)
lives in the store; these tools embed, validate, say which inputs repeat (screenshots) and shape
results. Each tool is a module-level function taking `services` first; `register` publishes them.
"""

from __future__ import annotations

import io
import json
from datetime import datetime
from typing import Annotated, Any, Literal

import anyio
import numpy as np
from mcp.server.mcpserver import Context
from mcp.types import CallToolResult, TextContent, ToolAnnotations
from PIL import Image
from pydantic import BaseModel, Field, ValidationError

from ..memory.records import Hit, NewMemory, Source
from ..tools.errors import InvalidInput, NotFound
from ..tools.handles import StoredEmbedding
from ..tools.ranking import sounds
from ..tools.ranking.sounds import heard
from ..tools.media import Media, Modality
from .app import Services
from .indexing import MediaMoment, group_media_hits
from .inputs import FILTER_SIZES, MemoryFilterArgs, embed_one, filter_from_args, one_input, snippet
from .results import MemorySummary, image_content, text_seen
from .toolkit import ToolDef, ToolSet

STORED_IMAGE_SIDE = 1280
"""Images are kept at up to this size: large enough to OCR again on `memory reindex`."""
ATTACHED_THUMB_SIDE = 384
MAX_K = 100
SPOKEN_POOL = 20
"""A spoken query is re-ordered by sound among at least this many nearest memories (untuned)."""
MERGEABLE_MODALITIES = frozenset({Modality.IMAGE.value})
"""Screenshots of an unchanged screen repeat: one memory with a growing seen_count, not many."""


class RememberResult(BaseModel):
    id: int | None = Field(description="memory id (recall(memory_id=...), sensorium://memory/{id})")
    status: Literal["stored", "merged", "skipped"]
    merged_into: int | None = Field(None, description="the previous near-identical screenshot of the episode")
    skipped: str | None = Field(None, description="why nothing was stored (a privacy exclusion)")
    space: str
    modality: str
    text_seen: str | None = None


class RecallHit(MemorySummary):
    score: float = Field(description="cosine similarity (1.0 = same)")
    media: MediaMoment | None = Field(None, description="for a window of index_media: the file, time range or page")
    sound_match: float | None = Field(
        None, description="spoken queries only: how alike the heard words and the memory's text sound, 0..1; "
        "hits are then ordered by score + 0.5 * sound_match",
    )


class RecallResult(BaseModel):
    hits: list[RecallHit]
    space: str
    thumbnails_attached: int = 0


class ForgetResult(BaseModel):
    deleted: int


def _jpeg(data: bytes, side: int) -> bytes:
    img = Image.open(io.BytesIO(data)).convert("RGB")
    img.thumbnail((side, side))
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=80)
    return buf.getvalue()


def stored_image(media: Media | None) -> bytes | None:
    if media is None or media.modality is not Modality.IMAGE:
        return None
    return _jpeg(media.data, STORED_IMAGE_SIDE)


def stored_text(note: str | None, item_text: str | None, seen: str | None) -> str | None:
    """What a memory keeps as text: the note, then the input's words and what the backend read or heard.

    A backend that reports the words it embedded (the local one: `extras["text"]`) repeats a text
    input there, so `seen` replaces the input's text when it already contains it (no "X\nX")."""
    said = seen if seen and item_text and item_text in seen else "\n".join(t for t in (item_text, seen) if t)
    return "\n".join(t for t in (note, said) if t) or None


def _hit(h: Hit, media: MediaMoment | None = None) -> RecallHit:
    return RecallHit(score=round(h.score, 5), media=media, **MemorySummary.fields_of(h.memory))


GROUPING_OVERSAMPLE = 3
"""recall asks the store for k x this many hits, so k distinct moments remain after the windows
of one long file are grouped (index_media)."""


def grouped_hits(hits: list[Hit], k: int, sound_of: dict[int, float]) -> list[RecallHit]:
    """The first k distinct moments of `hits` (already in answer order), with their sound match if any."""
    kept, moments = group_media_hits([(h.memory.id, h.memory.metadata, h.memory.source.path) for h in hits])
    by_id = {h.memory.id: h for h in hits}
    return [_hit(by_id[i], moments.get(i)).model_copy(update={"sound_match": sound_of.get(i)}) for i in kept[:k]]


async def remember(
    services: Services,
    ctx: Context,
    handle_id: Annotated[str | None, Field(description="from an embed_* tool")] = None,
    text: str | None = None,
    path: Annotated[str | None, Field(description="image/audio/video/PDF file")] = None,
    data_base64: Annotated[str | None, Field(description="media as base64")] = None,
    capture_id: str | None = None,
    episode_id: Annotated[str | None, Field(description="groups the memories of one task or session", max_length=200)] = None,
    note: Annotated[str | None, Field(description="what happened; returned by recall")] = None,
    tags: Annotated[list[str] | None, Field(max_length=32)] = None,
    metadata: Annotated[dict[str, Any] | None, Field(description="JSON, filterable by equality")] = None,
    app: str | None = None,
    window_title: str | None = None,
) -> RememberResult:
    """Store one input (or an embed_* handle) in episodic memory. A near-identical screenshot merges
    into the previous one of its episode (seen_count grows); excluded apps/titles are skipped. Durable."""
    max_meta = services.settings.intake.max_metadata_bytes
    if metadata and len(json.dumps(metadata, ensure_ascii=False, default=str)) > max_meta:
        raise InvalidInput(
            f"metadata is over {max_meta:,} bytes as JSON (SENSORIUM_INTAKE__MAX_METADATA_BYTES): keep a few "
            "filterable fields there and put long text in 'note'"
        )
    stored: StoredEmbedding | None = None
    if handle_id is not None:
        if any(v is not None for v in (text, path, data_base64, capture_id)):
            raise InvalidInput("give either handle_id or one input (text, path, data_base64, capture_id), not both")
        stored = services.handles.get(handle_id)
        embedding, media, source_info = stored.embedding, stored.media, stored.source
        item_text = stored.text
        modality = stored.modality
    else:
        item, media, source_info = await one_input(services, "remember", text, path, data_base64, capture_id)
        embedding = await embed_one(services, item, "document", ctx, "remember")
        item_text = text or ""
        modality = item.modality
    seen = text_seen(embedding.extras)
    store = await services.memory()
    source = Source(app=app, window_title=window_title, monitor=source_info.get("monitor"), path=source_info.get("path"))
    try:
        record = NewMemory(
            vector=embedding.vector, space=embedding.space, modality=modality,
            content_hash=None if stored is None else stored.content_hash, source=source, episode_id=episode_id,
            text=stored_text(note, item_text, seen), tags=tags or [], metadata=metadata or {},
            thumbnail=await anyio.to_thread.run_sync(stored_image, media),
            visual=embedding.extras.get("visual") if isinstance(embedding.extras.get("visual"), list) else None,
            merge_near_duplicate=modality in MERGEABLE_MODALITIES,
        )
    except ValidationError as exc:
        err = exc.errors()[0]
        raise InvalidInput(f"{'.'.join(str(x) for x in err['loc'])}: {err['msg']}") from exc
    [res] = await store.add([record])
    return RememberResult(
        id=res.id, status=res.status, merged_into=res.merged_into, skipped=res.skipped, space=embedding.space,
        modality=modality, text_seen=snippet(seen),
    )


async def recall(
    services: Services,
    ctx: Context,
    text: str | None = None,
    path: Annotated[str | None, Field(description="image/audio file")] = None,
    data_base64: Annotated[str | None, Field(description="media as base64")] = None,
    capture_id: str | None = None,
    memory_id: int | None = None,
    k: Annotated[int, Field(ge=1, le=MAX_K)] = 5,
    filter: MemoryFilterArgs | None = None,
    min_score: Annotated[float | None, Field(ge=-1, le=1, description="drop results below this cosine")] = None,
    include_thumbnails: bool = False,
) -> Annotated[CallToolResult, RecallResult]:
    """Search episodic memory by text, media, a capture or a memory (any modality finds any other): best
    matches with score, time, episode, text, source; spoken queries also by sound (sound_match)."""
    if not 1 <= k <= MAX_K:
        raise InvalidInput(f"k is {k}: ask for 1 to {MAX_K} results")
    store = await services.memory()
    flt = filter_from_args(filter)
    spoken: list[str] | None = None
    if memory_id is not None:
        if any(v is not None for v in (text, path, data_base64, capture_id)):
            raise InvalidInput("give either memory_id or one query input, not both")
        mem = await store.get(memory_id, with_vector=True)
        if mem is None or mem.vector is None:
            raise NotFound(f"no memory with id {memory_id}: list_episodes or recall show the ids that exist")
        vector, space = mem.vector, store.space
    else:
        item, _, _ = await one_input(services, "recall", text, path, data_base64, capture_id)
        emb = await embed_one(services, item, "query", ctx, "recall")
        vector, space = emb.vector, emb.space
        spoken = heard(emb.extras)
    if spoken:
        # a spoken query: a wider pool by meaning, re-ordered with how alike each memory sounds
        # (a misheard word costs the cosine, not the sound match; tools/ranking/sounds.py)
        pool = await store.search(vector, min(MAX_K, max(4 * k, SPOKEN_POOL)), space=space, filter=flt, min_score=min_score)
        fused_scores, sound = sounds.fused(np.array([h.score for h in pool]), spoken, [h.memory.text for h in pool])
        order = sorted(range(len(pool)), key=lambda i: -fused_scores[i])
        sound_of = {pool[i].memory.id: round(float(sound[i]), 4) for i in order}
        pool = [pool[i] for i in order]
    else:
        pool = await store.search(vector, min(k * GROUPING_OVERSAMPLE, MAX_K), space=space, filter=flt, min_score=min_score)
        sound_of = {}
    result = RecallResult(hits=grouped_hits(pool, k, sound_of), space=store.space)
    by_id = {h.memory.id: h for h in pool}
    hits = [by_id[h.id] for h in result.hits]
    content: list[Any] = []
    if include_thumbnails:
        budget = services.settings.capture.preview_max_bytes - 50_000
        for h in hits:
            stored_image = await store.get_thumbnail(h.memory.id)
            if stored_image is None:
                continue
            thumb = await anyio.to_thread.run_sync(_jpeg, stored_image, ATTACHED_THUMB_SIDE)
            cost = len(thumb) * 4 // 3 + 200
            if cost > budget:
                break
            budget -= cost
            content.append(image_content(thumb, "image/jpeg"))
        result.thumbnails_attached = len(content)
    structured = result.model_dump(mode="json")
    summary = "; ".join(f"#{h.id} {h.score:.3f} {h.modality} {(h.text or '')[:60]!r}" for h in result.hits) or "no memories matched"
    # the text content carries the full result too: clients that ignore structuredContent still get it (spec: SHOULD)
    content.append(TextContent(type="text", text=f"{summary}\n{json.dumps(structured, ensure_ascii=False)}"))
    return CallToolResult(content=content, structured_content=structured)


async def forget(
    services: Services,
    ids: list[int] | None = None,
    episode_id: str | None = None,
    since: Annotated[datetime | None, Field(description="seen at or after")] = None,
    until: Annotated[datetime | None, Field(description="seen at or before")] = None,
) -> ForgetResult:
    """Permanently delete memories by ids, episode or time range (at least one; all must hold)."""
    if not any(v is not None for v in (ids, episode_id, since, until)):
        raise InvalidInput("forget needs ids, episode_id, since or until: refusing to delete everything")
    if ids is not None and len(ids) > FILTER_SIZES["ids"]:
        raise InvalidInput(f"ids has {len(ids)} entries, at most {FILTER_SIZES['ids']} per call: forget in batches")
    store = await services.memory()
    if ids is not None and episode_id is None and since is None and until is None:
        return ForgetResult(deleted=await store.delete(ids))
    flt = filter_from_args(MemoryFilterArgs(ids=ids, episode_id=episode_id, since=since, until=until))
    assert flt is not None
    return ForgetResult(deleted=await store.delete(flt))


async def list_episodes(services: Services) -> dict[str, Any]:
    """List the episodes in memory: counts, time span, modalities."""
    store = await services.memory()
    return {"episodes": [e.model_dump(mode="json") for e in await store.list_episodes()]}


async def memory_stats(services: Services) -> dict[str, Any]:
    """Size and health of the memory store: counts by modality, index state, disk use, space."""
    store = await services.memory()
    return (await store.stats()).model_dump(mode="json")


QUERY_INPUTS = ("text", "path", "data_base64", "capture_id")
READS = ToolAnnotations(readOnlyHint=True, destructiveHint=False, idempotentHint=True, openWorldHint=False)

TOOLS = (
    ToolDef(
        remember, "Remember", ToolAnnotations(readOnlyHint=False, destructiveHint=False, idempotentHint=False, openWorldHint=True),
        one_of=("handle_id", *QUERY_INPUTS),
    ),
    ToolDef(
        recall, "Recall memories", ToolAnnotations(readOnlyHint=True, destructiveHint=False, idempotentHint=True, openWorldHint=True),
        one_of=(*QUERY_INPUTS, "memory_id"),
    ),
    ToolDef(forget, "Forget memories", ToolAnnotations(readOnlyHint=False, destructiveHint=True, idempotentHint=True, openWorldHint=False)),
    ToolDef(list_episodes, "List episodes", READS),
    ToolDef(memory_stats, "Memory statistics", READS),
)


def register(tools: ToolSet, services: Services) -> None:
    tools.add_all(TOOLS, services)

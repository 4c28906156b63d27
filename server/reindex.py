"""`sensorium memory reindex`: copy a store of one embedding space into another, re-embedding.

Vectors of two spaces are not comparable, so switching backends (local -> Gemini, or another
dimension) would strand old memories. The store keeps what is needed to embed them again: the
text (notes, instructions, OCR, transcripts) and, for images, a stored copy of the image
(up to 1280 px, JPEG). Audio, video and PDF bytes are not kept, so those memories are
re-embedded from their text; a memory with neither text nor image is reported, not copied.
Merge counts (seen_count) start again at 1 in the new store.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from pydantic import BaseModel

from ..memory.records import Memory, NewMemory
from ..memory.store import dimension_of, existing_spaces, open_store
from ..tools.backends.base import EmbeddingBackend, EmbedItem
from ..tools.errors import InvalidInput, NotFound
from ..tools.media import Media
from .settings import Settings

Progress = Callable[[int, int], Awaitable[None] | None]


class ReindexReport(BaseModel):
    from_space: str
    to_space: str
    copied: int
    from_image: int
    from_text: int
    skipped: list[int]


async def reindex(
    settings: Settings, from_space: str, backend: EmbeddingBackend, *, batch: int = 16, progress: Progress | None = None
) -> ReindexReport:
    spaces = [s.space for s in existing_spaces(settings.memory, settings.data_dir)]
    if from_space not in spaces:
        raise NotFound(f"no memory store of space {from_space!r} under {settings.data_dir}; stores here: {spaces or 'none'}")
    if from_space == backend.space:
        raise InvalidInput(f"the store is already in space {from_space!r}: choose another backend or dimension")
    old = await open_store(settings.memory, settings.data_dir, from_space, dimension_of(from_space))
    new = await open_store(settings.memory, settings.data_dir, backend.space, backend.dimension)
    report = ReindexReport(from_space=from_space, to_space=backend.space, copied=0, from_image=0, from_text=0, skipped=[])
    try:
        ids = await old.list_ids()
        for start in range(0, len(ids), batch):
            memories = await old.get_many(ids[start : start + batch], with_vector=True)
            items: list[tuple[Memory, EmbedItem, bytes | None]] = []
            for m in memories:
                thumb = await old.get_thumbnail(m.id)
                if thumb is not None:
                    items.append((m, EmbedItem.of(Media.from_bytes(thumb)), thumb))
                    report.from_image += 1
                elif m.text:
                    items.append((m, EmbedItem.of(m.text), None))
                    report.from_text += 1
                else:
                    report.skipped.append(m.id)
            if items:
                embeddings = await backend.embed([it for _, it, _ in items], "document")
                records = [
                    NewMemory(
                        vector=e.vector, space=e.space, modality=m.modality, content_hash=m.content_hash, source=m.source,
                        episode_id=m.episode_id, text=m.text, tags=m.tags, metadata=m.metadata, thumbnail=thumb,
                        visual=e.extras.get("visual") if isinstance(e.extras.get("visual"), list) else m.visual,
                        created_at=m.created_at,
                    )
                    for (m, _, thumb), e in zip(items, embeddings, strict=True)
                ]
                report.copied += sum(r.status != "skipped" for r in await new.add(records, merge_duplicates=False))
            if progress is not None:
                maybe = progress(min(start + batch, len(ids)), len(ids))
                if maybe is not None:
                    await maybe
    finally:
        await old.close()
        await new.close()
    return report

"""Copy memory stores between engines (`sensorium memory migrate --to milvus|local`).

Why copy rather than re-embed: the vectors are the expensive part (an API call each on Gemini)
and they are the same space on both sides, so a store moves as it is — ids, vectors (bit for
bit), metadata, thumbnails, times, seen counts, episodes — and `sensorium://memory/{id}` links
keep working after the move.

Resumable: the target's ids are listed first and only the missing ones are copied (in id order,
batch by batch; each batch is acknowledged before the next), so an interrupted run is simply run
again. Verified: afterwards the id sets must be equal, and a random sample of memories must be
equal field by field, vectors byte for byte, thumbnails byte for byte. Copies never merge
near-duplicates; the target's privacy exclusions still apply (a skipped memory fails the check).
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from .config import MemorySettings
from .errors import InvalidRequest, MemoryStoreError
from .records import Memory, NewMemory
from .store import MemoryStore, existing_spaces, open_store, thumbnails_of

Progress = Callable[[str, int, int], Awaitable[None] | None]


class MigrationFailed(MemoryStoreError):
    """The copy finished but the target does not equal the source (the report says what differs)."""


class SpaceReport(BaseModel):
    space: str
    source_memories: int
    already_there: int
    copied: int
    skipped: int
    target_memories: int
    sampled: int
    mismatches: list[str]


class MigrationReport(BaseModel):
    source_engine: str
    target_engine: str
    spaces: list[SpaceReport]

    @property
    def ok(self) -> bool:
        return all(not s.mismatches and s.source_memories == s.target_memories for s in self.spaces)


def _as_new(m: Memory, thumb: bytes | None) -> NewMemory:
    return NewMemory(
        id=m.id, vector=m.vector, space=m.space, modality=m.modality, content_hash=m.content_hash, source=m.source,
        episode_id=m.episode_id, text=m.text, tags=m.tags, metadata=m.metadata, thumbnail=thumb, visual=m.visual,
        created_at=m.created_at, last_seen=m.last_seen, seen_count=m.seen_count,
    )


def _same(a: Memory, b: Memory, ta: bytes | None, tb: bytes | None) -> str | None:
    fields = a.model_dump(mode="json")
    other = b.model_dump(mode="json")
    for key in fields:
        if fields[key] != other[key]:
            return f"memory {a.id}: {key} differs ({fields[key]!r} vs {other[key]!r})"
    if a.vector is None or b.vector is None or a.vector.tobytes() != b.vector.tobytes():
        return f"memory {a.id}: vector differs"
    if (a.visual or None) != (b.visual or None):
        return f"memory {a.id}: visual descriptor differs"
    if ta != tb:
        return f"memory {a.id}: thumbnail differs"
    return None


async def copy_store(
    src: MemoryStore, dst: MemoryStore, *, batch: int = 500, sample: int = 100, progress: Progress | None = None,
    seed: int = 0,
) -> SpaceReport:
    """Copy every memory of `src` missing from `dst`, then verify. Both stores hold the same space."""
    if src.space != dst.space or src.dimension != dst.dimension:
        raise InvalidRequest(f"cannot copy space {src.space!r} into a store of {dst.space!r}")
    source_ids = await src.list_ids()
    present = set(await dst.list_ids())
    extra = present - set(source_ids)
    if extra:
        raise InvalidRequest(
            f"the target store of {src.space!r} holds {len(extra)} memories the source does not (e.g. id "
            f"{min(extra)}): migrate into an empty store, or forget them there first"
        )
    todo = [i for i in source_ids if i not in present]
    copied = skipped = 0
    for start in range(0, len(todo), batch):
        memories = await src.get_many(todo[start : start + batch], with_vector=True)
        thumbs = await thumbnails_of(src, memories)
        results = await dst.add([_as_new(m, thumbs.get(m.id)) for m in memories], merge_duplicates=False)
        copied += sum(r.status == "stored" for r in results)
        skipped += sum(r.status != "stored" for r in results)
        if progress is not None:
            maybe = progress(src.space, len(present) + start + len(memories), len(source_ids))
            if maybe is not None:
                await maybe
    # verify: the same ids, and a sample equal in every field, vector and thumbnail
    target_ids = await dst.list_ids()
    mismatches = []
    if target_ids != source_ids:
        missing = sorted(set(source_ids) - set(target_ids))
        mismatches.append(f"{len(missing)} memories missing from the target (e.g. {missing[:5]})")
    picks = sorted(random.Random(seed).sample(source_ids, min(sample, len(source_ids))))
    a_list = await src.get_many(picks, with_vector=True)
    b_by_id = {m.id: m for m in await dst.get_many(picks, with_vector=True)}
    a_thumbs, b_thumbs = await thumbnails_of(src, a_list), await thumbnails_of(dst, list(b_by_id.values()))
    for a in a_list:
        b = b_by_id.get(a.id)
        problem = (
            f"memory {a.id}: missing" if b is None else _same(a, b, a_thumbs.get(a.id), b_thumbs.get(a.id))
        )
        if problem:
            mismatches.append(problem)
    return SpaceReport(
        space=src.space, source_memories=len(source_ids), already_there=len(present), copied=copied, skipped=skipped,
        target_memories=len(target_ids), sampled=len(picks), mismatches=mismatches[:20],
    )


def engine_settings(settings: MemorySettings, engine: str) -> MemorySettings:
    return settings.model_copy(update={"engine": engine})


async def migrate(
    settings: MemorySettings, data_dir: Path, to: str, *, spaces: Sequence[str] | None = None, batch: int = 500,
    sample: int = 100, progress: Progress | None = None,
) -> MigrationReport:
    """Copy every store (or the listed spaces) of the other engine into `to`. Settings are shared: the local
    engine reads the data dir, the Milvus one `memory.milvus_*`."""
    if to not in ("local", "milvus"):
        raise InvalidRequest(f"--to must be 'local' or 'milvus', not {to!r}")
    source_engine = "local" if to == "milvus" else "milvus"
    src_settings, dst_settings = engine_settings(settings, source_engine), engine_settings(settings, to)
    available = [s.space for s in existing_spaces(src_settings, data_dir)]
    chosen = list(spaces) if spaces else available
    unknown = [s for s in chosen if s not in available]
    if unknown:
        raise InvalidRequest(f"no {source_engine} store of space(s) {unknown}; stores there: {available or 'none'}")
    from .store import dimension_of

    reports = []
    for space in chosen:
        dim = dimension_of(space)
        src: Any = await open_store(src_settings, data_dir, space, dim)
        try:
            dst: Any = await open_store(dst_settings, data_dir, space, dim)
            try:
                reports.append(await copy_store(src, dst, batch=batch, sample=sample, progress=progress))
            finally:
                await dst.close()
        finally:
            await src.close()
    return MigrationReport(source_engine=source_engine, target_engine=to, spaces=reports)

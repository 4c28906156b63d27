"""`sensorium memory migrate`: local -> Milvus -> local round trips with nothing lost or changed.

Runs against the session's real Milvus server (tests/conftest.py). The small round trip is in the
default run whenever the `milvus` package is installed; the 10k-memory one is `slow`.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from memory_support import JPEG, clustered
from sensorium.memory.config import MemorySettings
from sensorium.memory.migrate import copy_store, migrate
from sensorium.memory.store import thumbnails_of
from sensorium.memory.store import Filter, NewMemory, Source, open_store

SPACE = "test/migrate@32"
DIM = 32
T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


def _records(n: int) -> list[NewMemory]:
    vecs = clustered(n, DIM, seed=5)
    rng = np.random.default_rng(3)
    out = []
    for i, v in enumerate(vecs):
        out.append(
            NewMemory(
                vector=v * (1 + i % 3), space=SPACE, modality=["image", "text", "audio"][i % 3],
                episode_id=None if i % 11 == 0 else f"ep{i % 7}", source=Source(app=["Code", "Firefox"][i % 2], window_title=f"w{i}"),
                text=f"memory {i}" if i % 5 else None, tags=[f"t{i % 4}"] if i % 2 else [],
                metadata={"i": i, "flag": i % 2 == 0, "none": None, "s": "x" * (i % 9)},
                thumbnail=JPEG + bytes([i % 256]) * (i % 50) if i % 3 == 0 else None,
                visual=rng.standard_normal(16).astype(np.float32).tolist() if i % 3 == 0 else None,
                created_at=T0 + timedelta(seconds=i),
                last_seen=T0 + timedelta(seconds=i + i % 4),
                seen_count=1 + i % 4,  # as if near-duplicates had been merged into it
            )
        )
    return out


def _settings(server, **kw: object) -> MemorySettings:
    return MemorySettings(milvus_uri=server.uri, milvus_collection_prefix=f"m{uuid.uuid4().hex[:10]}_", **kw)  # type: ignore[arg-type]


async def _dump(settings: MemorySettings, data_dir: Path) -> dict[int, tuple]:
    store = await open_store(settings, data_dir, SPACE, DIM)
    try:
        ids = await store.list_ids()
        out = {}
        for start in range(0, len(ids), 1_000):
            memories = await store.get_many(ids[start : start + 1_000], with_vector=True)
            thumbs = await thumbnails_of(store, memories)  # one round trip per batch on Milvus
            for m in memories:
                out[m.id] = (
                    m.model_dump(mode="json"), m.vector.tobytes(),  # type: ignore[union-attr]
                    None if m.visual is None else np.asarray(m.visual, np.float32).tobytes(), thumbs.get(m.id),
                )
        return out
    finally:
        await store.close()


async def _round_trip(milvus_server, tmp_path: Path, n: int, batch: int) -> None:
    settings = _settings(milvus_server)
    first, back = tmp_path / "first", tmp_path / "back"
    local = await open_store(settings.model_copy(update={"engine": "local"}), first, SPACE, DIM)
    results = []
    for start in range(0, n, 1_000):
        results += await local.add(_records_cached(n)[start : start + 1_000])
    assert all(r.status == "stored" for r in results)
    await local.delete(Filter(episode_id="ep3", modalities=["audio"]))  # holes in the ids
    await local.close()
    before = await _dump(settings.model_copy(update={"engine": "local"}), first)

    to_milvus = await migrate(settings, first, "milvus", batch=batch)
    assert to_milvus.ok, to_milvus
    [rep] = to_milvus.spaces
    assert rep.copied == rep.source_memories == rep.target_memories == len(before) and rep.skipped == 0
    in_milvus = await _dump(settings.model_copy(update={"engine": "milvus"}), first)
    assert in_milvus == before

    back_report = await migrate(settings, back, "local", batch=batch)
    assert back_report.ok, back_report
    after = await _dump(settings.model_copy(update={"engine": "local"}), back)
    assert after == before  # ids, every field, vectors and thumbnails byte for byte

    again = await migrate(settings, back, "local", batch=batch)  # nothing left to copy
    assert again.ok and again.spaces[0].copied == 0 and again.spaces[0].already_there == len(before)


_CACHE: dict[int, list[NewMemory]] = {}


def _records_cached(n: int) -> list[NewMemory]:
    if n not in _CACHE:
        _CACHE[n] = _records(n)
    return _CACHE[n]


async def test_round_trip_local_milvus_local_keeps_everything(milvus_server, tmp_path: Path) -> None:
    await _round_trip(milvus_server, tmp_path, 120, batch=50)


@pytest.mark.slow
async def test_round_trip_of_10k_memories(milvus_server, tmp_path: Path) -> None:
    await _round_trip(milvus_server, tmp_path, 10_000, batch=1_000)


async def test_an_interrupted_migration_resumes(milvus_server, tmp_path: Path) -> None:
    settings = _settings(milvus_server)
    local_settings = settings.model_copy(update={"engine": "local"})
    src = await open_store(local_settings, tmp_path, SPACE, DIM)
    await src.add(_records(90), merge_duplicates=False)
    dst = await open_store(settings.model_copy(update={"engine": "milvus"}), tmp_path, SPACE, DIM)
    calls = 0

    def stop_after_two(space: str, done: int, total: int) -> None:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        await copy_store(src, dst, batch=20, progress=stop_after_two)
    assert len(await dst.list_ids()) == 40
    report = await copy_store(src, dst, batch=20)
    assert report.already_there == 40 and report.copied == 50 and not report.mismatches
    assert await dst.list_ids() == await src.list_ids()
    await src.close()
    await dst.close()


def test_cli_migrate_prints_a_report(milvus_server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    import asyncio
    import json

    from sensorium.server.cli import main

    async def seed() -> None:
        store = await open_store(MemorySettings(), tmp_path, SPACE, DIM)
        await store.add(_records(30))
        await store.close()

    asyncio.run(seed())
    monkeypatch.setenv("SENSORIUM_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("SENSORIUM_BACKEND", "hashing")
    monkeypatch.setenv("SENSORIUM_MEMORY__MILVUS_URI", milvus_server.uri)
    monkeypatch.setenv("SENSORIUM_MEMORY__MILVUS_COLLECTION_PREFIX", f"c{uuid.uuid4().hex[:8]}_")
    assert main(["memory", "migrate", "--to", "milvus", "--batch", "7"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["target_engine"] == "milvus" and report["spaces"][0]["target_memories"] == report["spaces"][0]["source_memories"]
    monkeypatch.setenv("SENSORIUM_MEMORY__ENGINE", "milvus")
    assert main(["memory", "stores"]) == 0
    assert SPACE in capsys.readouterr().out

"""Durability: an acknowledged add survives SIGKILL; a corrupt, missing or stale index is repaired on open."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from memory_support import CRASH_DIM, CRASH_SPACE, clustered, crash_vectors
from sensorium.memory.config import MemorySettings
from sensorium.memory.local import LocalMemoryStore
from sensorium.memory.store import NewMemory

SUPPORT = Path(__file__).with_name("memory_support.py")


def _spawn(mode: str, data_dir: Path, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(SUPPORT), mode, str(data_dir), *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )


def _run_until_killed(data_dir: Path, acks_wanted: int, start_seq: int) -> dict[int, int]:
    """Let the writer acknowledge `acks_wanted` records, SIGKILL it mid-stream, return {id: seq}."""
    proc = _spawn("write", data_dir, str(start_seq))
    acked: dict[int, int] = {}
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            _, id_, seq = line.split()
            acked[int(id_)] = int(seq)
            if len(acked) >= acks_wanted:
                os.kill(proc.pid, signal.SIGKILL)  # the writer is mid-add (it never pauses)
                break
        for line in proc.stdout:  # acks printed before the kill landed still count
            _, id_, seq = line.split()
            acked[int(id_)] = int(seq)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(30)
    assert proc.returncode == -signal.SIGKILL, f"writer exited with {proc.returncode} before the kill"
    assert len(acked) >= acks_wanted
    return acked


async def _assert_all_recalled(data_dir: Path, acked: dict[int, int]) -> str:
    vectors = crash_vectors()
    store = await LocalMemoryStore.open(data_dir, CRASH_SPACE, CRASH_DIM, MemorySettings(exact_below=0))
    try:
        st = await store.stats()
        assert st.memories >= len(acked)  # an unacknowledged last batch may or may not have committed
        assert st.index_elements == st.memories
        found = {m.id: m for m in await store.get_many(sorted(acked))}
        assert set(found) == set(acked)
        for id_, seq in acked.items():
            assert found[id_].text == f"record {seq}"
            assert await store.get_thumbnail(id_) is not None
            hits = await store.search(vectors[seq], 1, space=CRASH_SPACE)
            assert hits[0].memory.id == id_, (id_, seq)
        # thumbnails of rows that never committed were cleaned up
        names = {p.name for p in (store.path / "thumbs").iterdir()}
        assert len(names) == st.memories
        return st.opened
    finally:
        await store.close()


@pytest.mark.slow
async def test_every_acknowledged_add_survives_sigkill(tmp_path: Path) -> None:
    first = _run_until_killed(tmp_path, 300, 0)
    opened = await _assert_all_recalled(tmp_path, first)
    assert opened.startswith(("loaded", "caught up"))
    # a second life on the recovered store, killed again
    second = _run_until_killed(tmp_path, 200, 10_000)
    assert not set(first) & set(second)  # ids are never reused
    await _assert_all_recalled(tmp_path, first | second)


async def test_stale_index_is_caught_up_from_sqlite(tmp_path: Path) -> None:
    proc = _spawn("stale", tmp_path)
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "ready"
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(30)
    vectors = crash_vectors()
    store = await LocalMemoryStore.open(tmp_path, CRASH_SPACE, CRASH_DIM, MemorySettings(exact_below=0))
    st = await store.stats()
    assert st.opened == "caught up (+50 added, 10 deleted since the checkpoint)"
    assert st.memories == st.index_elements == 140
    assert (await store.search(vectors[140], 1, space=CRASH_SPACE))[0].memory.id == 141
    hits = await store.search(vectors[3], 150, space=CRASH_SPACE)
    assert len(hits) == 140 and min(h.memory.id for h in hits) == 11
    await store.close()
    store = await LocalMemoryStore.open(tmp_path, CRASH_SPACE, CRASH_DIM, MemorySettings(exact_below=0))
    assert (await store.stats()).opened == "loaded"  # the catch-up was checkpointed
    await store.close()


async def _filled_store(tmp_path: Path, n: int = 500) -> tuple[np.ndarray, Path]:
    vectors = clustered(n, CRASH_DIM, seed=9)
    store = await LocalMemoryStore.open(tmp_path, CRASH_SPACE, CRASH_DIM, MemorySettings(exact_below=0))
    await store.add([NewMemory(vector=v, space=CRASH_SPACE, modality="text") for v in vectors])
    path = store.path
    await store.close()
    return vectors, path


@pytest.mark.parametrize("damage", ["flip", "truncate", "delete"])
async def test_corrupt_or_missing_index_is_rebuilt(tmp_path: Path, damage: str) -> None:
    vectors, path = await _filled_store(tmp_path)
    [index_file] = list(path.glob("hnsw-*.bin"))
    if damage == "flip":
        raw = bytearray(index_file.read_bytes())
        for off in range(1_000, len(raw), len(raw) // 7):
            raw[off] ^= 0xFF
        index_file.write_bytes(bytes(raw))
    elif damage == "truncate":
        index_file.write_bytes(index_file.read_bytes()[:-100])
    else:
        index_file.unlink()
    store = await LocalMemoryStore.open(tmp_path, CRASH_SPACE, CRASH_DIM, MemorySettings(exact_below=0))
    st = await store.stats()
    assert st.opened.startswith("rebuilt") and ("checksum" in st.opened or "missing" in st.opened)
    assert st.memories == st.index_elements == 500
    for i in (0, 250, 499):
        assert (await store.search(vectors[i], 1, space=CRASH_SPACE))[0].memory.id == i + 1
    await store.close()
    store = await LocalMemoryStore.open(tmp_path, CRASH_SPACE, CRASH_DIM, MemorySettings(exact_below=0))
    assert (await store.stats()).opened == "loaded"
    assert len(list(path.glob("hnsw-*"))) == 1
    await store.close()


async def test_leftover_temp_checkpoint_and_orphan_thumbnail_are_removed(tmp_path: Path) -> None:
    _, path = await _filled_store(tmp_path, 50)
    (path / "hnsw-99.bin.tmp").write_bytes(b"half written")
    (path / "thumbs" / "777.jpg").write_bytes(b"\xff\xd8\xff orphan")
    store = await LocalMemoryStore.open(tmp_path, CRASH_SPACE, CRASH_DIM, MemorySettings())
    assert (await store.stats()).opened == "loaded"
    assert not (path / "hnsw-99.bin.tmp").exists() and not (path / "thumbs" / "777.jpg").exists()
    await store.close()


async def test_acknowledged_rows_not_yet_in_the_graph_are_found_and_survive_sigkill(tmp_path: Path) -> None:
    """Ingest acknowledges on the SQLite commit and graphs in the background (issue 16): a row the
    graph never saw is found by the next search and, after a SIGKILL, by the next process."""
    proc = _spawn("tail", tmp_path)
    acked: dict[int, int] = {}
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            if line.startswith("pending"):
                assert int(line.split()[1]) == 60  # none of them reached the graph
                break
            _, id_, seq = line.split()
            acked[int(id_)] = int(seq)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(30)
    assert len(acked) == 60
    opened = await _assert_all_recalled(tmp_path, acked)
    assert opened.startswith("caught up (+60 added"), opened

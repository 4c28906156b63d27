"""A Milvus server SIGKILLed mid-remember loses no acknowledged memory.

Milvus acknowledges an insert once it is in its write-ahead log (rocksmq on the standalone build),
not once it is in a sealed segment: this checks that "acknowledged" means "survives a crash" there,
with a server of its own (the session's shared one is not killed), writing one memory per call
from a thread while the server is killed and started again on the same ports and data.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import pytest
from memory_support import clustered
from milvus_support import MilvusProcess, milvus_installed
from sensorium.memory.config import MemorySettings
from sensorium.memory.errors import MemoryStoreError
from sensorium.memory.milvus import MilvusMemoryStore
from sensorium.memory.store import NewMemory

SPACE = "test/crash@32"
DIM = 32


def _wait(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


@pytest.mark.slow
def test_a_killed_server_loses_no_acknowledged_memory(tmp_path: Path) -> None:
    if not milvus_installed():
        pytest.skip("the Milvus server package is not installed (pip install '.[test]')")
    server = MilvusProcess(tmp_path / "milvus").start()
    try:
        settings = MemorySettings(engine="milvus", milvus_uri=server.uri, milvus_timeout=5)
        store = MilvusMemoryStore.open_sync(settings, SPACE, DIM)
        vecs = clustered(5_000, DIM, seed=11)
        acked: dict[int, int] = {}
        failures: list[str] = []
        stop = threading.Event()

        def writer() -> None:
            i = 0
            while not stop.is_set() and i < len(vecs):
                try:
                    [r] = store.add_sync([NewMemory(vector=vecs[i], space=SPACE, modality="text", text=f"m{i}")])
                    acked[int(r.id)] = i  # type: ignore[arg-type]
                except MemoryStoreError as exc:  # the server is down: this one was not acknowledged
                    failures.append(str(exc)[:120])
                    time.sleep(0.1)
                i += 1

        thread = threading.Thread(target=writer, daemon=True)
        thread.start()
        _wait(lambda: len(acked) >= 40, 120, "40 acknowledged memories")
        server.kill()
        before_restart = len(acked)
        server.start()
        _wait(lambda: len(acked) >= before_restart + 40, 180, "writes to resume after the restart")
        stop.set()
        thread.join(timeout=60)
        store.close_sync()

        fresh = MilvusMemoryStore.open_sync(settings, SPACE, DIM)
        try:
            stored = set(fresh.list_ids_sync())
            lost = sorted(set(acked) - stored)
            assert not lost, f"{len(lost)} of {len(acked)} acknowledged memories lost: {lost[:5]}"
            sample = sorted(acked)[:: max(1, len(acked) // 50)]
            for m in fresh.get_many_sync(sample, with_vector=True):
                assert m.vector.tobytes() == vecs[acked[m.id]].astype(np.float32).tobytes()  # type: ignore[union-attr]
                assert m.text == f"m{acked[m.id]}"
        finally:
            fresh.close_sync()
        print(f"acknowledged {len(acked)} ({before_restart} before the kill), {len(failures)} refused while down")
    finally:
        server.stop(grace=0)  # its data is not read again

"""Several processes on one store (one `sensorium serve` per MCP client): every acknowledged add is
visible to every process, deletes are honoured everywhere, a SIGKILLed process loses nothing acknowledged.

The other processes are real: this file run as a script is a worker that opens the store with
`LocalMemoryStore.open_sync` and answers one JSON command a line on stdin.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from memory_support import CRASH_DIM, CRASH_SPACE, JPEG, crash_vectors
from sensorium.memory.config import MemorySettings
from sensorium.memory.local import LocalMemoryStore

HERE = Path(__file__)
SUPPORT = HERE.with_name("memory_support.py")


# ---- the worker (a separate process) ---------------------------------------------------------
def _worker(data_dir: str, settings_json: str) -> None:
    from sensorium.memory.records import NewMemory

    vectors = crash_vectors()
    store = LocalMemoryStore.open_sync(Path(data_dir), CRASH_SPACE, CRASH_DIM, MemorySettings(**json.loads(settings_json)))

    def rec(seq: int) -> NewMemory:
        return NewMemory(
            vector=vectors[seq], space=CRASH_SPACE, modality="text", text=f"record {seq}", metadata={"seq": seq},
            thumbnail=JPEG,
        )

    def top(seq: int, k: int = 1) -> list[int]:
        return [h.memory.id for h in store.search_sync(vectors[seq], k, space=CRASH_SPACE)]

    def stress(seconds: float, start: int, delete_every: int) -> dict[str, Any]:
        """Add (batches of 1-3) and search as fast as possible; delete every `delete_every`-th own record."""
        rng = random.Random(start)
        acked: dict[int, int] = {}
        deleted: list[int] = []
        seq, errors, searches = start, [], 0
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            try:
                batch = list(range(seq, seq + 1 + seq % 3))
                for s, r in zip(batch, store.add_sync([rec(s) for s in batch]), strict=True):
                    acked[int(r.id)] = s  # type: ignore[arg-type]
                    if s % delete_every == 0:
                        store.delete_sync([int(r.id)])  # type: ignore[arg-type]
                        deleted.append(int(r.id))  # type: ignore[arg-type]
                seq += len(batch)
                probe = rng.choice(list(acked))
                found = top(acked[probe], 3)
                searches += 1
                if probe not in deleted and found[0] != probe:
                    errors.append(f"search for own {probe} gave {found}")
                if probe in deleted and probe in found:
                    errors.append(f"own deleted {probe} returned")
            except Exception as exc:  # noqa: BLE001 - reported to the test
                errors.append(repr(exc))
        return {"acked": acked, "deleted": deleted, "errors": errors, "searches": searches}

    def verify(acked: dict[str, int], deleted: list[int]) -> list[str]:
        """Every kept record is found by its own vector and by get; no deleted one comes back."""
        problems = []
        gone = set(deleted)
        got = {m.id: m for m in store.get_many_sync([int(i) for i in acked])}
        for id_s, seq in acked.items():
            id_ = int(id_s)
            if id_ in gone:
                if id_ in got or id_ in top(seq, 3):
                    problems.append(f"deleted {id_} still visible")
                continue
            if id_ not in got or got[id_].text != f"record {seq}":
                problems.append(f"get({id_}) -> {got.get(id_)}")
            elif (found := top(seq)) != [id_]:
                problems.append(f"search for {id_} gave {found}")
            elif store.get_thumbnail_sync(id_) != JPEG:
                problems.append(f"thumbnail of {id_} missing")
        return problems

    def stats() -> dict[str, int]:
        st = store.stats_sync()
        return {"memories": st.memories, "index_elements": st.index_elements}

    commands = {
        "add": lambda seqs: [r.id for r in store.add_sync([rec(s) for s in seqs])],
        "search": top,
        "get": lambda ids: [m.id for m in store.get_many_sync(ids)],
        "delete": lambda ids: store.delete_sync(ids),
        "stats": stats,
        "stress": stress,
        "verify": verify,
    }
    print(json.dumps({"ok": "ready"}), flush=True)
    for line in sys.stdin:
        name, args = json.loads(line)
        if name == "close":
            break
        try:
            out = {"ok": commands[name](*args)}
        except Exception as exc:  # noqa: BLE001 - reported to the test
            out = {"error": repr(exc)}
        print(json.dumps(out), flush=True)
    store.close_sync()
    print(json.dumps({"ok": "closed"}), flush=True)


if __name__ == "__main__":
    _worker(sys.argv[1], sys.argv[2])
    sys.exit(0)


# ---- the tests -------------------------------------------------------------------------------


class Worker:
    def __init__(self, data_dir: Path, **settings: object) -> None:
        self.log = open(data_dir / f"worker-{time.monotonic_ns()}.log", "w")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [sys.executable, str(HERE), str(data_dir), json.dumps(settings)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.log, text=True,
        )
        assert self._reply() == "ready"

    def _reply(self) -> Any:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        assert line, f"worker died (exit {self.proc.poll()})"
        out = json.loads(line)
        assert "error" not in out, out["error"]
        return out["ok"]

    def send(self, name: str, *args: object) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps([name, list(args)]) + "\n")
        self.proc.stdin.flush()

    def __call__(self, name: str, *args: object) -> Any:
        self.send(name, *args)
        return self._reply()

    def close(self) -> None:
        if self.proc.poll() is None:
            assert self("close") == "closed"
            self.proc.wait(30)
        self.log.close()

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(30)
        self.log.close()


@pytest.fixture
def workers(tmp_path: Path):  # type: ignore[no-untyped-def]
    started: list[Worker] = []

    def start(**settings: object) -> Worker:
        w = Worker(tmp_path, **settings)
        started.append(w)
        return w

    yield start
    for w in started:
        w.kill()


@pytest.mark.parametrize("exact_below", [0, 2000], ids=["hnsw", "exact"])
def test_adds_are_seen_and_deletes_honoured_across_processes(workers, exact_below: int) -> None:  # type: ignore[no-untyped-def]
    b = workers(exact_below=exact_below)  # open before A's adds
    a = workers(exact_below=exact_below)
    ids = a("add", list(range(60)))
    assert len(set(ids)) == 60
    assert b("get", ids) == ids
    for seq in (0, 10, 33, 59):
        assert b("search", seq) == [ids[seq]]
    assert b("stats") == {"memories": 60, "index_elements": 60}
    # B deletes; A (which added it) no longer returns it, from search or get
    assert a("search", 10, 3)[0] == ids[10]
    assert b("delete", [ids[10], ids[11]]) == 2
    assert ids[10] not in a("search", 10, 5) and ids[11] not in a("search", 11, 5)
    assert a("get", ids[9:13]) == [ids[9], ids[12]]
    assert a("stats") == {"memories": 58, "index_elements": 58}
    # and the other way round, with new ids continuing after both processes' rows
    more = b("add", [100, 101])
    assert min(more) > max(ids)
    assert a("search", 101) == [more[1]]
    assert a("delete", [more[0]]) == 1
    assert more[0] not in b("search", 100, 5)
    a.close()
    b.close()


@pytest.mark.slow
def test_concurrent_writers_and_searchers_stay_consistent(tmp_path: Path, workers) -> None:  # type: ignore[no-untyped-def]
    # small checkpoint thresholds: both processes contend for checkpoint.lock all the time
    settings = {"exact_below": 0, "checkpoint_every": 25, "checkpoint_min_seconds": 0.0}
    a, b = workers(**settings), workers(**settings)
    a.send("stress", 2.0, 0, 7)
    b.send("stress", 2.0, 10_000, 5)
    ra, rb = a._reply(), b._reply()
    assert ra["errors"] == [] and rb["errors"] == []
    assert len(ra["acked"]) > 10 and len(rb["acked"]) > 10 and ra["searches"] and rb["searches"]
    acked = {**ra["acked"], **rb["acked"]}
    assert len(acked) == len(ra["acked"]) + len(rb["acked"])  # no id acknowledged to both
    deleted = ra["deleted"] + rb["deleted"]
    kept = len(acked) - len(deleted)
    for w in (a, b):
        assert w("stats") == {"memories": kept, "index_elements": kept}
        assert w("verify", acked, deleted) == []
    a.close()
    b.close()
    # reopened alone: the checkpoint either of them left is caught up to the same truth
    store = LocalMemoryStore.open_sync(tmp_path, CRASH_SPACE, CRASH_DIM, MemorySettings())
    try:
        st = store.stats_sync()
        assert st.memories == st.index_elements == kept
        assert len(list((store.path / "thumbs").iterdir())) == kept
    finally:
        store.close_sync()


@pytest.mark.slow
def test_a_killed_process_loses_no_acknowledged_add(tmp_path: Path, workers) -> None:  # type: ignore[no-untyped-def]
    b = workers(exact_below=0, checkpoint_every=30, checkpoint_min_seconds=0.0)
    # the crash writer of test_memory_crash: adds without pause, checkpoints every 40 changes
    writer = subprocess.Popen(
        [sys.executable, str(SUPPORT), "write", str(tmp_path), "0"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )
    acked: dict[int, int] = {}
    try:
        b.send("stress", 2.5, 10_000, 10**9)  # B keeps adding and searching meanwhile
        assert writer.stdout is not None
        for line in writer.stdout:
            _, id_, seq = line.split()
            acked[int(id_)] = int(seq)
            if len(acked) >= 150:
                os.kill(writer.pid, signal.SIGKILL)
                break
        for line in writer.stdout:
            _, id_, seq = line.split()
            acked[int(id_)] = int(seq)
    finally:
        if writer.poll() is None:
            writer.kill()
        writer.wait(30)
    assert writer.returncode == -signal.SIGKILL
    rb = b._reply()
    assert rb["errors"] == [] and len(rb["acked"]) > 10
    both = {**{str(k): v for k, v in acked.items()}, **rb["acked"]}
    assert len(both) == len(acked) + len(rb["acked"])
    # B, still open, sees every record the dead writer acknowledged (and its own)
    assert b("verify", both, []) == []
    st = b("stats")
    assert st["memories"] == st["index_elements"] >= len(both)
    b.close()
    # a later opener, alone, removes the dead writer's orphan thumbnail (if any) and keeps every ack
    store = LocalMemoryStore.open_sync(tmp_path, CRASH_SPACE, CRASH_DIM, MemorySettings(exact_below=0))
    try:
        st2 = store.stats_sync()
        assert st2.memories == st2.index_elements == st["memories"]
        assert len(list((store.path / "thumbs").iterdir())) == st2.memories
        assert {m.id for m in store.get_many_sync(list(acked))} == set(acked)
    finally:
        store.close_sync()

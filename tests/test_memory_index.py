"""The HNSW wrapper on its own: recall against exact numpy, growth, deletions, filters, checkpoints."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest
from memory_support import clustered, exact_knn, queries_near, recall_at_k
from sensorium.memory.config import MemorySettings
from sensorium.memory.index import CheckpointInfo, HnswIndex, IndexCorrupt, RWLock


@pytest.fixture(scope="module")
def data_10k() -> np.ndarray:
    return clustered(10_000, 768, seed=3)


@pytest.fixture(scope="module")
def index_10k(data_10k: np.ndarray) -> HnswIndex:
    idx = HnswIndex(768, MemorySettings(initial_capacity=1024))  # grows ~8 times on the way
    for start in range(0, len(data_10k), 2_500):
        chunk = data_10k[start : start + 2_500]
        idx.add(np.arange(start + 1, start + 1 + len(chunk)), chunk)
    return idx


def test_recall_at_10_against_exact_numpy_on_10k_clustered(data_10k: np.ndarray, index_10k: HnswIndex) -> None:
    queries = queries_near(data_10k, 300, seed=11)
    truth = exact_knn(data_10k, queries, 10) + 1  # labels are row numbers + 1 (rowids start at 1)
    found = []
    for q in queries:
        result = index_10k.search(q, 10)
        assert result is not None
        found.append(result[0].tolist())
    assert recall_at_k(found, truth) >= 0.97
    assert index_10k.capacity >= 10_000 and index_10k.live_count == 10_000


def test_exact_search_is_the_numpy_ground_truth(data_10k: np.ndarray, index_10k: HnswIndex) -> None:
    queries = queries_near(data_10k, 5, seed=12)
    truth = exact_knn(data_10k, queries, 10) + 1
    for q, t in zip(queries, truth, strict=True):
        labels, scores = index_10k.exact(q, 10)
        assert labels.tolist() == t.tolist()
        np.testing.assert_allclose(scores, np.sort(data_10k @ q)[::-1][:10], rtol=1e-5)


def test_scores_are_cosine(data_10k: np.ndarray, index_10k: HnswIndex) -> None:
    labels, scores = index_10k.search(data_10k[41], 3)  # type: ignore[misc]
    assert labels[0] == 42
    assert scores[0] == pytest.approx(1.0, abs=1e-5)
    assert scores[1] == pytest.approx(float(data_10k[41] @ data_10k[labels[1] - 1]), abs=1e-5)


def test_grows_past_initial_capacity_one_by_one() -> None:
    x = clustered(300, 32, seed=1)
    idx = HnswIndex(32, MemorySettings(initial_capacity=16))
    for i, v in enumerate(x):
        idx.add(np.array([i + 1]), v[None, :])
    assert idx.live_count == 300 and idx.capacity >= 300
    assert idx.search(x[299], 1)[0][0] == 300  # type: ignore[index]


def test_deleted_labels_are_never_returned() -> None:
    x = clustered(500, 32, seed=2)
    idx = HnswIndex(32, MemorySettings())
    idx.add(np.arange(1, 501), x)
    gone = list(range(1, 251))
    assert idx.mark_deleted(gone + [9999]) == 250  # unknown labels are ignored
    assert idx.mark_deleted(gone) == 0  # and so are already deleted ones
    assert (idx.live_count, idx.deleted_count) == (250, 250)
    for q in x[:50]:
        labels, _ = idx.search(q, 10)  # type: ignore[misc]
        assert not set(labels.tolist()) & set(gone)
        assert len(labels) == 10
        ex, _ = idx.exact(q, 10)
        assert not set(ex.tolist()) & set(gone)


def test_filter_predicate_and_too_restrictive_filter() -> None:
    x = clustered(2_000, 32, seed=4)
    idx = HnswIndex(32, MemorySettings())
    idx.add(np.arange(1, 2001), x)
    allowed = set(range(1, 2001, 10))
    labels, _ = idx.search(x[500], 10, allowed.__contains__)  # type: ignore[misc]
    assert len(labels) == 10 and set(labels.tolist()) <= allowed
    tiny = {5, 6, 7}
    assert idx.search(x[500], 10, tiny.__contains__) is None  # cannot give 10: the caller goes exact
    ex, _ = idx.exact(x[500], 10, np.array(sorted(tiny)))
    assert sorted(ex.tolist()) == [5, 6, 7]


def test_checkpoint_roundtrip_and_reconcile(tmp_path: Path) -> None:
    x = clustered(1_000, 32, seed=5)
    s = MemorySettings()
    idx = HnswIndex(32, s)
    idx.add(np.arange(1, 1001), x)
    idx.mark_deleted(range(1, 101))
    info = idx.save(tmp_path, "hnsw-1.bin")
    assert not list(tmp_path.glob("*.tmp"))
    assert (info.elements, info.live, info.max_label) == (1000, 900, 1000)

    loaded = HnswIndex.load(tmp_path / "hnsw-1.bin", 32, s, info)
    # the truth has lost 101..110 and gained 1001..1010 since the checkpoint
    truth = list(range(111, 1011))
    extra = clustered(1_010, 32, seed=5)  # same seed: rows 0..999 equal x
    added, deleted = loaded.reconcile(truth, lambda ids: extra[np.asarray(ids) - 1])
    assert (added, deleted) == (10, 10)
    assert (loaded.live_count, loaded.deleted_count) == (900, 110)
    labels, _ = loaded.search(extra[1005], 5)  # type: ignore[misc]
    assert labels[0] == 1006
    assert not set(loaded.exact(x[50], 50)[0].tolist()) & set(range(1, 111))


def test_corrupt_missing_or_miscounted_checkpoint_is_refused_before_parsing(tmp_path: Path) -> None:
    x = clustered(200, 16, seed=6)
    s = MemorySettings()
    idx = HnswIndex(16, s)
    idx.add(np.arange(1, 201), x)
    info = idx.save(tmp_path, "hnsw-1.bin")
    path = tmp_path / "hnsw-1.bin"
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 2 : len(raw) // 2 + 8] = b"\xff" * 8
    path.write_bytes(bytes(raw))
    with pytest.raises(IndexCorrupt, match="checksum"):
        HnswIndex.load(path, 16, s, info)
    with pytest.raises(IndexCorrupt, match="missing"):
        HnswIndex.load(tmp_path / "nope.bin", 16, s, info)
    info2 = idx.save(tmp_path, "hnsw-2.bin")
    wrong = CheckpointInfo(**{**info2.__dict__, "elements": 199})
    with pytest.raises(IndexCorrupt, match="elements"):
        HnswIndex.load(tmp_path / "hnsw-2.bin", 16, s, wrong)


def test_rwlock_writer_waits_for_readers_and_blocks_new_ones() -> None:
    lock = RWLock()
    wrote = threading.Event()
    reader_in = threading.Event()

    def writer() -> None:
        with lock.write():
            wrote.set()

    def late_reader() -> None:
        with lock.read():
            reader_in.set()

    with lock.read():
        with lock.read():  # readers share
            pass
        w = threading.Thread(target=writer)
        w.start()
        w.join(0.2)
        assert not wrote.is_set()  # a reader holds the lock
        r = threading.Thread(target=late_reader)
        r.start()
        r.join(0.2)
        assert not reader_in.is_set()  # a waiting writer keeps new readers out
    w.join(5)
    r.join(5)
    assert wrote.is_set() and reader_in.is_set()

"""The HNSW index: hnswlib made safe to share, to grow, to forget and to checkpoint.

hnswlib is fast but sharp: searching while inserting is unsafe, `add_items` past
`max_elements` fails, deletions only mark, and loading a damaged file can crash the process
(a flipped byte segfaulted `load_index` here). So this wrapper:

- guards it with a writer-preferring readers/writer lock (searches in parallel, mutations alone);
- grows it by half with `resize_index` before an add would overflow;
- tracks live and deleted labels, so callers can decide when to compact (rebuild);
- checkpoints atomically (temp file + fsync + rename + fsync of the folder) and returns the
  file's sha256 and counts, which the store records in SQLite; `load` refuses a file whose
  checksum or counts disagree *before* hnswlib parses it;
- keeps a *tail*: vectors the store has made durable but the graph does not hold yet
  (`add(..., graph=False)`; `graph_pending` moves them into the graph in small chunks, from the
  store's background indexer thread). Every search merges the graph's answer with an exact scan
  of the tail, so a fresh memory is found by the next search however far behind the graph is;
- offers exact numpy search (small stores, restrictive filters, ground truth in tests) from
  its own dense float32 copy of the vectors. That copy doubles the RAM of the vectors
  (+3 KB a 768-d memory, ~300 MB at 100k) and is deliberate: hnswlib's `get_items` costs
  ~100 us a vector and SQLite BLOB reads ~10 us, so an exact pass over 5,000 filtered rows took
  400 ms / 45 ms that way and takes ~3 ms from the copy (bench/bench_memory.py, docs/MEMORY.md).

Labels are SQLite rowids: the store's id is the label, no mapping table needed.
Vectors must be L2-normalised by the caller: the space is inner product ('ip'), so the score
is the cosine similarity.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from itertools import islice
from dataclasses import dataclass
from pathlib import Path

import hnswlib
import numpy as np

from .config import MemorySettings

log = logging.getLogger(__name__)

_BATCH = 10_000


class IndexCorrupt(Exception):
    """The checkpoint file cannot be trusted (missing, checksum or count mismatch, unreadable)."""


class WouldBlock(Exception):
    """A non-waiting call found a lock taken: the caller retries on a worker thread."""


class RWLock:
    """Many readers or one writer; a waiting writer blocks new readers so inserts are not starved."""

    def __init__(self) -> None:
        self._mutex = threading.Lock()
        self._cond = threading.Condition(self._mutex)
        self._sleepers = 0  # threads waiting on _cond: a reader leaving wakes someone only if there is one
        self._readers = 0
        self._writer = False
        self._writers_waiting = 0

    def _wait(self) -> None:
        """`_cond.wait()`, counted (caller holds the mutex)."""
        self._sleepers += 1
        try:
            self._cond.wait()
        finally:
            self._sleepers -= 1

    @contextmanager
    def read(self) -> Iterator[None]:
        with self._cond:
            while self._writer or self._writers_waiting:
                self._wait()
            self._readers += 1
        try:
            yield
        finally:
            with self._cond:
                self._readers -= 1
                if not self._readers:
                    self._cond.notify_all()

    def acquire_read(self, blocking: bool = True) -> bool:
        """The read lock without a context manager (the search path: two generator frames cost
        ~10 us a recall, a twentieth of the graph walk); False when not blocking and taken.
        Both take the bare mutex (Condition's `with` is a Python-level call) and wake sleepers only
        when there are some (`notify_all` is Python-level too): issue 16, the search's overhead."""
        with self._mutex:
            if not blocking and (self._writer or self._writers_waiting):
                return False
            while self._writer or self._writers_waiting:
                self._wait()
            self._readers += 1
        return True

    def release_read(self) -> None:
        with self._mutex:
            self._readers -= 1
            if not self._readers and self._sleepers:
                self._cond.notify_all()

    @contextmanager
    def try_read(self) -> Iterator[bool]:
        """A read lock only if it is free now (no writer holds or waits for it): yields whether held."""
        with self._cond:
            held = not (self._writer or self._writers_waiting)
            if held:
                self._readers += 1
        try:
            yield held
        finally:
            if held:
                with self._cond:
                    self._readers -= 1
                    if not self._readers:
                        self._cond.notify_all()

    @contextmanager
    def write(self, *, polite: bool = False) -> Iterator[None]:
        """`polite` (the background indexer): wait until no other writer waits and no reader reads,
        without blocking new readers meanwhile. The indexer takes the lock again right after each
        chunk and, as a plain writer, won the race nearly every time: a commit's catch-up waited
        through many chunks (ingest measured 634/s with the indexer running, 2,772/s without)."""
        with self._cond:
            if polite:
                while self._writer or self._writers_waiting or self._readers:
                    self._wait()
            self._writers_waiting += 1
            try:
                while self._writer or self._readers:
                    self._wait()
            finally:
                self._writers_waiting -= 1
            self._writer = True
        try:
            yield
        finally:
            with self._cond:
                self._writer = False
                self._cond.notify_all()


@dataclass(frozen=True)
class CheckpointInfo:
    """What the store records in SQLite about the index file it may trust."""

    file: str
    sha256: str
    elements: int
    """hnswlib element_count (live + marked deleted) when saved."""
    live: int
    max_label: int


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 22):
            h.update(chunk)
    return h.hexdigest()


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory fds
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def exact_top_k(query: np.ndarray, matrix: np.ndarray, labels: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Top-k by inner product, best first; the ground truth the graph is measured against."""
    if len(labels) == 0 or k <= 0:
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float32)
    # einsum, not `matrix @ query`: OpenBLAS threads its gemv, and on a busy 2-core machine that
    # measured 4-11 ms for 1,000 x 768 against 0.3 ms single-threaded (and 31 vs 14 ms at 50k)
    scores = np.einsum("ij,j->i", matrix, query.astype(np.float32))
    k = min(k, len(labels))
    top = np.argpartition(-scores, k - 1)[:k] if k < len(labels) else np.arange(len(labels))
    order = top[np.argsort(-scores[top], kind="stable")]
    return np.asarray(labels, dtype=np.int64)[order], scores[order].astype(np.float32)


class HnswIndex:
    """One hnswlib graph plus the bookkeeping hnswlib does not expose (which labels are live)."""

    def __init__(self, dimension: int, settings: MemorySettings, *, capacity: int | None = None) -> None:
        self.dimension = dimension
        self._settings = settings
        self._lock = RWLock()
        self._index = hnswlib.Index(space="ip", dim=dimension)
        self._index.init_index(
            max_elements=max(capacity or settings.initial_capacity, 16),
            M=settings.hnsw_m,
            ef_construction=settings.hnsw_ef_construction,
            random_seed=100,
        )
        self._index.set_ef(settings.hnsw_ef_search)
        self._live: set[int] = set()
        self._deleted: set[int] = set()
        # live labels in the dense copy but not yet in the graph, oldest first (a dict keeps the order)
        self._pending: dict[int, None] = {}
        self.version = 0
        """Bumped whenever the set of live labels changes (not when the tail is graphed): caches of
        candidates and their vectors are valid while it stays the same."""
        self._init_dense(self._index.get_max_elements())

    def _init_dense(self, capacity: int) -> None:
        self._dense = np.empty((capacity, self.dimension), dtype=np.float32)
        # label -> row of _dense, -1 when absent: labels are rowids (dense, increasing), so an
        # array lookup replaces a dict and vectorises the candidate gather
        self._slot_of = np.full(capacity + 1, -1, dtype=np.int64)
        self._used = 0

    def _put_dense(self, labels: list[int], vectors: np.ndarray) -> None:
        """Copy vectors into the dense matrix (caller holds the write lock). Slots of deleted
        labels are not reused: compaction (a rebuild) reclaims them."""
        need = self._used + len(labels)
        if need > len(self._dense):
            grown = np.empty((max(need, int(len(self._dense) * 1.5) + 1), self.dimension), dtype=np.float32)
            grown[: self._used] = self._dense[: self._used]
            self._dense = grown
        self._dense[self._used : need] = vectors
        top = max(labels)
        if top >= len(self._slot_of):
            grown_slots = np.full(max(top + 1, int(len(self._slot_of) * 1.5)), -1, dtype=np.int64)
            grown_slots[: len(self._slot_of)] = self._slot_of
            self._slot_of = grown_slots
        self._slot_of[np.asarray(labels, dtype=np.int64)] = np.arange(self._used, need, dtype=np.int64)
        self._used = need

    def _drop_slots(self, labels: Iterable[int]) -> None:
        for label in labels:
            if 0 <= label < len(self._slot_of):
                self._slot_of[label] = -1

    # ---- loading -------------------------------------------------------------------------
    @classmethod
    def load(cls, path: Path, dimension: int, settings: MemorySettings, expected: CheckpointInfo) -> HnswIndex:
        """Load a checkpoint only if its bytes are the ones recorded; live/deleted labels are
        unknown until `reconcile` (hnswlib does not say which labels are marked deleted)."""
        if not path.is_file():
            raise IndexCorrupt(f"index file {path.name} is missing")
        digest = sha256_file(path)
        if digest != expected.sha256:
            raise IndexCorrupt(f"index file {path.name} checksum {digest[:12]} != recorded {expected.sha256[:12]}")
        self = cls.__new__(cls)
        self.dimension = dimension
        self._settings = settings
        self._lock = RWLock()
        self._index = hnswlib.Index(space="ip", dim=dimension)
        try:
            self._index.load_index(str(path))
        except RuntimeError as exc:
            raise IndexCorrupt(f"hnswlib could not load {path.name}: {exc}") from exc
        if self._index.element_count != expected.elements:
            raise IndexCorrupt(f"index file holds {self._index.element_count} elements, {expected.elements} recorded")
        self._index.set_ef(settings.hnsw_ef_search)
        self._live = set()
        self._deleted = set()
        self._pending = {}
        self.version = 0
        self._init_dense(max(16, int(self._index.element_count)))
        return self

    def reconcile(
        self, truth: Iterable[int], load_vectors: Callable[[list[int]], np.ndarray], *, graph: bool = True
    ) -> tuple[int, int]:
        """Make the index hold exactly the `truth` labels: add the missing ones, mark the extra
        ones deleted, and fill the dense copy of the vectors it already holds (vectors are
        fetched in batches from the source of truth). Returns (added, newly deleted).
        `graph=False` puts the missing ones in the tail (searchable at once, graphed later)."""
        truth_set = set(int(t) for t in truth)
        with self._lock.write():
            present = set(int(x) for x in self._index.get_ids_list())
            extra = present - truth_set
            newly_deleted = 0
            for label in extra:
                try:
                    self._index.mark_deleted(label)
                    newly_deleted += 1
                except RuntimeError:  # already marked before the checkpoint
                    pass
            self._deleted = extra
            self._live = present & truth_set
            self.version += 1
            self._drop_slots(extra)
            need_dense = sorted(self._live)  # a loaded index has no dense copy yet
            for start in range(0, len(need_dense), _BATCH):
                chunk = need_dense[start : start + _BATCH]
                self._put_dense(chunk, load_vectors(chunk))
        missing = sorted(truth_set - present)
        for start in range(0, len(missing), _BATCH):
            chunk = missing[start : start + _BATCH]
            self.add(np.asarray(chunk, dtype=np.int64), load_vectors(chunk), graph=graph)
        return len(missing), newly_deleted

    # ---- mutation ------------------------------------------------------------------------
    def add(self, labels: np.ndarray, vectors: np.ndarray, *, graph: bool = True) -> None:
        """Make these vectors searchable: into the graph now, or (`graph=False`) into the tail,
        which costs a copy (microseconds) instead of the graph insert (~2 ms a vector at
        ef_construction 200 on this machine), so a writer never waits for the graph."""
        labels = np.asarray(labels, dtype=np.int64)
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if len(labels) == 0:
            return
        if vectors.shape != (len(labels), self.dimension):
            raise ValueError(f"expected {len(labels)} x {self.dimension} vectors, got {vectors.shape}")
        with self._lock.write():
            if graph:
                self._graph_add(labels, vectors)
            as_list = labels.tolist()
            self._put_dense(as_list, vectors)
            self.version += 1
            for label in as_list:
                self._live.add(label)
                self._deleted.discard(label)
                if not graph:
                    self._pending[label] = None

    def _graph_add(self, labels: np.ndarray, vectors: np.ndarray, threads: int = -1) -> None:
        """hnswlib insert, growing the graph first (caller holds the write lock)."""
        needed = self._index.element_count + len(labels)
        capacity = self._index.get_max_elements()
        if needed > capacity:
            new_capacity = max(needed, int(capacity * 1.5) + 1)
            log.debug("growing HNSW index %d -> %d", capacity, new_capacity)
            self._index.resize_index(new_capacity)
        self._index.add_items(vectors, labels, num_threads=1 if len(labels) < 16 else threads)

    def graph_pending(self, max_items: int, *, threads: int = -1) -> int:
        """Move up to `max_items` of the tail (oldest first) into the graph; how many moved.
        Holds the write lock for the insert (hnswlib cannot search while inserting), so callers
        keep chunks small: a search waits at most one chunk."""
        with self._lock.write(polite=True):
            if not self._pending:
                return 0
            labels = np.fromiter(islice(self._pending, max_items), dtype=np.int64)
            self._graph_add(labels, self._dense[self._slot_of[labels]], threads)
            for label in labels.tolist():
                del self._pending[label]
            return len(labels)

    def mark_deleted(self, labels: Iterable[int]) -> int:
        removed = 0
        with self._lock.write():
            self.version += 1
            for label in labels:
                label = int(label)
                if label not in self._live:
                    continue
                if self._pending.pop(label, 0) is None:  # in the tail: never reached the graph
                    self._live.discard(label)
                    self._drop_slots([label])
                    removed += 1
                    continue
                self._index.mark_deleted(label)
                self._live.discard(label)
                self._deleted.add(label)
                self._drop_slots([label])
                removed += 1
        return removed

    # ---- queries -------------------------------------------------------------------------
    @property
    def live_count(self) -> int:
        return len(self._live)

    @property
    def pending_count(self) -> int:
        """Live labels not yet in the graph (searched exactly until they are)."""
        return len(self._pending)

    @property
    def deleted_count(self) -> int:
        return len(self._deleted)

    @property
    def capacity(self) -> int:
        return int(self._index.get_max_elements())

    @property
    def element_count(self) -> int:
        return int(self._index.element_count)

    def __contains__(self, label: int) -> bool:
        return int(label) in self._live

    @contextmanager
    def _reading(self, wait: bool) -> Iterator[None]:
        if wait:
            with self._lock.read():
                yield
            return
        with self._lock.try_read() as held:
            if not held:
                raise WouldBlock("the index is being written")
            yield

    def live_labels(self, *, wait: bool = True) -> np.ndarray:
        with self._reading(wait):
            return np.fromiter(self._live, dtype=np.int64, count=len(self._live))

    def search(
        self,
        query: np.ndarray,
        k: int,
        predicate: Callable[[int], bool] | None = None,
        *,
        wait: bool = True,
    ) -> tuple[np.ndarray, np.ndarray] | None:
        """Approximate top-k by cosine. None when hnswlib cannot produce k results (a filter
        too restrictive for the graph walk, or a graph fragmented by deletions): the caller
        falls back to exact search rather than return fewer than exist. With `wait=False` it
        raises `WouldBlock` instead of waiting for a writer (a caller on an event loop)."""
        if not self._lock.acquire_read(wait):
            raise WouldBlock("the index is being written")
        try:
            return self._search_locked(query, k, predicate)
        finally:
            self._lock.release_read()

    def search_top(self, query: np.ndarray, k: int, *, wait: bool = True) -> tuple[list[int], np.ndarray] | None:
        """The unfiltered recall's graph walk (ids as a list, float32 cosine scores), best first; None
        when this path does not answer: the tail is not empty (the general `search` merges it in) or
        the graph cannot give its share (the caller falls back). `query` is a unit float32 vector.
        The same walk and the same numbers as `search`, without its array conversions and branches:
        issue 16 counts every microsecond the store spends around hnswlib's."""
        lock = self._lock
        if not lock.acquire_read(wait):
            raise WouldBlock("the index is being written")
        try:
            if self._pending:
                return None
            kg = min(k, len(self._live))
            if kg <= 0:
                return None
            try:
                labels, distances = self._index.knn_query(query, k=kg, num_threads=1)  # 1-D: one query
            except RuntimeError:
                return None
        finally:
            lock.release_read()
        # hnswlib's 'ip' distance is 1 - <a, b>; float32 stays float32 (as in `_search_locked`)
        return labels[0].tolist(), 1.0 - distances[0]

    def _search_locked(
        self, query: np.ndarray, k: int, predicate: Callable[[int], bool] | None
    ) -> tuple[np.ndarray, np.ndarray] | None:
        q = np.ascontiguousarray(query, dtype=np.float32).reshape(1, -1)
        kg = min(k, len(self._live) - len(self._pending))
        if kg > 0:
            try:
                labels, distances = self._index.knn_query(q, k=kg, num_threads=1, filter=predicate)
            except RuntimeError:
                return None
            # hnswlib's 'ip' distance is 1 - <a, b> (float32 stays float32; uint64 labels become int64)
            found, scores = labels[0].astype(np.int64), 1.0 - distances[0]
        else:
            found, scores = np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float32)
        if not self._pending:
            return found, scores
        # the tail, exactly, merged in: what was acknowledged is found whether or not it is graphed yet
        tail = np.fromiter(self._pending, dtype=np.int64, count=len(self._pending))
        if predicate is not None:
            tail = tail[np.fromiter((predicate(int(x)) for x in tail), dtype=bool, count=len(tail))]
        t_found, t_scores = exact_top_k(q[0], self._dense[self._slot_of[tail]], tail, k)
        found, scores = np.concatenate([found, t_found]), np.concatenate([scores, t_scores])
        order = np.argsort(-scores, kind="stable")[:k]
        return found[order], scores[order]

    def vectors(self, labels: np.ndarray, *, wait: bool = True) -> tuple[np.ndarray, np.ndarray]:
        """The vectors of those labels that are live (others are dropped): (labels, matrix)."""
        with self._reading(wait):
            labels = np.asarray(labels, dtype=np.int64)
            rows = np.full(len(labels), -1, dtype=np.int64)
            inside = (labels >= 0) & (labels < len(self._slot_of))
            rows[inside] = self._slot_of[labels[inside]]
            keep = rows >= 0
            return labels[keep], self._dense[rows[keep]]

    def exact(
        self, query: np.ndarray, k: int, labels: np.ndarray | None = None, *, wait: bool = True
    ) -> tuple[np.ndarray, np.ndarray]:
        """Exact top-k over `labels` (default: every live label), from the dense copy."""
        if labels is None:
            labels = self.live_labels(wait=wait)
        found = np.empty(0, dtype=np.int64)
        best = np.empty(0, dtype=np.float32)
        # in slices, so a 100k-candidate fallback never copies the whole matrix at once
        for start in range(0, len(labels), 50_000):
            lab, mat = self.vectors(labels[start : start + 50_000], wait=wait)
            l2, s2 = exact_top_k(query, mat, lab, k)
            found, best = np.concatenate([found, l2]), np.concatenate([best, s2])
        if len(found) > k:
            order = np.argsort(-best, kind="stable")[:k]
            found, best = found[order], best[order]
        return found, best

    # ---- checkpoint ----------------------------------------------------------------------
    def save(self, folder: Path, name: str) -> CheckpointInfo:
        """Write `folder/name` atomically and durably; searches continue meanwhile (a read lock)."""
        final = folder / name
        tmp = folder / (name + ".tmp")
        with self._lock.read():
            self._index.save_index(str(tmp))
            elements = int(self._index.element_count)
            live = len(self._live)
            max_label = max(self._live | self._deleted, default=0)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        digest = sha256_file(tmp)
        os.replace(tmp, final)
        _fsync_dir(folder)
        return CheckpointInfo(file=name, sha256=digest, elements=elements, live=live, max_label=max_label)

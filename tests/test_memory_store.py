"""LocalMemoryStore behaviour on real files: roundtrips, spaces, filters, dedup, privacy, forget."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from filter_cases import FILTERS, expected_top, filter_records
from memory_support import JPEG, clustered
from sensorium.memory.config import MemorySettings
from sensorium.memory.local import LocalMemoryStore
from sensorium.memory.store import Filter, MemoryStore, NewMemory, Source, SpaceMismatch
from sensorium.memory.errors import InvalidRequest, MemoryStoreError, StoreUnavailable

SPACE = "test/v1@64"
DIM = 64
T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def new(vec: np.ndarray, **kw: object) -> NewMemory:
    kw.setdefault("modality", "text")
    return NewMemory(vector=vec, space=SPACE, **kw)  # type: ignore[arg-type]


async def open_store(root: Path, **settings: object) -> LocalMemoryStore:
    return await LocalMemoryStore.open(root, SPACE, DIM, MemorySettings(**settings))  # type: ignore[arg-type]


@pytest.fixture
def vecs() -> np.ndarray:
    return clustered(3_000, DIM, seed=21)


async def test_other_space_is_refused_on_open_add_and_search(tmp_path: Path, vecs: np.ndarray) -> None:
    store = await open_store(tmp_path)
    await store.add([new(vecs[0])])
    with pytest.raises(SpaceMismatch, match="gemini/gemini-embedding-2@768"):
        await store.add([NewMemory(vector=vecs[1], space="gemini/gemini-embedding-2@768", modality="text")])
    with pytest.raises(SpaceMismatch, match="local/minilm-l6@384"):
        await store.search(vecs[1], 3, space="local/minilm-l6@384")
    with pytest.raises(InvalidRequest, match="dimensions"):
        await store.search(np.ones(32), 3, space=SPACE)
    with pytest.raises(InvalidRequest, match="dimensions"):
        await store.add([new(np.ones(32))])
    path = store.path
    await store.close()
    with pytest.raises(SpaceMismatch, match=r"test/v1@64.*other/model@64"):
        LocalMemoryStore.open_dir(path, "other/model@64", DIM, MemorySettings())
    with pytest.raises(SpaceMismatch):
        LocalMemoryStore.open_dir(path, SPACE, 128, MemorySettings())
    # each space gets its own folder under <data_dir>/memory/
    other = await LocalMemoryStore.open(tmp_path, "other/model@64", DIM, MemorySettings())
    assert other.path != path and other.path.parent == path.parent == tmp_path / "memory"
    await other.close()
    assert sorted(s for s, _ in LocalMemoryStore.existing_spaces(tmp_path)) == ["other/model@64", SPACE]


async def test_a_second_opener_shares_the_store(tmp_path: Path, vecs: np.ndarray) -> None:
    # several processes (one server per MCP client) may open one store; two openers in one
    # process take the same locks (flock is per open file), so they behave like two processes
    store = await open_store(tmp_path)
    other = await open_store(tmp_path)
    [a] = await store.add([new(vecs[0], thumbnail=JPEG)])
    [b] = await other.add([new(vecs[1])])
    assert a.id is not None and b.id is not None and a.id != b.id
    assert (await other.search(vecs[0], 1, space=SPACE))[0].memory.id == a.id
    assert (await store.search(vecs[1], 1, space=SPACE))[0].memory.id == b.id
    assert await other.get_thumbnail(a.id) == JPEG
    assert await other.delete([a.id]) == 1
    assert [h.memory.id for h in await store.search(vecs[0], 5, space=SPACE)] == [b.id]
    assert (await store.stats()).index_elements == (await other.stats()).index_elements == 1
    await store.close()
    await other.close()
    again = await open_store(tmp_path)
    await again.close()
    with pytest.raises(StoreUnavailable, match="closed"):
        await again.stats()


async def test_a_store_held_exclusively_by_an_older_version_is_refused(tmp_path: Path) -> None:
    import fcntl
    import os

    path = LocalMemoryStore.store_path(tmp_path, SPACE)
    path.mkdir(parents=True)
    fd = os.open(path / "store.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # what the one-process-per-store version did
        with pytest.raises(StoreUnavailable, match="held exclusively"):
            await open_store(tmp_path)
    finally:
        os.close(fd)
    store = await open_store(tmp_path)
    await store.close()


async def test_reopen_loads_the_checkpoint_and_keeps_everything(tmp_path: Path, vecs: np.ndarray) -> None:
    store = await open_store(tmp_path, exact_below=0)
    ids = [r.id for r in await store.add([new(v, episode_id="e") for v in vecs[:300]])]
    await store.close()
    store = await open_store(tmp_path, exact_below=0)
    st = await store.stats()
    assert st.opened == "loaded" and st.memories == st.index_elements == 300 and st.index_bytes > 0
    assert (await store.search(vecs[123], 1, space=SPACE))[0].memory.id == ids[123]
    [more] = await store.add([new(vecs[300])])
    assert more.id == 301  # ids keep counting
    await store.close()


# ---- filters --------------------------------------------------------------------------------

STRATEGIES = {
    "exact": {"exact_below": 0, "filter_exact_below": 10**9},
    "hnsw": {"exact_below": 0, "filter_exact_below": 0},  # filter callback, exact fallback
}


@pytest.fixture(params=sorted(STRATEGIES))
async def filtered_store(request: pytest.FixtureRequest, tmp_path: Path, vecs: np.ndarray):
    store = await open_store(tmp_path, **STRATEGIES[request.param])
    records = filter_records(vecs, SPACE)
    results = await store.add(records)
    assert all(r.status == "stored" for r in results)
    yield store, records, [r.id for r in results]
    await store.close()


async def test_each_search_strategy_returns_the_exact_top_k_of_the_matching_rows(filtered_store, vecs: np.ndarray) -> None:
    """The behaviour suite's filters (tests/filter_cases.py) through each local strategy; the exact scan must
    be exact, the graph walk may swap one near-tie."""
    store, records, ids = filtered_store
    approximate = store._settings.filter_exact_below == 0
    for make, keep in FILTERS:
        flt = make(ids)
        for qi in (3, 1_234):
            hits = await store.search(vecs[qi], 10, space=SPACE, filter=flt)
            got = [h.memory.id for h in hits]
            want = expected_top(records, ids, vecs[qi], 10, keep)
            assert len(got) == len(want), flt
            assert len(set(got) & set(want)) >= (len(want) - 1 if approximate else len(want)), flt
            assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)


async def test_excluded_memories_leave_no_thumbnail_file(tmp_path: Path, vecs: np.ndarray) -> None:
    """The behaviour suite checks nothing is stored; on the local engine no thumbnail file may be written either."""
    store = await open_store(tmp_path, excluded_apps=["KeePassXC"], excluded_titles=["Private Browsing"])
    results = await store.add([
        new(vecs[0], thumbnail=JPEG, source=Source(app="KeePassXC")),
        new(vecs[1], thumbnail=JPEG, source=Source(app="Firefox", window_title="Mozilla Firefox Private Browsing")),
    ])
    assert [r.status for r in results] == ["skipped", "skipped"]
    assert list((store.path / "thumbs").iterdir()) == []
    await store.close()


# ---- forget ---------------------------------------------------------------------------------

async def test_forget_removes_rows_vectors_and_files(tmp_path: Path, vecs: np.ndarray) -> None:
    store = await open_store(tmp_path, exact_below=0)
    records = [
        new(v, episode_id=f"ep{i % 3}", thumbnail=JPEG, created_at=T0 + timedelta(minutes=i), tags=["t"])
        for i, v in enumerate(vecs[:90])
    ]
    ids = [r.id for r in await store.add(records)]
    # in the graph first, so index_deleted counts the 39 below (a row forgotten while still in the
    # background indexer's tail never reaches the graph, and needs no compaction)
    assert await store.wait_indexed(120)
    thumbs = store.path / "thumbs"
    assert len(list(thumbs.iterdir())) == 90

    assert await store.delete([ids[0], ids[1], 12345]) == 2
    assert await store.delete(Filter(episode_id="ep2")) == 30
    window = Filter(since=T0 + timedelta(minutes=60), until=T0 + timedelta(minutes=69))
    assert await store.delete(window) == 7  # 60..69 minus the ep2 ones (63, 66, 69)
    with pytest.raises(InvalidRequest, match="empty filter"):
        await store.delete(Filter())

    gone = {ids[0], ids[1]} | {ids[i] for i in range(90) if i % 3 == 2} | {ids[i] for i in range(60, 70)}
    alive = [x for x in ids if x not in gone]
    assert len(alive) == 51
    assert await store.get_many(sorted(gone)) == []
    assert {p.name for p in thumbs.iterdir()} == {f"{x}.jpg" for x in alive}
    st = await store.stats()
    assert st.memories == st.index_elements == 51 and st.index_deleted == 39
    for i in range(90):
        hits = await store.search(vecs[i], 90, space=SPACE)
        assert not {h.memory.id for h in hits} & gone
        assert len(hits) == 51
    # forgetting survives a restart (the checkpoint may predate it: reconcile re-applies it)
    await store.close()
    store = await open_store(tmp_path, exact_below=0)
    assert await store.get_many(sorted(gone)) == []
    assert not {h.memory.id for h in await store.search(vecs[0], 90, space=SPACE)} & gone
    await store.close()


async def test_compaction_drops_deleted_vectors_from_the_graph(tmp_path: Path, vecs: np.ndarray) -> None:
    store = await open_store(tmp_path, exact_below=0, compact_min_deleted=50, compact_deleted_fraction=0.3)
    ids = [r.id for r in await store.add([new(v) for v in vecs[:200]])]
    assert await store.wait_indexed(120)  # compaction is about the graph: let the indexer fill it first
    await store.delete(ids[:40])
    assert (await store.stats()).index_deleted == 40  # below the minimum: kept marked
    await store.delete(ids[40:80])
    st = await store.stats()
    assert st.index_deleted == 0 and st.index_elements == st.memories == 120
    hits = await store.search(vecs[150], 5, space=SPACE)
    assert hits[0].memory.id == ids[150]
    await store.close()


async def test_grows_from_a_tiny_index_and_switches_from_exact_to_hnsw(tmp_path: Path, vecs: np.ndarray) -> None:
    store = await open_store(tmp_path, initial_capacity=16, exact_below=100)
    ids = []
    for start in range(0, 400, 37):
        ids += [r.id for r in await store.add([new(v) for v in vecs[start : min(start + 37, 400)]])]
        st = await store.stats()
        assert st.exact_search == (st.memories <= 100)
    assert await store.wait_indexed(120)  # the graph grows as the background indexer fills it
    st = await store.stats()
    assert st.memories == st.index_elements == 400 and st.index_capacity >= 400 and st.index_pending == 0
    assert (await store.search(vecs[399], 1, space=SPACE))[0].memory.id == ids[399]
    await store.close()


def test_filter_validation() -> None:
    with pytest.raises(ValueError, match="after"):
        Filter(since=T0, until=T0 - timedelta(seconds=1))
    with pytest.raises(ValueError, match="metadata key"):
        Filter(metadata={'a"b': 1})
    with pytest.raises(ValueError):
        Filter(bogus=1)  # type: ignore[call-arg]
    assert Filter().is_empty() and not Filter(app="x").is_empty()


async def test_open_store_names_the_setting_when_milvus_is_not_configured(tmp_path: Path) -> None:
    """`SENSORIUM_MEMORY__ENGINE=milvus` used to be accepted and silently ignored; without a URI it is an error."""
    from sensorium.memory.store import existing_spaces, open_store

    settings = MemorySettings(engine="milvus")
    with pytest.raises(StoreUnavailable, match=r"SENSORIUM_MEMORY__MILVUS_URI"):
        await open_store(settings, tmp_path, SPACE, DIM)
    with pytest.raises(StoreUnavailable, match=r"SENSORIUM_MEMORY__MILVUS_URI"):
        existing_spaces(settings, tmp_path)
    unknown = MemorySettings.model_construct(**{**MemorySettings().model_dump(), "engine": "qdrant"})
    with pytest.raises(StoreUnavailable, match=r"SENSORIUM_MEMORY__ENGINE=qdrant.*available: local, milvus"):
        await open_store(unknown, tmp_path, SPACE, DIM)
    store = await open_store(MemorySettings(), tmp_path, SPACE, DIM)
    assert isinstance(store, MemoryStore)
    await store.close()
    assert [s.space for s in existing_spaces(MemorySettings(), tmp_path)] == [SPACE]


def test_memory_imports_nothing_from_the_other_layers() -> None:
    """memory/ knows nothing of tools/ or server/: its errors have their own base, mapped by the server."""
    import ast

    import sensorium.memory as pkg

    assert MemoryStoreError.__mro__[1] is Exception
    for path in Path(pkg.__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                assert node.level <= 1, f"{path.name} imports from outside memory/: ..{node.module}"
                assert not (node.module or "").startswith(("sensorium.tools", "sensorium.server")), path.name

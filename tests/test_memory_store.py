"""LocalMemoryStore behaviour on real files: roundtrips, spaces, filters, dedup, privacy, forget."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
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


async def test_is_a_memory_store_and_roundtrips_every_field(tmp_path: Path, vecs: np.ndarray) -> None:
    store = await open_store(tmp_path)
    assert isinstance(store, MemoryStore)
    rec = new(
        vecs[0] * 3.0,  # not unit length: the store normalises
        modality="image",
        content_hash="abc",
        source=Source(app="Firefox", window_title="Inbox - Mail", monitor=1, region=(0, 0, 100, 50), path="/tmp/x.png"),
        episode_id="ep1",
        text="the inbox",
        tags=["mail", "work", "mail"],
        metadata={"url": "https://x", "n": 3, "ok": True},
        thumbnail=JPEG,
        visual=[0.1, 0.2, 0.3],
        created_at=T0,
    )
    [res] = await store.add([rec])
    assert res.status == "stored" and res.id is not None
    m = await store.get(res.id, with_vector=True)
    assert m is not None
    assert (m.modality, m.content_hash, m.episode_id, m.text) == ("image", "abc", "ep1", "the inbox")
    assert m.source.app == "Firefox" and m.source.region == (0, 0, 100, 50) and m.source.monitor == 1
    assert m.tags == ["mail", "work"] and m.metadata == {"url": "https://x", "n": 3, "ok": True}
    assert m.created_at == T0 and m.last_seen == T0 and m.seen_count == 1 and m.space == SPACE
    assert m.has_thumbnail and await store.get_thumbnail(res.id) == JPEG
    np.testing.assert_allclose(m.vector, vecs[0], atol=1e-6)
    assert m.visual == pytest.approx([0.1, 0.2, 0.3])
    assert (await store.get(res.id)).vector is None  # type: ignore[union-attr]
    assert await store.get(999) is None and await store.get_thumbnail(999) is None
    assert [x.id for x in await store.get_many([999, res.id])] == [res.id]
    await store.close()


async def test_search_orders_by_cosine_and_respects_min_score_and_bounds(tmp_path: Path, vecs: np.ndarray) -> None:
    store = await open_store(tmp_path, exact_below=0)
    ids = [r.id for r in await store.add([new(v) for v in vecs[:500]])]
    hits = await store.search(vecs[7], 10, space=SPACE)
    assert hits[0].memory.id == ids[7] and hits[0].score == pytest.approx(1.0, abs=1e-5)
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    expected = np.sort(vecs[:500] @ vecs[7])[::-1][:10]
    np.testing.assert_allclose([h.score for h in hits], expected, atol=1e-4)
    cut = float(expected[4]) - 1e-6
    assert len(await store.search(vecs[7], 10, space=SPACE, min_score=cut)) == 5
    for k in (0, -1, 10_001):
        with pytest.raises(InvalidRequest, match="k must be"):
            await store.search(vecs[7], k, space=SPACE)
    with pytest.raises(InvalidRequest, match="zeros"):
        await store.search(np.zeros(DIM), 5, space=SPACE)
    with pytest.raises(InvalidRequest, match="zeros"):
        await store.add([new(np.zeros(DIM))])
    await store.close()


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
    records = []
    for i, v in enumerate(vecs):
        records.append(
            new(
                v,
                modality=["text", "image", "audio"][i % 3],
                episode_id=f"ep{i % 20}" if i % 200 else "rare",  # 'rare' holds 15 of 3000
                source=Source(app=["Code", "Firefox", "Slack"][i % 3 == 0 and 2 or i % 2]),
                tags=[t for t, keep in (("a", i % 2 == 0), ("b", i % 3 == 0), ("c", i % 5 == 0)) if keep],
                metadata={"i": i, "even": i % 2 == 0, "kind": "x" if i % 4 else "y", "maybe": None if i % 7 else 1},
                created_at=T0 + timedelta(minutes=i),
            )
        )
    # the dedup rule only merges consecutive near-identical images: clustered vectors never are
    results = await store.add(records)
    assert all(r.status == "stored" for r in results)
    yield store, records
    await store.close()


def _expected(records: list[NewMemory], query: np.ndarray, k: int, keep) -> list[int]:
    idx = [i for i, r in enumerate(records) if keep(i, r)]
    scores = np.array([float(records[i].vector @ query) for i in idx])
    order = np.argsort(-scores, kind="stable")[:k]
    return [idx[o] + 1 for o in order]


FILTERS = [
    (Filter(modalities=["audio"]), lambda i, r: r.modality == "audio"),
    (Filter(modalities=["audio", "image"]), lambda i, r: r.modality != "text"),
    (Filter(episode_id="rare"), lambda i, r: r.episode_id == "rare"),
    (Filter(app="firefox"), lambda i, r: r.source.app == "Firefox"),
    (Filter(tags=["a", "b"]), lambda i, r: {"a", "b"} <= set(r.tags)),
    (Filter(tags=["b", "c"]), lambda i, r: {"b", "c"} <= set(r.tags)),
    (Filter(metadata={"even": True, "kind": "y"}), lambda i, r: r.metadata["even"] and r.metadata["kind"] == "y"),
    (Filter(metadata={"maybe": None}), lambda i, r: r.metadata["maybe"] is None),
    (Filter(metadata={"i": 77}), lambda i, r: i == 77),
    (Filter(metadata={"kind": 1}), lambda i, r: False),  # a string never equals a number
    (Filter(since=T0 + timedelta(minutes=100), until=T0 + timedelta(minutes=140)), lambda i, r: 100 <= i <= 140),
    (Filter(since=T0 + timedelta(minutes=2990)), lambda i, r: i >= 2990),
    (Filter(ids=[5, 50, 500, 5000]), lambda i, r: i + 1 in (5, 50, 500)),
    (Filter(modalities=["image"], tags=["c"], episode_id="ep5"), lambda i, r: r.modality == "image" and "c" in r.tags and r.episode_id == "ep5"),
]


async def test_filters_return_the_exact_top_k_of_the_matching_rows(filtered_store, vecs: np.ndarray) -> None:
    store, records = filtered_store
    approximate = store._settings.filter_exact_below == 0  # the graph walk may swap a near-tie
    for flt, keep in FILTERS:
        for qi in (3, 1_234):
            hits = await store.search(vecs[qi], 10, space=SPACE, filter=flt)
            got = [h.memory.id for h in hits]
            want = _expected(records, vecs[qi], 10, keep)
            assert len(got) == len(want), flt
            assert all(keep(i - 1, records[i - 1]) for i in got), flt
            assert len(set(got) & set(want)) >= (len(want) - 1 if approximate else len(want)), flt
            assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)


async def test_restrictive_filter_still_returns_k_when_k_exist(filtered_store, vecs: np.ndarray) -> None:
    store, records = filtered_store
    rare = [i + 1 for i, r in enumerate(records) if r.episode_id == "rare"]
    assert len(rare) == 15
    for q in (vecs[0], vecs[1_500], vecs[2_999]):
        hits = await store.search(q, 10, space=SPACE, filter=Filter(episode_id="rare"))
        assert len(hits) == 10 and {h.memory.id for h in hits} <= set(rare)
        hits = await store.search(q, 20, space=SPACE, filter=Filter(episode_id="rare"))
        assert sorted(h.memory.id for h in hits) == rare  # fewer only because fewer exist


# ---- near-duplicates ------------------------------------------------------------------------

def _near(v: np.ndarray, eps: float, seed: int) -> np.ndarray:
    noise = np.random.default_rng(seed).standard_normal(v.shape).astype(np.float32)
    w = v + eps * noise / np.linalg.norm(noise)
    return w / np.linalg.norm(w)


async def test_near_duplicate_screenshot_merges_into_previous_of_its_episode(tmp_path: Path, vecs: np.ndarray) -> None:
    store = await open_store(tmp_path, dedup_threshold=0.98)
    a = vecs[0]
    [first] = await store.add([new(a, modality="image", merge_near_duplicate=True, episode_id="e", created_at=T0)])
    dup = _near(a, 0.05, 1)
    assert float(dup @ a) > 0.98
    [second] = await store.add([new(dup, modality="image", merge_near_duplicate=True, episode_id="e", created_at=T0 + timedelta(seconds=5))])
    assert second.status == "merged" and second.merged_into == first.id == second.id
    m = await store.get(first.id)  # type: ignore[arg-type]
    assert m.seen_count == 2 and m.last_seen == T0 + timedelta(seconds=5) and m.created_at == T0  # type: ignore[union-attr]
    st = await store.stats()
    assert st.memories == 1 and st.index_elements == 1
    # another episode, a text memory, a clearly different image: all stored
    r = await store.add(
        [
            new(dup, modality="image", merge_near_duplicate=True, episode_id="other"),
            new(dup, modality="text", episode_id="e"),
            new(vecs[1_000], modality="image", merge_near_duplicate=True, episode_id="e"),
        ]
    )
    assert [x.status for x in r] == ["stored", "stored", "stored"]
    # only the PREVIOUS image counts: `a` again is not merged into the first one
    [again] = await store.add([new(_near(a, 0.05, 2), modality="image", merge_near_duplicate=True, episode_id="e")])
    assert again.status == "stored"
    # within one batch too
    b = vecs[2_000]
    r = await store.add([new(b, modality="image", merge_near_duplicate=True, episode_id="f"), new(_near(b, 0.05, 3), modality="image", merge_near_duplicate=True, episode_id="f")])
    assert [x.status for x in r] == ["stored", "merged"] and r[1].merged_into == r[0].id
    episodes = {e.episode_id: e for e in await store.list_episodes()}
    assert episodes["e"].memories == 4 and episodes["e"].seen == 5 and episodes["e"].modalities == ["image", "text"]
    assert episodes["f"].memories == 1 and episodes["f"].seen == 2
    await store.close()


async def test_only_records_marked_by_the_caller_merge(tmp_path: Path, vecs: np.ndarray) -> None:
    """The store does not guess from the modality name which inputs repeat: the caller marks them."""
    store = await open_store(tmp_path, dedup_threshold=0.98)
    a = vecs[0]
    r = await store.add([new(a, modality="image", episode_id="e"), new(_near(a, 0.05, 1), modality="image", episode_id="e")])
    assert [x.status for x in r] == ["stored", "stored"]
    r = await store.add([new(a, modality="note", episode_id="n", merge_near_duplicate=True),
                         new(_near(a, 0.05, 1), modality="note", episode_id="n", merge_near_duplicate=True)])
    assert [x.status for x in r] == ["stored", "merged"]
    await store.close()


async def test_visual_descriptor_decides_when_both_have_one(tmp_path: Path, vecs: np.ndarray) -> None:
    store = await open_store(tmp_path, dedup_threshold=0.98)
    v = vecs[0]
    await store.add([new(v, modality="image", merge_near_duplicate=True, episode_id="e", visual=[1.0, 0.0, 0.0])])
    # same semantic vector, different pixels: kept
    [r1] = await store.add([new(v, modality="image", merge_near_duplicate=True, episode_id="e", visual=[0.0, 1.0, 0.0])])
    assert r1.status == "stored"
    # different semantic vector, same pixels: merged
    [r2] = await store.add([new(vecs[999], modality="image", merge_near_duplicate=True, episode_id="e", visual=[0.0, 2.0, 0.01])])
    assert r2.status == "merged" and r2.merged_into == r1.id
    await store.close()


# ---- privacy --------------------------------------------------------------------------------

async def test_excluded_apps_and_titles_are_never_stored(tmp_path: Path, vecs: np.ndarray) -> None:
    store = await open_store(tmp_path, excluded_apps=["KeePassXC", "1password"], excluded_titles=["Private Browsing", "bank"])
    r = await store.add(
        [
            new(vecs[0], source=Source(app="keepassxc")),
            new(vecs[1], source=Source(app="1Password.exe")),
            new(vecs[2], source=Source(app="Firefox", window_title="News — Mozilla Firefox Private Browsing")),
            new(vecs[3], source=Source(app="Chrome", window_title="My BANK account"), thumbnail=JPEG),
            new(vecs[4], source=Source(app="Firefox", window_title="Docs")),
        ]
    )
    assert [x.status for x in r] == ["skipped"] * 4 + ["stored"]
    assert "excluded_apps" in r[0].skipped and "excluded_titles" in r[2].skipped  # type: ignore[operator]
    assert all(x.id is None for x in r[:4])
    st = await store.stats()
    assert st.memories == 1 and st.thumbnail_bytes == 0
    assert [p.name for p in (store.path / "thumbs").iterdir()] == []
    hits = await store.search(vecs[0], 10, space=SPACE)
    assert [h.memory.id for h in hits] == [r[4].id]
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


async def test_thumbnail_must_be_a_small_jpeg(tmp_path: Path, vecs: np.ndarray) -> None:
    store = await open_store(tmp_path, max_thumbnail_bytes=1_000)
    with pytest.raises(InvalidRequest, match="not a JPEG"):
        await store.add([new(vecs[0], thumbnail=b"\x89PNG\r\n\x1a\n" + b"0" * 10)])
    with pytest.raises(InvalidRequest, match="max_thumbnail_bytes"):
        await store.add([new(vecs[0], thumbnail=JPEG + b"0" * 2_000)])
    assert (await store.stats()).memories == 0  # a bad record fails the whole call before anything is written
    await store.close()


async def test_stats_and_episodes(tmp_path: Path, vecs: np.ndarray) -> None:
    store = await open_store(tmp_path)
    await store.add(
        [new(vecs[0], episode_id="a", modality="text", created_at=T0), new(vecs[1], episode_id="a", modality="audio"),
         new(vecs[2], modality="pdf", thumbnail=JPEG)]
    )
    st = await store.stats()
    assert (st.memories, st.episodes, st.by_modality) == (3, 2, {"text": 1, "audio": 1, "pdf": 1})
    assert st.thumbnail_bytes == len(JPEG) and st.space == SPACE and st.dimension == DIM and st.opened == "new"
    eps = await store.list_episodes()
    assert {e.episode_id for e in eps} == {"a", None}
    a = next(e for e in eps if e.episode_id == "a")
    assert a.memories == 2 and a.first_at == T0 and a.modalities == ["audio", "text"]
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

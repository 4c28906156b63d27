"""One behavioural suite, run against every memory engine (the `memory_engine` fixture, tests/conftest.py) (local files and a real Milvus server).

Why one suite: the MCP tools only see the `MemoryStore` protocol, so the engines must be
interchangeable — same ids-in/ids-out, same merges, same privacy rules, same filters, same
read-your-writes. Engine-specific internals (HNSW checkpoints, thumbnail files, compaction)
stay in tests/test_memory_store.py; everything here goes through `open_store` only.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from filter_cases import FILTERS, filter_records, expected_top
from memory_support import JPEG, clustered
from sensorium.memory.errors import InvalidRequest, StoreUnavailable
from sensorium.memory.store import Filter, MemoryStore, NewMemory, Source, SpaceMismatch, existing_spaces, open_store

SPACE = "test/v1@64"
DIM = 64
T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def new(vec: np.ndarray, **kw: object) -> NewMemory:
    kw.setdefault("modality", "text")
    return NewMemory(vector=vec, space=SPACE, **kw)  # type: ignore[arg-type]


@pytest.fixture
def vecs() -> np.ndarray:
    return clustered(3_000, DIM, seed=21)


@pytest.fixture
def opener(memory_settings, tmp_path: Path):
    """Opens stores of the engine under test; closes them (and drops Milvus collections) at the end."""
    opened: list[MemoryStore] = []

    async def open_(space: str = SPACE, dim: int = DIM, **settings: object) -> MemoryStore:
        store = await open_store(memory_settings(**settings), tmp_path, space, dim)
        opened.append(store)
        return store

    yield open_
    for store in opened:
        drop = getattr(store, "drop_sync", None)
        if drop is not None and not getattr(store, "_closed", True):
            drop()


async def test_is_a_memory_store_and_roundtrips_every_field(opener, vecs: np.ndarray) -> None:
    store = await opener()
    assert isinstance(store, MemoryStore)
    rec = new(
        vecs[0] * 3.0,  # not unit length: the store normalises
        modality="image",
        content_hash="abc",
        source=Source(app="Firefox", window_title='Inbox - "Mail" \\ ü', monitor=1, region=(0, 0, 100, 50), path="/tmp/x.png"),
        episode_id="ep1",
        text="the inbox",
        tags=["mail", "work", "mail"],
        metadata={"url": "https://x", "n": 3, "ok": True, "nested": {"a": [1, 2]}},
        thumbnail=JPEG,
        visual=[0.1, 0.2, 0.3],
        created_at=T0,
    )
    [res] = await store.add([rec])
    assert res.status == "stored" and res.id is not None
    m = await store.get(res.id, with_vector=True)
    assert m is not None
    assert (m.modality, m.content_hash, m.episode_id, m.text) == ("image", "abc", "ep1", "the inbox")
    assert m.source == rec.source
    assert m.tags == ["mail", "work"] and m.metadata == rec.metadata
    assert m.created_at == T0 and m.last_seen == T0 and m.seen_count == 1 and m.space == SPACE
    assert m.has_thumbnail and await store.get_thumbnail(res.id) == JPEG
    np.testing.assert_allclose(m.vector, vecs[0], atol=1e-6)
    assert m.visual == pytest.approx([0.1, 0.2, 0.3])
    assert (await store.get(res.id)).vector is None  # type: ignore[union-attr]
    assert await store.get(999) is None and await store.get_thumbnail(999) is None
    assert [x.id for x in await store.get_many([999, res.id])] == [res.id]
    await store.close()
    with pytest.raises(StoreUnavailable, match="closed"):
        await store.stats()


async def test_large_text_and_thumbnail_roundtrip(opener, vecs: np.ndarray) -> None:
    """A page of OCR text and a thumbnail near the 1 MB limit fit in neither a Milvus VARCHAR nor a JSON field."""
    store = await opener()
    text = "lorem ipsum dolor " * 8_000  # 144 kB
    thumb = JPEG + bytes(range(256)) * 3_000  # 768 kB
    visual = np.random.default_rng(0).standard_normal(9_000).astype(np.float32).tolist()
    [r] = await store.add([new(vecs[0], text=text, thumbnail=thumb, visual=visual)])
    m = await store.get(r.id, with_vector=True)  # type: ignore[arg-type]
    assert m.text == text and m.visual == visual and await store.get_thumbnail(r.id) == thumb  # type: ignore[union-attr,arg-type]
    [hit] = await store.search(vecs[0], 1, space=SPACE)
    assert hit.memory.text == text
    assert await store.delete([r.id]) == 1  # type: ignore[list-item]
    assert await store.get_thumbnail(r.id) is None  # type: ignore[arg-type]


async def test_search_orders_by_cosine_and_respects_min_score_and_bounds(opener, vecs: np.ndarray) -> None:
    store = await opener(exact_below=0)
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


async def test_other_space_and_dimension_are_refused(opener, vecs: np.ndarray) -> None:
    store = await opener()
    await store.add([new(vecs[0])])
    with pytest.raises(SpaceMismatch, match="gemini/gemini-embedding-2@768"):
        await store.add([NewMemory(vector=vecs[1], space="gemini/gemini-embedding-2@768", modality="text")])
    with pytest.raises(SpaceMismatch, match="local/minilm-l6@384"):
        await store.search(vecs[1], 3, space="local/minilm-l6@384")
    with pytest.raises(InvalidRequest, match="dimensions"):
        await store.search(np.ones(32), 3, space=SPACE)
    with pytest.raises(InvalidRequest, match="dimensions"):
        await store.add([new(np.ones(32))])
    with pytest.raises(SpaceMismatch):
        await opener(SPACE, 128)  # the same space opened with another dimension
    other = await opener("other/model@64", DIM)
    assert (await other.stats()).memories == 0  # each space is its own store
    await store.close()
    await other.close()


async def test_existing_spaces_lists_every_store_of_the_engine(opener, memory_settings, tmp_path: Path, vecs: np.ndarray) -> None:
    a = await opener()
    b = await opener("other/model@64", DIM)
    await a.add([new(vecs[0])])
    assert sorted(s.space for s in existing_spaces(memory_settings(), tmp_path)) == ["other/model@64", SPACE]
    await a.close()
    await b.close()


async def test_a_second_opener_sees_acknowledged_writes_and_deletes_at_once(opener, vecs: np.ndarray) -> None:
    """Read-your-writes across openers (two server processes share a store): an acknowledged add is
    in the other's next search and get, an acknowledged delete is gone from both."""
    store = await opener()
    other = await opener()
    for i in range(5):
        [a] = await store.add([new(vecs[2 * i], thumbnail=JPEG)])
        assert (await other.search(vecs[2 * i], 1, space=SPACE))[0].memory.id == a.id
        assert await other.get_thumbnail(a.id) == JPEG  # type: ignore[arg-type]
        [b] = await other.add([new(vecs[2 * i + 1])])
        assert a.id != b.id
        assert (await store.get(b.id)) is not None  # type: ignore[arg-type]
        assert await other.delete([a.id]) == 1  # type: ignore[list-item]
        assert a.id not in {h.memory.id for h in await store.search(vecs[2 * i], 20, space=SPACE)}
        assert await store.get(a.id) is None and await store.get_thumbnail(a.id) is None  # type: ignore[arg-type]
    assert len(await store.list_ids()) == len(await other.list_ids()) == 5
    assert (await store.stats()).memories == 5
    await store.close()
    await other.close()


# ---- filters --------------------------------------------------------------------------------

@pytest.fixture
async def filtered_store(opener, vecs: np.ndarray):
    store = await opener()
    records = filter_records(vecs, SPACE)
    results = await store.add(records)
    assert all(r.status == "stored" for r in results)
    ids = [r.id for r in results]
    yield store, records, ids


async def test_filters_return_the_top_k_of_the_matching_rows(filtered_store, vecs: np.ndarray) -> None:
    store, records, ids = filtered_store
    for make, keep in FILTERS:
        flt = make(ids)
        want_all = sorted(ids[i] for i, r in enumerate(records) if keep(i, r))
        assert await store.list_ids(flt) == want_all, flt
        for qi in (3, 1_234):
            hits = await store.search(vecs[qi], 10, space=SPACE, filter=flt)
            got = [h.memory.id for h in hits]
            want = expected_top(records, ids, vecs[qi], 10, keep)
            assert len(got) == len(want), flt
            assert set(got) <= set(want_all), flt
            assert len(set(got) & set(want)) >= len(want) - 1, flt  # an approximate index may swap a near-tie
            assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)


async def test_restrictive_filter_still_returns_k_when_k_exist(filtered_store, vecs: np.ndarray) -> None:
    store, records, ids = filtered_store
    rare = sorted(ids[i] for i, r in enumerate(records) if r.episode_id == "rare")
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


async def test_near_duplicate_screenshot_merges_into_previous_of_its_episode(opener, vecs: np.ndarray) -> None:
    store = await opener(dedup_threshold=0.98)
    a = vecs[0]
    [first] = await store.add([new(a, modality="image", merge_near_duplicate=True, episode_id="e", created_at=T0)])
    dup = _near(a, 0.05, 1)
    assert float(dup @ a) > 0.98
    [second] = await store.add([new(dup, modality="image", merge_near_duplicate=True, episode_id="e", created_at=T0 + timedelta(seconds=5))])
    assert second.status == "merged" and second.merged_into == first.id == second.id
    m = await store.get(first.id)  # type: ignore[arg-type]
    assert m.seen_count == 2 and m.last_seen == T0 + timedelta(seconds=5) and m.created_at == T0  # type: ignore[union-attr]
    assert (await store.stats()).memories == 1
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
    # within one batch too, and with no episode (None is an episode too)
    b = vecs[2_000]
    r = await store.add([new(b, modality="image", merge_near_duplicate=True, episode_id="f"), new(_near(b, 0.05, 3), modality="image", merge_near_duplicate=True, episode_id="f")])
    assert [x.status for x in r] == ["stored", "merged"] and r[1].merged_into == r[0].id
    c = vecs[2_500]
    r = await store.add([new(c, modality="image", merge_near_duplicate=True)])
    r += await store.add([new(_near(c, 0.05, 4), modality="image", merge_near_duplicate=True)])
    assert [x.status for x in r] == ["stored", "merged"]
    episodes = {e.episode_id: e for e in await store.list_episodes()}
    assert episodes["e"].memories == 4 and episodes["e"].seen == 5 and episodes["e"].modalities == ["image", "text"]
    assert episodes["f"].memories == 1 and episodes["f"].seen == 2
    assert episodes[None].memories == 1 and episodes[None].seen == 2


async def test_only_records_marked_by_the_caller_merge(opener, vecs: np.ndarray) -> None:
    store = await opener(dedup_threshold=0.98)
    a = vecs[0]
    r = await store.add([new(a, modality="image", episode_id="e"), new(_near(a, 0.05, 1), modality="image", episode_id="e")])
    assert [x.status for x in r] == ["stored", "stored"]
    r = await store.add([new(a, modality="note", episode_id="n", merge_near_duplicate=True),
                         new(_near(a, 0.05, 1), modality="note", episode_id="n", merge_near_duplicate=True)])
    assert [x.status for x in r] == ["stored", "merged"]
    r = await store.add([new(_near(a, 0.05, 2), modality="note", episode_id="n", merge_near_duplicate=True)], merge_duplicates=False)
    assert [x.status for x in r] == ["stored"]  # copying a store never merges


async def test_visual_descriptor_decides_when_both_have_one(opener, vecs: np.ndarray) -> None:
    store = await opener(dedup_threshold=0.98)
    v = vecs[0]
    await store.add([new(v, modality="image", merge_near_duplicate=True, episode_id="e", visual=[1.0, 0.0, 0.0])])
    [r1] = await store.add([new(v, modality="image", merge_near_duplicate=True, episode_id="e", visual=[0.0, 1.0, 0.0])])
    assert r1.status == "stored"
    [r2] = await store.add([new(vecs[999], modality="image", merge_near_duplicate=True, episode_id="e", visual=[0.0, 2.0, 0.01])])
    assert r2.status == "merged" and r2.merged_into == r1.id


# ---- privacy --------------------------------------------------------------------------------

async def test_excluded_apps_and_titles_are_never_stored(opener, vecs: np.ndarray) -> None:
    store = await opener(excluded_apps=["KeePassXC", "1password"], excluded_titles=["Private Browsing", "bank"])
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
    assert [h.memory.id for h in await store.search(vecs[0], 10, space=SPACE)] == [r[4].id]


# ---- forget ---------------------------------------------------------------------------------

async def test_forget_by_ids_episode_and_time_range(opener, vecs: np.ndarray) -> None:
    store = await opener()
    records = [
        new(v, episode_id=f"ep{i % 3}", thumbnail=JPEG, created_at=T0 + timedelta(minutes=i), tags=["t"])
        for i, v in enumerate(vecs[:90])
    ]
    ids = [r.id for r in await store.add(records)]
    assert await store.delete([ids[0], ids[1], 10**15]) == 2
    assert await store.delete(Filter(episode_id="ep2")) == 30
    window = Filter(since=T0 + timedelta(minutes=60), until=T0 + timedelta(minutes=69))
    assert await store.delete(window) == 7  # 60..69 minus the ep2 ones (63, 66, 69)
    assert await store.delete([]) == 0
    with pytest.raises(InvalidRequest, match="empty filter"):
        await store.delete(Filter())
    gone = {ids[0], ids[1]} | {ids[i] for i in range(90) if i % 3 == 2} | {ids[i] for i in range(60, 70)}
    alive = [x for x in ids if x not in gone]
    assert len(alive) == 51
    assert await store.get_many(sorted(gone)) == []  # type: ignore[arg-type]
    assert await store.list_ids() == sorted(alive)
    assert all([await store.get_thumbnail(x) for x in alive])  # type: ignore[arg-type]
    assert not [x for x in sorted(gone)[:5] if await store.get_thumbnail(x) is not None]  # type: ignore[arg-type]
    st = await store.stats()
    assert st.memories == 51 and st.thumbnail_bytes == 51 * len(JPEG)
    for i in (0, 2, 65, 89):
        hits = await store.search(vecs[i], 90, space=SPACE)
        assert not {h.memory.id for h in hits} & gone and len(hits) == 51


async def test_thumbnail_must_be_a_small_jpeg(opener, vecs: np.ndarray) -> None:
    store = await opener(max_thumbnail_bytes=1_000)
    with pytest.raises(InvalidRequest, match="not a JPEG"):
        await store.add([new(vecs[0], thumbnail=b"\x89PNG\r\n\x1a\n" + b"0" * 10)])
    with pytest.raises(InvalidRequest, match="max_thumbnail_bytes"):
        await store.add([new(vecs[0], thumbnail=JPEG + b"0" * 2_000)])
    assert (await store.stats()).memories == 0  # a bad record fails the whole call before anything is written


async def test_stats_and_episodes(opener, memory_engine: str, vecs: np.ndarray) -> None:
    store = await opener()
    await store.add(
        [new(vecs[0], episode_id="a", modality="text", created_at=T0), new(vecs[1], episode_id="a", modality="audio"),
         new(vecs[2], modality="pdf", thumbnail=JPEG)]
    )
    st = await store.stats()
    assert (st.memories, st.episodes, st.by_modality) == (3, 2, {"text": 1, "audio": 1, "pdf": 1})
    assert st.thumbnail_bytes == len(JPEG) and st.space == SPACE and st.dimension == DIM and st.engine == memory_engine
    eps = await store.list_episodes()
    assert [e.episode_id for e in eps] == [None, "a"]  # most recently seen first
    a = eps[1]
    assert a.memories == 2 and a.first_at == T0 and a.modalities == ["audio", "text"]


async def test_copied_records_keep_ids_times_and_vectors_bit_for_bit(opener, vecs: np.ndarray) -> None:
    """What `sensorium memory migrate` relies on: explicit ids, seen counts and times are kept."""
    store = await opener()
    v = vecs[5] / np.float32(np.linalg.norm(vecs[5]))
    r = await store.add(
        [new(v, id=42, seen_count=3, created_at=T0, last_seen=T0 + timedelta(hours=1)), new(vecs[6], id=1_000)],
        merge_duplicates=False,
    )
    assert [x.id for x in r] == [42, 1_000]
    m = await store.get(42, with_vector=True)
    assert m.seen_count == 3 and m.last_seen == T0 + timedelta(hours=1)  # type: ignore[union-attr]
    assert m.vector.tobytes() == np.asarray(v, dtype=np.float32).tobytes()  # type: ignore[union-attr]
    [fresh] = await store.add([new(vecs[7])])
    assert fresh.id > 1_000  # type: ignore[operator]

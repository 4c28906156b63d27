"""The local store's fast paths (issue 16) answer exactly what the slow ones did.

Indexed metadata filters (the meta_kv side table), the strategy chosen by the match count
(exact over few matches, an oversampled unfiltered walk over many), group commits of
concurrent adds, rows hydrated without re-validation, and recalls answered on the event loop.
Each is checked against a plain reference computed here from the same records.
"""

from __future__ import annotations

import copy
import itertools
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import anyio
import numpy as np
import pytest
from pydantic import ValidationError
from memory_support import clustered, exact_knn, queries_near
from sensorium.memory.config import MemorySettings
from sensorium.memory.local import _LOOP_MAX_CALLS, LocalMemoryStore
from sensorium.memory.loopshare import LoopShare
from sensorium.memory.records import Memory
from sensorium.memory.store import Filter, NewMemory, Source

SPACE = "test/fast@64"
DIM = 64


def meta_of(i: int) -> dict[str, object]:
    md: dict[str, object] = {"i": i, "name": f"n{i % 7}", "ratio": (i % 4) / 2, "flag": i % 3 == 0}
    if i % 5 == 0:
        md["nested"] = {"a": [1, 2]}
    if i % 11 == 0:
        md["maybe"] = None
    return md


async def filled(root: Path, n: int, **settings: object) -> tuple[LocalMemoryStore, np.ndarray, list[int]]:
    vecs = clustered(n, DIM, seed=5)
    store = await LocalMemoryStore.open(root, SPACE, DIM, MemorySettings(**settings))  # type: ignore[arg-type]
    ids: list[int] = []
    for start in range(0, n, 500):
        res = await store.add([
            NewMemory(vector=vecs[i], space=SPACE, modality="text", metadata=meta_of(i), tags=["odd"] if i % 2 else [])
            for i in range(start, min(n, start + 500))
        ])
        ids += [r.id for r in res]  # type: ignore[misc]
    return store, vecs, ids


def reference(n: int, md: dict[str, object]) -> set[int]:
    """Rows whose metadata equals every given value, as json_extract compared them (None also
    matches a missing key; True equals 1, 0.0 equals 0)."""
    out = set()
    for i in range(n):
        m = meta_of(i)
        if all(m.get(k) == v if v is not None else m.get(k) is None for k, v in md.items()):
            out.add(i)
    return out


@pytest.mark.parametrize(
    "md",
    [{"flag": True}, {"flag": False}, {"name": "n3"}, {"ratio": 1}, {"ratio": 0.5}, {"i": 17}, {"maybe": None},
     {"name": "n2", "flag": True}, {"absent": "x"}, {"nested": "x"}],
)
async def test_metadata_filters_list_the_same_rows_as_json_extract(tmp_path: Path, md: dict[str, object]) -> None:
    store, _, ids = await filled(tmp_path, 600)
    expected = sorted(ids[i] for i in reference(600, md))
    assert await store.list_ids(Filter(metadata=md)) == expected
    assert await store.list_ids(Filter(metadata=md, tags=["odd"])) == [i for i in expected if (ids.index(i)) % 2]
    await store.close()


async def test_a_store_made_before_the_side_table_is_backfilled_once(tmp_path: Path) -> None:
    store, _, ids = await filled(tmp_path, 300)
    path = store.path
    await store.close()
    con = sqlite3.connect(path / "memory.db")  # what a store written by the previous version looks like
    con.executescript(
        "DROP TRIGGER memories_meta_kv_insert; DROP TRIGGER memories_meta_kv_delete; DROP TABLE meta_kv;"
        "DELETE FROM meta WHERE key = 'meta_kv';"
    )
    con.close()
    store = await LocalMemoryStore.open(tmp_path, SPACE, DIM, MemorySettings())
    assert await store.list_ids(Filter(metadata={"name": "n4"})) == sorted(ids[i] for i in reference(300, {"name": "n4"}))
    await store.delete(Filter(metadata={"name": "n4"}))
    assert await store.list_ids(Filter(metadata={"name": "n4"})) == []
    con = sqlite3.connect(path / "memory.db")
    orphans = con.execute("SELECT COUNT(*) FROM meta_kv WHERE memory_id NOT IN (SELECT id FROM memories)").fetchone()[0]
    con.close()
    assert orphans == 0  # the delete trigger keeps the side table in step
    await store.close()


@pytest.mark.parametrize("md", [{"flag": True}, {"name": "n1"}, {"ratio": 0}])
async def test_filtered_recall_over_many_matches_is_the_exact_filtered_top_k(tmp_path: Path, md: dict[str, object]) -> None:
    # 4,000 rows, a third to a quarter match: more than filter_exact_below, so the oversampled walk answers
    store, vecs, ids = await filled(tmp_path, 4_000, exact_below=100, filter_exact_below=200)
    rows = np.asarray(sorted(reference(4_000, md)))
    queries = queries_near(vecs, 40, seed=9)
    truth = exact_knn(vecs[rows], queries, 10)
    agree = []
    for q, t in zip(queries, truth, strict=True):
        hits = await store.search(q, 10, space=SPACE, filter=Filter(metadata=md))
        assert len(hits) == 10
        assert all(ids.index(h.memory.id) in set(rows.tolist()) for h in hits)
        agree.append(len({h.memory.id for h in hits} & {ids[r] for r in rows[t]}) / 10)
    assert np.mean(agree) >= 0.97
    await store.close()


async def test_a_rare_filter_that_the_walk_misses_is_still_answered_in_full(tmp_path: Path) -> None:
    # 12 matches among 4,000 (above the tiny filter_exact_below): the oversampled walk finds too few and widens,
    # then falls back; every match comes back, best first
    store, vecs, ids = await filled(tmp_path, 4_000, exact_below=100, filter_exact_below=5, filter_oversample_max=50)
    md = {"i": 17}
    many = Filter(metadata={"name": "n3", "flag": True})
    rows = sorted(reference(4_000, many.metadata or {}))
    hits = await store.search(vecs[0], 1_000, space=SPACE, filter=many)
    assert sorted(h.memory.id for h in hits) == sorted(ids[r] for r in rows)
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    [hit] = await store.search(vecs[0], 10, space=SPACE, filter=Filter(metadata=md))
    assert hit.memory.id == ids[17]
    await store.close()


async def test_concurrent_adds_are_grouped_and_each_caller_gets_its_own_results(tmp_path: Path) -> None:
    vecs = clustered(200, DIM, seed=3)
    store = await LocalMemoryStore.open(tmp_path, SPACE, DIM, MemorySettings(excluded_apps=["secret"]))
    results: dict[int, list] = {}

    async def one(i: int) -> None:
        app = "secret" if i % 10 == 0 else "editor"
        results[i] = await store.add([NewMemory(vector=vecs[i], space=SPACE, modality="text", text=f"t{i}",
                                                source=Source(app=app), metadata={"i": i})])

    async with anyio.create_task_group() as tg:
        for i in range(200):
            tg.start_soon(one, i)
    for i, [res] in results.items():
        if i % 10 == 0:
            assert res.status == "skipped"
        else:
            [m] = await store.get_many([res.id])  # type: ignore[list-item]
            assert (m.text, m.metadata) == (f"t{i}", {"i": i})
    assert len({r[0].id for r in results.values() if r[0].id}) == 180
    await store.close()


async def test_one_bad_add_in_a_group_fails_only_its_caller(tmp_path: Path) -> None:
    vecs = clustered(20, DIM, seed=4)
    store = await LocalMemoryStore.open(tmp_path, SPACE, DIM, MemorySettings())
    outcomes: dict[int, object] = {}

    async def one(i: int) -> None:
        try:
            # NaN-free but not JSON-serialisable metadata fails inside the transaction, not in validation
            md = {"bad": {1, 2}} if i == 7 else {"i": i}
            outcomes[i] = (await store.add([NewMemory(vector=vecs[i], space=SPACE, modality="text", metadata=md)]))[0].status
        except Exception as exc:  # noqa: BLE001
            outcomes[i] = type(exc).__name__

    async with anyio.create_task_group() as tg:
        for i in range(20):
            tg.start_soon(one, i)
    assert outcomes[7] == "TypeError"
    assert all(outcomes[i] == "stored" for i in range(20) if i != 7)
    assert len(await store.list_ids()) == 19
    await store.close()


async def test_hydrated_rows_equal_validated_ones(tmp_path: Path) -> None:
    vecs = clustered(5, DIM, seed=2)
    store = await LocalMemoryStore.open(tmp_path, SPACE, DIM, MemorySettings())
    when = datetime(2026, 3, 4, 5, 6, 7, 891011, tzinfo=UTC)
    [res] = await store.add([NewMemory(vector=vecs[0], space=SPACE, modality="image", text="hi", tags=["a", "b"],
                                       source=Source(app="x", window_title="t", monitor=1, region=(1, 2, 3, 4)),
                                       metadata={"k": [1, {"z": None}]}, episode_id="e", created_at=when)])
    [hit] = await store.search(vecs[0], 1, space=SPACE)
    m = hit.memory
    again = Memory.model_validate(m.model_dump())
    assert m.model_dump() == again.model_dump()
    assert m.created_at == when and m.source.region == (1, 2, 3, 4) and m.tags == ["a", "b"]
    assert m.metadata == {"k": [1, {"z": None}]}
    [with_vec] = await store.get_many([res.id], with_vector=True)  # type: ignore[list-item]
    assert with_vec.model_dump() == m.model_dump()
    # a recalled memory is shared by every recall of its row (the row cache's object): nothing a caller
    # can do to it through its API changes it, at any depth; its copies are the caller's own
    before = m.model_dump()
    refused = [
        lambda: m.tags.append("mine"), lambda: m.tags.__setitem__(0, "x"), lambda: m.tags.sort(),
        lambda: m.metadata.__setitem__("k", 1), lambda: m.metadata.update(k=1), lambda: m.metadata.pop("k"),
        lambda: m.metadata["k"].append(2), lambda: m.metadata["k"][1].__setitem__("z", 1),
        lambda: m.metadata["k"][1].clear(), lambda: setattr(m, "text", "changed"),
        lambda: setattr(m, "tags", []), lambda: setattr(m.source, "app", "changed"),
    ]
    for change in refused:
        with pytest.raises((TypeError, ValidationError)):
            change()
    mine = m.model_copy(deep=True)
    mine.tags.append("mine")
    mine.metadata["k"][1]["z"] = 1
    copied = copy.deepcopy(m.metadata)
    copied["k"].append(2)
    hit.score = -1.0  # a Hit is each recall's own
    [again_hit] = await store.search(vecs[0], 1, space=SPACE)
    assert again_hit.memory.model_dump() == before and again_hit.score > 0.99
    assert again_hit.memory is m  # shared, which is why it must be read-only
    await store.close()


async def test_recalls_answered_on_the_loop_let_other_tasks_run(tmp_path: Path) -> None:
    """A run of back-to-back recalls answered on the loop lets the loop's other tasks run at least once
    every `_LOOP_MAX_CALLS` recalls (sooner when they held it for `_LOOP_BUDGET_S`: `LoopShare` below),
    not after every recall, which cost ~26 us each (issue 16)."""
    store, vecs, _ = await filled(tmp_path, 400, exact_below=50)
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await anyio.sleep(0)

    let_go: list[bool] = []  # whether the ticker ran during each recall
    async with anyio.create_task_group() as tg:
        tg.start_soon(ticker)
        for q in vecs[:200]:
            before = ticks
            await store.search(q, 5, space=SPACE)
            let_go.append(ticks > before)
        tg.cancel_scope.cancel()
    held = max(len(list(run)) for went, run in itertools.groupby(let_go) if not went)  # recalls in a row holding the loop
    assert held <= _LOOP_MAX_CALLS
    assert ticks >= 200 // _LOOP_MAX_CALLS
    await store.close()


def test_loop_share_lets_go_after_its_budget_or_its_count() -> None:
    share = LoopShare(0.001, 4)
    assert not share.due()
    share.held(0.0004)
    share.held(0.0004)
    assert not share.due()
    share.held(0.0004)  # 1.2 ms held: the next recall lets the loop run first
    assert share.due()
    share.let_go()
    assert not share.due()
    for _ in range(4):  # four cheap recalls: due by count, however little time they took
        assert not share.due()
        share.held(0.0)
    assert share.due()
    with pytest.raises(ValueError, match="positive budget"):
        LoopShare(0, 4)


async def test_rows_waiting_for_the_graph_are_searched_exactly_and_can_be_forgotten(tmp_path: Path) -> None:
    """With the background indexer held back, fresh rows sit in the tail: every search (unfiltered,
    filtered, on the loop or not) merges them in exactly; forgetting one drops it from the tail;
    once graphed, the answers are the same."""
    store, vecs, ids = await filled(tmp_path, 3000, exact_below=0)
    assert await store.wait_indexed(120)
    store._stop_indexer(0)  # test support: nothing more reaches the graph
    more = clustered(400, DIM, seed=9)
    res = await store.add([NewMemory(vector=v, space=SPACE, modality="text", metadata={"late": True}) for v in more])
    late = [r.id for r in res]
    assert (await store.stats()).index_pending == 400
    allv = np.concatenate([vecs, more])
    all_ids = np.asarray(ids + late)
    qs = queries_near(more, 20, seed=3)
    truth = exact_knn(allv, qs, 10)
    for q, t in zip(qs, truth, strict=True):
        hits = await store.search(q, 10, space=SPACE)
        assert [h.memory.id for h in hits] == all_ids[t].tolist()
        hits = await store.search(q, 5, space=SPACE, filter=Filter(metadata={"late": True}))
        assert {h.memory.id for h in hits} <= set(late) and len(hits) == 5
    assert await store.delete(late[:200]) == 200
    st = await store.stats()
    assert st.index_pending == 200 and st.memories == st.index_elements == 3200
    hits = await store.search(more[0], 3, space=SPACE)
    assert late[0] not in {h.memory.id for h in hits}
    store._start_indexer()
    assert await store.wait_indexed(120)
    assert (await store.stats()).index_pending == 0
    hits = await store.search(more[300], 1, space=SPACE)
    assert hits[0].memory.id == late[300]
    await store.close()


async def test_a_writer_past_the_tail_bound_graphs_the_excess_and_loses_nothing(tmp_path: Path) -> None:
    """memory.max_index_tail: with the background indexer held back, an add that leaves more rows than
    the bound outside the graph graphs the excess itself before it returns (back-pressure), so the
    exact tail every search scans stays bounded; every acknowledged row is searchable throughout and
    still there after a reopen. The bound is a count, not a time: nothing here is timed."""
    store, vecs, ids = await filled(tmp_path, 600, exact_below=0, max_index_tail=50)
    assert await store.wait_indexed(120)
    store._stop_indexer(0)  # test support: only writers can graph from here on
    more = clustered(300, DIM, seed=17)
    late: list[int] = []
    for start in range(0, 300, 40):
        res = await store.add([NewMemory(vector=v, space=SPACE, modality="text", metadata={"late": True})
                               for v in more[start : start + 40]])
        late += [r.id for r in res]  # type: ignore[misc]
        st = await store.stats()
        assert st.index_pending <= 50, st.index_pending
        assert st.memories == st.index_elements == 600 + len(late)
        # the rows of this very add are found by the next search, graphed or still in the tail
        for v, id_ in zip(more[start : start + 40 : 13], [r.id for r in res][::13], strict=True):
            [hit] = await store.search(v, 1, space=SPACE)
            assert hit.memory.id == id_ and hit.score > 0.999
    allv = np.concatenate([vecs, more])
    all_ids = np.asarray(ids + late)
    qs = queries_near(more, 20, seed=4)
    for q, t in zip(qs, exact_knn(allv, qs, 10), strict=True):
        assert [h.memory.id for h in await store.search(q, 10, space=SPACE)] == all_ids[t].tolist()
    # 0: every write graphs everything before it returns
    store._settings = store._settings.model_copy(update={"max_index_tail": 0})
    [one] = await store.add([NewMemory(vector=clustered(1, DIM, seed=18)[0], space=SPACE, modality="text")])
    assert (await store.stats()).index_pending == 0
    await store.close()
    again = await LocalMemoryStore.open(tmp_path, SPACE, DIM, MemorySettings())
    assert (await again.stats()).memories == 901
    assert {m.id for m in await again.get_many(late + [one.id])} == set(late) | {one.id}  # type: ignore[operator]
    await again.close()


async def test_a_search_sees_a_merge_made_by_another_store_on_the_same_files(tmp_path: Path) -> None:
    """Searches build their rows from an in-memory row cache: a near-duplicate merged by another
    process (here another store object on the same folder) must show in the next search's row."""
    vecs = clustered(3, DIM, seed=11)
    a = await LocalMemoryStore.open(tmp_path, SPACE, DIM, MemorySettings())
    b = await LocalMemoryStore.open(tmp_path, SPACE, DIM, MemorySettings())
    try:
        [r] = await a.add([NewMemory(vector=vecs[0], space=SPACE, modality="image", episode_id="e", merge_near_duplicate=True)])
        assert (await a.search(vecs[0], 1, space=SPACE))[0].memory.seen_count == 1
        [m] = await b.add([NewMemory(vector=vecs[0], space=SPACE, modality="image", episode_id="e", merge_near_duplicate=True)])
        assert m.merged_into == r.id
        hit = (await a.search(vecs[0], 1, space=SPACE))[0]
        assert hit.memory.id == r.id and hit.memory.seen_count == 2
        with pytest.raises(TypeError, match="read-only"):  # shared by every recall of the row: nobody can change it
            hit.memory.metadata["x"] = 1
        assert (await a.search(vecs[0], 1, space=SPACE))[0].memory.metadata == {}
    finally:
        await a.close()
        await b.close()

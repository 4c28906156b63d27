"""The Milvus rows of bench/bench_memory.py: the same records, queries and ground truth as the local
engine's rows, on a real standalone Milvus server, at every read consistency the store supports.

    python bench/bench_memory.py --engines local,milvus --json bench/results/memory.json

Why a module of its own and not only an `ENGINES` opener: the generic `bench_engine` ingests once per
engine, and a Milvus ingest of 100k x 768 takes minutes here. The consistency levels differ only in
how reads wait for writes, so the data are written once (at Strong, the store's default) and then
read by one store per level on the same collection. What a level costs and what it hides is measured
the way an agent meets it, in `read_your_writes`: remember one memory, recall it at once, forget it,
get it at once.

Each level becomes one engine row of the report, shaped as `bench_engine`'s (`ingest`, `unfiltered`,
`filtered`) so the table and memory.json read the same for every engine: `milvus` (Strong), and
`milvus-session`, `milvus-bounded` whose `ingest` points at the `milvus` row (same writes). Recall is
against the same exact numpy top-k as the local rows (`base["_truth"]`, rows identified by the
`metadata["i"]` every record carries).

Where the time goes at Strong: every read waits for the server's time tick (~200 ms on the standalone
build), whatever the search costs. Searches run after the ingest was flushed and the HNSW index built
(timed as `ingest.flush_and_index_s`), so they measure the indexed collection, not a brute-force scan
of growing segments. The bench's metadata filter (`{flag: True}`) becomes a Milvus expression on each
row's JSON `doc` whose hits the store checks again in Python (docs/MEMORY.md): that is what the filtered
rows measure.
"""

from __future__ import annotations

import asyncio
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from milvus_support import MilvusProcess  # noqa: E402

from sensorium.memory.config import MemorySettings  # noqa: E402
from sensorium.memory.milvus import MilvusMemoryStore  # noqa: E402
from sensorium.memory.store import Filter, MemoryStore, NewMemory  # noqa: E402

LEVELS = {"milvus": "Strong", "milvus-session": "Session", "milvus-bounded": "Bounded"}
"""engine row name -> `memory.milvus_consistency` it reads at (`milvus` is the store's default, Strong)."""


def _ms(values: list[float], q: float) -> float:
    return round(float(np.percentile(np.asarray(values) * 1000.0, q)), 3)


def _recall(found: list[list[int]], truth: list[set[int]], k: int) -> float:
    return round(float(np.mean([len(set(f[:k]) & t) / k for f, t in zip(found, truth, strict=True)])), 4)


class _ServerOwningStore:
    """A MilvusMemoryStore whose private server stops when the store closes (the `ENGINES` opener)."""

    def __init__(self, store: MilvusMemoryStore, server: MilvusProcess) -> None:
        self._store, self._server = store, server

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    async def close(self) -> None:
        try:
            await self._store.close()
        finally:
            await asyncio.to_thread(self._server.stop)


async def open_milvus(root: Path, space: str, dim: int, settings: MemorySettings) -> MemoryStore:
    """`ENGINES` opener: a store on a standalone server started in `root` (stopped on close), for
    generic callers such as `bench_real`. The side-by-side rows come from `bench_milvus`."""
    server = await asyncio.to_thread(MilvusProcess(root).start)
    mine = settings.model_copy(update={"engine": "milvus", "milvus_uri": server.uri,
                                       "milvus_collection_prefix": f"bench{uuid.uuid4().hex[:8]}_"})
    try:
        store = await MilvusMemoryStore.open(mine, space, dim)
    except BaseException:
        server.stop()
        raise
    return _ServerOwningStore(store, server)  # type: ignore[return-value]


async def _wait_indexed(store: MilvusMemoryStore) -> None:
    """Seal what was written and wait until the HNSW index covers it, so the searches measure the index."""
    from pymilvus import utility

    def work() -> None:
        store._col.flush(timeout=600)
        utility.wait_for_index_building_complete(store.collection, using=store._alias, timeout=1800)
        store._col.load(timeout=600)  # a no-op when loaded; waits for the indexed segments otherwise

    await asyncio.to_thread(work)


async def _searches(store: MemoryStore, space: str, qs: np.ndarray, k: int, flt: Filter | None,
                    truth: list[set[int]]) -> dict[str, Any]:
    lat, cpu, found = [], [], []
    await store.search(qs[0], k, space=space, filter=flt)  # warm the connection and the plan
    for q in qs:
        t, c = time.perf_counter(), time.process_time()
        hits = await store.search(q, k, space=space, filter=flt)
        lat.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
        found.append([int(h.memory.metadata["i"]) for h in hits])
    return {"p50_ms": _ms(lat, 50), "p99_ms": _ms(lat, 99), "recall": _recall(found, truth, k),
            "cpu_p50_ms": _ms(cpu, 50), "queries": len(qs)}


async def _read_your_writes(store: MilvusMemoryStore, space: str, dim: int, rounds: int) -> dict[str, Any]:
    """remember -> recall at once -> forget -> get at once, `rounds` times: is the fresh write in the next
    search, is the forgotten memory gone from the next get, and what the first search after a write costs."""
    rng = np.random.default_rng(7)
    found = gone = 0
    lat = []
    for _ in range(rounds):
        v = rng.standard_normal(dim).astype(np.float32)
        [res] = await store.add([NewMemory(vector=v, space=space, modality="text", metadata={"i": -1, "probe": True})])
        t = time.perf_counter()
        hits = await store.search(v, 1, space=space)
        lat.append(time.perf_counter() - t)
        found += bool(hits) and hits[0].memory.id == res.id
        await store.delete([res.id])  # the delete's own lookup is Strong at every level (memory/milvus.py)
        gone += await store.get(res.id) is None
    return {"rounds": rounds, "fresh_add_in_next_search": found, "forgotten_gone_from_next_get": gone,
            "search_after_write_p50_ms": _ms(lat, 50)}


async def bench_milvus(data: np.ndarray, qs: np.ndarray, k: int, settings: MemorySettings, base: dict[str, Any],
                       singles: int, concurrent: int, *, selectivity: dict[str, Callable[[int], bool]],
                       queries: int, rounds: int, log: Callable[[str], None]) -> dict[str, dict[str, Any]]:
    """Rows `milvus`, `milvus-session`, `milvus-bounded` for report["engines"] (see the module docstring).
    `queries`: how many of `qs` each level asks (Strong waits ~200 ms a read; the local rows ask all)."""
    import tempfile

    n, dim = data.shape
    space = f"bench/clustered@{dim}"
    qs = qs[:queries]
    truth = base["_truth"][:queries]
    ftruth = {flag: base["filtered"][flag]["_truth"][:queries] for flag in selectivity}

    def rec(i: int) -> NewMemory:  # the very records bench_engine writes
        md: dict[str, Any] = {"i": i}
        md.update({flag: True for flag, sel in selectivity.items() if sel(i)})
        return NewMemory(vector=data[i], space=space, modality="text", episode_id=f"e{i % 50}",
                         text=f"record {i}", metadata=md)

    rows: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-memory-milvus-") as tmp:
        t0 = time.perf_counter()
        server = await asyncio.to_thread(MilvusProcess(Path(tmp)).start)
        try:
            log(f"[milvus] server ready in {time.perf_counter() - t0:.1f} s, {server.rss_mb() or 0:.0f} MB RSS")
            prefix = f"bench{uuid.uuid4().hex[:8]}_"
            per_level = {name: settings.model_copy(update={"engine": "milvus", "milvus_uri": server.uri,
                                                            "milvus_collection_prefix": prefix, "milvus_consistency": level})
                         for name, level in LEVELS.items()}
            writer = await MilvusMemoryStore.open(per_level["milvus"], space, dim)
            bulk = n - singles - concurrent
            log(f"[milvus] ingest {bulk:,} in batches of 1000")
            t = time.perf_counter()
            for start in range(0, bulk, 1000):
                await writer.add([rec(i) for i in range(start, min(start + 1000, bulk))])
            batch_rate = bulk / (time.perf_counter() - t)
            log(f"[milvus] {concurrent} concurrent single adds, then {singles} one after another")
            t = time.perf_counter()
            await asyncio.gather(*(writer.add([rec(i)]) for i in range(bulk, bulk + concurrent)))
            concurrent_rate = concurrent / (time.perf_counter() - t)
            lat = []
            for i in range(bulk + concurrent, n):
                t = time.perf_counter()
                await writer.add([rec(i)])
                lat.append(time.perf_counter() - t)
            log("[milvus] flush and wait for the HNSW index")
            t = time.perf_counter()
            await _wait_indexed(writer)
            indexed_s = time.perf_counter() - t
            rows["milvus"] = {"ingest": {
                "batch_1000_per_s": round(batch_rate, 1),
                "vs_hnswlib_add": round(batch_rate / base["hnswlib_add_per_s"], 3),
                f"concurrent_{concurrent}_singles_per_s": round(concurrent_rate, 1),
                "sequential_single_per_s": round(len(lat) / sum(lat), 1) if lat else None,
                "sequential_single_p50_ms": _ms(lat, 50) if lat else None,
                "flush_and_index_s": round(indexed_s, 1),
            }}
            for name, mine in per_level.items():
                store = writer if name == "milvus" else await MilvusMemoryStore.open(mine, space, dim)
                row = rows.setdefault(name, {"ingest": {**rows["milvus"]["ingest"], "same_writes_as": "milvus"}})
                row["consistency"] = mine.milvus_consistency
                log(f"[{name}] unfiltered, {len(qs)} queries")
                u = await _searches(store, space, qs, k, None, truth)
                b = base["unfiltered"]
                row["unfiltered"] = {**u, "hnswlib_p50_ms": b["hnswlib_p50_ms"],
                                     "ratio_vs_hnswlib": round(u["p50_ms"] / b["hnswlib_p50_ms"], 2),
                                     "hnswlib_cpu_p50_ms": b["hnswlib_cpu_p50_ms"],
                                     "cpu_ratio_vs_hnswlib": round(u["cpu_p50_ms"] / max(b["hnswlib_cpu_p50_ms"], 1e-3), 2)}
                row["filtered"] = {}
                for flag in selectivity:
                    log(f"[{name}] filtered {flag}")
                    f = await _searches(store, space, qs, k, Filter(metadata={flag: True}), ftruth[flag])
                    b = base["filtered"][flag]
                    better = min(b["exact_scan_p50_ms"], b["hnswlib_callback_p50_ms"])
                    better_cpu = min(b["exact_scan_cpu_p50_ms"], b["hnswlib_callback_cpu_p50_ms"])
                    row["filtered"][flag] = {
                        "matching": b["matching"], **f,
                        "exact_scan_p50_ms": b["exact_scan_p50_ms"], "hnswlib_callback_p50_ms": b["hnswlib_callback_p50_ms"],
                        "ratio_vs_better_baseline": round(f["p50_ms"] / better, 2), "better_baseline_cpu_p50_ms": better_cpu,
                        "cpu_ratio_vs_better_baseline": round(f["cpu_p50_ms"] / max(better_cpu, 1e-3), 2),
                    }
                log(f"[{name}] read-your-writes, {rounds} rounds")
                row["read_your_writes"] = await _read_your_writes(store, space, dim, rounds)
                if store is not writer:
                    await store.close()
            await asyncio.to_thread(writer.drop_sync)
            await writer.close()
            rows["milvus"]["server"] = {"started_in_s": round(server.started_in or 0.0, 1), "rss_mb": round(server.rss_mb() or 0.0)}
        finally:
            await asyncio.to_thread(server.stop)
    return rows


def markdown(report: dict[str, Any]) -> str:
    """The table docs/MEMORY.md copies: every engine row of a memory.json side by side."""
    lines = [
        f"{report['n']:,} x {report['dim']} clustered, {report['queries']} queries (Milvus rows: the first "
        f"{next((e['unfiltered']['queries'] for e in report['engines'].values() if 'consistency' in e), '?')}), "
        f"{report['at']}, load {report['load_before']} -> {report['load_after']}",
        "",
        "| engine | recall@10 | search p50 / p99 ms | metadata filter 1 %: p50 ms, recall | 30 %: p50 ms, recall "
        "| ingest, batches of 1000 | one add per call, p50 | fresh add in next search | forgotten gone from next get "
        "| search right after a write, p50 |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, e in report["engines"].items():
        u, f, i = e["unfiltered"], e["filtered"], e["ingest"]
        ryw = e.get("read_your_writes")
        same = "same_writes_as" in i
        label = f"{name} ({e['consistency']})" if "consistency" in e else name
        lines.append(
            f"| {label} | {u['recall']:.3f} | {u['p50_ms']:.1f} / {u['p99_ms']:.1f} "
            f"| {f['p1']['p50_ms']:.1f}, {f['p1']['recall']:.3f} | {f['p30']['p50_ms']:.1f}, {f['p30']['recall']:.3f} "
            f"| {'(same writes)' if same else format(i['batch_1000_per_s'], ',.0f') + '/s'} "
            f"| {'' if same or i.get('sequential_single_p50_ms') is None else format(i['sequential_single_p50_ms'], '.1f') + ' ms'} "
            + (f"| {ryw['fresh_add_in_next_search']}/{ryw['rounds']} | {ryw['forgotten_gone_from_next_get']}/{ryw['rounds']} "
               f"| {ryw['search_after_write_p50_ms']:.0f} ms |" if ryw else "| — | — | — |")
        )
    b = report["baselines"]
    lines += ["", f"Baselines from the same run: raw hnswlib p50 {b['unfiltered']['hnswlib_p50_ms']:.2f} ms, "
              f"add_items {b['hnswlib_add_per_s']:,.0f}/s; exact scan over the 1 % matches "
              f"{b['filtered']['p1']['exact_scan_p50_ms']:.2f} ms, hnswlib filter callback at 30 % "
              f"{b['filtered']['p30']['hnswlib_callback_p50_ms']:.2f} ms."]
    m = report["engines"].get("milvus")
    if m:
        lines += [f"Milvus server started in {m['server']['started_in_s']} s ({m['server']['rss_mb']} MB RSS); "
                  f"flush + HNSW index build after the ingest: {m['ingest']['flush_and_index_s']} s."]
    return "\n".join(lines)


if __name__ == "__main__":  # python bench/memory_milvus.py bench/results/memory.json  -> the docs' table
    import json

    print(markdown(json.loads(Path(sys.argv[1]).read_text())))

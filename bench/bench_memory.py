"""Memory engines side by side with their libraries, in one run: ingest, recall, filtered recall.

    python bench/bench_memory.py                                  # 100k x 768, every engine
    python bench/bench_memory.py --n 30000 --json bench/results/memory.json
    python bench/bench_memory.py --engines local --no-real
    python bench/bench_memory.py --same-graph-only --n 20000 --queries 400   # the like-for-like row alone

Every figure sits beside its baseline from the same run on the same data (issue 16 states its
targets as ratios, since the machine is shared and its speed changes from minute to minute):

- raw hnswlib (same M / ef_construction / ef, built by the bench itself): unfiltered recall p50,
  the filter-callback recall p50, and the add_items rate;
- an exact numpy scan over the matching rows (already gathered): filtered recall p50;
- hnswlib's `knn_query` on the local store's *own* graph object (the `same_graph` row): the raw
  hnswlib baseline above is built in one pass, the store's graph by its indexer in chunks, so the two
  walks differ; this row times `store.search` and `knn_query` on the same graph, same ef and k, query
  by query interleaved (order alternating), so what is left is exactly the store's Python around the walk.

Each latency is also taken in process CPU time (`time.process_time`, all threads): on a shared
machine the wall-clock p50 includes waiting for a core, which CPU time leaves out.

Engines are entries of `ENGINES` (name -> async open function): each is filled the same way and
asked the same questions through the `MemoryStore` protocol, so another engine is one entry more.
Data are seeded clustered vectors (uniform noise in 768-d has no neighbourhoods, STACK.md) and,
unless --no-real, real embeddings of the dev eval sets through the local backend (bench/real_vectors.py,
cached in bench/cache/).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import hnswlib
import numpy as np
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from memory_support import clustered, exact_knn, queries_near  # noqa: E402

from sensorium.memory.config import MemorySettings  # noqa: E402
from sensorium.memory.store import Filter, MemoryStore, NewMemory  # noqa: E402

console = Console(stderr=True)
OpenEngine = Callable[[Path, str, int, MemorySettings], Awaitable[MemoryStore]]


async def open_local(root: Path, space: str, dim: int, settings: MemorySettings) -> MemoryStore:
    from sensorium.memory.local import LocalMemoryStore

    return await LocalMemoryStore.open(root, space, dim, settings)


from memory_milvus import bench_milvus, open_milvus  # noqa: E402

ENGINES: dict[str, OpenEngine] = {"local": open_local, "milvus": open_milvus}
"""name -> open(root dir, space, dimension, settings): add an engine here to bench it beside the others.
`milvus` is benched by bench/memory_milvus.py (one ingest, then a row per read consistency level)."""

# metadata flags carried by 1 % and 30 % of the records: the filtered recalls of issue 16
SELECTIVITY = {"p1": lambda i: i % 100 == 0, "p30": lambda i: i % 10 < 3}


def ms(values: list[float], q: float) -> float:
    return round(float(np.percentile(np.asarray(values) * 1000.0, q)), 3)


def mean_ms(values: list[float]) -> float:
    return round(float(np.mean(values)) * 1000, 3)


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def timed(fn: Callable[[], Any], reps: int) -> list[float]:
    out = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return out


# ---- baselines ------------------------------------------------------------------------------------
def raw_hnsw(data: np.ndarray, settings: MemorySettings, ef_construction: int | None = None) -> tuple[hnswlib.Index, float]:
    index = hnswlib.Index(space="ip", dim=data.shape[1])
    index.init_index(max_elements=len(data), M=settings.hnsw_m,
                     ef_construction=ef_construction or settings.hnsw_ef_construction, random_seed=100)
    t = time.perf_counter()
    for start in range(0, len(data), 1000):  # in the store's batch size, threads as the store uses them
        index.add_items(data[start : start + 1000], np.arange(start, min(start + 1000, len(data))), num_threads=-1)
    rate = len(data) / (time.perf_counter() - t)
    index.set_ef(settings.hnsw_ef_search)
    return index, rate


def recall(found: list[list[int]], truth: list[set[int]], k: int) -> float:
    return round(float(np.mean([len(set(f[:k]) & t) / k for f, t in zip(found, truth, strict=True)])), 4)


def recall_by_distance(found: list[list[int]], docs: np.ndarray, qs: np.ndarray, k: int, eps: float = 1e-4) -> float:
    """ann-benchmarks' k-nn recall: a returned item counts when it is at least as close as the k-th
    true neighbour (minus eps). Real corpora hold identical vectors (elements with the same label, every
    textless element's marker), whose order among equals is arbitrary: by ids those ties count as misses."""
    out = []
    for f, q in zip(found, qs, strict=True):
        scores = docs @ q
        kth = np.partition(-scores, k - 1)[k - 1] * -1.0
        out.append(sum(1 for i in f[:k] if scores[i] >= kth - eps) / k)
    return round(float(np.mean(out)), 4)


def baselines(data: np.ndarray, qs: np.ndarray, k: int, settings: MemorySettings, masks: dict[str, np.ndarray]) -> dict[str, Any]:
    console.log(f"baseline: raw hnswlib build ({len(data):,}) [load {load()}]")
    index, rate = raw_hnsw(data, settings)
    out: dict[str, Any] = {"hnswlib_add_per_s": round(rate, 1)}
    truth = [set(r.tolist()) for r in exact_knn(data, qs, k)]
    found = [index.knn_query(q.reshape(1, -1), k=k, num_threads=1)[0][0].tolist() for q in qs]
    lat, cpu = [], []
    for q in qs:
        t, c = time.perf_counter(), time.process_time()
        index.knn_query(q.reshape(1, -1), k=k, num_threads=1)
        lat.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
    out["unfiltered"] = {"hnswlib_p50_ms": ms(lat, 50), "hnswlib_p99_ms": ms(lat, 99), "hnswlib_recall": recall(found, truth, k),
                         "hnswlib_cpu_p50_ms": ms(cpu, 50), "hnswlib_mean_ms": mean_ms(lat)}
    out["filtered"] = {}
    for name, mask in masks.items():
        rows = np.flatnonzero(mask)
        sub = np.ascontiguousarray(data[rows])
        allowed = set(rows.tolist())
        ex_lat, cb_lat, cb_found, ftruth, ex_cpu, cb_cpu = [], [], [], [], [], []
        for q in qs:
            t, c = time.perf_counter(), time.process_time()
            s = np.einsum("ij,j->i", sub, q)
            top = np.argpartition(-s, k - 1)[:k]
            top = top[np.argsort(-s[top])]
            ex_lat.append(time.perf_counter() - t)
            ex_cpu.append(time.process_time() - c)
            ftruth.append(set(rows[top].tolist()))
            t, c = time.perf_counter(), time.process_time()
            labels, _ = index.knn_query(q.reshape(1, -1), k=k, num_threads=1, filter=allowed.__contains__)
            cb_lat.append(time.perf_counter() - t)
            cb_cpu.append(time.process_time() - c)
            cb_found.append(labels[0].tolist())
        out["filtered"][name] = {
            "matching": int(len(rows)),
            "exact_scan_p50_ms": ms(ex_lat, 50),
            "hnswlib_callback_p50_ms": ms(cb_lat, 50),
            "hnswlib_callback_recall": recall(cb_found, ftruth, k),
            "exact_scan_cpu_p50_ms": ms(ex_cpu, 50),
            "hnswlib_callback_cpu_p50_ms": ms(cb_cpu, 50),
            "_truth": ftruth,
        }
    out["_truth"] = truth
    return out


# ---- like for like: the store against its own graph ---------------------------------------------------
async def same_graph(store: Any, qs: np.ndarray, k: int, space: str, rounds: int = 3) -> dict[str, Any]:
    """`store.search` (the async API a recall uses) against hnswlib's `knn_query` on the store's own
    graph object (`store._index._index`: same graph, same ef, same k, same queries), interleaved query by
    query, `rounds` passes over the queries, with the order alternating: whichever runs first for a
    query walks a graph cold in the CPU caches and the second warm (at 20k x 768 the warm walk measured
    half the cold one), so each side is first for half the queries. Besides the pooled p50/p99, the
    `first` figures compare the two sides when each ran first (cold, as a new query is) and `second` when
    each ran second (warm: the strictest, the walk at its cheapest). Only for an engine with an
    in-process hnswlib graph (local)."""
    graph = store._index._index  # noqa: SLF001 - the bench looks inside on purpose
    for q in qs[:20]:  # warm up
        await store.search(q, k, space=space)
        graph.knn_query(q.reshape(1, -1), k=k, num_threads=1)
    lat: dict[tuple[str, int], list[float]] = {(s, p): [] for s in ("store", "hnswlib") for p in (0, 1)}
    cpu: dict[str, list[float]] = {"store": [], "hnswlib": []}
    same = 0
    for r in range(rounds):
        for j, q in enumerate(qs):
            q2 = q.reshape(1, -1)
            for pos, side in enumerate(("store", "hnswlib") if (j + r) % 2 == 0 else ("hnswlib", "store")):
                if side == "store":
                    t, c = time.perf_counter(), time.process_time()
                    hits = await store.search(q, k, space=space)
                else:
                    t, c = time.perf_counter(), time.process_time()
                    labels, _ = graph.knn_query(q2, k=k, num_threads=1)
                lat[side, pos].append(time.perf_counter() - t)
                cpu[side].append(time.process_time() - c)
            same += [h.memory.id for h in hits] == labels[0].tolist()
    s_all, h_all = lat["store", 0] + lat["store", 1], lat["hnswlib", 0] + lat["hnswlib", 1]

    def ratio(a: list[float], b: list[float], q: float) -> float:
        return round(ms(a, q) / max(ms(b, q), 1e-3), 2)

    return {
        "store_p50_ms": ms(s_all, 50), "store_p99_ms": ms(s_all, 99),
        "hnswlib_same_graph_p50_ms": ms(h_all, 50), "hnswlib_same_graph_p99_ms": ms(h_all, 99),
        "ratio_p50": ratio(s_all, h_all, 50), "ratio_p99": ratio(s_all, h_all, 99),
        "first_store_p50_ms": ms(lat["store", 0], 50), "first_hnswlib_p50_ms": ms(lat["hnswlib", 0], 50),
        "first_ratio_p50": ratio(lat["store", 0], lat["hnswlib", 0], 50),
        "second_store_p50_ms": ms(lat["store", 1], 50), "second_hnswlib_p50_ms": ms(lat["hnswlib", 1], 50),
        "second_ratio_p50": ratio(lat["store", 1], lat["hnswlib", 1], 50),
        "store_cpu_p50_ms": ms(cpu["store"], 50), "hnswlib_same_graph_cpu_p50_ms": ms(cpu["hnswlib"], 50),
        "cpu_ratio_p50": ratio(cpu["store"], cpu["hnswlib"], 50),
        # means as well: a recall answered on the loop lets other tasks run only about once a millisecond
        # (memory/loopshare.py), so the p50 recall does not include that event-loop turn; the mean does
        "store_mean_ms": mean_ms(s_all), "hnswlib_same_graph_mean_ms": mean_ms(h_all),
        "ratio_mean": round(mean_ms(s_all) / max(mean_ms(h_all), 1e-3), 2),
        "same_ids_fraction": round(same / (rounds * len(qs)), 4),
        "searches_per_side": rounds * len(qs),
        "timed": "store.search (async) vs store._index._index.knn_query, interleaved per query, order alternating",
        "load": load(),
    }


# ---- one engine ---------------------------------------------------------------------------------
async def bench_engine(name: str, opener: OpenEngine, data: np.ndarray, qs: np.ndarray, k: int,
                       settings: MemorySettings, base: dict[str, Any], singles: int, concurrent: int) -> dict[str, Any]:
    n, dim = data.shape
    space = f"bench/clustered@{dim}"
    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix=f"bench-memory-{name}-") as tmp:
        store = await opener(Path(tmp), space, dim, settings)
        label_of = np.zeros(n, dtype=np.int64)  # row of data -> the engine's id

        def rec(i: int) -> NewMemory:
            md: dict[str, Any] = {"i": i}
            md.update({flag: True for flag, sel in SELECTIVITY.items() if sel(i)})
            return NewMemory(vector=data[i], space=space, modality="text", episode_id=f"e{i % 50}",
                             text=f"record {i}", metadata=md)

        bulk = n - singles - concurrent
        console.log(f"[{name}] ingest {bulk:,} in batches of 1000 [load {load()}]")
        # the store's ingest is timed (its add calls); building the callers' NewMemory records is not
        t0 = time.perf_counter()
        in_add = 0.0
        for start in range(0, bulk, 1000):
            batch = [rec(i) for i in range(start, min(start + 1000, bulk))]
            t = time.perf_counter()
            res = await store.add(batch)
            in_add += time.perf_counter() - t
            label_of[start : start + len(res)] = [r.id for r in res]
        batch_rate = bulk / in_add
        # an engine that acknowledges before its ANN graph holds the rows (the local store's
        # background indexer) is asked to finish: searches below measure the graph, not the tail
        wait_indexed = getattr(store, "wait_indexed", None)
        graphed_rate = None
        if wait_indexed is not None:
            await wait_indexed()
            graphed_rate = bulk / (time.perf_counter() - t0)
            console.log(f"[{name}] acknowledged {batch_rate:,.0f}/s; every row in the graph after "
                        f"{time.perf_counter() - t0:.1f} s ({graphed_rate:,.0f}/s) [load {load()}]")
        console.log(f"[{name}] {concurrent} concurrent single adds, then {singles} one after another")
        t0 = time.perf_counter()
        res = await asyncio.gather(*(store.add([rec(i)]) for i in range(bulk, bulk + concurrent)))
        concurrent_rate = concurrent / (time.perf_counter() - t0)
        label_of[bulk : bulk + concurrent] = [r[0].id for r in res]
        if wait_indexed is not None:
            await wait_indexed()
        lat = []
        for i in range(bulk + concurrent, n):
            t = time.perf_counter()
            [r] = await store.add([rec(i)])
            lat.append(time.perf_counter() - t)
            label_of[i] = r.id
        if wait_indexed is not None:
            await wait_indexed()
        out["ingest"] = {
            "batch_1000_per_s": round(batch_rate, 1),
            "batch_timed": "acknowledged: store.add calls only (durable in SQLite); record building excluded",
            "graph_complete_per_s": None if graphed_rate is None else round(graphed_rate, 1),
            "vs_hnswlib_add": round(batch_rate / base["hnswlib_add_per_s"], 3),
            f"concurrent_{concurrent}_singles_per_s": round(concurrent_rate, 1),
            "sequential_single_per_s": round(len(lat) / sum(lat), 1) if lat else None,
            "sequential_single_p50_ms": ms(lat, 50) if lat else None,
        }
        row_of = {int(label): row for row, label in enumerate(label_of)}

        console.log(f"[{name}] unfiltered recall [load {load()}]")
        for q in qs[:20]:  # warm up connections and caches
            await store.search(q, k, space=space)
        lat, cpu, found = [], [], []
        for q in qs:
            t, c = time.perf_counter(), time.process_time()
            hits = await store.search(q, k, space=space)
            lat.append(time.perf_counter() - t)
            cpu.append(time.process_time() - c)
            found.append([row_of[h.memory.id] for h in hits])
        u = base["unfiltered"]
        out["unfiltered"] = {"p50_ms": ms(lat, 50), "p99_ms": ms(lat, 99), "recall": recall(found, base["_truth"], k),
                             "hnswlib_p50_ms": u["hnswlib_p50_ms"], "ratio_vs_hnswlib": round(ms(lat, 50) / u["hnswlib_p50_ms"], 2),
                             "cpu_p50_ms": ms(cpu, 50), "hnswlib_cpu_p50_ms": u["hnswlib_cpu_p50_ms"],
                             "cpu_ratio_vs_hnswlib": round(ms(cpu, 50) / max(u["hnswlib_cpu_p50_ms"], 1e-3), 2),
                             "mean_ms": mean_ms(lat), "hnswlib_mean_ms": u["hnswlib_mean_ms"],
                             "ratio_mean_vs_hnswlib": round(mean_ms(lat) / max(u["hnswlib_mean_ms"], 1e-3), 2)}
        if name == "local":
            console.log(f"[{name}] same-graph row: store.search vs knn_query on its own graph [load {load()}]")
            out["same_graph"] = await same_graph(store, qs, k, space)
        out["filtered"] = {}
        for flag in SELECTIVITY:
            console.log(f"[{name}] filtered recall {flag} [load {load()}]")
            flt = Filter(metadata={flag: True})
            await store.search(qs[0], k, space=space, filter=flt)
            b = base["filtered"][flag]
            lat, cpu, found = [], [], []
            for q in qs:
                t, c = time.perf_counter(), time.process_time()
                hits = await store.search(q, k, space=space, filter=flt)
                lat.append(time.perf_counter() - t)
                cpu.append(time.process_time() - c)
                found.append([row_of[h.memory.id] for h in hits])
            better = min(b["exact_scan_p50_ms"], b["hnswlib_callback_p50_ms"])
            better_cpu = min(b["exact_scan_cpu_p50_ms"], b["hnswlib_callback_cpu_p50_ms"])
            out["filtered"][flag] = {
                "matching": b["matching"], "p50_ms": ms(lat, 50), "p99_ms": ms(lat, 99), "recall": recall(found, b["_truth"], k),
                "exact_scan_p50_ms": b["exact_scan_p50_ms"], "hnswlib_callback_p50_ms": b["hnswlib_callback_p50_ms"],
                "ratio_vs_better_baseline": round(ms(lat, 50) / better, 2),
                "cpu_p50_ms": ms(cpu, 50), "better_baseline_cpu_p50_ms": better_cpu,
                "cpu_ratio_vs_better_baseline": round(ms(cpu, 50) / max(better_cpu, 1e-3), 2),
            }
        await store.close()
    return out


async def bench_real(k: int, settings: MemorySettings, opener: OpenEngine, ef_constructions: list[int],
                     texts_only: bool, cached_only: bool = False) -> dict[str, Any]:
    """Recall@k on real embeddings (bench/real_vectors.py): the texts corpus and the screenshots corpus,
    each for raw hnswlib at several ef_construction and for the engine (graph forced), per query kind."""
    from real_vectors import real_vectors

    out: dict[str, Any] = {}
    for corpus in ("texts",) if texts_only else ("texts", "screenshots"):
        console.log(f"real embeddings: {corpus} [load {load()}]")
        docs, qs, info = await asyncio.to_thread(real_vectors, corpus=corpus, log=console.log, cached_only=cached_only)
        truth = [set(r.tolist()) for r in exact_knn(docs, qs, k)]
        kinds: dict[str, slice] = {}
        at = 0
        for kind, count in info["queries"].items():
            kinds[kind] = slice(at, at + count)
            at += count
        res: dict[str, Any] = {"documents": int(len(docs)), "queries": int(len(qs)), "dim": int(docs.shape[1]), "source": info}
        for efc in ef_constructions:
            index, rate = raw_hnsw(docs, settings, efc)
            found = [index.knn_query(q.reshape(1, -1), k=k, num_threads=1)[0][0].tolist() for q in qs]
            res[f"hnswlib_ef_construction_{efc}"] = {
                "recall": recall(found, truth, k), "add_per_s": round(rate, 1),
                "recall_by_distance": recall_by_distance(found, docs, qs, k),
                **{f"recall_{kd}_queries": recall(found[sl], truth[sl], k) for kd, sl in kinds.items()},
                **{f"recall_by_distance_{kd}_queries": recall_by_distance(found[sl], docs, qs[sl], k) for kd, sl in kinds.items()},
            }
        forced = settings.model_copy(update={"exact_below": 0})
        space = f"{info['space']}"
        with tempfile.TemporaryDirectory(prefix="bench-memory-real-") as tmp:
            store = await opener(Path(tmp), space, docs.shape[1], forced)
            ids: list[int] = []
            for start in range(0, len(docs), 1000):
                added = await store.add([NewMemory(vector=v, space=space, modality="image") for v in docs[start : start + 1000]])
                ids += [r.id for r in added]  # type: ignore[misc]
            if getattr(store, "wait_indexed", None) is not None:
                await store.wait_indexed()  # type: ignore[attr-defined]
            row_of = {i: row for row, i in enumerate(ids)}
            found = [[row_of[h.memory.id] for h in await store.search(q, k, space=space)] for q in qs]
            res["engine_recall"] = recall(found, truth, k)
            res["engine_recall_by_distance"] = recall_by_distance(found, docs, qs, k)
            for kd, sl in kinds.items():
                res[f"engine_recall_{kd}_queries"] = recall(found[sl], truth[sl], k)
                res[f"engine_recall_by_distance_{kd}_queries"] = recall_by_distance(found[sl], docs, qs[sl], k)
            res["identical_document_vectors"] = int(len(docs) - len(np.unique(docs, axis=0)))
            res["engine_ef_construction"] = settings.hnsw_ef_construction
            await store.close()
        out[corpus] = res
    return out


def render(report: dict[str, Any]) -> None:
    out = Console()
    t = Table(title=f"memory engines at {report['n']:,} x {report['dim']} (clustered), load {report['load_before']} -> {report['load_after']}")
    for col in ("engine", "figure", "engine", "baseline", "ratio", "CPU-time ratio", "recall@10"):
        t.add_column(col, justify="right")
    b = report["baselines"]
    for name, e in report["engines"].items():
        u = e["unfiltered"]
        t.add_row(name, "recall p50 ms", f"{u['p50_ms']:.3f}", f"{u['hnswlib_p50_ms']:.3f} hnswlib", f"{u['ratio_vs_hnswlib']:.2f}x", f"{u['cpu_ratio_vs_hnswlib']:.2f}x", f"{u['recall']:.4f}")
        if "same_graph" in e:
            sg = e["same_graph"]
            t.add_row(name, "recall p50 ms, same graph", f"{sg['store_p50_ms']:.3f}", f"{sg['hnswlib_same_graph_p50_ms']:.3f} knn_query",
                      f"{sg['ratio_p50']:.2f}x", f"{sg['cpu_ratio_p50']:.2f}x", "")
        for flag, f in e["filtered"].items():
            better = "exact" if f["exact_scan_p50_ms"] <= f["hnswlib_callback_p50_ms"] else "callback"
            t.add_row(name, f"filtered {flag} ({f['matching']:,}) p50 ms", f"{f['p50_ms']:.3f}",
                      f"{min(f['exact_scan_p50_ms'], f['hnswlib_callback_p50_ms']):.3f} {better}",
                      f"{f['ratio_vs_better_baseline']:.2f}x", f"{f['cpu_ratio_vs_better_baseline']:.2f}x", f"{f['recall']:.4f}")
        i = e["ingest"]
        t.add_row(name, "ingest batches of 1000 /s", f"{i['batch_1000_per_s']:,.0f}", f"{b['hnswlib_add_per_s']:,.0f} add_items",
                  f"{i['vs_hnswlib_add']:.2f}x", "", "")
        if i.get("graph_complete_per_s"):
            t.add_row(name, "  of which in the graph /s", f"{i['graph_complete_per_s']:,.0f}", "", "", "", "")
        for key, v in i.items():
            if key.startswith("concurrent") or key == "sequential_single_per_s":
                t.add_row(name, key.replace("_", " "), f"{v:,.0f}", "", "", "", "")
    out.print(t)
    for corpus, r in report.get("real", {}).items():
        rt = Table(title=f"recall@10 on real embeddings, {corpus}: {r['documents']:,} documents, {r['queries']} queries, {r['dim']}-d")
        rt.add_column("index")
        rt.add_column("recall@10", justify="right")
        rt.add_column("add/s", justify="right")
        for key, v in r.items():
            if key.startswith("hnswlib_ef"):
                rt.add_row(key, f"{v['recall']:.4f}", f"{v['add_per_s']:,.0f}")
        rt.add_row(f"engine local (ef_construction {r['engine_ef_construction']})", f"{r['engine_recall']:.4f}", "")
        rt.add_row("engine local, by distance (ties count)", f"{r['engine_recall_by_distance']:.4f}", "")
        for key, v in r.items():
            if key.startswith("engine_recall_") and key != "engine_recall_by_distance":
                rt.add_row(f"  engine, {key.removeprefix('engine_recall_').replace('_', ' ')}", f"{v:.4f}", "")
        out.print(rt)


async def same_graph_only(args: argparse.Namespace, settings: MemorySettings) -> dict[str, Any]:
    """`--same-graph-only`: fill a local store (batches of 1000, graph completed) and time the same-graph
    row alone: the quick loop while working on the store's search path."""
    from sensorium.memory.local import LocalMemoryStore

    data = clustered(args.n, args.dim, seed=42)
    qs = queries_near(data, args.queries, seed=43)
    space = f"bench/clustered@{args.dim}"
    with tempfile.TemporaryDirectory(prefix="bench-memory-same-graph-") as tmp:
        store = await LocalMemoryStore.open(Path(tmp), space, args.dim, settings)
        for start in range(0, args.n, 1000):
            await store.add([NewMemory(vector=v, space=space, modality="text", episode_id=f"e{(start + j) % 50}",
                                       text=f"record {start + j}", metadata={"i": start + j})
                             for j, v in enumerate(data[start : start + 1000])])
        await store.wait_indexed()
        console.log(f"filled {args.n:,}; same-graph row [load {load()}]")
        row = await same_graph(store, qs, args.k, space, rounds=args.rounds)
        await store.close()
    return row


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--dim", type=int, default=768)
    ap.add_argument("--queries", type=int, default=300)
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--singles", type=int, default=100, help="records remembered one call after another")
    ap.add_argument("--concurrent", type=int, default=256, help="records remembered by that many concurrent calls")
    ap.add_argument("--engines", default=",".join(ENGINES), help=f"comma-separated, of: {', '.join(ENGINES)}")
    ap.add_argument("--milvus-queries", type=int, default=100, help="queries per Milvus row (Strong reads wait ~200 ms each)")
    ap.add_argument("--no-real", action="store_true", help="skip recall on real embeddings")
    ap.add_argument("--real-ef-construction", default="64,100,200")
    ap.add_argument("--real-texts-only", action="store_true", help="real embeddings of the dev sets' texts only (no OCR of screenshots)")
    ap.add_argument("--real-cached-only", action="store_true",
                    help="screenshots corpus: only the images already embedded in bench/cache (counts in the report)")
    ap.add_argument("--json", type=Path, help="also write the results here")
    ap.add_argument("--same-graph-only", action="store_true",
                    help="only the local store's same-graph row (store.search vs knn_query on its own graph)")
    ap.add_argument("--rounds", type=int, default=3, help="--same-graph-only: passes over the queries")
    args = ap.parse_args()
    settings = MemorySettings(checkpoint_every=10**9)
    if args.same_graph_only:
        row = {"n": args.n, "dim": args.dim, "k": args.k, "queries": args.queries, "load_before": load(),
               "at": datetime.now(UTC).isoformat(timespec="seconds"),
               "same_graph": await same_graph_only(args, settings), "load_after": load()}
        print(json.dumps(row, indent=2))
        if args.json:
            args.json.write_text(json.dumps(row, indent=2) + "\n")
        return
    report: dict[str, Any] = {"n": args.n, "dim": args.dim, "k": args.k, "queries": args.queries, "load_before": load(),
                              "at": datetime.now(UTC).isoformat(timespec="seconds"),
                              "hnsw": {"M": settings.hnsw_m, "ef_construction": settings.hnsw_ef_construction, "ef": settings.hnsw_ef_search},
                              "sqlite_synchronous": settings.sqlite_synchronous}
    console.log(f"generating {args.n:,} x {args.dim} clustered vectors")
    data = clustered(args.n, args.dim, seed=42)
    qs = queries_near(data, args.queries, seed=43)
    masks = {flag: np.fromiter((sel(i) for i in range(args.n)), dtype=bool, count=args.n) for flag, sel in SELECTIVITY.items()}
    base = baselines(data, qs, args.k, settings, masks)
    report["baselines"] = {"hnswlib_add_per_s": base["hnswlib_add_per_s"], "unfiltered": base["unfiltered"],
                           "filtered": {f: {k: v for k, v in e.items() if not k.startswith("_")} for f, e in base["filtered"].items()}}
    report["engines"] = {}
    for name in args.engines.split(","):
        if name == "milvus":
            report["engines"].update(await bench_milvus(data, qs, args.k, settings, base, args.singles, args.concurrent,
                                                        selectivity=SELECTIVITY, queries=args.milvus_queries,
                                                        rounds=20, log=console.log))
            continue
        report["engines"][name] = await bench_engine(name, ENGINES[name], data, qs, args.k, settings, base,
                                                     args.singles, args.concurrent)
    if not args.no_real:
        console.log(f"recall on real embeddings [load {load()}]")
        report["real"] = await bench_real(args.k, settings, ENGINES["local"],
                                          [int(x) for x in args.real_ef_construction.split(",")], args.real_texts_only,
                                          args.real_cached_only)
    report["load_after"] = load()
    render(report)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
        console.log(f"wrote {args.json}")


if __name__ == "__main__":
    asyncio.run(main())

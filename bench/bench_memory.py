"""Memory store bench: remember/s and recall latency + recall@10 against exact numpy, in one run.

    python bench/bench_memory.py                       # 10k and 100k x 768
    python bench/bench_memory.py --sizes 10000 --json out.json

Data are seeded clustered vectors with a low intrinsic dimension (uniform noise in 768-d has no
neighbourhoods, STACK.md). Everything goes through the real LocalMemoryStore on real files:
SQLite commits, HNSW inserts, row fetches. It also measures the three ways to answer a
filtered recall (exact over the matching rows, hnswlib's filter callback, oversampling +
post-filter) at several selectivities: the numbers behind `filter_exact_below` (docs/MEMORY.md).

Targets (reported, not asserted): recall p50 <= 2 ms at 100k with recall@10 >= 0.97;
remember >= 1,000/s with precomputed vectors.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from memory_support import clustered, exact_knn, queries_near  # noqa: E402

from sensorium.memory.config import MemorySettings  # noqa: E402
from sensorium.memory.local import LocalMemoryStore  # noqa: E402
from sensorium.memory.store import Filter, NewMemory  # noqa: E402

SPACE = "bench/clustered@{dim}"
SELECTIVITIES = {"p50": 2, "p10": 10, "p1": 100, "p0.1": 1000}  # tag -> every n-th record carries it
console = Console(stderr=True)


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values) * 1000.0, q))  # ms


def tags_for(i: int) -> list[str]:
    return [t for t, every in SELECTIVITIES.items() if i % every == 0]


async def bench_size(n: int, dim: int, queries: int, k: int, singles: int, sync: str, filters: bool) -> dict[str, Any]:
    space = SPACE.format(dim=dim)
    console.log(f"[{n:,}] generating clustered data")
    data = clustered(n, dim, seed=42)
    qs = queries_near(data, queries, seed=43)
    settings = MemorySettings(checkpoint_every=10**9, sqlite_synchronous=sync)  # type: ignore[arg-type]
    out: dict[str, Any] = {"n": n, "dim": dim, "k": k, "queries": queries, "sqlite_synchronous": sync,
                           "hnsw": {"M": settings.hnsw_m, "ef_construction": settings.hnsw_ef_construction, "ef": settings.hnsw_ef_search}}
    with tempfile.TemporaryDirectory(prefix="bench-memory-") as tmp:
        store = await LocalMemoryStore.open(Path(tmp), space, dim, settings)
        ids = np.zeros(n, dtype=np.int64)

        def rec(i: int) -> NewMemory:
            return NewMemory(vector=data[i], space=space, modality="text", episode_id=f"e{i % 50}", tags=tags_for(i),
                             text=f"record {i}", metadata={"i": i})

        bulk = n - singles
        console.log(f"[{n:,}] remember: {bulk:,} in batches of 1000")
        t0 = time.perf_counter()
        for start in range(0, bulk, 1000):
            res = await store.add([rec(i) for i in range(start, min(start + 1000, bulk))])
            ids[start : start + len(res)] = [r.id for r in res]
        t_bulk = time.perf_counter() - t0
        lat: list[float] = []
        for i in range(bulk, n):
            t = time.perf_counter()
            [r] = await store.add([rec(i)])
            lat.append(time.perf_counter() - t)
            ids[i] = r.id  # type: ignore[assignment]
        out["remember"] = {
            "batch_1000_per_s": round(bulk / t_bulk, 1),
            "single_per_s": round(singles / sum(lat), 1),
            "single_p50_ms": round(pct(lat, 50), 3),
            "single_p99_ms": round(pct(lat, 99), 3),
        }

        console.log(f"[{n:,}] exact numpy ground truth")
        truth_rows = exact_knn(data, qs, k)
        truth = ids[truth_rows]
        ex_lat = []
        for q in qs[: min(100, queries)]:
            t = time.perf_counter()
            s = np.einsum("ij,j->i", data, q)  # as memory/index.py does (threaded BLAS gemv is slower here)
            top = np.argpartition(-s, k)[:k]
            top[np.argsort(-s[top])]
            ex_lat.append(time.perf_counter() - t)
        out["exact_numpy"] = {"p50_ms": round(pct(ex_lat, 50), 3), "p99_ms": round(pct(ex_lat, 99), 3)}

        console.log(f"[{n:,}] recall through the store")
        store_lat, found = [], []
        for q in qs:
            t = time.perf_counter()
            hits = await store.search(q, k, space=space)
            store_lat.append(time.perf_counter() - t)
            found.append([h.memory.id for h in hits])
        recall = float(np.mean([len(set(f) & set(t.tolist())) / k for f, t in zip(found, truth, strict=True)]))
        index = store._index  # the graph alone, without the row fetch and the thread hop
        idx_lat = []
        for q in qs:
            t = time.perf_counter()
            index.search(q, k)
            idx_lat.append(time.perf_counter() - t)
        out["recall"] = {
            "recall_at_k": round(recall, 4),
            "store_p50_ms": round(pct(store_lat, 50), 3),
            "store_p99_ms": round(pct(store_lat, 99), 3),
            "index_p50_ms": round(pct(idx_lat, 50), 3),
            "index_p99_ms": round(pct(idx_lat, 99), 3),
            "exact_path": n <= settings.exact_below,
        }

        if filters:
            out["filters"] = await bench_filters(store, data, qs[: min(100, queries)], ids, k, space)

        console.log(f"[{n:,}] checkpoint and reopen")
        t = time.perf_counter()
        await store.checkpoint()
        out["checkpoint_s"] = round(time.perf_counter() - t, 2)
        st = await store.stats()
        out["index_mb"] = round(st.index_bytes / 1e6, 1)
        out["db_mb"] = round(st.db_bytes / 1e6, 1)
        await store.close()
        t = time.perf_counter()
        store = await LocalMemoryStore.open(Path(tmp), space, dim, settings)
        out["reopen_s"] = round(time.perf_counter() - t, 2)
        out["reopen"] = (await store.stats()).opened
        await store.close()
    return out


async def bench_filters(store: LocalMemoryStore, data: np.ndarray, qs: np.ndarray, ids: np.ndarray, k: int, space: str) -> dict[str, Any]:
    results: dict[str, Any] = {}
    for tag, every in SELECTIVITIES.items():
        flt = Filter(tags=[tag])
        rows = np.arange(0, len(data), every)
        truth = []
        for q in qs:
            s = data[rows] @ q
            top = np.argsort(-s)[:k]
            truth.append(set(ids[rows[top]].tolist()))
        entry: dict[str, Any] = {"matching": int(len(rows))}
        for name, threshold in (("exact_over_matches", 10**9), ("hnsw_filter_callback", 0)):
            store._settings.filter_exact_below = threshold
            lat, rec = [], []
            for q, t in zip(qs, truth, strict=True):
                t0 = time.perf_counter()
                hits = await store.search(q, k, space=space, filter=flt)
                lat.append(time.perf_counter() - t0)
                rec.append(len({h.memory.id for h in hits} & t) / k)
            entry[name] = {"p50_ms": round(pct(lat, 50), 2), "p99_ms": round(pct(lat, 99), 2), "recall": round(float(np.mean(rec)), 4)}
        # oversampling: an unfiltered walk for k / selectivity * 2 neighbours, then post-filter
        index = store._index
        lat, rec, short = [], [], 0
        for q, t in zip(qs, truth, strict=True):
            t0 = time.perf_counter()
            candidates = store._candidate_ids(flt)  # same SQL cost as the other two
            allowed = set(candidates.tolist())
            want = min(len(ids), k * every * 2, 5000)
            got = index.search(q, want)
            keep = [x for x in got[0].tolist() if x in allowed][:k] if got is not None else []
            lat.append(time.perf_counter() - t0)
            short += len(keep) < k
            rec.append(len(set(keep) & t) / k)
        entry["oversample_x2"] = {"p50_ms": round(pct(lat, 50), 2), "p99_ms": round(pct(lat, 99), 2),
                                  "recall": round(float(np.mean(rec)), 4), "short_answers": short}
        t0 = time.perf_counter()
        for _ in range(20):
            store._candidate_ids(flt)
        entry["sql_candidates_ms"] = round((time.perf_counter() - t0) / 20 * 1000, 2)
        results[tag] = entry
    store._settings.filter_exact_below = MemorySettings().filter_exact_below
    return results


def render(report: list[dict[str, Any]]) -> None:
    out = Console()
    t = Table(title="memory store: remember and recall (clustered, 768-d unless set)")
    for col in ("n", "remember/s batch", "remember/s single", "single p50 ms", "recall@10", "recall p50 ms", "p99 ms",
                "graph p50 ms", "exact numpy p50 ms", "checkpoint s", "index MB", "reopen s"):
        t.add_column(col, justify="right")
    for r in report:
        t.add_row(
            f"{r['n']:,}", f"{r['remember']['batch_1000_per_s']:,.0f}", f"{r['remember']['single_per_s']:,.0f}",
            f"{r['remember']['single_p50_ms']:.2f}", f"{r['recall']['recall_at_k']:.4f}", f"{r['recall']['store_p50_ms']:.2f}",
            f"{r['recall']['store_p99_ms']:.2f}", f"{r['recall']['index_p50_ms']:.3f}", f"{r['exact_numpy']['p50_ms']:.2f}",
            f"{r['checkpoint_s']:.2f}", f"{r['index_mb']:.0f}", f"{r['reopen_s']:.2f}",
        )
    out.print(t)
    for r in report:
        if "filters" not in r:
            continue
        ft = Table(title=f"filtered recall at n={r['n']:,} (p50 ms / recall@10)")
        for col in ("filter", "matching", "SQL ms", "exact over matches", "hnsw filter callback", "oversample x2 (short)"):
            ft.add_column(col, justify="right")
        for tag, e in r["filters"].items():
            ft.add_row(
                tag, f"{e['matching']:,}", f"{e['sql_candidates_ms']:.1f}",
                f"{e['exact_over_matches']['p50_ms']:.1f} / {e['exact_over_matches']['recall']:.3f}",
                f"{e['hnsw_filter_callback']['p50_ms']:.1f} / {e['hnsw_filter_callback']['recall']:.3f}",
                f"{e['oversample_x2']['p50_ms']:.1f} / {e['oversample_x2']['recall']:.3f} ({e['oversample_x2']['short_answers']})",
            )
        out.print(ft)


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="10000,100000", help="comma-separated store sizes")
    ap.add_argument("--dim", type=int, default=768)
    ap.add_argument("--queries", type=int, default=500)
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--singles", type=int, default=300, help="records remembered one call each (the rest in batches)")
    ap.add_argument("--synchronous", choices=["FULL", "NORMAL"], default="FULL")
    ap.add_argument("--no-filters", action="store_true", help="skip the filtered-recall strategies")
    ap.add_argument("--json", type=Path, help="also write the results here")
    args = ap.parse_args()
    report = []
    for n in (int(s) for s in args.sizes.split(",")):
        report.append(await bench_size(n, args.dim, args.queries, args.k, min(args.singles, n // 2), args.synchronous, not args.no_filters))
    render(report)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
        console.log(f"wrote {args.json}")


if __name__ == "__main__":
    asyncio.run(main())

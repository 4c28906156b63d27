"""`sensorium memory export|import` on a local store, each beside `memory migrate`'s way of reading and
writing the same store in one run (the store's own get_many / add, no file): what the file costs.

    python bench/bench_exchange.py                       # 10k x 768, thumbnails on every 3rd memory
    python bench/bench_exchange.py --n 2000 --json bench/results/exchange.json

Figures: export and import seconds and memories/s per format, the file size against the raw float32
vector bytes, and the baseline: a store-to-store copy (`copy_store`, what `memory migrate` does) of the
same memories. Clustered vectors from tests/memory_support.py; texts, tags, metadata and JPEG-like
thumbnails are synthetic.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from pathlib import Path


sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from memory_support import JPEG, clustered  # noqa: E402

from sensorium.memory.config import MemorySettings  # noqa: E402
from sensorium.memory.exchange import export_store, import_export  # noqa: E402
from sensorium.memory.migrate import copy_store  # noqa: E402
from sensorium.memory.store import NewMemory, Source, open_store  # noqa: E402

SPACE_FMT = "bench/exchange@{dim}"


async def run(n: int, dim: int, root: Path) -> dict:
    space = SPACE_FMT.format(dim=dim)
    settings = MemorySettings()
    src = await open_store(settings, root / "src", space, dim)
    vecs = clustered(n, dim, seed=3)
    for start in range(0, n, 1000):
        await src.add([
            NewMemory(vector=vecs[i], space=space, modality="image" if i % 3 == 0 else "text", episode_id=f"ep{i % 50}",
                      text=f"memory {i} " + "lorem ipsum " * (i % 20), tags=[f"t{i % 5}"], metadata={"i": i},
                      source=Source(app="Code", window_title=f"window {i}"),
                      thumbnail=JPEG + os.urandom(2000) if i % 3 == 0 else None)
            for i in range(start, min(n, start + 1000))
        ], merge_duplicates=False)
    out: dict = {"n": n, "dim": dim, "raw_vector_bytes": n * dim * 4, "load": os.getloadavg()[0]}
    rows = []
    try:
        t0 = time.perf_counter()
        dst = await open_store(settings, root / "copy", space, dim)
        await copy_store(src, dst, batch=500, sample=100)
        await dst.close()
        rows.append({"what": "store -> store (memory migrate's copy_store), thumbnails", "seconds": time.perf_counter() - t0})
        for fmt in ("parquet", "jsonl"):
            for thumbs in (False, True):
                path = root / f"m{int(thumbs)}.{fmt}"
                t0 = time.perf_counter()
                rep = await export_store(src, path, thumbnails=thumbs)
                exp = time.perf_counter() - t0
                target = await open_store(settings, root / f"imp-{fmt}-{int(thumbs)}", space, dim)
                t0 = time.perf_counter()
                imp = await import_export(target, path)
                imp_s = time.perf_counter() - t0
                await target.close()
                assert imp.ok and imp.imported == n, imp
                rows.append({"what": f"{fmt}{' + thumbnails' if thumbs else ''}", "export_seconds": exp,
                             "import_seconds": imp_s, "bytes": rep.bytes})
    finally:
        await src.close()
    out["rows"] = rows
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=10_000)
    ap.add_argument("--dim", type=int, default=768)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        result = asyncio.run(run(args.n, args.dim, Path(tmp)))
    n = result["n"]
    print(f"{n} x {result['dim']}, load {result['load']:.1f}; raw float32 vectors {result['raw_vector_bytes'] / 1e6:.1f} MB")
    print(f"{'what':<55} {'export s':>9} {'import s':>9} {'per s (exp/imp)':>17} {'MB':>7}")
    for r in result["rows"]:
        if "seconds" in r:
            print(f"{r['what']:<55} {r['seconds']:>19.2f} {n / r['seconds']:>17.0f}")
        else:
            print(f"{r['what']:<55} {r['export_seconds']:>9.2f} {r['import_seconds']:>9.2f} "
                  f"{n / r['export_seconds']:>8.0f}/{n / r['import_seconds']:<8.0f} {r['bytes'] / 1e6:>7.1f}")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()

"""The ways MCP users start a server, checked end to end: uvx, pipx run and the venv's `sensorium`.

    python bench/bench_launchers.py                        # uvx, pipx, venv; empty caches; bench/results/launchers-cold.json
    python bench/bench_launchers.py --warm --runs 3        # reuse uv's / pipx's caches (later starts; adds uvx --offline)
    python bench/bench_launchers.py --source git+https://...  # a URL instead of this clone

For each launcher a real mcp Client spawns the command over stdio (as Claude Desktop, Claude Code or
Cursor would from the README's snippets), answers `initialize` and `tools/list`, and the time from
spawn to that answer is recorded with the number of tools. `--cold` (the default) gives uv and pipx
an empty cache dir of their own, so the time is a first build: resolve, download every wheel,
build sensorium (and hnswlib, from source) and start. `uv` and `pipx` must be on PATH
(`pip install uv pipx` into any venv will do). Sensorium runs on the local backend with a fresh data dir.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from mcp import Client, StdioServerParameters

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results"  # launchers-cold.json / launchers-warm.json


def commands(source: str) -> dict[str, list[str]]:
    return {
        "uvx": ["uvx", "--from", source, "sensorium", "serve"],
        # uvx re-checks the index on every start; once built, --offline starts from the cache alone
        "uvx-offline": ["uvx", "--offline", "--from", source, "sensorium", "serve"],
        "pipx": ["pipx", "run", "--spec", source, "sensorium", "serve"],
        "venv": [str(Path(sys.executable).parent / "sensorium"), "serve"],
    }


async def tools_list(argv: list[str], env: dict[str, str], timeout_s: float) -> tuple[float, int]:
    params = StdioServerParameters(command=argv[0], args=argv[1:], env=env)
    start = time.perf_counter()
    with anyio_timeout(timeout_s):
        async with Client(params) as client:
            tools = await client.list_tools()
    return time.perf_counter() - start, len(tools.tools)


def anyio_timeout(seconds: float) -> Any:
    import anyio

    return anyio.fail_after(seconds)


def run_one(name: str, argv: list[str], args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix=f"sensorium-{name}-") as tmp:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("SENSORIUM_", "GEMINI_", "GOOGLE_", "VIRTUAL_ENV"))}
        env.update(SENSORIUM_BACKEND="local", SENSORIUM_DATA_DIR=f"{tmp}/data", SENSORIUM_CACHE_DIR=f"{tmp}/cache")
        if not args.warm:
            env.update(UV_CACHE_DIR=f"{tmp}/uv-cache", PIPX_HOME=f"{tmp}/pipx-home", PIP_NO_CACHE_DIR="1")
        if shutil.which(argv[0]) is None:
            return {"launcher": name, "ok": False, "error": f"{argv[0]} not on PATH"}
        try:
            seconds, n = asyncio.run(tools_list(argv, env, args.timeout))
            return {"launcher": name, "ok": True, "seconds": round(seconds, 1), "tools": n, "command": " ".join(argv)}
        except Exception as exc:  # noqa: BLE001 - report every launcher, whatever breaks
            return {"launcher": name, "ok": False, "error": f"{type(exc).__name__}: {exc}", "command": " ".join(argv)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--source", default=str(REPO), help="path or git URL given to uvx --from / pipx --spec")
    ap.add_argument("--only", choices=["uvx", "uvx-offline", "pipx", "venv"], action="append")
    ap.add_argument("--warm", action="store_true", help="use uv's and pipx's own caches instead of empty ones")
    ap.add_argument("--timeout", type=float, default=1200.0)
    ap.add_argument("--runs", type=int, default=1, help="rounds over the launchers (cold runs start from empty caches each time)")
    ap.add_argument("--json", type=Path, default=None, help="default: bench/results/launchers-cold.json or -warm.json")
    args = ap.parse_args()
    args.json = args.json or RESULTS / f"launchers-{'warm' if args.warm else 'cold'}.json"
    rows: list[dict[str, Any]] = []
    launchers = {n: a for n, a in commands(args.source).items()
                 if (not args.only or n in args.only) and (args.warm or n != "uvx-offline")}
    # uvx --offline only with warm caches (an empty cache has nothing to start from). Rounds alternate the
    # launchers, so a busy machine slows all of them alike: compare them within a run.
    for round_ in range(args.runs):
        for name, argv in launchers.items():
            rows.append({"round": round_, **run_one(name, argv, args)})
            print(json.dumps(rows[-1]), flush=True)
    summary = {}
    for name in launchers:
        ok = [r["seconds"] for r in rows if r["launcher"] == name and r["ok"]]
        summary[name] = round(statistics.median(ok), 1) if ok else None
    print("median seconds to tools/list:", summary)
    load = os.getloadavg()
    result = {"load_avg_1_5_15": [round(x, 2) for x in load], "cold": not args.warm, "median_s": summary, "runs": rows}
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2) + "\n")
    print(f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; written {args.json}")


if __name__ == "__main__":
    main()

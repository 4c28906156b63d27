"""Start-up bench: spawn to first `tools/list` answer over stdio, sensorium against a hello-world MCPServer.

    python bench/bench_startup.py                  # 7 runs each, writes bench/results/startup.json
    python bench/bench_startup.py --runs 15 --json out.json

What an agent waits for when its client starts the server: the process starts, imports, builds
its tools, answers `initialize` and then `tools/list`. Both servers are started by a real mcp
Client over stdio with the same Python; runs alternate (hello, sensorium, hello, ...) so a busy
machine slows both alike, and the baseline is measured in the same run. Reported: the median of
each and their ratio (target: sensorium <= 1.15x the hello-world server). Sensorium runs with the
settings a user without an API key gets (the local backend) and a fresh data dir.

The untimed warm-up start writes the tool-schema cache (server/tool_cache.py), as a user's first
start after an install or upgrade does; the timed starts read it. `first_start_s` times a few
starts with that cache deleted before each, i.e. what the first start costs.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from importlib.metadata import version
from pathlib import Path
from typing import Any

from mcp import Client, StdioServerParameters
from rich.console import Console
from rich.table import Table

RESULTS = Path(__file__).resolve().parent / "results" / "startup.json"
TARGET_RATIO = 1.15

HELLO = '''
from mcp.server.mcpserver import MCPServer

server = MCPServer("hello")


@server.tool()
def hello(name: str) -> str:
    """Say hello."""
    return f"hello {name}"


server.run()
'''


async def first_tools_list(params: StdioServerParameters) -> tuple[float, int]:
    """Seconds from spawning the server to the answer of the first tools/list, and the tool count."""
    start = time.perf_counter()
    async with Client(params) as client:
        tools = (await client.list_tools()).tools
        elapsed = time.perf_counter() - start
    return elapsed, len(tools)


def _env(data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SENSORIUM_", "GEMINI_", "GOOGLE_"))}
    env["SENSORIUM_DATA_DIR"] = str(data_dir / "data")
    env["SENSORIUM_CACHE_DIR"] = str(data_dir / "cache")
    env["SENSORIUM_LOG_LEVEL"] = "WARNING"  # its start-up INFO line would interleave with the table
    return env


async def bench(runs: int) -> dict[str, Any]:
    times: dict[str, list[float]] = {"hello": [], "sensorium": []}
    tools: dict[str, int] = {}
    with tempfile.TemporaryDirectory(prefix="bench-startup-") as tmp:
        hello_py = Path(tmp) / "hello_server.py"
        hello_py.write_text(HELLO)
        servers = {
            "hello": StdioServerParameters(command=sys.executable, args=[str(hello_py)], env=_env(Path(tmp))),
            "sensorium": StdioServerParameters(
                command=sys.executable, args=["-m", "sensorium.server.cli", "serve"], env=_env(Path(tmp))
            ),
        }
        await first_tools_list(servers["hello"])  # warm the OS file cache for both before timing
        await first_tools_list(servers["sensorium"])
        for i in range(runs):
            for name in ("hello", "sensorium") if i % 2 == 0 else ("sensorium", "hello"):
                seconds, count = await first_tools_list(servers[name])
                times[name].append(seconds)
                tools[name] = count
        first: list[float] = []
        for _ in range(max(3, runs // 3)):
            shutil.rmtree(Path(tmp) / "cache" / "tool-schemas", ignore_errors=True)
            first.append((await first_tools_list(servers["sensorium"]))[0])
    med = {k: statistics.median(v) for k, v in times.items()}
    return {
        "what": "seconds from spawning the server to the first tools/list answer over stdio (mcp Client)",
        "runs": runs,
        "median_s": {k: round(v, 4) for k, v in med.items()},
        "all_s": {k: [round(x, 4) for x in v] for k, v in times.items()},
        "tools": tools,
        "ratio": round(med["sensorium"] / med["hello"], 3),
        "first_start_s": {"median": round(statistics.median(first), 4), "all": [round(x, 4) for x in first],
                          "ratio": round(statistics.median(first) / med["hello"], 3)},
        "target_ratio": TARGET_RATIO,
        "machine": {
            "python": platform.python_version(),
            "mcp": version("mcp"),
            "cpus": os.cpu_count(),
            "load_avg_1m_at_end": round(os.getloadavg()[0], 2),
        },
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=7)
    p.add_argument("--json", type=Path, default=RESULTS, help=f"write the results here (default {RESULTS})")
    args = p.parse_args()
    result = asyncio.run(bench(args.runs))
    table = Table(title=f"first tools/list over stdio, median of {args.runs} runs")
    table.add_column("server")
    table.add_column("tools", justify="right")
    table.add_column("median s", justify="right")
    table.add_column("min s", justify="right")
    table.add_column("max s", justify="right")
    for name in ("hello", "sensorium"):
        xs = result["all_s"][name]
        table.add_row(name, str(result["tools"][name]), f"{result['median_s'][name]:.3f}", f"{min(xs):.3f}", f"{max(xs):.3f}")
    console = Console()
    console.print(table)
    verdict = "meets" if result["ratio"] <= TARGET_RATIO else "misses"
    console.print(f"first start (no tool-schema cache yet): median {result['first_start_s']['median']:.3f} s, "
                  f"{result['first_start_s']['ratio']:.2f}x the hello-world server")
    console.print(f"ratio sensorium / hello-world: {result['ratio']:.2f}x ({verdict} the {TARGET_RATIO}x target); "
                  f"load average at the end {result['machine']['load_avg_1m_at_end']} on {result['machine']['cpus']} CPUs")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2) + "\n")
    console.print(f"wrote {args.json}")


if __name__ == "__main__":
    main()

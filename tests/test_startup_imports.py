"""Start-up stays light: building the server and answering tools/list loads no heavy media or model library.

Later starts (the tool list read from the tool-schema cache) do not even load the tool modules,
numpy, PIL or mss: they load when a tool is first called.

The first tools/list is what an agent waits for when its client starts the server; PyAV,
pypdfium2, OpenCV, onnxruntime, faster-whisper, the Gemini SDK and hnswlib load on first use
instead (bench/bench_startup.py measures the time). Checked in a fresh interpreter, since this
test process has imported everything already.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from server_support import subprocess_env

LATER = ("numpy", "PIL", "mss", "sqlite3", "sensorium.server.perception", "sensorium.server.memory_tools", "sensorium.server.ranking_tools", "sensorium.memory.store")
"""Loaded by the tools, which a start with the tool-schema cache (server/tool_cache.py) does not build."""

HEAVY = ("av", "pypdfium2", "cv2", "onnxruntime", "faster_whisper", "ctranslate2", "rapidocr", "google.genai", "hnswlib", "tokenizers")

_PROBE = r"""
import asyncio, json, sys
import sensorium.server.app
after_import = sorted(m for m in HEAVY if m in sys.modules)
from mcp import Client
from sensorium.server.app import build_server
from sensorium.server.settings import Settings

async def first_list():
    async with Client(build_server(Settings())) as client:
        return len((await client.list_tools()).tools)

tools = asyncio.run(first_list())
print(json.dumps({"after_import": after_import, "after_tools_list": sorted(m for m in HEAVY if m in sys.modules),
                  "later_after_tools_list": sorted(m for m in LATER if m in sys.modules), "tools": tools}))
"""


def _probe(tmp_path: Path, backend: str) -> dict:
    code = f"HEAVY = {HEAVY!r}\nLATER = {LATER!r}\n{_PROBE}"
    r = subprocess.run([sys.executable, "-c", code], env=subprocess_env(tmp_path, backend=backend), capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    got = json.loads(r.stdout.strip().splitlines()[-1])
    assert got["tools"] > 10
    return got


def test_import_and_first_tools_list_load_no_heavy_library(tmp_path: Path) -> None:
    for backend in ("auto", "local"):  # a user without a key gets the local backend
        got = _probe(tmp_path / backend, backend)
        assert got["after_import"] == [], f"import sensorium.server.app loaded {got['after_import']}"
        assert got["after_tools_list"] == [], f"building the server and tools/list loaded {got['after_tools_list']}"


def test_a_start_with_the_tool_schema_cache_loads_neither_the_tools_nor_numpy_pil_mss(tmp_path: Path) -> None:
    _probe(tmp_path, "local")  # the first start builds the tools and writes the cache
    got = _probe(tmp_path, "local")
    assert got["after_tools_list"] == [], got
    assert got["later_after_tools_list"] == [], f"a cached start loaded {got['later_after_tools_list']} before tools/list"

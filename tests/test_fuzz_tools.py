"""Property-based fuzz of every tool's input schema through a real in-process MCP client (issue 18).

For every tool, arguments derived from its advertised inputSchema (fuzz_support.py) and arbitrary
JSON are sent; each call must come back as a result, a clean isError or a validation error:
never an internal error (-32603, "InternalError", a traceback), never an error echoing megabytes.
Afterwards the server still answers and its memory has not grown without bound.

The server runs in a background event loop (an anyio blocking portal) so hypothesis drives it from
a plain test function. Few examples by default (the default suite stays fast); SENSORIUM_TEST_ALL=1
or CI also runs the `slow` variant with many more. No display: capture tools answer CaptureUnavailable.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio.from_thread
import pytest
from fuzz_support import junk_args, schema_args
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mcp import Client
from mcp.shared.exceptions import MCPError
from sensorium.server.app import build_server, build_services
from server_support import make_settings

INTERNAL_ERROR = -32603
MAX_ERROR_CHARS = 5_000
RSS_GROWTH_MB = 400


def rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6


class Harness:
    """One server and client for the module, called synchronously through a blocking portal."""

    def __init__(self, portal: anyio.from_thread.BlockingPortal, client: Client, schemas: dict[str, dict[str, Any]]) -> None:
        self.portal, self.client, self.schemas = portal, client, schemas
        self.calls = 0

    def call(self, tool: str, args: dict[str, Any]) -> None:
        self.calls += 1
        try:
            result = self.portal.call(self.client.call_tool, tool, args)
        except MCPError as exc:
            assert exc.error.code != INTERNAL_ERROR, f"{tool}({_short(args)}): internal error {exc.error.message}"
            return
        text = " ".join(getattr(c, "text", "") for c in result.content)
        if result.is_error:
            assert "InternalError" not in text and "Traceback" not in text, f"{tool}({_short(args)}): {text[:500]}"
            assert len(text) < MAX_ERROR_CHARS, f"{tool}: a {len(text)}-character error"


def _short(args: dict[str, Any]) -> str:
    text = repr(args)
    return text if len(text) < 300 else text[:300] + "…"


@pytest.fixture(scope="module")
def harness(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Harness]:
    saved = {k: os.environ.pop(k) for k in ("DISPLAY", "WAYLAND_DISPLAY") if k in os.environ}
    tmp: Path = tmp_path_factory.mktemp("fuzz")
    settings_ = make_settings(tmp)
    services = build_services(settings_)
    try:
        with anyio.from_thread.start_blocking_portal() as portal:
            with portal.wrap_async_context_manager(Client(build_server(settings_, services=services))) as client:
                tools = portal.call(client.list_tools).tools
                h = Harness(portal, client, {t.name: t.input_schema for t in tools})
                h.portal.call(client.call_tool, "remember", {"text": "a memory to find", "tags": ["action"]})
                yield h
                assert not portal.call(client.call_tool, "embed_text", {"text": "still answering"}).is_error
            portal.call(services.aclose)
    finally:
        os.environ.update(saved)


TOOLS = [
    "list_monitors", "capture_screen", "embed_text", "embed_screenshot", "embed_region", "embed_image", "embed_audio",
    "embed_media", "embed_multimodal", "remember", "recall", "forget", "list_episodes", "memory_stats", "index_media",
    "rank_ui_elements", "rank_states",
]

FEW = settings(max_examples=12, deadline=None, database=None, suppress_health_check=list(HealthCheck))
MANY = settings(max_examples=300, deadline=None, database=None, suppress_health_check=list(HealthCheck))


def test_every_tool_is_fuzzed(harness: Harness) -> None:
    assert sorted(harness.schemas) == sorted(TOOLS)


def _fuzz(harness: Harness, tool: str, budget: settings) -> None:
    schema = harness.schemas[tool]
    before = rss_mb()

    @budget
    @given(args=st.one_of(schema_args(schema), schema_args(schema), junk_args(schema)))
    def run(args: dict[str, Any]) -> None:
        harness.call(tool, args)

    run()
    assert not harness.portal.call(harness.client.call_tool, "embed_text", {"text": "still answering"}).is_error
    assert rss_mb() - before < RSS_GROWTH_MB, f"{tool}: RSS grew from {before:.0f} to {rss_mb():.0f} MB"


@pytest.mark.parametrize("tool", TOOLS)
def test_fuzz_tool_inputs(harness: Harness, tool: str) -> None:
    _fuzz(harness, tool, FEW)


@pytest.mark.slow
@pytest.mark.parametrize("tool", TOOLS)
def test_fuzz_tool_inputs_long(harness: Harness, tool: str) -> None:
    _fuzz(harness, tool, MANY)

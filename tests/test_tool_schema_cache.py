"""The tool-schema cache (server/tool_cache.py): a later start publishes exactly what a first start
built, builds each tool on its first call, and never serves a list made from other source.

Through a real MCP client (mcp.Client(server)); the tool contract itself runs on both paths in
test_tool_contract.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from mcp import Client
from sensorium.server import tool_cache
from sensorium.server.arglimits import ArgLimits
from sensorium.server.app import build_server
from sensorium.server.toolkit import DeferredTool
from server_support import error_text, make_settings


async def _listed(server) -> list[dict]:
    async with Client(server) as client:
        return [t.model_dump(mode="json", by_alias=True, exclude_none=True) for t in (await client.list_tools()).tools]


def _cache_files(cache_dir: Path) -> list[Path]:
    return sorted((cache_dir / "tool-schemas").glob("*.json"))


async def test_a_second_start_publishes_the_same_list_from_the_cache_and_builds_tools_on_first_call(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    first = build_server(settings)
    assert not any(isinstance(t, DeferredTool) for t in first._tool_manager.list_tools())
    assert len(_cache_files(settings.cache_dir)) == 1

    second = build_server(settings)
    deferred = second._tool_manager.list_tools()
    assert deferred and all(isinstance(t, DeferredTool) and t.built is None for t in deferred)
    assert await _listed(second) == await _listed(first)

    async with Client(second) as client:
        result = await client.call_tool("embed_text", {"text": "hello", "role": "query"})
        assert not result.is_error, error_text(result)
        assert result.structured_content["handle_id"].startswith("emb_")
        bad = error_text(await client.call_tool("embed_text", {"text": "hello", "rol": "query"}))
        assert "unknown argument 'rol' for embed_text" in bad
    built = {t.name for t in deferred if t.built is not None}
    assert "embed_text" in built and "recall" not in built  # built on its first call, not before


async def test_another_fingerprint_rebuilds_and_replaces_the_cached_list(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = make_settings(tmp_path)
    build_server(settings)
    [old] = _cache_files(settings.cache_dir)
    monkeypatch.setattr(tool_cache, "fingerprint", lambda limits=None: "f" * 64)  # as after an edit or an upgrade
    server = build_server(settings)
    assert not any(isinstance(t, DeferredTool) for t in server._tool_manager.list_tools())
    [new] = _cache_files(settings.cache_dir)
    assert new != old and json.loads(new.read_text())["fingerprint"] == "f" * 64


async def test_a_damaged_or_foreign_cache_file_is_ignored(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    reference = await _listed(build_server(settings))
    [path] = _cache_files(settings.cache_dir)
    for damage in ("{not json", json.dumps({"fingerprint": "other", "tools": []}), json.dumps({"fingerprint": tool_cache.fingerprint(ArgLimits.from_settings(settings.intake)), "tools": [{"name": "x"}]})):
        path.write_text(damage)
        server = build_server(settings)
        assert not any(isinstance(t, DeferredTool) for t in server._tool_manager.list_tools())
        assert await _listed(server) == reference
    assert any(isinstance(t, DeferredTool) for t in build_server(settings)._tool_manager.list_tools())  # rewritten


async def test_an_unwritable_cache_dir_only_costs_the_build(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the cache dir should be")
    settings = make_settings(tmp_path).model_copy(update={"cache_dir": blocker})
    for _ in range(2):
        server = build_server(settings)
        assert len(await _listed(server)) > 10
        assert not any(isinstance(t, DeferredTool) for t in server._tool_manager.list_tools())


def test_the_fingerprint_follows_the_source(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fp = tool_cache.fingerprint()
    assert fp == tool_cache.fingerprint() and len(fp) == 64
    (tmp_path / "server").mkdir()
    (tmp_path / "server" / "x.py").write_text("A = 1\n")
    monkeypatch.setattr(tool_cache, "_package_dirs", lambda: [tmp_path / "server"])
    one = tool_cache.fingerprint()
    (tmp_path / "server" / "x.py").write_text("A = 2\n")
    assert tool_cache.fingerprint() != one

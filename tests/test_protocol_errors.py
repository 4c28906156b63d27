"""Issue 18 #11: the JSON-RPC codes the MCP spec names for a missing resource and a bad prompt call.

A missing resource: -32002 on protocol versions up to 2025-11-25 (checked over stdio with a client
that says so), -32602 from 2026-07-28 on (SEP-2164; the SDK's own in-process client speaks it). A prompt without its required argument, or
an unknown prompt: -32602. Before: -32603 (internal error) and code 0.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from mcp import Client
from mcp.shared.exceptions import MCPError
from sensorium.server.app import build_server
from server_support import make_settings


@pytest.fixture
def server(tmp_path: Path):  # type: ignore[no-untyped-def]
    return build_server(make_settings(tmp_path))


@pytest.mark.parametrize("uri", ["sensorium://memory/5", "sensorium://memory/5/image", "sensorium://memory/abc"])
async def test_a_missing_resource_is_resource_not_found(server, uri: str) -> None:  # type: ignore[no-untyped-def]
    async with Client(server) as client:
        with pytest.raises(MCPError) as err:
            await client.read_resource(uri)
        assert client.protocol_version == "2026-07-28"
    assert err.value.code == -32602, err.value
    assert "no memory" in err.value.message or "no such memory" in err.value.message


async def test_a_text_memory_has_no_image_resource(server) -> None:  # type: ignore[no-untyped-def]
    async with Client(server) as client:
        mem = (await client.call_tool("remember", {"text": "a note without a picture"})).structured_content
        with pytest.raises(MCPError) as err:
            await client.read_resource(f"sensorium://memory/{mem['id']}/image")
    assert err.value.code == -32602 and "no thumbnail" in err.value.message


def test_a_2025_client_gets_the_legacy_resource_not_found_code(tmp_path: Path) -> None:
    from stdio_support import StdioPeer

    peer = StdioPeer(tmp_path)
    try:
        peer.initialize()  # protocolVersion 2025-11-25
        r = peer.request("resources/read", {"uri": "sensorium://memory/42"})
        assert r["error"]["code"] == -32002 and "no memory with id 42" in r["error"]["message"], r
        r = peer.request("prompts/get", {"name": "check_seen_before", "arguments": {}})
        assert "result" in r, r  # its one argument is optional
        r = peer.request("prompts/get", {"name": "locate_element", "arguments": {}})
        assert r["error"]["code"] == -32602, r
    finally:
        peer.kill()


async def test_prompt_errors_are_invalid_params(server) -> None:  # type: ignore[no-untyped-def]
    async with Client(server) as client:
        with pytest.raises(MCPError) as missing:
            await client.get_prompt("locate_element", {})
        with pytest.raises(MCPError) as unknown:
            await client.get_prompt("no_such_prompt", {})
        ok = await client.get_prompt("locate_element", {"instruction": "press save"})
    assert missing.value.code == -32602 and "instruction" in missing.value.message
    assert unknown.value.code == -32602 and "locate_element" in unknown.value.message
    assert "press save" in ok.messages[0].content.text

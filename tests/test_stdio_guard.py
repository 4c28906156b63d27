"""Issue 18 #7 and #10 through a real `sensorium serve` over stdio, with raw bytes on its stdin.

#7: a line the SDK cannot read (a lone surrogate, JSON nested 200+ deep, garbage, JSON that is no
JSON-RPC message) gets a JSON-RPC error reply, with the request's id when it can be recovered;
before, the client waited for ever. #10: every way out (stdin EOF, SIGTERM, SIGINT) closes the
services, so the memory index checkpoint is written and the next start has nothing to rebuild.
"""

from __future__ import annotations

import signal
from pathlib import Path

import pytest
from stdio_support import StdioPeer


def test_unreadable_lines_get_an_error_reply_and_the_server_keeps_answering(tmp_path: Path) -> None:
    peer = StdioPeer(tmp_path)
    try:
        peer.initialize()
        surrogate = (b'{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"embed_text",'
                     b'"arguments":{"text":"half an emoji \\ud83d"}}}')
        peer.send_raw(surrogate)
        r = peer.reply()
        assert r["id"] == 2 and r["error"]["code"] == -32700, r
        assert "surrogate" in r["error"]["message"]

        deep = b'{"jsonrpc":"2.0","id":3,"method":"ping","params":{"x":' + b"[" * 250 + b"]" * 250 + b"}}"
        peer.send_raw(deep)
        r = peer.reply()
        assert r["id"] == 3 and r["error"]["code"] == -32700 and "nested" in r["error"]["message"], r

        very_deep = b'{"jsonrpc":"2.0","id":"s4","method":"ping","params":{"x":' + b"[" * 50_000 + b"]" * 50_000 + b"}}"
        peer.send_raw(very_deep)
        r = peer.reply()
        assert r["id"] == "s4" and r["error"]["code"] == -32700, r

        peer.send_raw(b"this is not json")
        r = peer.reply()
        assert r["id"] is None and r["error"]["code"] == -32700, r

        peer.send_raw(b'{"jsonrpc":"2.0","id":6,"method":5}')
        r = peer.reply()
        assert r["id"] is None and r["error"]["code"] == -32600, r

        assert "result" in peer.request("ping")  # still serving
        peer.call_tool("embed_text", {"text": "still alive"})
    finally:
        peer.kill()


def _remember_then(tmp_path: Path, stop: str) -> int:
    peer = StdioPeer(tmp_path)
    try:
        peer.initialize()
        peer.call_tool("remember", {"text": "saved the draft before closing", "episode_id": "shutdown"})
        if stop == "eof":
            peer.close_stdin()
        else:
            peer.proc.send_signal(getattr(signal, stop))
        return peer.wait()
    finally:
        peer.kill()


def _next_start_log(tmp_path: Path) -> str:
    peer = StdioPeer(tmp_path)
    try:
        peer.initialize()
        stats = peer.call_tool("memory_stats", {})
        assert stats["structuredContent"]["memories"] == 1, stats
        peer.close_stdin()
        assert peer.wait() == 0
        return peer.stderr
    finally:
        peer.kill()


@pytest.mark.parametrize(("stop", "code"), [("eof", 0), ("SIGTERM", 0), ("SIGINT", 130)])
def test_every_way_out_writes_the_index_checkpoint(tmp_path: Path, stop: str, code: int) -> None:
    assert _remember_then(tmp_path, stop) == code
    assert list((tmp_path / "data").rglob("hnsw-*.bin")), "no index checkpoint was written on the way out"
    log = _next_start_log(tmp_path)
    assert "no index checkpoint" not in log and "rebuilding" not in log and "caught up" not in log, log


@pytest.mark.slow
async def test_http_sigterm_writes_the_index_checkpoint(tmp_path: Path) -> None:
    """The same over HTTP: uvicorn's graceful shutdown runs the lifespan end, which closes the services."""
    import subprocess
    import sys
    import time

    import httpx2
    from mcp import Client
    from server_support import free_port, subprocess_env

    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "sensorium.server.cli", "serve", "--transport", "http", "--port", str(port)],
        env=subprocess_env(tmp_path), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    try:
        url = f"http://127.0.0.1:{port}/mcp"
        deadline = time.monotonic() + 120  # a hang guard for start-up, not a timing assertion
        while True:
            assert proc.poll() is None and time.monotonic() < deadline, "server did not start"
            try:
                httpx2.get(url, timeout=1)
                break
            except httpx2.TransportError:
                time.sleep(0.2)
        async with Client(url) as client:
            r = await client.call_tool("remember", {"text": "closed the laptop lid", "episode_id": "http"})
            assert not r.is_error, r.content
        proc.send_signal(signal.SIGTERM)
        proc.wait(120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(30)
    assert list((tmp_path / "data").rglob("hnsw-*.bin")), "no index checkpoint was written on SIGTERM"

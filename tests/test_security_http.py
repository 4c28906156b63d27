"""Issue 18 #3 and #11 through a real `sensorium serve --transport http` subprocess.

#3: Host and Origin are checked on every bind, not only on the three literal loopback addresses
the SDK knows (127.0.0.2, 127.1.2.3 and 0:0:0:0:0:0:0:1 answered `Host: evil.example` with 200),
and on a non-loopback bind with a token too. #11: the body limit answers with a message naming
the setting (the SDK said a bare "413"), and the bearer scheme is case-insensitive.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx2
import pytest
from server_support import subprocess_env

SENSORIUM = [sys.executable, "-m", "sensorium.server.cli"]
TOKEN = "k7Qd-2vR9_xLp0ZmWc4T"
INIT = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
    "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "0"}}}
MCP_HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}


def _free_port(host: str) -> int:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def _url(host: str, port: int) -> str:
    return f"http://[{host}]:{port}/mcp" if ":" in host else f"http://{host}:{port}/mcp"


def _start(tmp_path: Path, host: str, connect: str, **env: str) -> tuple[subprocess.Popen, str]:
    port = _free_port(connect)
    proc = subprocess.Popen(
        [*SENSORIUM, "serve", "--transport", "http", "--host", host, "--port", str(port)],
        env=subprocess_env(tmp_path, **env), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    url = _url(connect, port)
    deadline = time.monotonic() + 120  # a hang guard for start-up on a loaded machine, not a timing assertion
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"server exited {proc.returncode}: {proc.stderr.read().decode()}")
        try:
            httpx2.get(url, timeout=1)
            return proc, url
        except httpx2.TransportError:
            time.sleep(0.2)
    proc.kill()
    raise AssertionError("HTTP server did not start")


def _stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(30)


def _post(url: str, *, headers: dict[str, str] | None = None, **kw) -> httpx2.Response:  # type: ignore[no-untyped-def]
    return httpx2.post(url, json=kw.pop("json", INIT), headers={**MCP_HEADERS, **(headers or {})}, timeout=60, **kw)


@pytest.mark.parametrize("host", [
    "127.0.0.2",
    pytest.param("127.1.2.3", marks=pytest.mark.slow),
    pytest.param("0:0:0:0:0:0:0:1", marks=pytest.mark.slow),
])
def test_every_loopback_bind_checks_host_and_origin(tmp_path: Path, host: str) -> None:
    proc, url = _start(tmp_path, host, host)
    try:
        assert _post(url).status_code == 200  # the Host a client sends by itself
        evil = _post(url, headers={"Host": "evil.example"})
        assert evil.status_code == 421 and "SENSORIUM_HTTP__ALLOWED_HOSTS" in evil.text
        rebound = _post(url, headers={"Host": f"evil.example:{url.rsplit(':', 1)[1].split('/')[0]}"})
        assert rebound.status_code == 421
        page = _post(url, headers={"Origin": "http://evil.example"})
        assert page.status_code == 403
        assert _post(url, headers={"Origin": "null"}).status_code == 403
        assert _post(url, headers={"Host": "localhost"}).status_code == 200
    finally:
        _stop(proc)


@pytest.mark.slow
def test_non_loopback_bind_with_token_checks_host_token_and_body(tmp_path: Path) -> None:
    proc, url = _start(tmp_path, "0.0.0.0", "127.0.0.1",
                       SENSORIUM_HTTP__TOKEN=TOKEN, SENSORIUM_HTTP__MAX_BODY_BYTES="100000")
    try:
        good = {"Authorization": f"Bearer {TOKEN}"}
        assert _post(url).status_code == 401
        assert _post(url, headers={"Authorization": f"Bearer {TOKEN}x"}).status_code == 401
        assert _post(url, headers={**good, "Host": "evil.example"}).status_code == 421  # a token is no excuse
        assert _post(url, headers={**good, "Origin": "http://evil.example"}).status_code == 403
        assert _post(url, headers={"Authorization": f"bearer {TOKEN}"}).status_code == 200  # scheme in any case
        assert _post(url, headers={"Authorization": f"BEARER   {TOKEN}"}).status_code == 200
        _assert_body_limit(url, good)
    finally:
        _stop(proc)


def _assert_body_limit(url: str, headers: dict[str, str]) -> None:
    big = {**INIT, "params": {**INIT["params"], "pad": "A" * 150_000}}
    r = _post(url, headers=headers, json=big)
    assert r.status_code == 413
    body = r.json()
    assert body["error"]["code"] == -32600 and "SENSORIUM_HTTP__MAX_BODY_BYTES" in body["error"]["message"]
    assert "150.1 MB" not in body["error"]["message"] and "path" in body["error"]["message"]

    def chunks():  # no Content-Length: the limit still holds
        for _ in range(20):
            yield b"A" * 10_000

    r = httpx2.post(url, content=chunks(), headers={**MCP_HEADERS, **headers}, timeout=60)
    assert r.status_code == 413 and "SENSORIUM_HTTP__MAX_BODY_BYTES" in r.text


def test_default_bind_body_limit_and_lowercase_bearer(tmp_path: Path) -> None:
    proc, url = _start(tmp_path, "127.0.0.1", "127.0.0.1",
                       SENSORIUM_HTTP__TOKEN=TOKEN, SENSORIUM_HTTP__MAX_BODY_BYTES="100000")
    try:
        assert _post(url, headers={"Authorization": f"bearer {TOKEN}"}).status_code == 200
        _assert_body_limit(url, {"Authorization": f"Bearer {TOKEN}"})
    finally:
        _stop(proc)

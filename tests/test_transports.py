"""Real subprocesses: `sensorium serve` over stdio and over streamable HTTP, and `sensorium doctor`."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import httpx2
import pytest
from mcp import Client, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client

from server_support import error_text, free_port, subprocess_env

SENSORIUM = [sys.executable, "-m", "sensorium.server.cli"]


async def _exercise(client: Client) -> None:
    tools = {t.name for t in (await client.list_tools()).tools}
    assert {"embed_text", "capture_screen", "embed_image"} <= tools
    ok = await client.call_tool("embed_text", {"text": "click the blue button"})
    assert not ok.is_error and ok.structured_content["space"] == "hashing/v1@256"
    bad = await client.call_tool("embed_text", {"text": ""})
    assert "text is empty" in error_text(bad)
    again = await client.call_tool("embed_text", {"text": "the server is still alive"})
    assert not again.is_error


async def test_stdio_subprocess(tmp_path: Path) -> None:
    params = StdioServerParameters(command=SENSORIUM[0], args=[*SENSORIUM[1:], "serve"], env=subprocess_env(tmp_path))
    async with Client(params) as client:
        await _exercise(client)


def _start_http(tmp_path: Path, *extra: str, env_extra: dict[str, str] | None = None) -> tuple[subprocess.Popen, int]:
    port = free_port()
    proc = subprocess.Popen(
        [*SENSORIUM, "serve", "--transport", "http", "--port", str(port), *extra],
        env=subprocess_env(tmp_path, **(env_extra or {})),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"server exited {proc.returncode}: {proc.stderr.read().decode()}")
        try:
            httpx2.get(f"http://127.0.0.1:{port}/mcp", timeout=1)
            return proc, port
        except httpx2.TransportError:
            time.sleep(0.2)
    proc.kill()
    raise AssertionError("HTTP server did not start within 60 s")


@pytest.fixture
def http_server(tmp_path: Path):
    proc, port = _start_http(tmp_path)
    yield port
    proc.terminate()
    proc.wait(timeout=20)


async def test_http_subprocess(http_server: int) -> None:
    async with Client(f"http://127.0.0.1:{http_server}/mcp") as client:
        await _exercise(client)


async def test_http_token_is_required_when_set(tmp_path: Path) -> None:
    proc, port = _start_http(tmp_path, env_extra={"SENSORIUM_HTTP__TOKEN": "s3cret"})
    try:
        url = f"http://127.0.0.1:{port}/mcp"
        r = httpx2.post(url, json={"jsonrpc": "2.0", "id": 1, "method": "ping"}, timeout=5)
        assert r.status_code == 401 and "bearer token" in r.text
        wrong = httpx2.AsyncClient(headers={"Authorization": "Bearer nope"})
        with pytest.raises(Exception):
            async with Client(streamable_http_client(url, http_client=wrong)) as client:
                await client.list_tools()
        good = httpx2.AsyncClient(headers={"Authorization": "Bearer s3cret"})
        async with Client(streamable_http_client(url, http_client=good)) as client:
            await _exercise(client)
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def test_non_loopback_http_without_token_is_refused(tmp_path: Path) -> None:
    r = subprocess.run(
        [*SENSORIUM, "serve", "--transport", "http", "--host", "0.0.0.0", "--port", str(free_port())],
        env=subprocess_env(tmp_path), capture_output=True, text=True, timeout=60,
    )
    assert r.returncode == 2
    assert "without a token" in r.stderr and "SENSORIUM_HTTP__TOKEN" in r.stderr


def test_doctor_without_key_says_what_is_missing(tmp_path: Path) -> None:
    env = subprocess_env(tmp_path, backend="auto")
    env.pop("DISPLAY", None)
    r = subprocess.run([*SENSORIUM, "doctor"], env=env, capture_output=True, text=True, timeout=300)
    out = r.stdout + r.stderr
    assert "GEMINI_API_KEY" in out
    assert "local" in out  # falls back to the offline backend
    assert "display" in out and "DISPLAY" in out


def test_console_script_help() -> None:
    script = Path(sys.executable).parent / "sensorium"
    assert script.exists(), "the `sensorium` console script is not installed beside this Python"
    r = subprocess.run([str(script), "--help"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and "serve" in r.stdout and "doctor" in r.stdout

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


async def _exercise_every_tool(client: Client, files: dict[str, Path]) -> None:
    """Call every tool once over this transport, with real files and a real display."""
    await _exercise(client)
    called = {"embed_text"}

    async def call(name: str, args: dict) -> dict:
        r = await client.call_tool(name, args)
        assert not r.is_error, (name, r.content)
        called.add(name)
        return r.structured_content

    assert len((await call("list_monitors", {}))["monitors"]) >= 2
    cap = await call("capture_screen", {"monitor": 1})
    await call("embed_screenshot", {"capture_id": cap["capture_id"]})
    await call("embed_region", {"capture_id": cap["capture_id"], "region": {"left": 0, "top": 0, "width": 64, "height": 64}})
    await call("embed_image", {"path": str(files["image"])})
    await call("embed_audio", {"path": str(files["audio"])})
    await call("embed_media", {"path": str(files["pdf"])})
    await call("embed_multimodal", {"parts": [{"text": "login"}, {"capture_id": cap["capture_id"]}]})
    mem = await call("remember", {"text": "pressed save in the editor", "episode_id": "t"})
    hits = (await call("recall", {"text": "pressed save", "k": 1}))["hits"]
    assert hits[0]["id"] == mem["id"]
    ranked = await call("rank_ui_elements", {
        "capture_id": cap["capture_id"], "instruction": "press the button",
        "candidates": [{"box": [0, 0, 50, 30], "label": "press"}, {"box": [60, 0, 120, 30], "label": "cancel"}],
    })
    assert len(ranked["candidates"]) == 2
    states = await call("rank_states", {"text": "pressed save in the editor"})
    assert states["best"]["id"] == mem["id"]
    await call("list_episodes", {})
    await call("memory_stats", {})
    indexed = await call("index_media", {"path": str(files["pdf"])})
    assert indexed["stored"] == indexed["windows"] >= 1
    await call("forget", {"ids": [mem["id"]]})
    assert called == {t.name for t in (await client.list_tools()).tools}


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    from media_support import pdf_with_text, ui_screen, wav_tone

    image = tmp_path / "screen.jpg"
    ui_screen()[0].save(image, "JPEG", quality=85)
    audio = tmp_path / "sound.wav"
    audio.write_bytes(wav_tone(440.0, 1.5))  # the hashing backend embeds bytes: any clip will do
    pdf = tmp_path / "doc.pdf"
    pdf.write_bytes(pdf_with_text(["A one-page document"]))
    return {"image": image, "audio": audio, "pdf": pdf}


async def test_stdio_subprocess_serves_every_tool(tmp_path: Path, xvfb_display: str, files: dict[str, Path]) -> None:
    env = subprocess_env(tmp_path, DISPLAY=xvfb_display)
    params = StdioServerParameters(command=SENSORIUM[0], args=[*SENSORIUM[1:], "serve"], env=env)
    async with Client(params) as client:
        await _exercise_every_tool(client, files)


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


@pytest.mark.slow
async def test_http_subprocess_serves_every_tool(tmp_path: Path, xvfb_display: str, files: dict[str, Path]) -> None:
    proc, port = _start_http(tmp_path, env_extra={"DISPLAY": xvfb_display})
    try:
        async with Client(f"http://127.0.0.1:{port}/mcp") as client:
            await _exercise_every_tool(client, files)
    finally:
        proc.terminate()
        proc.wait(timeout=20)


@pytest.mark.slow
async def test_http_token_is_required_when_set(tmp_path: Path) -> None:
    proc, port = _start_http(tmp_path, env_extra={"SENSORIUM_HTTP__TOKEN": "k7Qd-2vR9_xLp0ZmWc4T"})
    try:
        url = f"http://127.0.0.1:{port}/mcp"
        r = httpx2.post(url, json={"jsonrpc": "2.0", "id": 1, "method": "ping"}, timeout=5)
        assert r.status_code == 401 and "bearer token" in r.text
        wrong = httpx2.AsyncClient(headers={"Authorization": "Bearer nope"})
        with pytest.raises(Exception):
            async with Client(streamable_http_client(url, http_client=wrong)) as client:
                await client.list_tools()
        good = httpx2.AsyncClient(headers={"Authorization": "Bearer k7Qd-2vR9_xLp0ZmWc4T"})
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


@pytest.mark.slow
async def test_two_stdio_servers_share_one_memory(tmp_path: Path) -> None:
    """Claude Desktop and Claude Code each spawn `sensorium serve` on the same data dir."""
    env = subprocess_env(tmp_path)
    params = StdioServerParameters(command=SENSORIUM[0], args=[*SENSORIUM[1:], "serve"], env=env)
    async with Client(params) as a, Client(params) as b:
        await b.call_tool("memory_stats", {})  # B opens the store before A writes
        r = await a.call_tool("remember", {"text": "the staging password rotates on mondays", "episode_id": "ops"})
        assert not r.is_error, r.content
        hits = (await b.call_tool("recall", {"text": "staging password rotates", "k": 1})).structured_content["hits"]
        assert hits and hits[0]["id"] == r.structured_content["id"]
        assert (await b.call_tool("forget", {"ids": [hits[0]["id"]]})).structured_content["deleted"] == 1
        after = (await a.call_tool("recall", {"text": "staging password rotates", "k": 1})).structured_content["hits"]
        assert after == []

"""Every input has a bounded cost (issue 18): handles capped by bytes, string caps on every tool
argument, CPU work off the event loop, short error echoes, finite numbers, clear filter errors.

Through a real in-process MCP client on the hashing backend (and one real `sensorium serve`
subprocess, for NaN, which only a raw JSON client can send).
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import anyio
import numpy as np
import pytest
from mcp import Client
from PIL import Image
from sensorium.memory.local import compile_filter
from sensorium.memory.records import Filter, NewMemory
from sensorium.server.app import build_server, build_services
from sensorium.tools.backends.base import EmbedItem, Embedding
from sensorium.tools.backends.hashing import HashingBackend
from sensorium.tools.errors import NotFound
from sensorium.tools.handles import KEPT_IMAGE_SIDE, HandleStore
from sensorium.tools.media import Media
from media_support import wav_tone
from server_support import error_text, make_settings, subprocess_env


def _noise_png(side: int, seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 255, (side, side, 3), dtype=np.uint8)).save(buf, format="PNG", compress_level=0)
    return buf.getvalue()


def _vec() -> Embedding:
    return Embedding(vector=np.ones(8, dtype=np.float32) / np.sqrt(8), space="test/v@8")


# -- defect 1: handles are capped by bytes and keep what `remember` needs -----------------------


def test_handle_store_keeps_no_audio_bytes_and_expires_the_oldest_by_bytes() -> None:
    store = HandleStore(max_bytes=1_000_000)
    audio = Media.from_bytes(wav_tone(440.0, 20.0))  # 640 KB of WAV
    h_audio = store.put(_vec(), EmbedItem.of(audio), "document")
    assert h_audio.media is None and h_audio.modality == "audio"
    assert store.nbytes < 20_000, "a WAV handle keeps the vector, not the file"

    images = [store.put(_vec(), EmbedItem.of(Media.from_bytes(_noise_png(256, n))), "document") for n in range(6)]  # ~200 KB each
    assert store.nbytes <= 1_000_000
    assert images[-1].media is not None and store.get(images[-1].id).content_hash == images[-1].content_hash
    with pytest.raises(NotFound, match="expired"):
        store.get(h_audio.id)
    with pytest.raises(NotFound, match="no embedding handle"):
        store.get("emb_" + "0" * 5000)


def test_a_large_image_handle_keeps_a_downscaled_picture() -> None:
    store = HandleStore(max_bytes=50_000_000)
    big = Media.from_bytes(_noise_png(2000, 1))  # 12 MB PNG
    kept = store.put(_vec(), EmbedItem.of(big, "a caption"), "document")
    assert kept.media is not None and len(kept.media.data) < len(big.data) // 4
    with Image.open(io.BytesIO(kept.media.data)) as img:
        assert max(img.size) == KEPT_IMAGE_SIDE
    assert kept.text == "a caption" and kept.modality == "multimodal"


async def test_embedding_big_audio_files_does_not_grow_the_handle_cache(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    settings.intake.handle_cache_bytes = 1_000_000
    services = build_services(settings)
    wav = tmp_path / "long.wav"
    wav.write_bytes(wav_tone(330.0, 100.0))  # 3.2 MB
    async with Client(build_server(settings, services=services)) as client:
        handles = []
        for _ in range(5):
            r = await client.call_tool("embed_audio", {"path": str(wav)})
            assert not r.is_error, r.content
            handles.append(r.structured_content["handle_id"])
        assert services.handles.nbytes < 100_000
        for h in handles:  # every handle still usable: what remember needs is kept
            r = await client.call_tool("remember", {"handle_id": h})
            assert not r.is_error, error_text(r)
    await services.aclose()


# -- defect 2: every string argument has a cap; CPU work is off the event loop ------------------


@pytest.mark.parametrize(
    ("tool", "args", "where", "limit"),
    [
        ("recall", {"text": "w " * 50_000}, "text", "32000"),
        ("remember", {"text": "x", "note": "n" * 40_000}, "note", "32000"),
        ("remember", {"text": "x", "window_title": "t" * 5_000}, "window_title", "1000"),
        ("remember", {"text": "x", "app": "a" * 5_000}, "app", "1000"),
        ("remember", {"text": "x", "tags": ["t" * 5_000]}, "tags[0]", "1000"),
        ("remember", {"text": "x", "metadata": {"k": "v" * 5_000}}, "metadata.k", "1000"),
        ("embed_image", {"path": "/" + "p" * 5_000}, "path", "4096"),
        ("embed_multimodal", {"parts": [{"text": "w " * 20_000}]}, "parts[0].text", "32000"),
        ("rank_ui_elements", {"instruction": "go", "capture_id": "c" * 5_000}, "capture_id", "1000"),
        ("rank_ui_elements", {"instruction": "go", "candidates": [{"box": [0, 0, 1, 1], "label": "l" * 5_000}]}, "candidates[0].label", "1000"),
        ("rank_states", {"text": "w " * 20_000}, "text", "32000"),
    ],
)
async def test_every_string_argument_is_capped(tmp_path: Path, tool: str, args: dict, where: str, limit: str) -> None:
    async with Client(build_server(make_settings(tmp_path))) as client:
        text = error_text(await client.call_tool(tool, args))
        assert f"{where} is " in text and f"the limit is {limit}" in text and "SENSORIUM_INTAKE__MAX_" in text, text
        assert len(text) < 600, "the error does not echo the input"
        assert not (await client.call_tool("embed_text", {"text": "still answering"})).is_error


async def test_text_caps_are_in_the_schema(tmp_path: Path) -> None:
    async with Client(build_server(make_settings(tmp_path))) as client:
        tools = {t.name: t.input_schema for t in (await client.list_tools()).tools}
    assert tools["embed_text"]["properties"]["text"]["maxLength"] == 32_000
    assert tools["remember"]["properties"]["note"]["maxLength"] == 32_000
    assert tools["rank_ui_elements"]["properties"]["instruction"]["maxLength"] == 32_000


async def test_metadata_is_capped_as_json(tmp_path: Path) -> None:
    async with Client(build_server(make_settings(tmp_path))) as client:
        meta = {f"k{n}": "v" * 900 for n in range(30)}
        text = error_text(await client.call_tool("remember", {"text": "x", "metadata": meta}))
        assert "MAX_METADATA_BYTES" in text, text


async def test_another_call_is_answered_while_a_large_text_is_embedded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The hashing backend's work on a long (allowed) text blocks until another call has been answered:
    were it on the event loop, nothing could be answered and the wait would time out."""
    entered, answered = threading.Event(), threading.Event()
    timed_out: list[bool] = []
    original = HashingBackend._text_vector

    def gated(self: HashingBackend, text: str) -> np.ndarray:
        if len(text) > 10_000:
            entered.set()
            if not answered.wait(30):
                timed_out.append(True)
        return original(self, text)

    monkeypatch.setattr(HashingBackend, "_text_vector", gated)
    result: dict[str, object] = {}
    async with Client(build_server(make_settings(tmp_path))) as client:

        async def embed() -> None:
            result["embed"] = await client.call_tool("embed_text", {"text": "word " * 6_000})

        async with anyio.create_task_group() as tg:
            tg.start_soon(embed)
            await anyio.to_thread.run_sync(entered.wait, 30)
            quick = await client.call_tool("embed_text", {"text": "a short one"})  # ping is gone in this protocol version
            answered.set()
    assert not quick.is_error
    assert not timed_out, "no call was answered while the text was embedded: the work ran on the event loop"
    assert not result["embed"].is_error  # type: ignore[union-attr]


# -- defect 6: filters that broke SQLite are clear errors -----------------------------------------


@pytest.mark.parametrize(
    ("flt", "needle"),
    [({"tags": []}, "filter.tags is empty"), ({"metadata": {}}, "filter.metadata is empty"), ({"metadata": {"n": 2**63}}, "64-bit integer")],
)
async def test_bad_filters_are_clear_errors(tmp_path: Path, flt: dict, needle: str) -> None:
    async with Client(build_server(make_settings(tmp_path))) as client:
        await client.call_tool("remember", {"text": "a memory"})
        text = error_text(await client.call_tool("recall", {"text": "x", "filter": flt}))
        assert needle in text and "InternalError" not in text, text


@pytest.mark.parametrize(
    ("flt", "needle"),
    [({"tags": [str(n) for n in range(1_000)]}, "filter.tags"), ({"metadata": {f"k{n}": n for n in range(2_000)}}, "filter.metadata")],
)
async def test_filters_are_bounded_in_size(tmp_path: Path, flt: dict, needle: str) -> None:
    """1,000 tags or 2,000 metadata keys became as many SQL terms and overflowed SQLite (an internal error)."""
    async with Client(build_server(make_settings(tmp_path))) as client:
        await client.call_tool("remember", {"text": "a memory", "tags": ["a"]})
        text = error_text(await client.call_tool("recall", {"text": "x", "filter": flt}))
        assert needle in text and "at most 32" in text and "InternalError" not in text, text


def test_the_store_layer_refuses_what_sqlite_cannot_bind() -> None:
    assert compile_filter(Filter(tags=[])) == ("1", [])
    with pytest.raises(ValueError, match="64-bit"):
        Filter(metadata={"n": 2**63})
    with pytest.raises(ValueError, match="finite"):
        NewMemory(vector=[1.0], space="s@1", modality="text", metadata={"a": {"b": [float("nan")]}})


# -- defect 8: errors echo a short prefix at most -----------------------------------------------


async def test_errors_do_not_echo_huge_inputs(tmp_path: Path) -> None:
    async with Client(build_server(make_settings(tmp_path))) as client:
        text = error_text(await client.call_tool("embed_screenshot", {"capture_id": "c" * 10_000_000}))
        assert len(text) < 500, len(text)
        text = error_text(await client.call_tool("embed_screenshot", {"capture_id": "c" * 900}))
        assert "is not available" in text and len(text) < 400, text
        text = error_text(await client.call_tool("remember", {"handle_id": "h" * 900}))
        assert "no embedding handle" in text and len(text) < 400, text
        bad = [{"box": "not a box"}] * 100_000
        text = error_text(await client.call_tool("rank_ui_elements", {"instruction": "go", "candidates": bad}))
        assert "candidates" in text and "more errors" in text and len(text) < 2_000, len(text)


# -- defect 9: NaN and Infinity are refused (a raw JSON client: the SDK's client sends null) ---------


def test_nan_and_infinity_are_refused_over_stdio(tmp_path: Path) -> None:
    exe = Path(sys.executable).with_name("sensorium")
    proc = subprocess.Popen(
        [str(exe), "serve"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
        env=subprocess_env(tmp_path), text=True,
    )
    assert proc.stdin is not None and proc.stdout is not None

    def send(line: str) -> None:
        proc.stdin.write(line + "\n")  # type: ignore[union-attr]
        proc.stdin.flush()  # type: ignore[union-attr]

    def reply() -> dict:
        return json.loads(proc.stdout.readline())  # type: ignore[union-attr]

    try:
        send(json.dumps({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
            "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}}))
        reply()
        send('{"jsonrpc":"2.0","method":"notifications/initialized"}')
        calls = [
            '{"name":"recall","arguments":{"text":"x","min_score":NaN}}',
            '{"name":"rank_states","arguments":{"text":"x","threshold":Infinity}}',
            '{"name":"remember","arguments":{"text":"x","metadata":{"score":NaN}}}',
            '{"name":"remember","arguments":{"text":"x","metadata":{"deep":{"v":[-Infinity]}}}}',
        ]
        for n, params in enumerate(calls, start=1):
            send(f'{{"jsonrpc":"2.0","id":{n},"method":"tools/call","params":{params}}}')
            r = reply()
            assert r["id"] == n and r["result"]["isError"], r
            assert "finite" in r["result"]["content"][0]["text"], r
    finally:
        proc.stdin.close()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

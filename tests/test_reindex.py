"""`sensorium memory reindex`: a store of one space re-embedded into another, nothing lost."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from mcp import Client
from sensorium.memory.local import LocalMemoryStore
from sensorium.server.app import build_server, build_services
from sensorium.server.reindex import reindex
from sensorium.tools.backends.base import EmbedItem
from sensorium.tools.backends.hashing import HashingBackend
from media_support import ui_screen
from server_support import make_settings, subprocess_env


async def test_reindex_copies_every_memory_into_the_new_space(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    image = tmp_path / "screen.jpg"
    ui_screen()[0].save(image, "JPEG", quality=85)
    services = build_services(settings)
    async with Client(build_server(settings, services=services)) as client:
        a = await client.call_tool("remember", {"text": "the wifi password is on the fridge", "episode_id": "e", "tags": ["home"]})
        b = await client.call_tool("remember", {"path": str(image), "episode_id": "e", "note": "the dashboard"})
        assert not a.is_error and not b.is_error
    await services.aclose()

    seen: list[tuple[int, int]] = []
    report = await reindex(settings, "hashing/v1@256", HashingBackend(128), progress=lambda d, t: seen.append((d, t)))
    assert report.copied == 2 and report.from_text == 1 and report.from_image == 1 and report.skipped == []
    assert seen[-1] == (2, 2)

    spaces = {s for s, _ in LocalMemoryStore.existing_spaces(settings.data_dir)}
    assert spaces == {"hashing/v1@256", "hashing/v1@128"}
    new = await LocalMemoryStore.open(settings.data_dir, "hashing/v1@128", 128, settings.memory)
    try:
        q = (await HashingBackend(128).embed([EmbedItem.of("wifi password fridge")], "query"))[0]
        hits = await new.search(q.vector, 1, space="hashing/v1@128")
        assert hits[0].memory.tags == ["home"] and hits[0].memory.episode_id == "e"
        assert (await new.stats()).memories == 2
    finally:
        await new.close()


async def test_reindex_refuses_unknown_or_same_space(tmp_path: Path) -> None:
    from sensorium.tools.errors import InvalidInput, NotFound

    settings = make_settings(tmp_path)
    with pytest.raises(NotFound, match="no memory store of space"):
        await reindex(settings, "gemini/gemini-embedding-2@768", HashingBackend(256))
    store = await LocalMemoryStore.open(settings.data_dir, "hashing/v1@256", 256, settings.memory)
    await store.close()
    with pytest.raises(InvalidInput, match="already in space"):
        await reindex(settings, "hashing/v1@256", HashingBackend(256))


@pytest.mark.slow
def test_memory_cli_lists_stores(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    store = LocalMemoryStore.open_sync(settings.data_dir, "hashing/v1@256", 256, settings.memory)
    store.close_sync()
    r = subprocess.run(
        [sys.executable, "-m", "sensorium.server.cli", "memory", "stores"],
        env=subprocess_env(tmp_path), capture_output=True, text=True, timeout=120,
    )
    assert r.returncode == 0, r.stderr
    assert "hashing/v1@256" in r.stdout
    r = subprocess.run(
        [sys.executable, "-m", "sensorium.server.cli", "memory", "reindex", "--from-space", "nope@1"],
        env=subprocess_env(tmp_path), capture_output=True, text=True, timeout=120,
    )
    assert r.returncode == 2 and "no memory store of space 'nope@1'" in r.stderr


def test_milvus_without_a_server_is_refused_naming_the_setting(tmp_path: Path) -> None:
    """SENSORIUM_MEMORY__ENGINE=milvus used to be accepted and silently ignored; with no server it is one clear line."""
    from server_support import free_port

    for extra in ({}, {"SENSORIUM_MEMORY__MILVUS_URI": f"http://127.0.0.1:{free_port()}", "SENSORIUM_MEMORY__MILVUS_TIMEOUT": "1"}):
        r = subprocess.run(
            [sys.executable, "-m", "sensorium.server.cli", "memory", "stores"],
            env=subprocess_env(tmp_path, SENSORIUM_MEMORY__ENGINE="milvus", **extra), capture_output=True, text=True, timeout=120,
        )
        assert r.returncode == 2 and "SENSORIUM_MEMORY__MILVUS_URI" in r.stderr and "Traceback" not in r.stderr, r.stderr

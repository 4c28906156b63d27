"""remember / recall / forget / list_episodes / memory_stats and the memory resources, over mcp.Client."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from mcp import Client
from sensorium.server.app import build_server, build_services
from media_support import ui_screen
from sensorium.server.memory_tools import stored_text
from sensorium.tools.backends.hashing import HashingBackend
from server_support import error_text, make_settings


@pytest.fixture
def settings(tmp_path: Path):
    return make_settings(tmp_path)


@pytest.fixture
def screens(tmp_path: Path) -> list[Path]:
    """Three different generated app screens (JPEG files)."""
    variants = [
        {"title": "Calendar - March", "buttons": ("Today", "New event"), "accent": "#3c8dbc"},
        {"title": "Inbox (3 unread)", "buttons": ("Compose", "Archive", "Reply"), "accent": "#00a65a"},
        {"title": "Settings", "buttons": ("Save changes",), "fields": ("Display name",), "accent": "#dd4b39"},
    ]
    out = []
    for i, v in enumerate(variants):
        dst = tmp_path / f"screen_{i}.jpg"
        ui_screen(**v)[0].save(dst, "JPEG", quality=85)  # type: ignore[arg-type]
        out.append(dst)
    return out


async def test_remember_a_handle_and_forget(settings, screens: list[Path]) -> None:
    server = build_server(settings)
    async with Client(server) as client:
        h = await client.call_tool("embed_image", {"path": str(screens[1])})
        r = await client.call_tool("remember", {"handle_id": h.structured_content["handle_id"], "episode_id": "e"})
        assert not r.is_error and r.structured_content["status"] == "stored"
        mem_id = r.structured_content["id"]
        f = await client.call_tool("forget", {"ids": [mem_id]})
        assert f.structured_content["deleted"] == 1
        assert "no memory with id" in error_text(await client.call_tool("recall", {"memory_id": mem_id}))
        assert (await client.call_tool("memory_stats", {})).structured_content["memories"] == 0


async def test_memory_survives_a_server_restart(settings) -> None:
    services = build_services(settings)
    async with Client(build_server(settings, services=services)) as client:
        r = await client.call_tool("remember", {"text": "the deploy key is in the vault", "episode_id": "x"})
        mem_id = r.structured_content["id"]
    await services.aclose()
    async with Client(build_server(settings)) as client:
        hits = (await client.call_tool("recall", {"text": "deploy key vault", "k": 1})).structured_content["hits"]
    assert hits and hits[0]["id"] == mem_id


@pytest.mark.parametrize(
    ("tool", "args", "needle"),
    [
        ("recall", {"text": "x", "k": 0}, "greater than or equal to 1"),  # the range is in the schema
        ("recall", {"text": "x", "k": 10_000}, "less than or equal to 100"),
        ("recall", {}, "exactly one input"),
        ("recall", {"text": "x", "filter": {"since": "2026-01-02T00:00:00", "until": "2026-01-01T00:00:00"}}, "is after until"),
        ("recall", {"memory_id": 987654}, "no memory with id 987654"),
        ("remember", {}, "exactly one input"),
        ("remember", {"handle_id": "emb_nope"}, "no embedding handle"),
        ("remember", {"text": "a", "metadata": {"bad key!": 1}}, "metadata key"),
        ("forget", {}, "refusing to delete everything"),
    ],
)
async def test_memory_bad_input(settings, tool: str, args: dict, needle: str) -> None:
    async with Client(build_server(settings)) as client:
        assert needle in error_text(await client.call_tool(tool, args))
        assert not (await client.call_tool("memory_stats", {})).is_error


async def test_unknown_memory_resource_is_an_error(settings) -> None:
    async with Client(build_server(settings)) as client:
        with pytest.raises(Exception, match="no memory with id 5"):
            await client.read_resource("sensorium://memory/5")


class WordsBackend(HashingBackend):
    """Reports the words it embedded in extras["text"], as the local backend does (a text input included)."""

    async def embed(self, items, role, *, progress=None):  # type: ignore[no-untyped-def]
        out = await super().embed(items, role, progress=progress)
        for emb, item in zip(out, items, strict=True):
            emb.extras["text"] = "\n".join(p if isinstance(p, str) else "words read on the image" for p in item.parts)
        return out


async def test_remember_stores_a_text_once(settings) -> None:
    """It used to store "X\\nX": the input's text, then the same words again as what the backend 'saw'."""
    services = build_services(settings, backend=WordsBackend())
    async with Client(build_server(settings, services=services)) as client:
        r = await client.call_tool("remember", {"text": "the deploy key is in the vault", "note": "found it"})
        assert not r.is_error, r.content
        mem = json.loads((await client.read_resource(f"sensorium://memory/{r.structured_content['id']}")).contents[0].text)
        assert mem["text"] == "found it\nthe deploy key is in the vault"
        handle = (await client.call_tool("embed_text", {"text": "open the settings", "role": "document"})).structured_content
        r = await client.call_tool("remember", {"handle_id": handle["handle_id"]})
        mem = json.loads((await client.read_resource(f"sensorium://memory/{r.structured_content['id']}")).contents[0].text)
        assert mem["text"] == "open the settings"
    await services.aclose()


def test_stored_text_keeps_what_is_new() -> None:
    assert stored_text(None, "a caption", "a caption\nOCR words") == "a caption\nOCR words"
    assert stored_text("note", "", "OCR words") == "note\nOCR words"
    assert stored_text(None, "typed", "heard") == "typed\nheard"
    assert stored_text(None, "", None) is None


async def test_recall_text_content_carries_the_full_result(settings) -> None:
    """Clients that ignore structuredContent still get every field (the spec says tools SHOULD)."""
    async with Client(build_server(settings)) as client:
        await client.call_tool("remember", {"text": "wifi password is on the fridge", "episode_id": "home"})
        r = await client.call_tool("recall", {"text": "wifi password"})
    [text] = [c.text for c in r.content if c.type == "text"]
    summary, payload = text.split("\n", 1)
    assert summary.startswith("#") and json.loads(payload) == r.structured_content
    assert r.structured_content["hits"][0]["episode_id"] == "home"


async def test_an_unreachable_milvus_server_is_an_error_result_naming_the_setting(tmp_path: Path) -> None:
    from sensorium.memory.config import MemorySettings
    from server_support import free_port

    for memory, needle in (
        (MemorySettings(engine="milvus"), "SENSORIUM_MEMORY__MILVUS_URI"),
        (MemorySettings(engine="milvus", milvus_uri=f"http://127.0.0.1:{free_port()}", milvus_timeout=1), "SENSORIUM_MEMORY__MILVUS_URI"),
    ):
        settings = make_settings(tmp_path, memory=memory)
        async with Client(build_server(settings)) as client:
            text = error_text(await client.call_tool("remember", {"text": "x"}))
            assert "StoreUnavailable:" in text and needle in text, text
            assert not (await client.call_tool("embed_text", {"text": "still up"})).is_error

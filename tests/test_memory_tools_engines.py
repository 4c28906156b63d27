"""The memory tools (remember, recall, forget, rank_states, list_episodes, memory_stats, resources) through
mcp.Client on every engine: the tools see only the MemoryStore protocol, so they must behave alike on both."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from mcp import Client
from media_support import ui_screen
from sensorium.server.app import build_server
from server_support import error_text, make_settings


@pytest.fixture
def screens(tmp_path: Path) -> list[Path]:
    out = []
    for i, (title, accent) in enumerate((("Calendar - March", "#3c8dbc"), ("Inbox (3 unread)", "#00a65a"), ("Settings", "#dd4b39"))):
        dst = tmp_path / f"screen_{i}.jpg"
        ui_screen(title=title, accent=accent)[0].save(dst, "JPEG", quality=85)
        out.append(dst)
    return out


async def test_remember_recall_forget_and_resources(memory_settings, tmp_path: Path, screens: list[Path]) -> None:
    settings = make_settings(tmp_path, memory=memory_settings())
    async with Client(build_server(settings)) as client:
        r1 = await client.call_tool("remember", {"text": "the invoice total was 42 euros", "episode_id": "ep1", "tags": ["billing"]})
        assert not r1.is_error, r1.content
        assert r1.structured_content["status"] == "stored"
        r2 = await client.call_tool("remember", {"path": str(screens[0]), "episode_id": "ep1", "note": "opened the calendar"})
        assert not r2.is_error, r2.content
        r3 = await client.call_tool("remember", {"text": "weather is sunny in Lisbon", "episode_id": "ep2", "metadata": {"city": "Lisbon"}})
        img_id = r2.structured_content["id"]

        hits = (await client.call_tool("recall", {"text": "invoice total euros", "k": 2})).structured_content["hits"]
        assert hits[0]["id"] == r1.structured_content["id"] and hits[0]["tags"] == ["billing"]
        by_image = await client.call_tool("recall", {"path": str(screens[0]), "k": 1, "include_thumbnails": True})
        assert by_image.structured_content["hits"][0]["id"] == img_id
        assert by_image.structured_content["hits"][0]["score"] > 0.99
        assert by_image.structured_content["thumbnails_attached"] == 1 and by_image.content[0].type == "image"
        only_ep2 = await client.call_tool("recall", {"text": "invoice", "k": 5, "filter": {"episode_id": "ep2"}})
        assert [h["id"] for h in only_ep2.structured_content["hits"]] == [r3.structured_content["id"]]
        by_meta = await client.call_tool("recall", {"text": "x", "k": 5, "filter": {"metadata": {"city": "Lisbon"}}})
        assert [h["id"] for h in by_meta.structured_content["hits"]] == [r3.structured_content["id"]]
        similar = await client.call_tool("recall", {"memory_id": img_id, "k": 1})
        assert similar.structured_content["hits"][0]["id"] == img_id

        episodes = (await client.call_tool("list_episodes", {})).structured_content["episodes"]
        assert {e["episode_id"]: e["memories"] for e in episodes} == {"ep1": 2, "ep2": 1}
        stats = (await client.call_tool("memory_stats", {})).structured_content
        assert stats["memories"] == 3 and stats["space"] == "hashing/v1@256"

        meta = await client.read_resource(f"sensorium://memory/{img_id}")
        assert json.loads(meta.contents[0].text)["episode_id"] == "ep1"
        image = await client.read_resource(f"sensorium://memory/{img_id}/image")
        assert image.contents[0].mime_type == "image/jpeg"

        f = await client.call_tool("forget", {"ids": [img_id]})
        assert f.structured_content["deleted"] == 1
        assert "no memory with id" in error_text(await client.call_tool("recall", {"memory_id": img_id}))
        f = await client.call_tool("forget", {"episode_id": "ep2"})
        assert f.structured_content["deleted"] == 1
        assert (await client.call_tool("memory_stats", {})).structured_content["memories"] == 1


async def test_remembering_the_same_screen_merges_and_rank_states_recognises_it(
    memory_settings, tmp_path: Path, screens: list[Path]
) -> None:
    settings = make_settings(tmp_path, memory=memory_settings())
    async with Client(build_server(settings)) as client:
        ids = []
        for n, p in enumerate(screens):
            r = await client.call_tool("remember", {"path": str(p), "note": f"screen {n}", "episode_id": f"ep{n % 2}"})
            assert not r.is_error and r.structured_content["status"] == "stored", r.content
            ids.append(r.structured_content["id"])
        again = await client.call_tool("remember", {"path": str(screens[2]), "episode_id": "ep0"})
        assert again.structured_content["status"] == "merged" and again.structured_content["id"] == ids[2]
        for mid, p in zip(ids, screens, strict=True):
            r = await client.call_tool("rank_states", {"path": str(p), "k": 3, "include_thumbnail": True})
            assert not r.is_error, r.content
            assert r.structured_content["best"]["id"] == mid and r.structured_content["seen_before"]
            assert r.content[0].type == "image"
        only = await client.call_tool("rank_states", {"path": str(screens[0]), "filter": {"ids": [ids[1]]}})
        assert [m["id"] for m in only.structured_content["matches"]] == [ids[1]]

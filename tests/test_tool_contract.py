"""What every tool promises a client, checked through a real MCP client (mcp.Client(server)):
strict arguments, a title, a compact tool list, alternatives and ranges in the schema."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from mcp import Client
from sensorium.server.app import build_server, build_services
from sensorium.server.toolkit import compact_schema, exclusive, tool_list_size
from sensorium.tools.backends.base import Capabilities
from sensorium.tools.backends.hashing import HashingBackend
from sensorium.tools.media import Modality
from media_support import text_image
from server_support import error_text, make_settings

TOOL_LIST_BUDGET = 25_000
"""Characters of tools/list (JSON) an agent pays for in every turn; Playwright MCP's 25 tools cost 20.3k."""


@pytest.fixture(params=["built", "from-cache"])
def server(request: pytest.FixtureRequest, tmp_path: Path):
    """Both ways a server gets its tools: built at a first start, or published from the tool-schema
    cache a first start wrote and built on first call (server/tool_cache.py): the contract is the same."""
    settings = make_settings(tmp_path)
    if request.param == "from-cache":
        build_server(settings)
    return build_server(settings)


async def test_tool_list_is_under_budget_and_every_tool_has_a_title(server) -> None:
    async with Client(server) as client:
        tools = (await client.list_tools()).tools
    size = tool_list_size(tools)
    assert size.total == len(json.dumps([t.model_dump(mode="json", by_alias=True, exclude_none=True) for t in tools]))
    assert size.total <= TOOL_LIST_BUDGET, f"tool list is {size.total} characters: {size.per_tool}"
    for tool in tools:
        assert tool.title, f"{tool.name} has no title"
        assert not tool.description.startswith(" ") and "\n    " not in tool.description, f"{tool.name}: not dedented"
        assert tool.input_schema.get("additionalProperties") is False, tool.name
        text = json.dumps(tool.input_schema) + json.dumps(tool.output_schema or {})
        assert '"title"' not in text.replace('"title": {', ""), f"{tool.name}: generated titles left in its schemas"
        # providers (Anthropic, Bedrock, Vertex) reject oneOf/anyOf/allOf at the root of an input schema
        assert not {"oneOf", "anyOf", "allOf"} & set(tool.input_schema), tool.name


@pytest.mark.parametrize(
    ("tool", "args", "unknown", "a_valid_one"),
    [
        ("remember", {"text": "the deploy key", "episode": "deploy"}, "'episode'", "episode_id"),
        ("embed_text", {"text": "hi", "rol": "query"}, "'rol'", "role"),
        ("recall", {"text": "x", "top_k": 3}, "'top_k'", "k"),
        ("list_episodes", {"verbose": True}, "'verbose'", "none"),
        ("rank_states", {"text": "x", "treshold": 0.5}, "'treshold'", "threshold"),  # ranking tools too
        ("rank_ui_elements", {"instruction": "x", "candidate": []}, "'candidate'", "candidates"),
    ],
)
async def test_a_misspelt_argument_is_refused_naming_it_and_the_valid_ones(server, tool, args, unknown, a_valid_one) -> None:
    async with Client(server) as client:
        text = error_text(await client.call_tool(tool, args))
        assert f"unknown argument {unknown} for {tool}" in text and "valid arguments:" in text
        assert a_valid_one in text.split("valid arguments:")[1]
        assert "input_value" not in text  # arguments (base64 payloads) are never echoed back
        assert not (await client.call_tool("memory_stats", {})).is_error


async def test_nested_objects_are_strict_too(server) -> None:
    async with Client(server) as client:
        text = error_text(await client.call_tool("recall", {"text": "x", "filter": {"episode": "e"}}))
        assert "episode" in text and "Extra inputs are not permitted" in text
        text = error_text(await client.call_tool("embed_multimodal", {"parts": [{"txt": "hello"}]}))
        assert "txt" in text


async def test_exactly_one_input_and_ranges_are_in_the_schema(server) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    async with Client(server) as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
    recall = tools["recall"].input_schema
    assert recall["properties"]["k"]["minimum"] == 1 and recall["properties"]["k"]["maximum"] == 100
    ok, bad = jsonschema.Draft202012Validator(recall), []
    assert ok.is_valid({"text": "x"}) and ok.is_valid({"memory_id": 3, "k": 5})
    bad = [{}, {"text": "x", "capture_id": "c"}, {"text": "x", "k": 0}, {"text": "x", "k": 101}, {"text": "x", "nope": 1}]
    assert not any(ok.is_valid(b) for b in bad)
    image = jsonschema.Draft202012Validator(tools["embed_image"].input_schema)
    assert image.is_valid({"path": "/x.png"}) and not image.is_valid({}) and not image.is_valid({"path": "/a", "data_base64": "b"})
    remember = jsonschema.Draft202012Validator(tools["remember"].input_schema)
    assert remember.is_valid({"handle_id": "emb_1", "episode_id": "e"}) and not remember.is_valid({"note": "x"})


async def test_the_embed_result_schema_is_published_once(server) -> None:
    async with Client(server) as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
    assert "handle_id" in tools["embed_text"].output_schema["properties"]
    for name in ("embed_image", "embed_audio", "embed_media", "embed_screenshot", "embed_region", "embed_multimodal"):
        assert tools[name].output_schema == {"type": "object", "description": "same as embed_text's outputSchema"}


def test_exclusive_groups() -> None:
    jsonschema = pytest.importorskip("jsonschema")
    schema = {"type": "object", "not": exclusive(("text", "audio"), ("capture_id", "path"))}
    v = jsonschema.Draft202012Validator(schema)
    assert v.is_valid({"text": "x"}) and v.is_valid({"audio": "a", "path": "p"})
    assert not v.is_valid({}) and not v.is_valid({"text": "x", "audio": "a"})
    assert not v.is_valid({"text": "x", "capture_id": "c", "path": "p"})


def test_compact_schema_keeps_constraints_and_property_names() -> None:
    schema = {
        "title": "X", "type": "object",
        "properties": {
            "title": {"anyOf": [{"type": "string"}, {"type": "null"}], "default": None, "title": "Title"},
            "k": {"type": "integer", "minimum": 1, "title": "K", "default": 5},
            "meta": {"type": "object", "additionalProperties": True, "description": "d"},
        },
    }
    assert compact_schema(schema) == {
        "type": "object",
        "properties": {
            "title": {"type": ["string", "null"]},
            "k": {"type": "integer", "minimum": 1, "default": 5},
            "meta": {"type": "object", "description": "d"},
        },
    }
    assert "description" not in json.dumps(compact_schema(schema, descriptions=False))


class TextOnly(HashingBackend):
    """A backend that says it embeds text only (as an image-text model without audio would)."""

    capabilities = Capabilities(modalities=frozenset({Modality.TEXT}))


def png_file(tmp: Path) -> Path:
    path = tmp / "words.png"
    text_image("Settings").save(path)
    return path


async def test_the_server_refuses_early_what_the_backend_cannot_embed(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    server = build_server(settings, services=build_services(settings, backend=TextOnly()))
    async with Client(server) as client:
        text = error_text(await client.call_tool("embed_image", {"path": str(png_file(tmp_path))}))
        assert "ModalityNotSupported" in text and "cannot embed image" in text and "it embeds text" in text
        assert "SENSORIUM_BACKEND" in text
        text = error_text(await client.call_tool("remember", {"path": str(png_file(tmp_path))}))
        assert "cannot embed image" in text
        assert not (await client.call_tool("embed_text", {"text": "fine"})).is_error

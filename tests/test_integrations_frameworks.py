"""Sensorium's tools inside agent frameworks, over stdio, the way docs/INTEGRATIONS.md says to load them.

LangChain (langchain-mcp-adapters) and LlamaIndex (llama-index-tools-mcp) each start `sensorium serve`
with their own stdio client config and call `embed_text`, `remember`, `recall` and `rank_ui_elements`
through their own tool objects (no LLM: the tools are called directly, as an agent's executor would).

- LlamaIndex runs in this venv: llama-index-tools-mcp 0.6 is built on mcp 2.x, like Sensorium.
- LangChain runs in its own environment, made by `uv run` from tests/framework_clients/
  langchain-requirements.txt: every langchain-mcp-adapters release needs mcp 1.x (0.3.2 pins mcp<2;
  older ones import modules mcp 2 removed), so it cannot share Sensorium's venv. The agent side needs
  only the protocol and the command that starts the server, so that is also how a user runs it.

Both need the `integrations` extra (`pip install ".[test,integrations]"`: llama-index-tools-mcp and uv).
Without it these tests skip saying so; in CI (CI set) they fail instead, so CI cannot go green without them.
The LangChain environment is fetched from PyPI by uv on first use (cached afterwards).
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from server_support import subprocess_env
from uv_support import run_in_own_env, uv_command

HERE = Path(__file__).resolve().parent
ICONS = HERE / "fixtures" / "icons"
LANGCHAIN_CLIENT = HERE / "framework_clients" / "langchain_client.py"
LANGCHAIN_REQUIREMENTS = HERE / "framework_clients" / "langchain-requirements.txt"
SPACE = "local/minilm-l6@384"
TOOLS = ("embed_text", "remember", "recall", "rank_ui_elements")

# A toolbar of textless icon buttons (iconoir renders, a set the icon reader never trained on), given as
# candidates the way an accessibility tree gives icon buttons: a box, no name.
TOOLBAR = ["trash", "bell", "home", "download", "printer", "search", "settings", "lock"]
# instruction -> the icon it must put first (clear margins on the local backend: ~0.9 vs 0.33, ~0.36 vs 0.16)
RANKED = {"open the settings": "settings", "show my notifications": "bell"}
NOTE = "The ACME invoice for the cloud hosting is due on Friday the 12th"
QUERY = "when do I have to pay ACME?"


def _need_extra() -> None:
    """Skip (fail in CI) unless the `integrations` extra is installed."""
    missing = [name for name, ok in (("llama-index-tools-mcp", _importable("llama_index.tools.mcp")), ("uv", uv_command() is not None)) if not ok]
    if missing:
        reason = f"needs the integrations extra ({', '.join(missing)} missing): pip install \".[test,integrations]\""
        if os.environ.get("CI"):
            pytest.fail(f"CI must run the framework tests: {reason}")
        pytest.skip(reason)


def _importable(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:  # a parent package is missing
        return False


def _sensorium() -> str:
    """The `sensorium` command of this venv: what a user puts in a framework's stdio config."""
    beside = Path(sys.executable).parent / "sensorium"
    found = str(beside) if beside.exists() else shutil.which("sensorium")
    assert found, "the `sensorium` command is not installed in this venv (pip install -e .)"
    return found


@pytest.fixture
def toolbar(tmp_path: Path) -> tuple[Path, list[dict[str, Any]]]:
    img = Image.new("RGB", (60 * len(TOOLBAR) + 40, 80), (245, 246, 248))
    candidates = []
    for n, name in enumerate(TOOLBAR):
        x = 20 + n * 60
        img.paste(Image.open(ICONS / f"{name}.png").convert("RGB"), (x + 4, 20))
        candidates.append({"box": [x, 16, x + 48, 64]})
    path = tmp_path / "toolbar.png"
    img.save(path)
    return path, candidates


def _calls(toolbar: tuple[Path, list[dict[str, Any]]]) -> list[tuple[str, dict[str, Any]]]:
    """The same calls for both frameworks; bad inputs last (each must come back as the framework's error)."""
    path, candidates = toolbar
    return [
        ("embed_text", {"text": "open the settings", "role": "query"}),
        ("remember", {"text": NOTE, "episode_id": "integrations", "tags": ["billing"]}),
        ("recall", {"text": QUERY, "k": 3}),
        *[("rank_ui_elements", {"instruction": i, "path": str(path), "candidates": candidates, "k": 3}) for i in RANKED],
        ("embed_text", {"text": ""}),
        ("rank_ui_elements", {"instruction": "open the settings", "path": str(path.with_name("missing.png"))}),
    ]


def _check(results: list[dict[str, Any]], toolbar: tuple[Path, list[dict[str, Any]]]) -> None:
    """Shared assertions on [{ok, text, structured, image}] in the order of `_calls`."""
    _, candidates = toolbar
    embedded, remembered, recalled, *rest = results
    ranked, errors = rest[: len(RANKED)], rest[len(RANKED):]
    assert embedded["ok"], embedded
    assert embedded["structured"]["space"] == SPACE and embedded["structured"]["dimension"] == 384
    assert remembered["ok"] and remembered["structured"]["status"] == "stored", remembered
    assert recalled["ok"], recalled
    top = recalled["structured"]["hits"][0]
    assert top["id"] == remembered["structured"]["id"] and top["text"] == NOTE and top["episode_id"] == "integrations"
    for r, (instruction, icon) in zip(ranked, RANKED.items()):
        assert r["ok"], r
        best = r["structured"]["candidates"][0]
        assert TOOLBAR[best["index"]] == icon, (instruction, r["structured"]["candidates"])
        x1, y1, x2, y2 = candidates[best["index"]]["box"]
        assert x1 <= best["click"][0] < x2 and y1 <= best["click"][1] < y2
        assert r["image"], "the numbered Set-of-Mark image reaches the framework as an image block"
    empty, missing = errors
    assert not empty["ok"] and "InvalidInput" in empty["text"] and "text is empty" in empty["text"], empty
    assert not missing["ok"] and "NotFound" in missing["text"] and "missing.png" in missing["text"], missing


@pytest.mark.slow
def test_langchain_tools_over_stdio(tmp_path: Path, toolbar) -> None:
    _need_extra()
    plan = {"command": _sensorium(), "args": ["serve"], "env": subprocess_env(tmp_path, backend="local"),
            "calls": _calls(toolbar)}
    (tmp_path / "plan.json").write_text(json.dumps(plan))
    done = run_in_own_env(LANGCHAIN_REQUIREMENTS, LANGCHAIN_CLIENT, [str(tmp_path / "plan.json")], tmp_path)
    assert done.returncode == 0, done.stderr[-4000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert set(TOOLS) <= set(out["tools"]), out["tools"]
    results = [
        {"ok": c["status"] == "success", "text": c["text"], "structured": c["structured"], "image": "image" in c["kinds"]}
        for c in out["calls"]
    ]
    # LangChain's error form: a ToolMessage with status="error" carrying Sensorium's message (the agent
    # reads it and can correct itself), not an exception that ends the run.
    assert [c["status"] for c in out["calls"][-2:]] == ["error", "error"]
    _check(results, toolbar)


@pytest.mark.slow
async def test_llamaindex_tools_over_stdio(tmp_path: Path, toolbar) -> None:
    _need_extra()
    from llama_index.core.tools import FunctionTool, ToolOutput
    from llama_index.tools.mcp import BasicMCPClient, McpToolSpec
    from mcp.types import CallToolResult, ImageContent, TextContent

    # BasicMCPClient starts `sensorium serve` for each call (its sessions are per call); the memory store is
    # shared by those processes through the data dir, as it is between two MCP clients.
    client = BasicMCPClient(_sensorium(), args=["serve"], env=subprocess_env(tmp_path, backend="local"), timeout=600)
    spec = McpToolSpec(client=client, allowed_tools=list(TOOLS))
    tools: dict[str, FunctionTool] = {t.metadata.name: t for t in await spec.to_tool_list_async()}
    assert set(tools) == set(TOOLS)
    assert "instruction" in tools["rank_ui_elements"].metadata.fn_schema.model_json_schema()["properties"]
    results = []
    for name, args in _calls(toolbar):
        out = await tools[name].acall(**args)
        assert isinstance(out, ToolOutput) and isinstance(out.raw_output, CallToolResult)
        raw = out.raw_output
        # LlamaIndex's form of an MCP error: the ToolOutput an agent gets carries the error result
        # (raw_output.is_error) and Sensorium's message as its content.
        results.append({
            "ok": not raw.is_error,
            "text": out.content + " ".join(c.text for c in raw.content if isinstance(c, TextContent)),
            "structured": raw.structured_content,
            "image": any(isinstance(c, ImageContent) for c in raw.content),
        })
    _check(results, toolbar)


@pytest.mark.slow  # importing llama_index alone takes ~10 s on the busy 2-core machine
async def test_llamaindex_tools_on_one_open_session(tmp_path: Path) -> None:
    """docs/INTEGRATIONS.md's one-process form: McpToolSpec over an open mcp Client session (hashing backend)."""
    _need_extra()
    from llama_index.tools.mcp import McpToolSpec
    from mcp import Client, StdioServerParameters

    params = StdioServerParameters(command=_sensorium(), args=["serve"], env=subprocess_env(tmp_path))
    async with Client(params) as session:
        tools = {t.metadata.name: t for t in await McpToolSpec(client=session, allowed_tools=list(TOOLS)).to_tool_list_async()}
        stored = (await tools["remember"].acall(text=NOTE, episode_id="integrations")).raw_output
        assert not stored.is_error and stored.structured_content["status"] == "stored"
        hits = (await tools["recall"].acall(text=NOTE, k=1)).raw_output.structured_content["hits"]
        assert [h["id"] for h in hits] == [stored.structured_content["id"]]
        bad = await tools["recall"].acall(text="x", k=0)
        assert bad.raw_output.is_error and "k" in bad.content

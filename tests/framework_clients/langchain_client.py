"""LangChain side of tests/test_integrations_frameworks.py: Sensorium's tools as LangChain tools, over stdio.

Runs in its OWN environment (tests/framework_clients/langchain-requirements.txt, made by `uv run`):
langchain-mcp-adapters needs mcp<2 (0.3.2 pins it; older releases import modules mcp 2 removed) while
Sensorium runs on mcp 2.x. Nothing of Sensorium is imported here: the agent side only needs the
protocol and the command that starts the server, which is how an agent uses any MCP server.

Usage: python langchain_client.py PLAN.json   (prints one JSON object of results on stdout)
The calls mirror the recipe in docs/INTEGRATIONS.md; the test asserts on what this prints.
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

from langchain_core.messages import ToolMessage
from langchain_mcp_adapters.client import MultiServerMCPClient
from langchain_mcp_adapters.tools import load_mcp_tools


def _message(msg: ToolMessage) -> dict[str, Any]:
    """What the agent would see (status, text) and the structured result (the adapter's artifact)."""
    blocks = msg.content if isinstance(msg.content, list) else [{"type": "text", "text": msg.content}]
    texts = [b.get("text", "") for b in blocks if isinstance(b, dict) and b.get("type") == "text"]
    kinds = [b.get("type") for b in blocks if isinstance(b, dict)]
    structured = (msg.artifact or {}).get("structured_content")
    return {"status": msg.status, "text": "\n".join(texts), "kinds": kinds, "structured": structured}


async def _call(tool: Any, args: dict[str, Any], n: int) -> dict[str, Any]:
    # A ToolCall (not bare args) makes LangChain return the ToolMessage an agent gets, status included.
    msg = await tool.ainvoke({"type": "tool_call", "id": f"call_{n}", "name": tool.name, "args": args})
    return _message(msg)


async def main(plan: dict[str, Any]) -> dict[str, Any]:
    client = MultiServerMCPClient({
        "sensorium": {"transport": "stdio", "command": plan["command"], "args": plan["args"], "env": plan["env"]},
    })
    out: dict[str, Any] = {"calls": []}
    # One session = one `sensorium serve` process for every call (client.get_tools() would start one per call).
    async with client.session("sensorium") as session:
        tools = {t.name: t for t in await load_mcp_tools(session)}
        out["tools"] = sorted(tools)
        for n, (name, args) in enumerate(plan["calls"]):
            out["calls"].append({"tool": name, **await _call(tools[name], args, n)})
    return out


if __name__ == "__main__":
    with open(sys.argv[1], encoding="utf-8") as f:
        print(json.dumps(asyncio.run(main(json.load(f)))))

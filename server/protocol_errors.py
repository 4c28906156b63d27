"""The JSON-RPC error codes the MCP spec names, where mcp 2.3 answers with others.

- A prompt that does not exist or lacks a required argument: -32602 (invalid params), as the
  spec's prompts page says; the SDK turned both into a ValueError, i.e. code 0.
- A resource that does not exist: -32002 on protocol versions up to 2025-11-25 (their spec's
  "Resource not found"), -32602 from 2026-07-28 on (SEP-2164 moved it to invalid params). Our
  resource handlers raised the SDK's ResourceError, which the SDK answers with -32603 (internal
  error), telling a client that asked for a deleted memory that the server broke.
"""

from __future__ import annotations

from typing import Any, NoReturn

from mcp.server.mcpserver import Context, MCPServer
from mcp.shared.exceptions import MCPError
from mcp_types import INVALID_PARAMS
from mcp_types.version import HANDSHAKE_PROTOCOL_VERSIONS

LEGACY_RESOURCE_NOT_FOUND = -32002


def resource_not_found(ctx: Context | None, uri: str, message: str) -> NoReturn:
    """Raise the "resource not found" error of the protocol version this client negotiated."""
    version = ctx.protocol_version if ctx is not None else None
    code = INVALID_PARAMS if version is not None and version not in HANDSHAKE_PROTOCOL_VERSIONS else LEGACY_RESOURCE_NOT_FOUND
    raise MCPError(code=code, message=message, data={"uri": uri})


class SensoriumServer(MCPServer):
    """MCPServer whose prompt errors carry -32602 (see the module docstring)."""

    async def get_prompt(
        self, name: str, arguments: dict[str, Any] | None = None, context: Context | None = None  # type: ignore[type-arg]
    ) -> Any:
        known = {p.name: p for p in await self.list_prompts()}
        prompt = known.get(name)
        if prompt is None:
            raise MCPError(
                code=INVALID_PARAMS, message=f"unknown prompt {name!r}; the prompts are: {', '.join(sorted(known))}"
            )
        given = arguments or {}
        missing = [a.name for a in prompt.arguments or [] if a.required and a.name not in given]
        if missing:
            raise MCPError(
                code=INVALID_PARAMS,
                message=f"prompt {name!r} needs the argument(s) {', '.join(missing)}",
                data={"missing": missing},
            )
        return await super().get_prompt(name, arguments, context)

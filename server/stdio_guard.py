"""A guard between the SDK's stdin reader and the MCP session: every line gets an answer.

mcp 2.3's stdio transport parses each line with pydantic; a line that fails (a lone UTF-16
surrogate such as `"\\ud800"` from a JavaScript client that cut an emoji in half, JSON nested
200+ deep, plain garbage, or valid JSON that is no JSON-RPC message) is passed to the session as
an exception, which logs it and replies nothing: the client then waits for ever. Here such a
line is answered with a JSON-RPC error: -32700 (parse error) for JSON the SDK cannot parse,
-32600 (invalid request) for JSON that is not a JSON-RPC message. The reply carries the
request's id when it can be recovered from the raw line (Python's own parser accepts lone
surrogates and deeper nesting), so the waiting call fails at once instead of hanging; else
`null`, as JSON-RPC 2.0 prescribes.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from typing import Any

import anyio
import mcp_types as types
from mcp.server.mcpserver import MCPServer
from mcp.server.stdio import stdio_server
from mcp.shared._context_streams import create_context_streams  # the stream type the SDK's loop expects
from mcp.shared.message import SessionMessage
from pydantic import ValidationError

log = logging.getLogger(__name__)

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
_ID_NEAR_START = re.compile(r'"id"\s*:\s*(-?\d{1,18}|"(?:[^"\\]|\\.){0,200}")')


def _raw_line(exc: Exception) -> str | None:
    """The line the SDK failed on: pydantic keeps it as the input of a `json_invalid` error."""
    if isinstance(exc, ValidationError):
        for err in exc.errors(include_url=False):
            if err.get("type") == "json_invalid" and isinstance(err.get("input"), str):
                return str(err["input"])
    return None


def _recover_id(raw: str | None) -> int | str | None:
    if raw is None:
        return None
    try:
        obj: Any = json.loads(raw)
        if isinstance(obj, dict):
            value = obj.get("id")
            return value if isinstance(value, int | str) and not isinstance(value, bool) else None
        return None
    except (ValueError, RecursionError):
        pass
    m = _ID_NEAR_START.search(raw[:2000])
    if not m:
        return None
    try:
        value = json.loads(m.group(1))
    except ValueError:
        return None
    return value if isinstance(value, int | str) else None


def _why(exc: Exception, raw: str | None) -> tuple[int, str]:
    if raw is None:
        return INVALID_REQUEST, "Invalid request: the message is JSON but not a JSON-RPC 2.0 request or notification"
    text = str(exc)
    if "recursion limit" in text:
        detail = "the JSON is nested too deeply (at most ~200 levels are read)"
    elif "hex escape" in text or "surrogate" in text:
        detail = (
            "the JSON holds a lone UTF-16 surrogate escape (e.g. \\ud800, half of an emoji): send whole "
            "characters (both halves of a surrogate pair) or valid UTF-8"
        )
    else:
        detail = "the line is not valid JSON"
    return PARSE_ERROR, f"Parse error: {detail}"


def error_reply(exc: Exception) -> SessionMessage:
    """The JSON-RPC error answering a line the SDK could not read."""
    raw = _raw_line(exc)
    code, message = _why(exc, raw)
    request_id = _recover_id(raw)
    log.warning("answered an unreadable stdio message with %d (id %r): %s", code, request_id, message)
    error = types.JSONRPCError(jsonrpc="2.0", id=request_id, error=types.ErrorData(code=code, message=message))
    return SessionMessage(error)


async def _guard(source: Any, sink: Any, replies: Any) -> None:
    async with sink:
        async for item in source:
            if isinstance(item, Exception):
                try:
                    await replies.send(error_reply(item))
                except (anyio.ClosedResourceError, anyio.BrokenResourceError):
                    return
                continue
            await sink.send(item)


async def run_stdio(
    server: MCPServer,
    *,
    session_scope: anyio.CancelScope | None = None,
    on_session_end: Callable[[], None] | None = None,
) -> None:
    """`server.run()` for stdio, with the guard in front of the session; returns at stdin EOF.

    Cancelling `session_scope` ends the session (serving.py does on a signal); `on_session_end` runs
    when it has ended, before the transport unwinds (which waits for the stdin reader thread)."""
    lowlevel = server._lowlevel_server  # noqa: SLF001 - MCPServer has no public way to pass our own streams
    async with stdio_server() as (read_stream, write_stream):
        guarded_send, guarded_read = create_context_streams[SessionMessage | Exception](0)
        async with anyio.create_task_group() as tg:
            tg.start_soon(_guard, read_stream, guarded_send, write_stream)
            try:
                with session_scope if session_scope is not None else anyio.CancelScope():
                    await lowlevel.run(guarded_read, write_stream, lowlevel.create_initialization_options())
            finally:
                if on_session_end is not None:
                    on_session_end()
            tg.cancel_scope.cancel()

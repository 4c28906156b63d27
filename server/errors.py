"""One mapping from domain errors to MCP tool errors.

The SDK hides the message of any plain exception ("Error executing tool X"), which leaves the
calling model guessing; a `ToolError` carries our message through. Anticipated failures
(`SensoriumError` of the perception layer, `MemoryStoreError` of the memory layer) become ToolErrors with their own text; anything else is logged with its
traceback and reported as an internal error, so a bug never kills the server or leaks a trace.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable
from typing import ParamSpec, TypeVar

from mcp.server.mcpserver.exceptions import ToolError

from ..memory.errors import MemoryStoreError
from ..tools.errors import SensoriumError

log = logging.getLogger(__name__)

P = ParamSpec("P")
R = TypeVar("R")


ANTICIPATED: tuple[type[Exception], ...] = (SensoriumError, MemoryStoreError)
"""The two layers' error bases: their messages are written for the caller (CLI and tools alike)."""


def describe(exc: Exception) -> str:
    """`<kind>: <message>`, so a caller can tell a limit from a missing file at a glance."""
    kind = type(exc).__name__
    return f"{kind}: {exc}"


def tool_errors(fn: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
    """Wrap a tool so every anticipated failure reaches the caller as an actionable isError result."""

    @functools.wraps(fn)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return await fn(*args, **kwargs)
        except ToolError:
            raise
        except ANTICIPATED as exc:
            raise ToolError(describe(exc)) from exc
        except Exception as exc:  # a bug: keep the server alive, log the trace, say so plainly
            log.exception("internal error in tool %s", fn.__name__)
            raise ToolError(
                f"InternalError: {type(exc).__name__} in {fn.__name__}; the server logged the details "
                "(stderr). The server is still running; please report this."
            ) from exc

    return wrapper

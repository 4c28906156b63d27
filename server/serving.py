"""`sensorium serve`: run one transport and close the services on every way out.

Closing matters: the memory store writes its index checkpoint on close (docs/MEMORY.md); a
server that just dies leaves the next start to rebuild or catch up the index, with a warning.
The ways out, and how each closes:
- stdio, stdin EOF (the client quit): the session ends, then the services are closed.
- stdio, SIGTERM / SIGINT: the session is cancelled, in-flight calls finish (the store's write
  lock makes close wait for a write under way), the services are closed, and the process
  leaves with `os._exit`: the SDK's stdin reader is a worker thread blocked in `read()`, which
  nothing can interrupt, so unwinding normally would wait for the client's next line.
- HTTP, SIGTERM / SIGINT: uvicorn shuts down gracefully and runs the app's lifespan shutdown,
  where the guard closes the services (http_guard.py); a backstop closes them again (no-op).
"""

from __future__ import annotations

import logging
import os
import signal
import sys
from typing import Literal

import anyio
from mcp.server.mcpserver import MCPServer

from .app import Services, build_server, build_services
from .settings import Settings

log = logging.getLogger(__name__)

SIGNAL_EXIT = {signal.SIGTERM: 0, signal.SIGINT: 130}
"""Exit code after a clean shutdown on each signal (130 for Ctrl-C, as shells report it)."""
UNWIND_SECONDS = 30.0
"""How long a signal waits for in-flight calls to finish before the services are closed anyway."""


def serve(
    settings: Settings, transport: Literal["stdio", "http"], host: str = "127.0.0.1", port: int = 8765
) -> int:
    services = build_services(settings)
    server = build_server(settings, services=services)
    if transport == "http":
        from .transports import serve_http

        token = settings.http.token.get_secret_value() if settings.http.token else None
        try:
            serve_http(server, settings.http, host, port, token, on_shutdown=services.aclose)
        finally:
            anyio.run(services.aclose)
        return 0
    log.info("serving MCP over stdio (backend: %s)", settings.resolved_backend)
    return anyio.run(_serve_stdio, server, services)


async def _serve_stdio(server: MCPServer, services: Services) -> int:
    from .stdio_guard import run_stdio

    session_scope = anyio.CancelScope()
    session_over = anyio.Event()
    async with anyio.create_task_group() as tg:
        if sys.platform != "win32":  # no asyncio signal handlers there; Ctrl-C ends the process as before
            tg.start_soon(_close_on_signal, session_scope, session_over, services)
        try:
            await run_stdio(server, session_scope=session_scope, on_session_end=session_over.set)
        finally:
            with anyio.CancelScope(shield=True):
                await services.aclose()
        tg.cancel_scope.cancel()
    log.info("stdin closed: services closed, exiting")
    return 0


async def _close_on_signal(session_scope: anyio.CancelScope, session_over: anyio.Event, services: Services) -> None:
    with anyio.open_signal_receiver(*SIGNAL_EXIT) as signals:
        async for signum in signals:
            name = signal.Signals(signum).name
            log.info("%s: closing the services and exiting", name)
            session_scope.cancel()
            with anyio.move_on_after(UNWIND_SECONDS):
                await session_over.wait()
            try:
                await services.aclose()
            except Exception:  # noqa: BLE001 - still leave; the trace goes to the log
                log.exception("closing the services after %s failed", name)
            for handler in logging.getLogger().handlers:
                handler.flush()
            sys.stderr.flush()
            os._exit(SIGNAL_EXIT[signal.Signals(signum)])

"""Transports: stdio (the default for desktop clients) and MCP streamable HTTP.

HTTP on a non-loopback address without a token is refused: the tools capture the screen and
read files, so an open port would hand the desktop to the network.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from mcp.server.mcpserver import MCPServer
from mcp.server.transport_security import TransportSecuritySettings

from ..tools.errors import Forbidden
from .http_guard import HostPolicy, HttpGuard
from .settings import HttpSettings

log = logging.getLogger(__name__)


def is_loopback(host: str) -> bool:
    if host in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_bind(host: str, token: str | None) -> None:
    if not is_loopback(host) and not token:
        raise Forbidden(
            f"refusing to serve HTTP on {host} without a token: anyone who reaches the port could capture this "
            "screen. Set SENSORIUM_HTTP__TOKEN (clients send 'Authorization: Bearer <token>') or bind 127.0.0.1"
        )


def http_app(
    server: MCPServer,
    http: HttpSettings,
    host: str,
    token: str | None,
    on_shutdown: Callable[[], Awaitable[None]] | None = None,
) -> Any:
    """The SDK's streamable HTTP app behind our guard (http_guard.py): Host/Origin on every bind, the token,
    the body limit. The SDK's own Host check is switched off: it covers only three literal bind addresses."""
    app: Any = server.streamable_http_app(
        host=host,
        max_request_body_size=http.max_body_bytes,
        transport_security=TransportSecuritySettings(enable_dns_rebinding_protection=False),
    )
    return HttpGuard(
        app,
        policy=HostPolicy(host, http.allowed_hosts),
        token=token,
        max_body_bytes=http.max_body_bytes,
        on_shutdown=on_shutdown,
    )


def serve_http(
    server: MCPServer,
    http: HttpSettings,
    host: str,
    port: int,
    token: str | None,
    on_shutdown: Callable[[], Awaitable[None]] | None = None,
) -> None:
    """Serve until SIGINT/SIGTERM; uvicorn then runs the lifespan shutdown, which calls `on_shutdown`."""
    import uvicorn

    check_bind(host, token)
    app = http_app(server, http, host, token, on_shutdown)
    log.info("serving MCP streamable HTTP on http://%s:%d/mcp", f"[{host}]" if ":" in host else host, port)
    uvicorn.run(app, host=host, port=port, log_level="warning", lifespan="on")

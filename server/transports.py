"""Transports: stdio (the default for desktop clients) and MCP streamable HTTP.

HTTP on a non-loopback address without a token is refused: the tools capture the screen and
read files, so an open port would hand the desktop to the network.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
from typing import Any

from mcp.server.mcpserver import MCPServer
from starlette.types import ASGIApp, Receive, Scope, Send

from ..tools.errors import Forbidden

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


class BearerTokenMiddleware:
    """Reject every HTTP request that lacks `Authorization: Bearer <token>` (constant-time compare)."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app = app
        self._expected = f"Bearer {token}".encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            headers = dict(scope.get("headers") or [])
            got = headers.get(b"authorization", b"")
            if not hmac.compare_digest(got, self._expected):
                body = b'{"error": "missing or wrong bearer token (Authorization: Bearer <SENSORIUM_HTTP__TOKEN>)"}'
                await send({"type": "http.response.start", "status": 401, "headers": [
                    (b"content-type", b"application/json"), (b"www-authenticate", b"Bearer")]})
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)


def http_app(server: MCPServer, host: str, token: str | None) -> Any:
    app: Any = server.streamable_http_app(host=host)
    return BearerTokenMiddleware(app, token) if token else app


def serve_http(server: MCPServer, host: str, port: int, token: str | None) -> None:
    import uvicorn

    check_bind(host, token)
    app = http_app(server, host, token)
    log.info("serving MCP streamable HTTP on http://%s:%d/mcp", host, port)
    uvicorn.run(app, host=host, port=port, log_level="warning", lifespan="on")

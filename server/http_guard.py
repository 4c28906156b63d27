"""Checks in front of every HTTP request: Host and Origin (DNS rebinding), the bearer token, the body size.

Why our own, not the SDK's: mcp 2.3 turns its Host/Origin checks on only when the bind address is
the literal 127.0.0.1, localhost or ::1, so `--host 127.0.0.2` (or `0:0:0:0:0:0:0:1`, or any
non-loopback bind) served `Host: evil.example` with no check at all. A web page that rebinds
its own name to this machine's address would then drive the tools (capture the screen, read
files) from the victim's browser. These checks run on every bind, whatever the address.

The rule for Host: an IP literal is accepted (DNS rebinding always presents a *name*: a page
addressed by IP is served by that IP, i.e. by this server), and so are `localhost`, this
machine's hostname, the bind address and `SENSORIUM_HTTP__ALLOWED_HOSTS`; any other name is
refused with 421. A browser's `Origin` must name an accepted host too (403); clients that are
not browsers send no Origin. The token scheme is case-insensitive (`bearer` works, RFC 9110
11.1) and compared in constant time. A body over `SENSORIUM_HTTP__MAX_BODY_BYTES` gets a 413
that says the limit and the way out, instead of the SDK's bare "Request body too large".
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import logging
import socket
from collections.abc import Awaitable, Callable, Iterable
from urllib.parse import urlsplit

from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger(__name__)

_WILDCARDS = {"0.0.0.0", "::", ""}


def _normalise(host: str) -> str:
    """Lower case, no trailing dot, no IPv6 brackets; IP literals in canonical form (`0:0:0:0:0:0:0:1` -> `::1`)."""
    name = host.strip().strip("[]").rstrip(".").lower()
    try:
        return ipaddress.ip_address(name).compressed
    except ValueError:
        return name


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
        return True
    except ValueError:
        return False


def split_host_header(value: str) -> str:
    """`name:port`, `[v6]:port`, `name` or a bare IPv6 literal -> the host part, normalised."""
    value = value.strip()
    if value.startswith("["):
        return _normalise(value[1 : value.find("]")] if "]" in value else value)
    if value.count(":") == 1:
        value = value.rsplit(":", 1)[0]
    return _normalise(value)


class HostPolicy:
    """Which Host / Origin values this server answers (see the module docstring for the rule)."""

    def __init__(self, bind_host: str, extra: Iterable[str] = ()) -> None:
        names = {"localhost", "localhost.localdomain"}
        try:
            names.add(_normalise(socket.gethostname()))
        except OSError:  # pragma: no cover - no hostname at all
            pass
        if bind_host.strip("[]") not in _WILDCARDS:
            names.add(_normalise(bind_host))
        names.update(_normalise(h) for h in extra if h.strip())
        self.names = frozenset(n for n in names if n)

    def host_ok(self, host_header: str | None) -> bool:
        if not host_header:
            return False
        name = split_host_header(host_header)
        return _is_ip(name) or name in self.names

    def origin_ok(self, origin: str | None) -> bool:
        if origin is None:
            return True  # not a browser (or a same-origin GET, which carries no body)
        parts = urlsplit(origin.strip())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            return False  # `null` (sandboxed frames, file://) and anything odd
        name = _normalise(parts.hostname)
        return _is_ip(name) or name in self.names


def bearer_matches(header: bytes | None, token: str) -> bool:
    """`Authorization: <scheme> <token>` with the scheme `Bearer` in any case; constant-time compare."""
    if not header:
        return False
    scheme, _, credentials = header.decode("latin-1").strip().partition(" ")
    if scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(credentials.strip().encode("latin-1"), token.encode())


def _human(n: int) -> str:
    return f"{n / 1e6:.1f} MB" if n >= 1_000_000 else f"{n:,} bytes"


class HttpGuard:
    """ASGI middleware: Host/Origin, then the token, then the body size; also runs `on_shutdown` when the
    server's lifespan ends, so `serve --transport http` closes its services (memory checkpoint) on exit."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        policy: HostPolicy,
        token: str | None,
        max_body_bytes: int,
        on_shutdown: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self.app = app
        self.policy = policy
        self.token = token
        self.max_body_bytes = max_body_bytes
        self.on_shutdown = on_shutdown

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self.app(scope, receive, self._lifespan_send(send))
            return
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers: dict[bytes, bytes] = {}
        for k, v in scope.get("headers") or []:
            headers.setdefault(k.lower(), v)
        host = headers.get(b"host", b"").decode("latin-1")
        if not self.policy.host_ok(host):
            log.warning("refused an HTTP request for Host %r (not this server: DNS rebinding?)", host[:100])
            await _reply(send, 421, f"this server does not answer for Host {host[:100]!r}; if clients reach it by "
                         "that name, add it to SENSORIUM_HTTP__ALLOWED_HOSTS")
            return
        origin = headers.get(b"origin")
        if origin is not None and not self.policy.origin_ok(origin.decode("latin-1")):
            shown = origin.decode("latin-1")[:100]
            log.warning("refused an HTTP request from Origin %r", shown)
            await _reply(send, 403, f"requests from Origin {shown!r} are refused (a web page may not drive this "
                         "server); add its host to SENSORIUM_HTTP__ALLOWED_HOSTS if it should")
            return
        if self.token is not None and not bearer_matches(headers.get(b"authorization"), self.token):
            await _reply(send, 401, "missing or wrong bearer token (Authorization: Bearer <SENSORIUM_HTTP__TOKEN>)",
                         extra=[(b"www-authenticate", b"Bearer")])
            return
        declared = headers.get(b"content-length")
        if declared is not None and declared.strip().isdigit() and int(declared) > self.max_body_bytes:
            await self._too_large(send, int(declared))
            return
        if declared is None and scope.get("method") == "POST":
            body = await self._read_capped(receive)
            if body is None:
                await self._too_large(send, None)
                return
            receive = _replay(body, receive)
        await self.app(scope, receive, send)

    async def _read_capped(self, receive: Receive) -> bytes | None:
        """A body sent without Content-Length (chunked), read up to the limit; None past it."""
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                return None
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        return b"".join(chunks)

    async def _too_large(self, send: Send, size: int | None) -> None:
        what = f"the request body is {_human(size)}" if size is not None else "the request body is too large"
        await _reply(send, 413, (
            f"{what}; this server takes at most {_human(self.max_body_bytes)} per HTTP request "
            "(SENSORIUM_HTTP__MAX_BODY_BYTES; base64 adds a third). Pass a file path inside the allowed folders "
            "instead of data_base64, send a smaller file, or raise the limit"
        ), jsonrpc=True)

    def _lifespan_send(self, send: Send) -> Send:
        async def wrapped(message: Message) -> None:
            if message["type"] == "lifespan.shutdown.complete" and self.on_shutdown is not None:
                try:
                    await self.on_shutdown()
                except Exception:  # noqa: BLE001 - shutdown must complete; the trace goes to the log
                    log.exception("closing the services at shutdown failed")
            await send(message)

        return wrapped


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


async def _reply(
    send: Send, status: int, message: str, *, extra: list[tuple[bytes, bytes]] | None = None, jsonrpc: bool = False
) -> None:
    payload = (
        {"jsonrpc": "2.0", "id": None, "error": {"code": -32600, "message": message}} if jsonrpc else {"error": message}
    )
    body = json.dumps(payload).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()), *(extra or [])]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})

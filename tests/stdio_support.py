"""A raw stdio peer for `sensorium serve`: send exact bytes, read JSON-RPC replies by id.

The SDK's client cannot send malformed lines (it serialises for us), and the guard tests need
exactly that. Replies are read on a thread into a queue so a missing reply fails the test after
`wait` seconds instead of hanging it (a hang guard, not a timing assertion).
"""

from __future__ import annotations

import json
import queue
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

from server_support import subprocess_env

SENSORIUM = [sys.executable, "-m", "sensorium.server.cli"]


class StdioPeer:
    def __init__(self, tmp: Path, **env: str) -> None:
        self.proc = subprocess.Popen(
            [*SENSORIUM, "serve"], env=subprocess_env(tmp, **env),
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )
        self._replies: queue.Queue[dict[str, Any]] = queue.Queue()
        self._stderr: list[bytes] = []
        threading.Thread(target=self._read_stdout, daemon=True).start()
        threading.Thread(target=self._read_stderr, daemon=True).start()
        self._next_id = 100

    def _read_stdout(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            try:
                self._replies.put(json.loads(line))
            except ValueError:
                self._replies.put({"unparsable": line.decode("utf-8", "replace")})

    def _read_stderr(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self._stderr.append(line)

    @property
    def stderr(self) -> str:
        return b"".join(self._stderr).decode("utf-8", "replace")

    def send_raw(self, data: bytes) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(data if data.endswith(b"\n") else data + b"\n")
        self.proc.stdin.flush()

    def send(self, obj: dict[str, Any]) -> None:
        self.send_raw(json.dumps(obj).encode())

    def reply(self, wait: float = 120.0) -> dict[str, Any]:
        """The next message the server writes (requests it makes of us are skipped)."""
        while True:
            msg = self._replies.get(timeout=wait)
            if "method" not in msg:
                return msg

    def request(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        self._next_id += 1
        self.send({"jsonrpc": "2.0", "id": self._next_id, "method": method, **({"params": params} if params else {})})
        got = self.reply()
        assert got.get("id") == self._next_id, got
        return got

    def initialize(self) -> None:
        r = self.request("initialize", {"protocolVersion": "2025-11-25", "capabilities": {},
                                        "clientInfo": {"name": "raw-test", "version": "0"}})
        assert "result" in r, r
        self.send({"jsonrpc": "2.0", "method": "notifications/initialized"})

    def call_tool(self, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
        r = self.request("tools/call", {"name": name, "arguments": arguments})
        assert "result" in r and not r["result"].get("isError"), r
        return r["result"]

    def close_stdin(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()

    def wait(self, timeout: float = 120.0) -> int:
        return self.proc.wait(timeout)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(30)

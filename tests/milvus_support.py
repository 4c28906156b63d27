"""A real Milvus server for tests and benches: the standalone build the `milvus` PyPI package ships.

Why this wrapper and not `milvus.default_server` as is: that object picks its ports by trying the
defaults (19530, 2379, ...) and the ones after them, so two test sessions on one machine race for
the same ports, and its process binds most of them on every interface (STACK.md). Here every port
is one the OS just handed out (bind to port 0), the data dir is the caller's, and the same ports
and dir can be reused to restart the server after killing it (the crash test).

Used by tests/conftest.py (one server per test session) and bench/milvus_server.py.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import time
from contextlib import closing
from pathlib import Path

PORT_KEYS = (
    "etcd_port",
    "root_coord_port",
    "proxy_port",
    "proxy_internal_port",
    "query_coord_port",
    "query_node_port",
    "index_coord_port",
    "index_node_port",
    "data_coord_port",
    "data_node_port",
)


TEST_SERVER_OVERRIDES: dict[str, object] = {
    "proxy.timeTickInterval": 50,
    "queryCoord.checkInterval": 100,
    "queryCoord.distPullInterval": 100,
}
"""milvus.yaml settings of the tests' shared server, and why: every Strong read waits for the next time tick
(200 ms by default: a get took 0.20 s, 0.05 s at 50 ms) and loading a fresh collection waits for the query
coordinator's check loop (1,000 ms; opening a store took 2.7 s, 1.8 s at 100 ms). The tests open a fresh
collection per test and read at Strong all the time; what they check (read-your-writes, filters, merges)
does not depend on these intervals, only how long each read waits. Benches keep the defaults (what users run)."""


def milvus_installed() -> bool:
    try:
        import milvus  # noqa: F401
        import pymilvus  # noqa: F401
    except ImportError:
        return False
    return True


def free_ports(n: int) -> list[int]:
    """n distinct ports the OS says are free right now (held open together so they differ)."""
    socks = []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("0.0.0.0", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def _config_class() -> type:
    from milvus import MilvusServerConfig

    class Config(MilvusServerConfig):  # type: ignore[misc, valid-type]
        """The package's config plus an etcd config file: the embedded etcd otherwise listens on the fixed
        ports 2379 (clients) and 2380 (peers), so a second server on the machine could not start."""

        def __init__(self, owner: MilvusProcess) -> None:
            super().__init__()
            self._owner = owner

        def try_bind_port(self, port: int) -> socket.socket | None:
            """As the package does, plus SO_REUSEADDR (as Go's listeners set it): after a kill, the
            old server's connections in TIME_WAIT would otherwise keep its ports "taken" for a minute."""
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind(("127.0.0.1", port))
                sock.listen()
                return sock
            except OSError:
                sock.close()
                return None

        def write_config(self) -> None:
            super().write_config()
            owner = self._owner
            configs = Path(self.base_data_dir) / "configs"
            client = f"http://127.0.0.1:{owner.ports['etcd_port']}"
            peer = f"http://127.0.0.1:{owner.etcd_peer_port}"
            (configs / "etcd.yaml").write_text(
                f"name: default\nlisten-client-urls: {client}\nadvertise-client-urls: {client}\n"
                f"listen-peer-urls: {peer}\ninitial-advertise-peer-urls: {peer}\ninitial-cluster: default={peer}\n"
            )
            milvus_yaml = configs / "milvus.yaml"
            text = milvus_yaml.read_text()
            text = text.replace("\netcd:\n", f"\netcd:\n  config:\n    path: {configs / 'etcd.yaml'}\n", 1)
            milvus_yaml.write_text(_override(text, owner.overrides))

    return Config


def _override(text: str, overrides: dict[str, object]) -> str:
    """Set `section.key: value` entries of milvus.yaml (top-level section, key indented two spaces)."""
    for dotted, value in overrides.items():
        section, key = dotted.split(".", 1)
        start = text.index(f"\n{section}:\n")
        at = text.index(f"\n  {key}:", start)
        if re.search(r"\n[A-Za-z]", text[start + 1 : at]):  # the key is not directly in this section
            raise KeyError(f"{dotted} is not in the package's milvus.yaml")
        end = text.index("\n", at + 1)
        text = f"{text[:at]}\n  {key}: {value}{text[end:]}"
    return text


def _Config(owner: MilvusProcess) -> object:  # noqa: N802
    return _config_class()(owner)


class MilvusProcess:
    """One standalone Milvus server on fixed free ports with its data in `base_dir`.

    `start()` waits until the health endpoint says OK and a client can list collections;
    `kill()` is SIGKILL (nothing flushed), `stop()` is SIGTERM then SIGKILL; `start()` again
    reuses the same ports and data."""

    def __init__(self, base_dir: Path, overrides: dict[str, object] | None = None) -> None:
        from milvus import MilvusServer

        self.base_dir = Path(base_dir)
        self.overrides = dict(overrides or {})
        ports = free_ports(len(PORT_KEYS) + 2)
        self.ports = dict(zip(PORT_KEYS, ports, strict=False))
        self.health_port = ports[-2]
        self.etcd_peer_port = ports[-1]
        config = _Config(self)
        config.update(**self.ports)
        self._server = MilvusServer(config, wait_for_started=False)
        self._server.set_base_dir(str(self.base_dir))
        self.started_in: float | None = None

    @property
    def uri(self) -> str:
        return f"http://127.0.0.1:{self.ports['proxy_port']}"

    @property
    def pid(self) -> int | None:
        proc = self._server.server_proc
        return None if proc is None else proc.pid

    def start(self, timeout: float = 180.0) -> MilvusProcess:
        t0 = time.perf_counter()
        srv = self._server
        srv.webservice_port = self.health_port  # the package resolves it from here (first free port >= it)
        srv.start()
        if srv.webservice_port != self.health_port:  # taken meanwhile: the package moved on; follow it
            self.health_port = srv.webservice_port
        self._wait_ready(timeout)
        self.started_in = time.perf_counter() - t0
        return self

    def _wait_ready(self, timeout: float) -> None:
        import urllib.error
        import urllib.request

        deadline = time.monotonic() + timeout
        health = f"http://127.0.0.1:{self.health_port}/healthz"
        while time.monotonic() < deadline:
            proc = self._server.server_proc
            if proc is None or proc.poll() is not None:
                raise RuntimeError(f"the Milvus server exited while starting: see {self.base_dir}/logs")
            try:
                with urllib.request.urlopen(health, timeout=5) as resp:
                    if b"OK" in resp.read():
                        break
            except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
                pass
            time.sleep(0.1)
        else:
            raise TimeoutError(f"Milvus not healthy after {timeout:.0f} s: see {self.base_dir}/logs")
        # healthy is not yet serving: wait for the proxy to answer a real request
        from pymilvus import connections, utility

        alias = f"probe-{os.getpid()}-{time.monotonic_ns()}"
        while time.monotonic() < deadline:
            try:
                connections.connect(alias, uri=self.uri, timeout=5)
                utility.list_collections(using=alias, timeout=5)
                return
            except Exception:  # noqa: BLE001 - any failure here means "not ready yet"
                time.sleep(0.1)
            finally:
                connections.disconnect(alias)
        raise TimeoutError(f"Milvus proxy at {self.uri} not answering after {timeout:.0f} s")

    def kill(self) -> None:
        """SIGKILL, the way a crash or an OOM kill ends it."""
        proc = self._server.server_proc
        if proc is not None:
            with closing_fds(self._server):
                proc.send_signal(signal.SIGKILL)
                proc.wait(timeout=30)
            self._server.server_proc = None

    def stop(self, grace: float = 5.0) -> None:
        """SIGTERM, then SIGKILL after `grace` seconds (its graceful stop can take 20 s; acknowledged data
        is safe either way, test_milvus_crash.py). A server whose data nobody reads again (the tests')
        is stopped with grace=0: the wait cost 5 s at the end of every test session."""
        proc = self._server.server_proc
        if proc is None:
            return
        with closing_fds(self._server):
            proc.terminate()
            try:
                proc.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=30)
        self._server.server_proc = None

    def rss_mb(self) -> float | None:
        pid = self.pid
        if pid is None:
            return None
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
        except OSError:
            return None
        return None


class closing_fds:  # noqa: N801 - used as a context manager
    """Close the log files the package opened for the server process once it is gone."""

    def __init__(self, server: object) -> None:
        self._server = server

    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        fds = getattr(self._server, "proc_fds", {})
        for fd in fds.values():
            with closing(fd):
                pass
        fds.clear()

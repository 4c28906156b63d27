"""A real headless Chromium driven over the DevTools protocol on a pipe (no extra Python package).

Why the protocol and not `--dump-dom` plus `--enable-logging=stderr`: the stderr log gives every console
message as `INFO:CONSOLE` whatever its level, mixed with the browser's own ERROR lines (D-Bus, GPU) on
a headless machine, and says nothing about network requests. The protocol gives each console call with
its level, every uncaught exception, every log entry (CSP violations, failed loads) and every request
the page makes (`Network.requestWillBeSent`), and lets a test type into the page and read the DOM after
the page's script ran. `--remote-debugging-pipe` speaks it over fds 3 (commands in) and 4 (answers out),
NUL-terminated JSON: no port, no websocket client, nothing to clean up but the process.

Chromium from Debian: `apt-get install chromium` (flags from STACK.md: --no-sandbox as root in a container,
no first-run, no background networking, no component updates, no sync).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--disable-default-apps", "--mute-audio",
    "--hide-scrollbars", "--remote-debugging-pipe",
]
TIMEOUT = 120.0  # a safety net for a hung browser on a loaded machine, not a timed assertion


def find_chromium() -> str | None:
    """Debian's `chromium` first; other names some distributions use."""
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        path = shutil.which(name)
        if path:
            return path
    return None


def _above_4(fd: int) -> int:
    import fcntl

    high = fcntl.fcntl(fd, fcntl.F_DUPFD, 10)
    os.close(fd)
    return high


class BrowserError(RuntimeError):
    pass


class Chromium:
    """One headless browser process; `open(url)` gives a `Page` with everything it logged and requested."""

    def __init__(self, binary: str, profile: Path) -> None:
        cmd_r, self._cmd_w = os.pipe()  # we write commands, Chromium reads them on fd 3
        self._res_r, res_w = os.pipe()  # Chromium writes answers on fd 4, we read them
        cmd_r, res_w = _above_4(cmd_r), _above_4(res_w)  # so moving them onto 3 and 4 clobbers neither
        # bash puts the pipes on fds 3 and 4 for the browser (subprocess cannot choose the numbers; dash
        # cannot redirect fds above 9)
        script = f'exec "$@" 3<&{cmd_r} 4>&{res_w} {cmd_r}<&- {res_w}>&-'
        self._stderr_path = profile / "chromium-stderr.log"
        self._stderr = open(self._stderr_path, "wb")  # noqa: SIM115 - closed in close()
        self.proc = subprocess.Popen(
            [shutil.which("bash") or "/bin/bash", "-c", script, "bash", binary, *FLAGS, f"--user-data-dir={profile}", "about:blank"],
            pass_fds=(cmd_r, res_w), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=self._stderr,
        )
        os.close(cmd_r)
        os.close(res_w)
        self._next_id = 0
        self._lock = threading.Condition()
        self._answers: dict[int, dict[str, Any]] = {}
        self.events: list[dict[str, Any]] = []
        self._eof = False
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    # ---- the wire ----
    def _read(self) -> None:
        buf = b""
        with os.fdopen(self._res_r, "rb", buffering=0) as fh:
            while True:
                chunk = fh.read(1 << 16)
                if not chunk:
                    break
                buf += chunk
                *messages, buf = buf.split(b"\0")
                with self._lock:
                    for raw in messages:
                        msg = json.loads(raw)
                        if "id" in msg:
                            self._answers[msg["id"]] = msg
                        else:
                            self.events.append(msg)
                    self._lock.notify_all()
        with self._lock:
            self._eof = True
            self._lock.notify_all()

    def send(self, method: str, params: dict[str, Any] | None = None, session: str | None = None) -> dict[str, Any]:
        with self._lock:
            self._next_id += 1
            ident = self._next_id
        msg: dict[str, Any] = {"id": ident, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        os.write(self._cmd_w, json.dumps(msg).encode() + b"\0")
        with self._lock:
            if not self._lock.wait_for(lambda: ident in self._answers or self._eof, timeout=TIMEOUT):
                raise BrowserError(f"no answer to {method} within {TIMEOUT} s")
            if ident not in self._answers:
                raise BrowserError(f"Chromium exited before answering {method}: {self.stderr_tail()}")
            answer = self._answers.pop(ident)
        if "error" in answer:
            raise BrowserError(f"{method}: {answer['error']}")
        return answer.get("result", {})

    def wait_event(self, method: str, session: str, after: int = 0) -> dict[str, Any]:
        """The first `method` event of `session` among the events received from index `after` on."""

        def match() -> dict[str, Any] | None:
            return next(
                (e for e in self.events[after:] if e["method"] == method and e.get("sessionId") == session), None
            )

        with self._lock:
            self._lock.wait_for(lambda: match() is not None or self._eof, timeout=TIMEOUT)
            found = match()
            if found is None:
                raise BrowserError(f"no {method} event: {self.stderr_tail()}")
            return found

    def stderr_tail(self) -> str:
        try:
            return self._stderr_path.read_text(errors="replace")[-1500:]
        except OSError:
            return ""

    # ---- pages ----
    def open(self, url: str, *, width: int = 1280, height: int = 900) -> Page:
        """A new tab that loads `url` with console, log and network watched from before the first byte."""
        target = self.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Runtime", "Log", "Network", "Page"):
            self.send(f"{domain}.enable", session=session)
        self.send("Emulation.setDeviceMetricsOverride",
                  {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False}, session=session)
        page = Page(self, session)
        with self._lock:
            page.first_event = len(self.events)
        nav = self.send("Page.navigate", {"url": url}, session=session)
        if nav.get("errorText"):
            raise BrowserError(f"navigation to {url} failed: {nav['errorText']}")
        self.wait_event("Page.loadEventFired", session, after=page.first_event)
        # a late load event of the initial about:blank must not pass for ours: the document must be `url`, loaded
        state = "document.readyState === 'complete' && location.href === " + json.dumps(url)
        deadline = time.monotonic() + TIMEOUT
        while not page.eval(state):
            if time.monotonic() > deadline:
                raise BrowserError(f"{url} did not finish loading: {page.eval('location.href')}")
            time.sleep(0.05)
        return page

    def close(self) -> None:
        try:
            if self.proc.poll() is None:
                try:
                    self.send("Browser.close")
                except (BrowserError, OSError):
                    pass
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        finally:
            try:
                os.close(self._cmd_w)
            except OSError:
                pass
            self._stderr.close()


class Page:
    def __init__(self, browser: Chromium, session: str) -> None:
        self.browser = browser
        self.session = session
        self.first_event = 0

    def _events(self, method: str) -> list[dict[str, Any]]:
        with self.browser._lock:
            events = self.browser.events[self.first_event :]
        return [e["params"] for e in events if e["method"] == method and e.get("sessionId") == self.session]

    def eval(self, expression: str) -> Any:
        """Evaluate JS in the page and return its value (JSON-able); a thrown exception fails."""
        result = self.browser.send(
            "Runtime.evaluate", {"expression": expression, "returnByValue": True, "awaitPromise": True},
            session=self.session,
        )
        if "exceptionDetails" in result:
            raise BrowserError(f"{expression!r} threw: {result['exceptionDetails']}")
        return result["result"].get("value")

    def console_problems(self) -> list[str]:
        """Console errors and warnings, uncaught exceptions, and error/warning log entries (CSP, loads)."""
        out = []
        for p in self._events("Runtime.consoleAPICalled"):
            if p["type"] in ("error", "warning", "assert"):
                out.append(f"console.{p['type']}: " + " ".join(str(a.get("value", a.get("description"))) for a in p["args"]))
        for p in self._events("Runtime.exceptionThrown"):
            d = p["exceptionDetails"]
            out.append(f"exception: {d.get('exception', {}).get('description') or d.get('text')}")
        for p in self._events("Log.entryAdded"):
            if p["entry"]["level"] in ("error", "warning"):
                out.append(f"log {p['entry']['level']} ({p['entry']['source']}): {p['entry']['text']}")
        return out

    def requests(self) -> list[str]:
        """Every URL the page asked for (the document itself included)."""
        return [p["request"]["url"] for p in self._events("Network.requestWillBeSent")]

    def screenshot(self, path: Path, *, full_page: bool = False) -> None:
        import base64

        params: dict[str, Any] = {"format": "png"}
        if full_page:
            params["captureBeyondViewport"] = True
        data = self.browser.send("Page.captureScreenshot", params, session=self.session)["data"]
        path.write_bytes(base64.b64decode(data))

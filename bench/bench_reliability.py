"""Reliability bench (issue 18; not in CI): the long versions of what the tests keep.

    python bench/bench_reliability.py                       # the full run, writes bench/results/reliability.json
    python bench/bench_reliability.py --kill-cycles 5 --calls 200 --embeds 10 --json /tmp/r.json   # a short one

Four parts, each against real `sensorium serve` subprocesses on the hashing backend (the backend is
not what is measured; the server, the store and the transports are):

1. **kill**: `--kill-cycles` times, a stdio server takes pipelined `remember` and `forget` calls as fast
   as one client sends them and is SIGKILLed after a random number of acknowledgements. A fresh server
   then checks every acknowledged memory: an acknowledged `remember` not forgotten must be there (else
   *lost*), an acknowledged `forget` must be gone (else *resurrected*). Calls in flight at the kill may
   land either way and are not judged.
2. **clients**: `--clients` MCP clients make `--calls` mixed calls each over streamable HTTP against one
   server at once (embed_text, remember, recall, forget, memory_stats, list_episodes); counts errors,
   "database is locked" and lost memories (checked afterwards through the memory resource).
3. **bad inputs**: `--bad` or more generated bad arguments across every tool (missing, wrong types,
   out of range, unknown names, huge strings, bad base64, paths outside the roots...). Each answer is
   classed: validation error, clean isError, internal error (an `InternalError` or the SDK's bare
   "Error executing tool"), accepted (the input was in fact valid), or unanswered (no reply in
   `--call-timeout` s).
4. **rss**: the HTTP server's resident memory before and after `--embeds` `embed_audio` calls on a
   `--embed-mb` MB WAV file (by path), and after the calls settle.

Timings are from a shared, noisy 2-core machine: the load average is recorded beside them.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import queue
import random
import re
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
from importlib.metadata import version
from pathlib import Path
from typing import Any

import httpx2
from mcp import Client

RESULTS = Path(__file__).resolve().parent / "results" / "reliability.json"
SENSORIUM = [sys.executable, "-m", "sensorium.server.cli"]


def _env(data: Path, roots: list[Path]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SENSORIUM_", "GEMINI_", "GOOGLE_API"))}
    env.update(
        SENSORIUM_BACKEND="hashing",
        SENSORIUM_DATA_DIR=str(data / "data"),
        SENSORIUM_CACHE_DIR=str(data / "cache"),
        SENSORIUM_INTAKE__ALLOWED_ROOTS=json.dumps([str(r) for r in roots]),
        SENSORIUM_LOG_LEVEL="WARNING",
    )
    return env


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


# -- 1. SIGKILL cycles --------------------------------------------------------------------------


class RawStdio:
    """A stdio server driven with raw JSON-RPC lines: requests can be pipelined without waiting."""

    def __init__(self, env: dict[str, str]) -> None:
        self.proc = subprocess.Popen([*SENSORIUM, "serve"], env=env, stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        self.replies: queue.Queue[dict[str, Any]] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        self._lock = threading.Lock()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            try:
                msg = json.loads(line)
            except ValueError:
                continue
            if "id" in msg and "method" not in msg:
                self.replies.put(msg)

    def send(self, msg: dict[str, Any]) -> bool:
        try:
            with self._lock:
                assert self.proc.stdin is not None
                self.proc.stdin.write(json.dumps(msg).encode() + b"\n")
                self.proc.stdin.flush()
            return True
        except (BrokenPipeError, OSError):
            return False

    def call(self, id_: int, method: str, params: dict[str, Any], timeout: float = 120) -> dict[str, Any]:
        self.send({"jsonrpc": "2.0", "id": id_, "method": method, "params": params})
        while True:
            msg = self.replies.get(timeout=timeout)
            if msg.get("id") == id_:
                return msg

    def initialize(self) -> None:
        r = self.call(0, "initialize", {"protocolVersion": "2025-11-25", "capabilities": {},
                                        "clientInfo": {"name": "bench", "version": "0"}})
        assert "result" in r, r
        self.send({"jsonrpc": "2.0", "method": "notifications/initialized"})

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(60)


def kill_cycles(cycles: int, work: Path, seed: int) -> dict[str, Any]:
    rng = random.Random(seed)
    env = _env(work, [work])
    acked_remember: dict[int, str] = {}  # memory id -> text
    acked_forget: set[int] = set()
    pending_forget: set[int] = set()  # sent, never acknowledged: either outcome is fine
    started = time.monotonic()
    for cycle in range(cycles):
        server = RawStdio(env)
        try:
            server.initialize()
            stop_after = rng.randint(40, 160)
            sent: dict[int, tuple[str, Any]] = {}
            next_id = 1
            acks = 0
            window = 8  # requests in flight at once
            while acks < stop_after:
                while len(sent) < window:
                    forgettable = [m for m in acked_remember if m not in acked_forget and m not in pending_forget]
                    if forgettable and rng.random() < 0.25:
                        victim = rng.choice(forgettable)
                        pending_forget.add(victim)
                        sent[next_id] = ("forget", victim)
                        server.send({"jsonrpc": "2.0", "id": next_id, "method": "tools/call",
                                     "params": {"name": "forget", "arguments": {"ids": [victim]}}})
                    else:
                        text = f"cycle {cycle} record {next_id} " + " ".join(
                            rng.choice(("save", "open", "tab", "mail", "draft", "login", "menu", "chart", "file"))
                            for _ in range(6)) + f" {rng.getrandbits(48):x}"
                        sent[next_id] = ("remember", text)
                        server.send({"jsonrpc": "2.0", "id": next_id, "method": "tools/call",
                                     "params": {"name": "remember", "arguments": {"text": text, "episode_id": f"c{cycle}"}}})
                    next_id += 1
                reply = server.replies.get(timeout=120)
                kind, what = sent.pop(reply["id"])
                result = reply.get("result") or {}
                if result.get("isError") or "error" in reply:
                    continue
                acks += 1
                if kind == "remember":
                    acked_remember[int(result["structuredContent"]["id"])] = what
                else:
                    pending_forget.discard(what)
                    acked_forget.add(what)
            os.kill(server.proc.pid, signal.SIGKILL)  # requests are still in flight
        finally:
            server.close()
    # verify with a fresh server
    server = RawStdio(env)
    lost, resurrected, checked = [], [], 0
    try:
        server.initialize()
        for i, (mid, _text) in enumerate(sorted(acked_remember.items()), start=1):
            if mid in pending_forget:
                continue
            r = server.call(10_000_000 + i, "resources/read", {"uri": f"sensorium://memory/{mid}"})
            checked += 1
            found = "result" in r
            if mid in acked_forget and found:
                resurrected.append(mid)
            elif mid not in acked_forget and not found:
                lost.append(mid)
        stats = server.call(9_999_999, "tools/call", {"name": "memory_stats", "arguments": {}})
        opened = (stats.get("result") or {}).get("structuredContent", {})
    finally:
        server.close()
    return {
        "cycles": cycles,
        "acknowledged_remember": len(acked_remember),
        "acknowledged_forget": len(acked_forget),
        "unacknowledged_forget_at_kill": len(pending_forget),
        "checked": checked,
        "lost": len(lost),
        "resurrected": len(resurrected),
        "lost_ids": lost[:20],
        "store_after": {k: opened.get(k) for k in ("memories", "index_elements", "opened") if k in opened},
        "seconds": round(time.monotonic() - started, 1),
    }


# -- HTTP server helpers ----------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_http(env: dict[str, str]) -> tuple[subprocess.Popen, str]:
    port = _free_port()
    proc = subprocess.Popen([*SENSORIUM, "serve", "--transport", "http", "--port", str(port)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}/mcp"
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited {proc.returncode}: {proc.stderr.read().decode()[-2000:]}")
        try:
            httpx2.get(url, timeout=1)
            return proc, url
        except httpx2.TransportError:
            time.sleep(0.3)
    proc.kill()
    raise RuntimeError("HTTP server did not start")


def stop(proc: subprocess.Popen) -> str:
    proc.terminate()
    try:
        _, err = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        _, err = proc.communicate(timeout=60)
    return err.decode("utf-8", "replace")


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    return float("nan")


def _text(result: Any) -> str:
    return " ".join(getattr(c, "text", "") for c in result.content)


# -- 2. concurrent clients --------------------------------------------------------------------


async def clients_run(url: str, clients: int, calls: int, seed: int, call_timeout: float) -> dict[str, Any]:
    counts = {"ok": 0, "tool_errors": 0, "exceptions": 0, "database_locked": 0, "timeouts": 0}
    kept: dict[int, str] = {}
    latencies: list[float] = []

    async def one(n: int) -> None:
        rng = random.Random(seed * 100 + n)
        mine: list[int] = []
        async with Client(url) as c:
            for i in range(calls):
                r = rng.random()
                if r < 0.35:
                    name, args = "remember", {"text": f"client {n} call {i} {rng.getrandbits(40):x}", "episode_id": f"k{n}"}
                elif r < 0.6:
                    name, args = "recall", {"text": f"client {rng.randrange(clients)} call", "k": 5}
                elif r < 0.75:
                    name, args = "embed_text", {"text": f"press the {rng.choice(['save', 'open', 'close'])} button"}
                elif r < 0.85 and mine:
                    name, args = "forget", {"ids": [mine.pop(rng.randrange(len(mine)))]}
                elif r < 0.93:
                    name, args = "memory_stats", {}
                else:
                    name, args = "list_episodes", {}
                t0 = time.perf_counter()
                try:
                    with anyio_fail_after(call_timeout):
                        res = await c.call_tool(name, args)
                except TimeoutError:
                    counts["timeouts"] += 1
                    continue
                except Exception as exc:  # noqa: BLE001 - counted, the run goes on
                    counts["exceptions"] += 1
                    counts["database_locked"] += "database is locked" in str(exc)
                    continue
                latencies.append(time.perf_counter() - t0)
                if res.is_error:
                    counts["tool_errors"] += 1
                    counts["database_locked"] += "database is locked" in _text(res)
                    continue
                counts["ok"] += 1
                if name == "remember":
                    mid = int(res.structured_content["id"])
                    mine.append(mid)
                    kept[mid] = args["text"]
                elif name == "forget":
                    kept.pop(args["ids"][0], None)

    t0 = time.perf_counter()
    await asyncio.gather(*(one(n) for n in range(clients)))
    wall = time.perf_counter() - t0
    lost = 0
    async with Client(url) as c:
        for mid in kept:
            try:
                await c.read_resource(f"sensorium://memory/{mid}")
            except Exception:  # noqa: BLE001
                lost += 1
    latencies.sort()
    return {
        "clients": clients, "calls_each": calls, **counts, "kept_checked": len(kept), "lost": lost,
        "seconds": round(wall, 1), "calls_per_second": round(clients * calls / wall, 1),
        "latency_ms_p50": round(1000 * latencies[len(latencies) // 2], 1) if latencies else None,
        "latency_ms_p95": round(1000 * latencies[int(len(latencies) * 0.95)], 1) if latencies else None,
    }


def anyio_fail_after(seconds: float):  # type: ignore[no-untyped-def]
    import anyio

    return anyio.fail_after(seconds)


# -- 3. bad inputs ----------------------------------------------------------------------------

HUGE = "x" * 200_000


def bad_inputs(tools: list[Any], outside: str, seed: int, want: int) -> list[tuple[str, dict[str, Any]]]:
    """Bad arguments for every tool, from its input schema plus a few known traps; at least `want`."""
    rng = random.Random(seed)
    wrong_values: list[Any] = [None, True, -1, 0, 2**63, -(2**63) - 1, 1e308, -1e308, "", " ", "\x00", HUGE,
                               [], [1, 2], {}, {"a": {"b": {"c": [1]}}}, "not-a-number", "../../etc/passwd",
                               "😀" * 1000, [HUGE], {"": ""}]
    cases: list[tuple[str, dict[str, Any]]] = []
    for tool in tools:
        props: dict[str, Any] = (tool.input_schema or {}).get("properties", {})
        cases.append((tool.name, {"no_such_argument": 1}))
        cases.append((tool.name, {"__proto__": {}, "constructor": "x"}))
        for prop in props:
            for value in wrong_values:
                cases.append((tool.name, {prop: value}))
    traps = [
        ("embed_image", {"path": outside}), ("embed_image", {"path": "relative/file.png"}),
        ("embed_image", {"data_base64": "!!!notbase64!!!"}), ("embed_image", {"data_base64": "data:image/png,abc"}),
        ("embed_audio", {"data_base64": "UklGRiQAAABXQVZFZm10IBAAAAABAAEA"}), ("embed_media", {"path": "/proc/self/environ"}),
        ("embed_region", {"capture_id": "cap_nope", "region": {"left": -5, "top": 0, "width": 0, "height": 10}}),
        ("rank_ui_elements", {"instruction": "x", "candidates": [{"box": [5, 5, 1, 1]}] * 3}),
        ("recall", {"text": "x", "k": 10**9}), ("recall", {"text": "x", "filter": {"since": "yesterday"}}),
        ("remember", {"text": "a", "metadata": {"k" * 1000: 1}}), ("forget", {"since": "2030-01-01", "until": "2020-01-01"}),
        ("embed_multimodal", {"parts": [{}] * 50}), ("embed_multimodal", {"parts": [{"text": "a", "path": outside}]}),
        ("capture_screen", {"monitor": 99}), ("rank_states", {"k": -3}),
    ]
    rng.shuffle(cases)
    cases = traps + cases[: max(0, want - len(traps))]
    while len(cases) < want:
        name, args = rng.choice(cases)
        cases.append((name, {**args, "no_such_argument": rng.random()}))
    return cases


async def _drop(client: Client | None) -> None:
    if client is not None:
        try:
            await client.__aexit__(None, None, None)
        except Exception:  # noqa: BLE001 - a broken session may not close cleanly
            pass
    return None


def classify(res: Any) -> str:
    text = _text(res)
    if not res.is_error:
        return "accepted"
    bare = re.fullmatch(r"Error executing tool \S+", text.strip()) is not None  # the SDK hid a crash
    if "InternalError" in text or bare or "Traceback" in text:
        return "internal_error"
    if "validation error" in text.lower() or "unexpected argument" in text.lower() or "Input validation" in text:
        return "validation_error"
    return "clean_is_error"


async def bad_run(url: str, outside: str, seed: int, want: int, call_timeout: float) -> dict[str, Any]:
    counts = {"validation_error": 0, "clean_is_error": 0, "internal_error": 0, "accepted": 0, "unanswered": 0,
              "transport_error": 0}
    examples: dict[str, list[str]] = {"internal_error": [], "unanswered": [], "transport_error": [], "accepted": []}
    largest_reply = 0
    async with Client(url) as c:
        tools = (await c.list_tools()).tools
    cases = bad_inputs(tools, outside, seed, want)
    client: Client | None = None
    try:
        for name, args in cases:
            shown = f"{name} {json.dumps(args, default=str)[:120]}"
            try:
                if client is None:  # a new session after a transport failure: one bad call cannot spoil the next
                    client = Client(url)
                    await client.__aenter__()
                with anyio_fail_after(call_timeout):
                    res = await client.call_tool(name, args)
            except TimeoutError:
                counts["unanswered"] += 1
                examples["unanswered"].append(shown)
                client = await _drop(client)
                continue
            except Exception as exc:  # noqa: BLE001 - e.g. the 413 for a body over the HTTP limit
                counts["transport_error"] += 1
                examples["transport_error"].append(f"{shown} -> {type(exc).__name__}: {str(exc)[:120]}")
                client = await _drop(client)
                continue
            kind = classify(res)
            counts[kind] += 1
            largest_reply = max(largest_reply, len(_text(res)))
            if kind in examples and len(examples[kind]) < 15:
                examples[kind].append(f"{shown} -> {_text(res)[:160]}")
    finally:
        await _drop(client)
    answered = len(cases) - counts["unanswered"]
    judged = counts["validation_error"] + counts["clean_is_error"] + counts["internal_error"]
    return {
        "inputs": len(cases), "tools": len(tools), **counts,
        "clean_share_of_errors": round((counts["validation_error"] + counts["clean_is_error"]) / judged, 4) if judged else None,
        "answered": answered, "largest_error_chars": largest_reply, "examples": examples,
    }


# -- 4. RSS over big file embeds --------------------------------------------------------------


def write_wav(path: Path, megabytes: float) -> float:
    """A 48 kHz stereo 16-bit WAV of about `megabytes` MB (noise); returns its duration in seconds."""
    rate, channels = 48_000, 2
    n_bytes = (int(megabytes * 1_000_000) - 44) // 4 * 4  # the whole file, header included, within the MB
    header = b"RIFF" + struct.pack("<I", 36 + n_bytes) + b"WAVEfmt " + struct.pack(
        "<IHHIIHH", 16, 1, channels, rate, rate * channels * 2, channels * 2, 16) + b"data" + struct.pack("<I", n_bytes)
    with path.open("wb") as f:
        f.write(header)
        block = os.urandom(1 << 20)
        left = n_bytes
        while left:
            f.write(block[: min(left, len(block))])
            left -= min(left, len(block))
    return n_bytes / (rate * channels * 2)


async def rss_run(url: str, pid: int, wav: Path, embeds: int) -> dict[str, Any]:
    before = rss_mb(pid)
    errors: list[str] = []
    peak = before
    async with Client(url) as c:
        for _ in range(embeds):
            res = await c.call_tool("embed_audio", {"path": str(wav)})
            if res.is_error:
                errors.append(_text(res)[:200])
            peak = max(peak, rss_mb(pid))
    after = rss_mb(pid)
    await asyncio.sleep(5)
    settled = rss_mb(pid)
    return {"embeds": embeds, "file_mb": round(wav.stat().st_size / 1e6, 1), "rss_mb_before": before,
            "rss_mb_after": after, "rss_mb_peak": peak, "rss_mb_after_5s": settled,
            "growth_mb": round(settled - before, 1), "errors": errors[:5], "error_count": len(errors)}


# -- main -------------------------------------------------------------------------------------


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--kill-cycles", type=int, default=20)
    p.add_argument("--clients", type=int, default=8)
    p.add_argument("--calls", type=int, default=1000, help="calls per client")
    p.add_argument("--bad", type=int, default=500, help="at least this many bad inputs")
    p.add_argument("--embeds", type=int, default=30)
    p.add_argument("--embed-mb", type=float, default=50.0)
    p.add_argument("--call-timeout", type=float, default=120.0)
    p.add_argument("--seed", type=int, default=18)
    p.add_argument("--parts", default="kill,clients,bad,rss", help="comma-separated subset to run")
    p.add_argument("--note", default="", help="a note stored in the JSON (e.g. why flags were shortened)")
    p.add_argument("--json", type=Path, default=RESULTS)
    args = p.parse_args()
    parts = set(args.parts.split(","))
    out: dict[str, Any] = {
        "command": " ".join(["python", "bench/bench_reliability.py", *sys.argv[1:]]),
        "flags": {k: v for k, v in vars(args).items() if k != "json"} | {"json": str(args.json)},
        "python": platform.python_version(), "mcp": version("mcp"), "platform": platform.platform(),
        "cpus": os.cpu_count(), "load_before": _load(), "note": args.note,
    }
    with tempfile.TemporaryDirectory(prefix="sensorium-reliability-") as tmp:
        work = Path(tmp)
        outside_dir = Path(tempfile.mkdtemp(prefix="sensorium-outside-"))
        outside = outside_dir / "secret.png"
        outside.write_bytes(b"\x89PNG\r\n\x1a\n" + b"0" * 64)
        try:
            if "kill" in parts:
                print(f"kill cycles: {args.kill_cycles} ...", file=sys.stderr)
                out["kill"] = kill_cycles(args.kill_cycles, work / "kill", args.seed)
                print(json.dumps(out["kill"]), file=sys.stderr)
            if parts & {"clients", "bad", "rss"}:
                (work / "http").mkdir()
                files = work / "files"
                files.mkdir()
                proc, url = start_http(_env(work / "http", [files]))
                try:
                    out["server_rss_mb_at_start"] = rss_mb(proc.pid)
                    if "rss" in parts:
                        wav = files / "big.wav"
                        seconds = write_wav(wav, args.embed_mb)
                        print(f"rss: {args.embeds} x embed_audio of {args.embed_mb} MB ({seconds:.0f} s) ...", file=sys.stderr)
                        out["rss"] = asyncio.run(rss_run(url, proc.pid, wav, args.embeds)) | {"wav_seconds": round(seconds, 1)}
                        print(json.dumps(out["rss"]), file=sys.stderr)
                    if "clients" in parts:
                        print(f"clients: {args.clients} x {args.calls} ...", file=sys.stderr)
                        out["clients"] = asyncio.run(clients_run(url, args.clients, args.calls, args.seed, args.call_timeout))
                        out["clients"]["load_after"] = _load()
                        print(json.dumps(out["clients"]), file=sys.stderr)
                    if "bad" in parts:
                        print(f"bad inputs: >= {args.bad} ...", file=sys.stderr)
                        out["bad"] = asyncio.run(bad_run(url, str(outside), args.seed, args.bad, args.call_timeout))
                        print(json.dumps({k: v for k, v in out["bad"].items() if k != "examples"}), file=sys.stderr)
                    out["server_alive_at_end"] = proc.poll() is None
                finally:
                    log = stop(proc)
                    out["server_tracebacks_in_log"] = log.count("Traceback")
        finally:
            outside.unlink(missing_ok=True)
            outside_dir.rmdir()
    out["load_after"] = _load()
    out["bars"] = _bars(out)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(out, indent=2) + "\n")
    print(json.dumps(out["bars"], indent=2))
    print(f"wrote {args.json}", file=sys.stderr)
    return 0


def _bars(out: dict[str, Any]) -> dict[str, Any]:
    """Issue 18's bars, each as measured / met (None where the part did not run)."""
    kill, bad, rss = out.get("kill"), out.get("bad"), out.get("rss")
    return {
        "zero_lost_over_kill_cycles": None if not kill else (kill["lost"] == 0 and kill["resurrected"] == 0),
        "kill_cycles_at_least_20": None if not kill else kill["cycles"] >= 20,
        "bad_inputs_at_least_500": None if not bad else bad["inputs"] >= 500,
        "bad_inputs_all_clean": None if not bad else (bad["internal_error"] == 0 and bad["transport_error"] == 0),
        "bad_inputs_none_unanswered": None if not bad else bad["unanswered"] == 0,
        "rss_embeds_all_succeeded": None if not rss else rss["error_count"] == 0,
        "rss_growth_within_300_mb": None if not rss else (rss["error_count"] == 0 and rss["growth_mb"] <= 300),
    }


if __name__ == "__main__":
    raise SystemExit(main())

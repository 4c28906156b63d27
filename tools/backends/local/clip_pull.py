"""`sensorium models pull NAME`: download an image-text model, resumably, and verify it before use.

Every file streams into `<cache>/models/clip/.<name>.download/<file>.part`. An interrupted
transfer keeps the `.part`; the next pull asks for the rest with an HTTP Range request and
appends (a server that ignores Range answers 200 with the whole file, which then replaces the
`.part`). A finished file is hashed (the bytes kept from before plus the new ones) and must
match the registry's sha256 (and size, when the registry knows it) before it is renamed out of
`.part`; a mismatch deletes the `.part` and stops with the expected and actual hashes, so a
corrupt or truncated download is never installed. Only when every file verified are
`clip_config.json` and `manifest.json` written and the folder moved to `<cache>/models/clip/<name>/`,
where the backend looks. The progress bar goes to stderr (stdout is the MCP protocol on stdio).

HTTP is httpx2 (the client mcp and google-genai already depend on), with a per-read timeout,
redirects followed (the hub redirects to its CDN) and `Accept-Encoding: identity` so byte
offsets are file offsets.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ...errors import BackendError, InvalidInput
from .clip_registry import ClipModelEntry, RemoteFile
from .clip_store import MANIFEST, Manifest, ManifestFile, clip_root, installed_status

log = logging.getLogger(__name__)

_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_CONTENT_RANGE = re.compile(r"^bytes (\d+)-(\d+)/(\d+|\*)$")
CHUNK = 1 << 20


class DownloadFailed(BackendError):
    """A pull that stopped: network error, HTTP error, or bytes that do not match their pin."""


def _hash_prefix(path: Path) -> Any:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(CHUNK), b""):
            h.update(block)
    return h


@contextmanager
def _progress(enabled: bool) -> Iterator[Any]:
    from rich.console import Console
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn, TransferSpeedColumn

    with Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn(), TimeRemainingColumn(),
        console=Console(stderr=True), disable=not enabled,
    ) as bar:
        yield bar


def _fetch_file(client: Any, f: RemoteFile, staging: Path, bar: Any, *, allow_unpinned: bool) -> tuple[str, int]:
    """Download (or resume) one file into `staging/<name>`, verified; returns (sha256, size)."""
    import httpx2

    final = staging / f.name
    if final.is_file():  # finished and verified by an earlier, interrupted pull: check it again
        h = _hash_prefix(final).hexdigest()
        if f.sha256 is None or h == f.sha256:
            return h, final.stat().st_size
        final.unlink()
    part = staging / (f.name + ".part")
    have = part.stat().st_size if part.is_file() else 0
    if f.size is not None and have > f.size:
        part.unlink()
        have = 0
    headers = {"User-Agent": "sensorium-mcp", "Accept-Encoding": "identity"}
    if have:
        headers["Range"] = f"bytes={have}-"
    hub_sha256: str | None = None
    task = bar.add_task(f.name, total=f.size, completed=have)
    try:
        with client.stream("GET", f.url, headers=headers) as resp:
            hub = (resp.headers.get("x-linked-etag") or "").strip().strip('"').lower()
            hub_sha256 = hub if _HEX64.match(hub) else None
            if resp.status_code == 416 and have:
                h, mode = _hash_prefix(part), None  # nothing left to send: the .part may be whole already
            elif resp.status_code == 206 and have:
                m = _CONTENT_RANGE.match(resp.headers.get("content-range", ""))
                if m is None or int(m.group(1)) != have:
                    raise DownloadFailed(
                        f"{f.url} answered a range request with Content-Range {resp.headers.get('content-range')!r}, "
                        f"not the bytes from {have}; delete {part} and run the same command again"
                    )
                h, mode = _hash_prefix(part), "ab"
                total = int(m.group(3)) if m.group(3) != "*" else None
                bar.update(task, total=total or f.size)
            elif resp.status_code == 200:
                if have:
                    log.info("%s ignored the range request: downloading %s from the start", f.url, f.name)
                    bar.update(task, completed=0)
                h, mode, have = hashlib.sha256(), "wb", 0
                length = resp.headers.get("content-length")
                bar.update(task, total=int(length) if length and length.isdigit() else f.size)
            else:
                raise DownloadFailed(
                    f"{f.url} answered HTTP {resp.status_code}; check the address is reachable from this machine "
                    "and run the same command again"
                )
            if mode is not None:
                with part.open(mode) as out:
                    for chunk in resp.iter_bytes():  # as received: a cut loses no buffered bytes
                        out.write(chunk)
                        h.update(chunk)
                        bar.advance(task, len(chunk))
    except httpx2.HTTPError as exc:
        got = part.stat().st_size if part.is_file() else 0
        then = (
            f"run the same command again to resume (the {got} bytes in {part} are kept)" if got
            else "check that this machine reaches the address (a proxy needs HTTPS_PROXY), then run the same command again"
        )
        raise DownloadFailed(f"downloading {f.name} from {f.url} failed ({type(exc).__name__}: {exc}); {then}") from exc
    actual = h.hexdigest()
    size = part.stat().st_size
    expected = f.sha256 if f.sha256 is not None else (hub_sha256 if allow_unpinned else None)
    problem = None
    if expected is not None and actual != expected:
        problem = f"its sha256 is {actual}, expected {expected}" + ("" if f.sha256 else " (the hub's own checksum header)")
    elif f.size is not None and size != f.size:
        problem = f"it is {size} bytes, expected {f.size}"
    if problem:
        part.unlink(missing_ok=True)
        raise DownloadFailed(
            f"the download of {f.name} from {f.url} is corrupt or truncated: {problem}. It was deleted and nothing "
            "was installed; run the same command again (a repeat failure means the file on the server is not the "
            "pinned one)"
        )
    if expected is None:
        log.warning("%s has no pinned sha256: recorded %s as its hash (trust on first use)", f.name, actual)
    os.replace(part, final)
    bar.update(task, completed=size, total=size)
    return actual, size


def pull_model(
    entry: ClipModelEntry,
    cache_dir: Path,
    *,
    allow_unpinned: bool = False,
    timeout: float = 60.0,
    progress: bool = True,
    transport: Any = None,
) -> Path:
    """Download, verify and install `entry`; returns its folder. Blocking (a CLI command)."""
    import httpx2

    if entry.unpinned and not allow_unpinned:
        raise InvalidInput(
            f"{entry.name} is not fully pinned: no published sha256 was found for {', '.join(entry.unpinned)}, so "
            "those bytes cannot be checked against a known hash. Pass --allow-unpinned to accept them anyway (the hub's "
            "LFS checksum header is checked when sent, and the hash of what arrives is recorded and verified on every "
            "later start), or choose a fully pinned model (`sensorium models list`)"
        )
    root = clip_root(cache_dir)
    folder = root / entry.name
    current = installed_status(entry, cache_dir, verify=True)
    if current.present and current.verified:
        log.info("%s is already pulled and verified in %s", entry.name, folder)
        return folder
    staging = root / f".{entry.name}.download"
    staging.mkdir(parents=True, exist_ok=True)
    files: dict[str, ManifestFile] = {}
    client_args: dict[str, Any] = {
        "timeout": httpx2.Timeout(timeout, connect=min(timeout, 30.0)), "follow_redirects": True,
    }
    if transport is not None:
        client_args["transport"] = transport
    with httpx2.Client(**client_args) as client, _progress(progress) as bar:
        for f in entry.files:
            sha, size = _fetch_file(client, f, staging, bar, allow_unpinned=allow_unpinned)
            files[f.name] = ManifestFile(sha256=sha, size=size, url=f.url, pinned=f.sha256 is not None)
    config = entry.config_json().encode()
    (staging / "clip_config.json").write_bytes(config)
    files["clip_config.json"] = ManifestFile(sha256=hashlib.sha256(config).hexdigest(), size=len(config), pinned=True)
    manifest = Manifest(name=entry.name, title=entry.title, license=entry.license, source=entry.source, files=files)
    (staging / MANIFEST).write_text(manifest.model_dump_json(indent=2) + "\n")
    if folder.exists():  # an older or broken install: move it aside, then swap the new one in
        old = root / f".{entry.name}.old"
        shutil.rmtree(old, ignore_errors=True)
        os.replace(folder, old)
        shutil.rmtree(old, ignore_errors=True)
    os.replace(staging, folder)
    return folder


__all__ = ["DownloadFailed", "pull_model"]

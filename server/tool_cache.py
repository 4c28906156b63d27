"""The published tool list, cached on disk so a start does not rebuild it (issue 17: start-up).

Building the tool list means importing the three tool modules (numpy, PIL, mss, every result
model) and having pydantic generate an argument model and two JSON schemas per tool: together
about a third of a start, before the first `tools/list` can be answered. What comes out depends
only on the source and on the mcp and pydantic versions, so it is written once to
`<cache_dir>/tool-schemas/<fingerprint>.json` and read back on later starts; the tools
themselves are then built on their first call (`toolkit.DeferredTool`), strict as ever.

The fingerprint hashes every `.py` file of the package plus the mcp and pydantic versions: an
edit, an upgrade or a checkout of another commit gives another file, so a stale list is never
served. A missing, unreadable or unwritable cache only costs the build, never the start.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

FORMAT = 1
"""Bump when the entry layout below changes."""

ENTRY_KEYS = ("module", "name", "title", "description", "inputSchema", "outputSchema", "annotations")


def _package_dirs() -> list[Path]:
    from .. import memory, server, tools  # empty __init__ files: importing them costs nothing

    return [Path(p) for pkg in (server, tools, memory) for p in pkg.__path__]


def fingerprint(limits: object = None) -> str:
    """sha256 over the package's source files (by relative path), the schema-making libraries' versions
    and the argument limits (settings put them into the schemas as maxLength)."""
    import pydantic

    h = hashlib.sha256(f"format {FORMAT}\nlimits {limits!r}\n".encode())
    try:
        mcp_version = version("mcp")
    except PackageNotFoundError:  # pragma: no cover - mcp is a dependency
        mcp_version = "?"
    h.update(f"mcp {mcp_version}\npydantic {pydantic.VERSION}\n".encode())
    for root in _package_dirs():
        for path in sorted(root.rglob("*.py")):
            h.update(f"{root.name}/{path.relative_to(root).as_posix()}\n".encode())
            h.update(path.read_bytes())
    return h.hexdigest()


def cache_file(cache_dir: Path, fp: str) -> Path:
    return cache_dir / "tool-schemas" / f"{fp[:32]}.json"


def load(cache_dir: Path, fp: str) -> list[dict[str, Any]] | None:
    """The cached entries for this fingerprint, or None (absent, unreadable or not ours)."""
    path = cache_file(cache_dir, fp)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        log.warning("ignoring the tool-schema cache %s (%s); building the tools instead", path, exc)
        return None
    if not isinstance(data, dict) or data.get("fingerprint") != fp or not isinstance(data.get("tools"), list):
        return None
    tools = data["tools"]
    if not all(isinstance(t, dict) and set(ENTRY_KEYS) <= set(t) for t in tools):
        return None
    return tools


def store(cache_dir: Path, fp: str, entries: list[dict[str, Any]]) -> None:
    """Write atomically (two servers may start at once); drop the lists of other fingerprints."""
    path = cache_file(cache_dir, fp)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".tools-", suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump({"fingerprint": fp, "tools": entries}, f, separators=(",", ":"))
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        for old in path.parent.glob("*.json"):
            if old != path:
                old.unlink(missing_ok=True)
    except OSError as exc:
        log.info("could not write the tool-schema cache in %s (%s); the next start builds the tools again", path.parent, exc)

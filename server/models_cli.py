"""`sensorium models list | pull NAME`: the optional image-text models of the local backend.

Output for people goes to stdout (a table, or the installed folder); the progress bar and logs
go to stderr. Errors are SensoriumErrors, which the CLI prints and turns into exit code 2.
"""

from __future__ import annotations

import argparse

from rich.console import Console
from rich.table import Table

from ..tools.backends.local.clip_pull import pull_model
from ..tools.backends.local.clip_registry import get_entry, load_registry
from ..tools.backends.local.clip_store import installed_status, resolve_active
from ..tools.errors import BackendUnavailable
from .settings import Settings


def models_command(settings: Settings, args: argparse.Namespace) -> int:
    registry = load_registry(settings.local)
    if args.models_command == "list":
        return _list(settings, registry)
    entry = get_entry(registry, args.name)
    folder = pull_model(
        entry, settings.cache_dir, allow_unpinned=args.allow_unpinned, timeout=settings.local.download_timeout,
        progress=not args.no_progress,
    )
    print(f"{entry.name}: verified and installed in {folder}")
    return 0


def _list(settings: Settings, registry: dict) -> int:
    try:
        active = resolve_active(settings.local, settings.cache_dir)
        active_line = f"active: {active.name} ({active.folder})" if active else "active: none"
    except BackendUnavailable as exc:
        active, active_line = None, f"active: none ({exc})"
    table = Table(title="image-text models (sensorium models pull NAME)")
    for col in ("name", "size", "licence", "pinned", "present", "verified", "detail"):
        table.add_column(col, overflow="fold")
    for entry in registry.values():
        st = installed_status(entry, settings.cache_dir, verify=True)
        size = " + ".join(f.size_hint for f in entry.files if f.size_hint) or "?"
        pinned = "yes" if st.pinned else f"no ({', '.join(entry.unpinned)})"
        verified = {True: "yes", False: "NO", None: "-"}[st.verified]
        name = entry.name + (" *" if active is not None and active.source == "cache" and active.folder.name == entry.name else "")
        table.add_row(name, size, entry.license, pinned, "yes" if st.present else "no", verified, st.detail)
    Console().print(table)
    print(active_line)
    return 0

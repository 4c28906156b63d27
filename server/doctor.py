"""`sensorium doctor`: what works on this machine, and what to do about what does not."""

from __future__ import annotations

import os
import platform
import sys
from importlib.metadata import PackageNotFoundError, version

import anyio
from rich.console import Console
from rich.table import Table

from ..tools.errors import SensoriumError
from .errors import ANTICIPATED
from .settings import Settings

PACKAGES = ("sensorium-mcp", "mcp", "google-genai", "mss", "pillow", "hnswlib", "numpy", "onnxruntime", "rapidocr", "faster-whisper")


def _version(name: str) -> str:
    try:
        return version(name)
    except PackageNotFoundError:
        return "not installed"


async def run_doctor(settings: Settings, *, online: bool = False) -> int:
    """Print a table of checks; exit 0 when the configured main job can run."""
    console = Console()
    rows: list[tuple[str, bool, str]] = []

    # display / capture
    try:
        from ..tools import capture

        monitors = await anyio.to_thread.run_sync(capture.list_monitors)
        primary = monitors[1] if len(monitors) > 1 else monitors[0]
        rows.append(("display", True, f"{len(monitors) - 1} monitor(s), primary {primary.width}x{primary.height}"))
    except SensoriumError as exc:
        rows.append(("display", False, str(exc)))

    # backend
    backend_name = settings.resolved_backend
    key = "set" if settings.gemini_api_key else (
        "not set (GEMINI_API_KEY / GOOGLE_API_KEY)"
        + ("" if backend_name == "gemini" else ": not needed, the offline local backend runs; set it for Gemini Embedding 2")
    )
    rows.append(("gemini api key", settings.gemini_api_key is not None or backend_name != "gemini", key))
    ok_backend = False
    try:
        from .app import build_backend

        backend = build_backend(settings)
        status = await backend.status()
        ok_backend = status.ready
        rows.append((f"backend ({backend_name})", status.ready, f"{status.space}: {status.detail}"))
        rows.append((f"backend ({backend_name}) embeds", True, backend.capabilities.describe()))
        if online:
            if not backend.capabilities.online:
                rows.append(("backend online check", True, f"not needed ({backend_name} backend runs offline)"))
            else:
                st = await backend.probe()
                ok_backend = ok_backend and st.ready
                rows.append(("backend online check", st.ready, st.detail))
        await backend.aclose()
    except ANTICIPATED as exc:
        rows.append((f"backend ({backend_name})", False, str(exc)))

    # optional image-text model of the local backend (sensorium models pull)
    if backend_name == "local":
        from ..tools.backends.local.clip_store import describe_active

        rows.append(("image-text model", *describe_active(settings.local, settings.cache_dir)))

    # data dir
    try:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        probe_file = settings.data_dir / ".doctor-write-test"
        probe_file.write_text("ok")
        probe_file.unlink()
        rows.append(("data dir", True, str(settings.data_dir)))
        data_ok = True
    except OSError as exc:
        rows.append(("data dir", False, f"{settings.data_dir}: {exc.strerror}; set SENSORIUM_DATA_DIR to a writable folder"))
        data_ok = False

    # memory stores: one per embedding space; others than the current one need a reindex to be used
    from ..memory.store import existing_spaces

    try:
        stores = existing_spaces(settings.memory, settings.data_dir)
    except ANTICIPATED as exc:
        rows.append(("memory stores", False, str(exc)))
        data_ok = False
    else:
        if stores:
            rows.append(("memory stores", True, ", ".join(s.space for s in stores)
                         + " (`sensorium memory reindex --from-space SPACE` moves one into the current backend's space)"))
        else:
            rows.append(("memory stores", True, "none yet (created on the first remember)"))

    rows.append(("python", True, f"{platform.python_version()} ({sys.executable})"))
    rows.append(("versions", True, ", ".join(f"{p} {_version(p)}" for p in PACKAGES)))
    rows.append(("DISPLAY", bool(os.environ.get("DISPLAY")), os.environ.get("DISPLAY") or "not set"))

    table = Table(title="sensorium doctor", show_lines=False)
    table.add_column("check")
    table.add_column("ok")
    table.add_column("detail", overflow="fold")
    for name, ok, detail in rows:
        table.add_row(name, "[green]yes[/green]" if ok else "[red]no[/red]", detail)
    console.print(table)
    if not settings.gemini_api_key:
        console.print("No Gemini API key: the server runs on the offline local backend (text, OCR, speech).")
    return 0 if (ok_backend and data_ok) else 1

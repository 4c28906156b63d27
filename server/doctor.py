"""`sensorium doctor`: what works on this machine, and what to do about what does not.

Each check is ok, a warning or a failure. A failure means the configured server cannot do its
main job (the backend does not load, the data dir is not writable, the online check fails, the
Gemini backend is chosen without a key) and makes the exit code 1. No display and no API key
are warnings: the server still runs headless (files, text, memory) and offline (local backend),
so scripts and CI can run `sensorium doctor && ...` on such machines.
"""

from __future__ import annotations

import platform
import sys
from importlib.metadata import PackageNotFoundError, version

import anyio
from rich.console import Console
from rich.table import Table

from ..tools.errors import SensoriumError
from .errors import ANTICIPATED
from .settings import Settings

WARN = "warn"  # a row's status: True (ok), WARN, or False (failure: exit code 1)
Status = bool | str

PACKAGES = ("sensorium-mcp", "mcp", "google-genai", "mss", "pillow", "hnswlib", "numpy", "onnxruntime", "rapidocr", "faster-whisper")


def _version(name: str) -> str:
    try:
        return version(name)
    except PackageNotFoundError:
        return "not installed"


async def run_doctor(settings: Settings, *, online: bool = False) -> int:
    """Print a table of checks; exit 1 when a check failed, 0 when only warnings (or nothing) came up."""
    console = Console()
    rows: list[tuple[str, Status, str]] = []

    # display / capture
    try:
        from ..tools import capture

        monitors = await anyio.to_thread.run_sync(capture.list_monitors)
        primary = monitors[1] if len(monitors) > 1 else monitors[0]
        rows.append(("display", True, f"{len(monitors) - 1} monitor(s), primary {primary.width}x{primary.height}"))
    except SensoriumError as exc:
        rows.append(("display", WARN, f"{exc} (capture tools fail until then; files, text and memory work)"))

    # backend, and for Gemini which service it reaches (Gemini API or Vertex AI) and why
    backend_name = settings.resolved_backend
    rows += gemini_route_rows(settings, backend_name)
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
        from ..tools.backends.local.models import ModelStore
        from ..tools.backends.local.whisper_models import describe

        ok_speech, speech = await anyio.to_thread.run_sync(describe, settings.local.whisper_model, ModelStore(settings.local, settings.cache_dir))
        rows.append(("speech model", True if ok_speech else WARN, speech + ("" if ok_speech else " (audio is refused until then)")))

    # data dir
    try:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        probe_file = settings.data_dir / ".doctor-write-test"
        probe_file.write_text("ok")
        probe_file.unlink()
        rows.append(("data dir", True, str(settings.data_dir)))
    except OSError as exc:
        rows.append(("data dir", False, f"{settings.data_dir}: {exc.strerror}; set SENSORIUM_DATA_DIR to a writable folder"))

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
    return _report(console, rows, settings.backend == "auto" and settings.resolved_backend == "local")


def gemini_route_rows(settings: Settings, backend_name: str) -> list[tuple[str, Status, str]]:
    """The Gemini rows: Vertex AI (with project, region and credentials, each with its source) or
    the Gemini API key, and the setting that made the choice."""
    vertex = settings.vertex_access
    if vertex is not None:
        project = f"project {vertex.project} ({vertex.project_source})" if vertex.project else "project from the credentials"
        creds = (f"key file {vertex.credentials_file} ({vertex.credentials_source})" if vertex.credentials_file
                 else "Application Default Credentials (gcloud auth application-default login, or the metadata server)")
        rows: list[tuple[str, Status, str]] = [("gemini route", True, f"Vertex AI, because {vertex.reason}: {project}, "
                                                 f"location {vertex.location} ({vertex.location_source}), credentials: {creds}")]
        if vertex.credentials_file is not None and not vertex.credentials_file.is_file():
            rows.append(("vertex credentials", False, f"{vertex.credentials_file} does not exist; set {vertex.credentials_source} to a service-account key JSON"))
        return rows
    switch = "SENSORIUM_GEMINI__VERTEXAI / GOOGLE_GENAI_USE_VERTEXAI"
    if settings.gemini_api_key:
        return [("gemini api key", True, "set"),
                ("gemini route", True, f"Gemini API with the API key, because no Vertex AI switch is on ({switch})")]
    if backend_name == "gemini":
        return [("gemini api key", False, "not set: the gemini backend needs GEMINI_API_KEY (or GOOGLE_API_KEY), "
                 f"or Vertex AI ({switch}=true with GOOGLE_CLOUD_PROJECT)")]
    return [("gemini api key", WARN, f"not set: not needed by the {backend_name} backend; "
             "set GEMINI_API_KEY (or GOOGLE_API_KEY) for Gemini Embedding 2, or GOOGLE_GENAI_USE_VERTEXAI=true for it on Vertex AI")]


_SHOWN = {True: "[green]ok[/green]", WARN: "[yellow]warn[/yellow]", False: "[red]FAIL[/red]"}


def _report(console: Console, rows: list[tuple[str, Status, str]], offline_by_default: bool) -> int:
    """Print the table and a one-line verdict; the exit code follows the failures only."""
    table = Table(title="sensorium doctor", show_lines=False)
    table.add_column("check")
    table.add_column("status")
    table.add_column("detail", overflow="fold")
    for name, status, detail in rows:
        table.add_row(name, _SHOWN[status], detail)
    console.print(table)
    if offline_by_default:
        console.print("No Gemini API key: the server runs on the offline local backend (text, OCR, speech).")
    failed = [name for name, status, _ in rows if status is False]
    warned = [name for name, status, _ in rows if status == WARN]
    if failed:
        console.print(f"[red]FAILED[/red]: {', '.join(failed)} (exit code 1)")
        return 1
    console.print("ready" + (f", with warnings: {', '.join(warned)}" if warned else ""))
    return 0

"""`sensorium` — serve | doctor | eval | memory | models.

Logs go to stderr: on stdio, stdout *is* the MCP protocol, and one stray print breaks it.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from pydantic import ValidationError
from pydantic_settings import SettingsError

from .errors import ANTICIPATED
from .settings import Settings
from .settings_errors import describe_settings_error

log = logging.getLogger("sensorium")


def _setup_logging(level: str) -> None:
    logging.basicConfig(
        level=getattr(logging, level, logging.INFO),
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # chatty libraries: per-call INFO lines (one per transcription, per HTTP request) drown our own logs
    for noisy in ("faster_whisper", "httpx", "httpx2", "google_genai", "RapidOCR", "mcp.server.streamable_http_manager"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLogger().level))


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="sensorium",
        description="Sensorium: an MCP server that embeds what an agent sees and hears, with episodic memory.",
    )
    sub = p.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the MCP server (stdio by default)")
    serve.add_argument("--transport", choices=["stdio", "http"], default="stdio")
    serve.add_argument("--host", default=None, help="HTTP bind address (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=None, help="HTTP port (default 8765)")
    serve.add_argument("--backend", choices=["auto", "gemini", "local", "hashing"], default=None)

    doctor = sub.add_parser("doctor", help="check display, backend, data dir and versions")
    doctor.add_argument("--online", action="store_true", help="also make one tiny embedding call to the backend")
    doctor.add_argument("--backend", choices=["auto", "gemini", "local", "hashing"], default=None)

    ev = sub.add_parser("eval", help="measure retrieval quality on the evaluation sets (hit@1, hit@5, MRR, baselines)")
    ev.add_argument("set", choices=["ui_grounding", "icons", "spoken_instructions", "screen_states", "sound_events", "all"])
    ev.add_argument("--data", type=Path, default=None, help="a set folder or the folder holding the sets (default: SENSORIUM_EVAL_DIR, else ../shared/eval)")
    ev.add_argument("--backend", choices=["auto", "gemini", "local", "hashing"], default=None,
                    help="evaluate only this backend (default: local, plus gemini when an API key or Vertex AI is set)")
    ev.add_argument("--json", type=Path, default=None, dest="json_path", help="write the full results as JSON here")
    ev.add_argument("--markdown", type=Path, default=None, help="rewrite the results table between the eval-results markers of this file (e.g. docs/EVAL.md)")

    index = sub.add_parser("index", help="make a long video, audio or PDF searchable by window/page (as the index_media tool)")
    index.add_argument("path", help="the file (inside the allowed folders)")
    index.add_argument("--episode", default=None, help="episode id (default: one per file)")
    index.add_argument("--window", type=float, default=None, help="window length in seconds (default: SENSORIUM_INDEX__WINDOW_SECONDS)")
    index.add_argument("--overlap", type=float, default=None, help="overlap in seconds (default: SENSORIUM_INDEX__OVERLAP_SECONDS)")
    index.add_argument("--backend", choices=["auto", "gemini", "local", "hashing"], default=None)

    watch = sub.add_parser("watch", help="remember the screen every few seconds (privacy settings apply; Ctrl-C stops)")
    watch.add_argument("--interval", type=float, default=None, help="seconds between frames (default: SENSORIUM_WATCH__INTERVAL_S)")
    watch.add_argument("--monitor", type=int, default=None, help="monitor (default: SENSORIUM_WATCH__MONITOR)")
    watch.add_argument("--duration", type=float, default=None, help="stop after this many seconds (default: until Ctrl-C / SIGTERM)")
    watch.add_argument("--backend", choices=["auto", "gemini", "local", "hashing"], default=None)

    memory = sub.add_parser("memory", help="inspect, migrate, export, import or report on the episodic memory stores")
    msub = memory.add_subparsers(dest="memory_command", required=True)
    msub.add_parser("stores", help="list the stores (one per embedding space) in the data dir")
    stats = msub.add_parser("stats", help="statistics of the store of the configured backend's space")
    stats.add_argument("--backend", choices=["auto", "gemini", "local", "hashing"], default=None)
    reindex = msub.add_parser("reindex", help="re-embed a store of another space into the configured backend's space")
    reindex.add_argument("--from-space", required=True, help="space id of the old store (see `sensorium memory stores`)")
    reindex.add_argument("--backend", choices=["auto", "gemini", "local", "hashing"], default=None)

    report = msub.add_parser(
        "report", help="write one self-contained HTML page of a store: episodes on a timeline, thumbnails, text (offline)"
    )
    report.add_argument("out", type=Path, help="the HTML file to write (replaced if it exists)")
    report.add_argument("--space", default=None, help="the store's space (see `sensorium memory stores`); "
                        "default: the configured backend's, else the only store")
    report.add_argument("--episode", action="append", default=None, help="only this episode (repeatable); default: all")
    report.add_argument("--limit", type=_report_limit, default=1000,
                        help="at most this many memories, the newest (default 1000; ~7 kB a typical memory, 50 kB at most)")
    report.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")

    migrate = msub.add_parser(
        "migrate", help="copy the stores of the other engine into this one (ids, vectors, thumbnails kept; resumable)"
    )
    migrate.add_argument("--to", required=True, choices=["milvus", "local"], help="the engine to copy into")
    migrate.add_argument("--space", action="append", default=None, help="only this space (repeatable); default: all")
    migrate.add_argument("--batch", type=int, default=500, help="memories per acknowledged batch")

    export = msub.add_parser(
        "export", help="write a store to a Parquet or JSONL file (ids, vectors, text, metadata, times; thumbnails optional)"
    )
    export.add_argument("out", type=Path, help="the file to write (.parquet or .jsonl)")
    export.add_argument("--format", default=None, help="parquet (needs the integrations extra) or jsonl; default: from OUT's suffix")
    export.add_argument("--thumbnails", action="store_true", help="include the JPEG thumbnails (binary column / base64)")
    export.add_argument("--episode", action="append", default=None, help="only this episode (repeatable); default: every memory")
    export.add_argument("--space", default=None, help="the store of this space (see `sensorium memory stores`); default: the configured backend's, else the only store")
    export.add_argument("--force", action="store_true", help="replace OUT if it exists")
    export.add_argument("--backend", choices=["auto", "gemini", "local", "hashing"], default=None)
    imp = msub.add_parser(
        "import", help="add the memories of an export to a store (ids kept; running it again adds nothing)"
    )
    imp.add_argument("path", type=Path, help="a file written by `sensorium memory export`")
    imp.add_argument("--space", default=None, help="import into the store of this space; default: the configured backend's (must be the export's)")
    imp.add_argument("--batch", type=int, default=500, help="memories per acknowledged batch")
    imp.add_argument("--backend", choices=["auto", "gemini", "local", "hashing"], default=None)

    models = sub.add_parser("models", help="list or pull the optional image-text (CLIP-class) models of the local backend")
    modsub = models.add_subparsers(dest="models_command", required=True)
    modsub.add_parser("list", help="what the registry pins, what is pulled and whether it verifies")
    pull = modsub.add_parser("pull", help="download a model into the cache dir (resumable; sha256-verified before use)")
    pull.add_argument("name", help="a name from `sensorium models list`")
    pull.add_argument("--allow-unpinned", action="store_true",
                      help="accept files the registry has no sha256 for (their hash is recorded and checked from then on)")
    pull.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    return p


def _report_limit(value: str) -> int:
    try:
        n = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number") from None
    if not 1 <= n <= 100_000:
        raise argparse.ArgumentTypeError(f"{n} is out of range: give 1 to 100000 memories")
    return n


def _settings(args: argparse.Namespace) -> Settings:
    overrides = {}
    if getattr(args, "backend", None):
        overrides["backend"] = args.backend
    return Settings(**overrides)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = _settings(args)
    except (ValidationError, SettingsError, ValueError) as exc:
        # one line naming the variable, for every command (a traceback here told nobody what to fix)
        print(f"sensorium: {describe_settings_error(exc)}", file=sys.stderr)
        return 2
    _setup_logging(settings.log_level)
    try:
        if args.command == "serve":
            return _serve(settings, args)
        if args.command == "doctor":
            from .doctor import run_doctor

            return asyncio.run(run_doctor(settings, online=args.online))
        if args.command == "memory":
            return asyncio.run(_memory(settings, args))
        if args.command == "eval":
            return _eval(settings, args)
        if args.command == "watch":
            return asyncio.run(_watch(settings, args))
        if args.command == "index":
            return asyncio.run(_index(settings, args))
        if args.command == "models":
            from .models_cli import models_command

            return models_command(settings, args)
    except ANTICIPATED as exc:
        print(f"sensorium: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return 2


async def _memory(settings: Settings, args: argparse.Namespace) -> int:
    import json

    from rich.progress import Progress

    from ..memory.store import existing_spaces
    from .app import build_services

    if args.memory_command == "stores":
        for stored in existing_spaces(settings.memory, settings.data_dir):
            print(f"{stored.space}\t{stored.location}")
        return 0
    if args.memory_command == "migrate":
        return await _migrate(settings, args)
    if args.memory_command == "report":
        return await _report(settings, args)
    if args.memory_command in ("export", "import"):
        from .exchange_cli import exchange_command

        return await exchange_command(settings, args)
    services = build_services(settings)
    try:
        if args.memory_command == "stats":
            store = await services.memory()
            print(json.dumps((await store.stats()).model_dump(mode="json"), indent=2))
            return 0
        from .reindex import reindex

        with Progress(transient=True) as bar:
            task = bar.add_task(f"reindexing {args.from_space} -> {services.backend.space}", total=None)

            def advance(done: int, total: int) -> None:
                bar.update(task, completed=done, total=total)

            report = await reindex(settings, args.from_space, services.backend, progress=advance)
        print(report.model_dump_json(indent=2))
        return 0
    finally:
        await services.aclose()


async def _watch(settings: Settings, args: argparse.Namespace) -> int:
    import signal

    from .app import build_services

    services = build_services(settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        status = await services.watcher.start(args.interval, args.monitor)
        where = "frames are sent to Google (Gemini)" if status.frames_leave_machine else "nothing leaves this machine"
        log.info("watching monitor %s every %gs into episode %s; %s", status.monitor, status.interval_s, status.episode_id, where)
        try:
            await asyncio.wait_for(stop.wait(), timeout=args.duration)
        except TimeoutError:
            pass
        print((await services.watcher.stop()).model_dump_json(indent=2))
        return 0
    finally:
        await services.aclose()


async def _index(settings: Settings, args: argparse.Namespace) -> int:
    import anyio
    from rich.progress import Progress

    from .app import build_services
    from .indexing import index_file, open_media_file

    services = build_services(settings)
    fh, real = await anyio.to_thread.run_sync(open_media_file, str(Path(args.path).expanduser().absolute()), settings.intake)
    try:
        with Progress(transient=True) as bar:
            task = bar.add_task(f"indexing {real.name}", total=None)

            async def advance(done: float, total: float | None, message: str | None) -> None:
                bar.update(task, completed=done, total=total, description=message or real.name)

            report = await index_file(
                services.backend, await services.memory(), fh, real, settings.index, episode_id=args.episode,
                window_seconds=args.window, overlap_seconds=args.overlap, progress=advance,
            )
        print(report.model_dump_json(indent=2))
        return 0
    finally:
        fh.close()
        await services.aclose()


async def _migrate(settings: Settings, args: argparse.Namespace) -> int:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from ..memory.migrate import migrate

    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, transient=True) as bar:
        tasks: dict[str, object] = {}

        def advance(space: str, done: int, total: int) -> None:
            if space not in tasks:
                tasks[space] = bar.add_task(f"{space} -> {args.to}", total=total)
            bar.update(tasks[space], completed=done, total=total)  # type: ignore[arg-type]

        report = await migrate(
            settings.memory, settings.data_dir, args.to, spaces=args.space, batch=args.batch, progress=advance
        )
    print(report.model_dump_json(indent=2))
    if not report.ok:
        print("sensorium: the copy differs from its source (see mismatches); run it again to resume", file=sys.stderr)
        return 1
    return 0


async def _report(settings: Settings, args: argparse.Namespace) -> int:
    """A thin layer over memory/report.py: pick the store, show progress on stderr, print the summary."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from ..memory.report import ReportOptions, check_writable, write_report
    from ..memory.store import choose_space, dimension_of, existing_spaces, open_store
    from .app import configured_space

    out = check_writable(args.out)  # before reading a store that may be large
    spaces = [s.space for s in existing_spaces(settings.memory, settings.data_dir)]
    space = choose_space(spaces, args.space, (await configured_space(settings))[0])
    options = ReportOptions(limit=args.limit, episodes=args.episode or [])
    if space is None:
        where = settings.data_dir if settings.memory.engine == "local" else "the Milvus server"
        summary = await write_report(
            None, out, options,
            empty_reason=f"There is no memory store in {where} yet: nothing has been remembered with this "
            f"{settings.memory.engine} engine.",
        )
    else:
        store = await open_store(settings.memory, settings.data_dir, space, dimension_of(space))
        try:
            columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
            console = Console(stderr=True)
            with Progress(*columns, console=console, transient=True, disable=args.no_progress) as bar:
                task = bar.add_task(f"reading {space}", total=None)

                def advance(done: int, total: int) -> None:
                    bar.update(task, completed=done, total=total)

                summary = await write_report(store, out, options, progress=advance)
        finally:
            await store.close()
    print(summary.model_dump_json(indent=2))
    return 0


def _serve(settings: Settings, args: argparse.Namespace) -> int:
    from .serving import serve

    if settings.memory.engine == "milvus":
        # a wrong SENSORIUM_MEMORY__MILVUS_URI fails here, with the setting named, rather than at the first remember
        from ..memory.store import existing_spaces

        existing_spaces(settings.memory, settings.data_dir)
    if args.transport == "http":
        from .transports import check_bind

        host = args.host or settings.http.host
        port = args.port if args.port is not None else settings.http.port
        check_bind(host, settings.http.token.get_secret_value() if settings.http.token else None)
        return serve(settings, "http", host, port)
    return serve(settings, "stdio")


def _eval(settings: Settings, args: argparse.Namespace) -> int:
    from ..tools.evaluation.command import eval_command
    from .app import build_backend, build_ocr

    data = args.data or settings.resolved_eval_dir()
    if data is None:
        print("sensorium: no evaluation data found: pass --data DIR or set SENSORIUM_EVAL_DIR", file=sys.stderr)
        return 2
    names = [settings.resolved_backend] if args.backend else ["local"] + (["gemini"] if settings.gemini_api_key or settings.vertex_access else [])
    ocr = build_ocr(settings)  # one screen reader for every backend, as in the server
    backends = [build_backend(settings.model_copy(update={"backend": n}), ocr=ocr) for n in names]
    asyncio.run(eval_command(args.set, data, backends, json_path=args.json_path, markdown_path=args.markdown, ocr=ocr))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

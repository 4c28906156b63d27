"""`sensorium memory export OUT` / `sensorium memory import IN`: the thin CLI over memory/exchange.py.

Which store: `--space`, else the configured backend's space (as `memory stats`). An export reads an
existing store only (exporting a store that is not there would silently create an empty one); an
import creates the store of the export's space when asked for it by `--space`.
"""

from __future__ import annotations

import argparse
import sys

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from ..memory.exchange import ExchangeError, ExportFile, export_store, import_export, require_space
from ..memory.store import dimension_of, existing_spaces, open_store
from .settings import Settings


async def _space(settings: Settings, args: argparse.Namespace) -> tuple[str, int]:
    if args.space:
        return args.space, dimension_of(args.space)
    from .app import build_services

    services = build_services(settings)  # the backend names its space; no model is loaded until something is embedded
    try:
        return services.backend.space, services.backend.dimension
    finally:
        await services.aclose()


async def exchange_command(settings: Settings, args: argparse.Namespace) -> int:
    space, dimension = await _space(settings, args)
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    if args.memory_command == "export":
        stores = [s.space for s in existing_spaces(settings.memory, settings.data_dir)]
        if space not in stores:
            raise ExchangeError(
                f"no memory store of space {space!r} ({settings.memory.engine} engine, data dir {settings.data_dir}); "
                f"stores there: {stores or 'none'}: pass --space with one of them"
            )
    else:  # the file's manifest first: a file of another space must not leave an empty store behind
        require_space(ExportFile(args.path).manifest, args.path, space, dimension)
    store = await open_store(settings.memory, settings.data_dir, space, dimension)
    try:
        with Progress(*columns, transient=True, console=Console(stderr=True)) as bar:
            task = bar.add_task(f"{args.memory_command} {space}", total=None)

            def advance(phase: str, done: int, total: int) -> None:
                bar.update(task, completed=done, total=total, description=f"{phase} {space}")

            if args.memory_command == "export":
                report = await export_store(
                    store, args.out, args.format, thumbnails=args.thumbnails, episodes=args.episode,
                    overwrite=args.force, engine=settings.memory.engine, progress=advance,
                )
                print(report.model_dump_json(indent=2))
                return 0
            if args.batch < 1:
                raise ExchangeError(f"--batch is {args.batch}: give at least 1")
            result = await import_export(store, args.path, batch=args.batch, progress=advance)
        print(result.model_dump_json(indent=2))
        if not result.ok:
            why = (
                f"{result.skipped} memories were refused by this store's privacy exclusions"
                if result.skipped
                else "the store differs from the file (see mismatches); run the import again to resume"
            )
            print(f"sensorium: {why}", file=sys.stderr)
            return 1
        return 0
    finally:
        await store.close()

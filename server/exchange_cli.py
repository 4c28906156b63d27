"""`sensorium memory export OUT` / `sensorium memory import IN`: the thin CLI over memory/exchange.py.

Which store: an export reads an existing store only (exporting a store that is not there would silently
create an empty one), chosen by the rule every reading command shares (`memory.store.choose_space`:
`--space`, else the configured backend's, else the only one); an import writes into `--space`, else the
configured backend's space, and creates that store only after the file's manifest agreed.
"""

from __future__ import annotations

import argparse
import sys

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from ..memory.exchange import ExchangeError, ExportFile, export_store, import_export, require_space
from ..memory.store import choose_space, dimension_of, existing_spaces, open_store
from .app import configured_space
from .settings import Settings


async def exchange_command(settings: Settings, args: argparse.Namespace) -> int:
    configured, configured_dimension = await configured_space(settings)
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    if args.memory_command == "export":
        stores = [s.space for s in existing_spaces(settings.memory, settings.data_dir)]
        chosen = choose_space(stores, args.space, configured)
        if chosen is None:
            raise ExchangeError(
                f"no memory store to export ({settings.memory.engine} engine, data dir {settings.data_dir}): "
                "nothing has been remembered there yet"
            )
        space, dimension = chosen, dimension_of(chosen)
    else:  # the file's manifest first: a file of another space must not leave an empty store behind
        space, dimension = (args.space, dimension_of(args.space)) if args.space else (configured, configured_dimension)
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

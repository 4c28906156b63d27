"""What `sensorium eval` does once the CLI has built the backends: run, show, write.

Kept apart from server/cli.py so the CLI only parses arguments and builds backends (it owns
settings), while everything eval-specific — progress bar, tables, files — lives with the harness.
The progress bar and log lines go to stderr; the results tables go to stdout (this is a
terminal command, not the MCP stdio server).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)

from ..backends.base import EmbeddingBackend
from ..backends.local.ocr import OcrEngine
from .report import render_tables, update_markdown, write_json
from .runner import EvalReport, run_eval


async def eval_command(
    set_name: str,
    data_dir: Path,
    backends: Sequence[EmbeddingBackend],
    *,
    json_path: Path | None = None,
    markdown_path: Path | None = None,
    stdout: Console | None = None,
    stderr: Console | None = None,
    batch_size: int = 32,
    ocr: OcrEngine | None = None,
) -> EvalReport:
    """Run the evaluation with a progress bar, print the tables, write JSON / Markdown, close the backends."""
    out = stdout or Console()
    err = stderr or Console(stderr=True)
    tasks: dict[str, TaskID] = {}
    try:
        with Progress(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
            console=err, transient=False,
        ) as bar:

            def progress(label: str, done: int, total: int) -> None:
                if label not in tasks:
                    tasks[label] = bar.add_task(label, total=total)
                bar.update(tasks[label], completed=done, total=total)

            report = await run_eval(set_name, data_dir, backends, progress, batch_size=batch_size, ocr=ocr)
    finally:
        for b in backends:
            await b.aclose()
    render_tables(report, out)
    if json_path is not None:
        write_json(report, json_path)
        err.print(f"results written to {json_path}")
    if markdown_path is not None:
        update_markdown(markdown_path, report)
        err.print(f"results table written to {markdown_path}")
    return report

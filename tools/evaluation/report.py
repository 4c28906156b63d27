"""Show an EvalReport: rich tables for a terminal, JSON for machines, Markdown for docs/EVAL.md.

The Markdown goes between two marker comments, so `sensorium eval all --markdown docs/EVAL.md`
rewrites only the results table and leaves the prose around it alone: the table in the docs is
always the output of one command, never hand-edited numbers. Inside the block every set has
its own marked section, so `sensorium eval icons --markdown docs/EVAL.md` refreshes the icons
tables and keeps the other sets' tables from their last run (each section says when it ran).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from .datasets import SET_NAMES
from .metrics import Metrics
from .runner import RANDOM, TEXT_ONLY, EvalReport

MARK_START = "<!-- eval-results:start -->"
MARK_END = "<!-- eval-results:end -->"


def _fmt(v: float | None) -> str:
    return "–" if v is None else f"{v:.3f}"


def _rows(groups: dict[str, dict[str, Metrics]]) -> list[tuple[str, str, Metrics]]:
    return [(g, method, m) for g, methods in groups.items() for method, m in methods.items()]


def _has_pib(groups: dict[str, dict[str, Metrics]]) -> bool:
    return any(m.point_in_box is not None for methods in groups.values() for m in methods.values())


def render_tables(report: EvalReport, console: Console) -> None:
    """One table per set and task: rows = (type, method), baselines first within each type."""
    for set_name, sr in report.sets.items():
        for task_name, task in sr.tasks.items():
            pib = _has_pib(task.groups)
            t = Table(title=f"{set_name} · {task_name}", title_justify="left", show_lines=False)
            for col, kw in (("type", {"no_wrap": True}), ("method", {"no_wrap": True}), ("n", {"justify": "right"}), ("hit@1", {"justify": "right"}),
                            ("hit@5", {"justify": "right"}), ("MRR", {"justify": "right"})):
                t.add_column(col, **kw)
            if pib:
                t.add_column("point∈box", justify="right")
            t.add_column("not found", justify="right")
            last_group = None
            for g, method, m in _rows(task.groups):
                style = "dim" if method in (RANDOM, TEXT_ONLY) else None
                cells = [g if g != last_group else "", method, str(m.n), _fmt(m.hit_at_1), _fmt(m.hit_at_5), _fmt(m.mrr)]
                if pib:
                    cells.append(_fmt(m.point_in_box))
                cells.append(str(m.not_found) if m.not_found else "")
                t.add_row(*cells, style=style, end_section=False)
                last_group = g
            console.print(t)
        for line in _extras_lines(sr.name, sr.extras, {k: v.extras for k, v in sr.tasks.items()}):
            console.print(line, highlight=False, soft_wrap=True)
        for run in sr.backends:
            if run.refused:
                console.print(f"  {set_name}: {run.name} refused {run.refused} item(s), e.g. {run.refused_examples[0]!r}", highlight=False, soft_wrap=True)
    for note in report.notes:
        console.print(f"[dim]{note}[/dim]", soft_wrap=True)


def _extras_lines(set_name: str, extras: dict[str, Any], task_extras: dict[str, dict[str, Any]]) -> list[str]:
    lines: list[str] = []
    for backend, r in extras.get("rejection", {}).items():
        lines.append(f"  {set_name}: {backend} rejected {r['rejected']}/{r['n']} non-speech clips (rate {r['rejection_rate']:.2f}); "
                     f"hallucinated transcripts: {len(r['hallucinated'])}")
        for h in r["hallucinated"]:
            lines.append(f"    {h['id']} ({h['label']}): {h['transcript']!r}")
    for task, ex in task_extras.items():
        for backend, w in ex.get("wer", {}).items():
            per = ", ".join(f"{k} {v:.3f}" for k, v in w["wer"].items())
            lines.append(f"  {set_name} · {task}: {backend} WER {per}; exact transcripts {w['exact']:.3f}")
        for method, g in ex.get("similarity_gap", {}).items():
            if g:
                lines.append(
                    f"  {set_name} · {task}: {method} correct sim min {g['correct_min']:.3f} mean {g['correct_mean']:.3f}; "
                    f"best wrong max {g['best_wrong_max']:.3f} mean {g['best_wrong_mean']:.3f}; gap median {g['gap_median']:.3f}, "
                    f"positive {g['gap_positive']:.2f}"
                )
    return lines


def report_json(report: EvalReport) -> str:
    return json.dumps(report.model_dump(mode="json", by_alias=True), indent=1, ensure_ascii=False) + "\n"


def write_json(report: EvalReport, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(report_json(report), encoding="utf-8")


def _set_marks(name: str) -> tuple[str, str]:
    return f"<!-- eval-set:{name} -->", f"<!-- /eval-set:{name} -->"


def render_set_markdown(report: EvalReport, set_name: str) -> str:
    """One set's tables, wrapped in its own markers so a single-set run can replace just it."""
    sr = report.sets[set_name]
    backends = ", ".join(f"`{b.name}` ({b.space})" for b in sr.backends) or "none"
    counts = ", ".join(f"{v} {k}" for k, v in sr.counts.items())
    out = [_set_marks(set_name)[0], f"### {set_name} ({counts})", "",
           f"Run {sr.created or report.created}; data `{sr.folder}`; backends: {backends}.", ""]
    for task_name, task in sr.tasks.items():
        pib = _has_pib(task.groups)
        head = ["type", "method", "n", "hit@1", "hit@5", "MRR"] + (["point-in-box"] if pib else []) + ["not found"]
        out += [f"**{task_name}**", "", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        for g, method, m in _rows(task.groups):
            name = method if method in (RANDOM, TEXT_ONLY) else f"**{method}**"
            cells = [g, name, str(m.n), _fmt(m.hit_at_1), _fmt(m.hit_at_5), _fmt(m.mrr)]
            if pib:
                cells.append(_fmt(m.point_in_box))
            cells.append(str(m.not_found) if m.not_found else "")
            out.append("| " + " | ".join(cells) + " |")
        out.append("")
    extra = _extras_lines(set_name, sr.extras, {k: v.extras for k, v in sr.tasks.items()})
    refused = [f"{set_name}: {r.name} refused {r.refused} item(s), e.g. {r.refused_examples[0]!r}" for r in sr.backends if r.refused]
    if extra or refused:
        out += ["```", *[x.strip() for x in extra + refused], "```", ""]
    timing = ", ".join(f"{r.name} {r.seconds:.0f} s" for r in sr.backends)
    if timing:
        out += [f"Time: {timing}.", ""]
    out.append(_set_marks(set_name)[1])
    return "\n".join(out)


def render_markdown(report: EvalReport, previous: dict[str, str] | None = None) -> str:
    """The results block of docs/EVAL.md: every set of this run, plus earlier sets' sections kept."""
    sections = dict(previous or {})
    for name in report.sets:
        sections[name] = render_set_markdown(report, name)
    order = [n for n in SET_NAMES if n in sections] + [n for n in sections if n not in SET_NAMES]
    body = "\n\n".join(sections[n] for n in order)
    notes = "\n".join(f"_{n}_" for n in report.notes)
    return f"{body}\n\n{notes}\n"


def _previous_sections(text: str) -> dict[str, str]:
    found: dict[str, str] = {}
    for name in SET_NAMES:
        a, b = _set_marks(name)
        i, j = text.find(a), text.find(b)
        if i != -1 and j > i:
            found[name] = text[i : j + len(b)]
    return found


def update_markdown(path: Path, report: EvalReport) -> None:
    """Rewrite the block between the markers in `path`: this run's sets replace their sections,
    other sets' sections from an earlier run stay (or create the file with just the tables)."""
    if path.is_file():
        text = path.read_text(encoding="utf-8")
        start, end = text.find(MARK_START), text.find(MARK_END)
        if start != -1 and end > start:
            block = f"{MARK_START}\n{render_markdown(report, _previous_sections(text[start:end]))}{MARK_END}"
            path.write_text(text[:start] + block + text[end + len(MARK_END):], encoding="utf-8")
            return
        block = f"{MARK_START}\n{render_markdown(report)}{MARK_END}"
        path.write_text(text.rstrip() + "\n\n" + block + "\n", encoding="utf-8")
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("# Evaluation results\n\n" + f"{MARK_START}\n{render_markdown(report)}{MARK_END}" + "\n", encoding="utf-8")

"""The evaluation harness behind `sensorium eval`: real dev sets, exact baselines, any backend.

datasets.py loads the five manifest formats; metrics.py computes hit@k / MRR / point-in-box
(exact under random tie-breaking); runner.py runs one set against the backends it is given;
report.py renders tables, JSON and the Markdown of docs/EVAL.md; command.py is what the CLI calls.
"""

from .datasets import SET_NAMES, detect_set, load_set, resolve_sets
from .metrics import Metrics, outcome_from_scores, string_similarity, summarise, wer
from .runner import EvalProgress, EvalReport, SetResult, TaskResult, run_eval

__all__ = [
    "SET_NAMES",
    "EvalProgress",
    "EvalReport",
    "Metrics",
    "SetResult",
    "TaskResult",
    "detect_set",
    "load_set",
    "outcome_from_scores",
    "resolve_sets",
    "run_eval",
    "string_similarity",
    "summarise",
    "wer",
]

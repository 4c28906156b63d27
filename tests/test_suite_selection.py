"""The environment decides what `python -m pytest -q` runs (tests/conftest.py): checked in child pytest runs."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve()


@pytest.mark.slow
def test_probe_slow() -> None:
    """Does nothing: the child runs below check whether it is skipped."""


def _pytest(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if k not in {"CI", "SENSORIUM_TEST_ALL", "SENSORIUM_EVAL_DIR"}}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider", *args],
        cwd=HERE.parents[1], env={**base, **env}, capture_output=True, text=True, timeout=300,
    )


def test_slow_tests_skip_by_default_and_run_with_test_all_or_ci() -> None:
    probe = f"{HERE}::test_probe_slow"
    default = _pytest(probe)
    assert "1 skipped" in default.stdout and "SENSORIUM_TEST_ALL=1" in default.stdout, default.stdout
    assert "1 passed" in _pytest(probe, SENSORIUM_TEST_ALL="1").stdout
    if Path(os.environ.get("SENSORIUM_EVAL_DIR") or HERE.parents[2] / "shared" / "eval").is_dir():
        assert "1 passed" in _pytest(probe, CI="true").stdout  # CI also needs the eval sets (below)


def test_eval_dir_given_but_missing_stops_the_run(tmp_path: Path) -> None:
    r = _pytest(f"{HERE}::test_probe_slow", SENSORIUM_EVAL_DIR=str(tmp_path / "nowhere"))
    assert r.returncode not in (0, 5), r.stdout
    assert "evaluation sets not found" in r.stdout + r.stderr and "nowhere" in r.stdout + r.stderr

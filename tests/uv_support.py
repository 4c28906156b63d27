"""Run a client script in an environment of its own, built by uv from a requirements file.

Why: some of the libraries users pair Sensorium with cannot share Sensorium's venv (every
langchain-mcp-adapters release needs mcp<2; chromadb needs a grpcio that pymilvus 2.3 refuses). Users run
them in the agent's own environment, talking to Sensorium over stdio or through an export file, and so do
the tests: `uv run --with-requirements` builds that environment on this venv's base interpreter (no Python
download) and keeps it in uv's cache, so only the first run fetches packages from PyPI.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

CLIENTS = Path(__file__).parent / "framework_clients"


def uv_command() -> str | None:
    beside = Path(sys.executable).parent / "uv"
    return str(beside) if beside.exists() else shutil.which("uv")


def need_uv() -> str:
    """The uv command; skip without it (fail in CI, which installs it with the integrations extra)."""
    uv = uv_command()
    if uv is None:
        reason = 'needs uv (the integrations extra): pip install ".[test,integrations]"'
        if os.environ.get("CI"):
            pytest.fail(f"CI must run this test: {reason}")
        pytest.skip(reason)
    return uv


def run_in_own_env(requirements: Path, script: Path, args: list[str], cwd: Path, timeout: float = 900) -> subprocess.CompletedProcess[str]:
    """`python SCRIPT ARGS` in the environment `requirements` describes; the caller checks the result."""
    uv = need_uv()
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    base_python = getattr(sys, "_base_executable", sys.executable)
    return subprocess.run(
        [uv, "run", "--no-project", "--python", base_python, "--with-requirements", str(requirements),
         "python", str(script), *args],
        capture_output=True, text=True, env=env, cwd=cwd, timeout=timeout,
    )

"""Shared helpers for server tests: settings in a temp dir, eval data paths, free ports."""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path
from typing import Any

from sensorium.server.settings import Settings
from sensorium.tools.config import IntakeSettings

REPO = Path(__file__).resolve().parents[1]


def eval_dir() -> Path:
    """Where the evaluation sets are (SENSORIUM_EVAL_DIR, else ../shared/eval); may not exist.

    Only tests marked `evalsets` read from it, and conftest.py skips them when it is missing
    (or fails the run, in CI). Every other test makes its own fixtures.
    """
    env = os.environ.get("SENSORIUM_EVAL_DIR")
    return Path(env) if env else REPO.parent / "shared" / "eval"


def shared_models_dir() -> Path:
    """Reference vectors beside the eval sets (../shared/models); read only by `evalsets` tests."""
    return eval_dir().parent / "models"


def _extra_roots() -> list[Path]:
    return [eval_dir()] if eval_dir().is_dir() else []


GOOGLE_VARIABLES = ("GOOGLE_API_KEY", "GOOGLE_GENAI_USE_VERTEXAI", "GOOGLE_CLOUD_PROJECT", "GOOGLE_CLOUD_LOCATION", "GOOGLE_APPLICATION_CREDENTIALS")
"""Google's variables that choose the Gemini backend's route: a developer's own must not steer the tests."""


def make_settings(tmp: Path, backend: str = "hashing", **overrides: Any) -> Settings:
    """Settings isolated in `tmp`; files are allowed from `tmp` and the eval data (when present) only."""
    roots = [tmp, *_extra_roots()]
    return Settings(
        backend=backend,
        data_dir=tmp / "data",
        cache_dir=tmp / "cache",
        intake=IntakeSettings(allowed_roots=roots),
        **overrides,
    )


def subprocess_env(tmp: Path, backend: str = "hashing", **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SENSORIUM_", "GEMINI_", *GOOGLE_VARIABLES))}
    env.update(
        SENSORIUM_BACKEND=backend,
        SENSORIUM_DATA_DIR=str(tmp / "data"),
        SENSORIUM_CACHE_DIR=str(tmp / "cache"),
        SENSORIUM_INTAKE__ALLOWED_ROOTS=json.dumps([str(p) for p in (tmp, *_extra_roots())]),
    )
    env.update(extra)
    return env


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def error_text(result: Any) -> str:
    assert result.is_error, f"expected an error result, got {result}"
    return " ".join(getattr(c, "text", "") for c in result.content)

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
    env = os.environ.get("SENSORIUM_EVAL_DIR")
    path = Path(env) if env else REPO.parent / "shared" / "eval"
    assert path.is_dir(), f"evaluation data not found at {path}: set SENSORIUM_EVAL_DIR"
    return path


def shared_models_dir() -> Path:
    """../shared/models: small model files and reference vectors (required, like the eval data)."""
    path = REPO.parent / "shared" / "models"
    assert path.is_dir(), f"shared model files not found at {path}: the project expects ../shared beside it"
    return path


def make_settings(tmp: Path, backend: str = "hashing", **overrides: Any) -> Settings:
    """Settings isolated in `tmp`; files are allowed from `tmp` and the eval data only."""
    roots = [tmp, eval_dir()]
    return Settings(
        backend=backend,
        data_dir=tmp / "data",
        cache_dir=tmp / "cache",
        intake=IntakeSettings(allowed_roots=roots),
        **overrides,
    )


def subprocess_env(tmp: Path, backend: str = "hashing", **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SENSORIUM_", "GEMINI_", "GOOGLE_API"))}
    env.update(
        SENSORIUM_BACKEND=backend,
        SENSORIUM_DATA_DIR=str(tmp / "data"),
        SENSORIUM_CACHE_DIR=str(tmp / "cache"),
        SENSORIUM_INTAKE__ALLOWED_ROOTS=json.dumps([str(tmp), str(eval_dir())]),
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

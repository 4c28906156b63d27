"""Settings as a person types them: plain lists accepted, and any mistake is one line + exit 2 from every command."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from sensorium.server.settings import Settings
from server_support import subprocess_env

SENSORIUM = [sys.executable, "-m", "sensorium.server.cli"]


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for key in list(os.environ):
        if key.startswith(("SENSORIUM_", "GEMINI_", "GOOGLE_API")):
            monkeypatch.delenv(key)
    return monkeypatch


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("~", ["~"]),
        ("~/work, /data", ["~/work", "/data"]),
        (f"~/work{os.pathsep}/data", ["~/work", "/data"]),
        ('["~/work", "/data"]', ["~/work", "/data"]),
        ('["/a,b"]', ["/a,b"]),  # JSON keeps a comma inside a path
    ],
)
def test_allowed_roots_accept_a_plain_path_a_list_or_json(clean_env: pytest.MonkeyPatch, raw: str, expected: list[str]) -> None:
    clean_env.setenv("SENSORIUM_INTAKE__ALLOWED_ROOTS", raw)
    assert Settings().intake.allowed_roots == [Path(p) for p in expected]


def test_text_lists_split_on_commas_only(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("SENSORIUM_MEMORY__EXCLUDED_TITLES", "Bank: login, Password Manager")
    assert Settings().memory.excluded_titles == ["Bank: login", "Password Manager"]


COMMANDS = [["serve"], ["serve", "--transport", "http"], ["doctor"], ["eval", "icons"], ["memory", "stores"], ["memory", "stats"]]
BAD = [
    ({"SENSORIUM_INTAKE__ALLOWED_ROOTS": '["~"'}, "SENSORIUM_INTAKE__ALLOWED_ROOTS"),
    ({"SENSORIUM_DIMENSION": "5000"}, "SENSORIUM_DIMENSION"),
    ({"SENSORIUM_HTTP__PORT": "eighty"}, "SENSORIUM_HTTP__PORT"),
    ({"SENSORIUM_HTTP": "{port: 1}"}, "SENSORIUM_HTTP"),
]


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_every_command_reports_a_bad_setting_in_one_line(tmp_path: Path, command: list[str]) -> None:
    env, name = BAD[COMMANDS.index(command) % len(BAD)]
    r = subprocess.run([*SENSORIUM, *command], env=subprocess_env(tmp_path, **env), capture_output=True, text=True, timeout=120)
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert "Traceback" not in r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("sensorium: invalid settings: ") and name in lines[0], r.stderr


def test_every_error_is_named_on_the_same_line(tmp_path: Path) -> None:
    env = subprocess_env(tmp_path, SENSORIUM_DIMENSION="5000", SENSORIUM_CAPTURE__MAX_SIDE="3")
    r = subprocess.run([*SENSORIUM, "memory", "stores"], env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 2
    line = r.stderr.strip()
    assert "\n" not in line and "SENSORIUM_DIMENSION='5000'" in line and "SENSORIUM_CAPTURE__MAX_SIDE='3'" in line


def test_a_plain_home_folder_is_accepted_by_the_command_line(tmp_path: Path) -> None:
    env = subprocess_env(tmp_path, SENSORIUM_INTAKE__ALLOWED_ROOTS="~")
    r = subprocess.run([*SENSORIUM, "memory", "stores"], env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr

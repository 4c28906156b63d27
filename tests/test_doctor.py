"""`sensorium doctor` in a real subprocess: each problem once, statuses that match their details, exit 1 only on failure."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from server_support import subprocess_env

SENSORIUM = [sys.executable, "-m", "sensorium.server.cli"]


def _doctor(tmp_path: Path, backend: str = "hashing", **extra: str) -> tuple[int, dict[str, tuple[str, str]], str]:
    env = subprocess_env(tmp_path, backend=backend, COLUMNS="400", **extra)  # wide: one table line per row
    env.pop("DISPLAY", None)
    r = subprocess.run([*SENSORIUM, "doctor"], env=env, capture_output=True, text=True, timeout=300)
    rows: dict[str, tuple[str, str]] = {}
    for line in r.stdout.splitlines():
        cells = [c.strip() for c in line.strip().strip("│┃").split("│")]
        if len(cells) == 3 and cells[0] and cells[0] != "check":
            rows[cells[0]] = (cells[1], cells[2])
    return r.returncode, rows, r.stdout + r.stderr


def test_no_display_and_no_key_are_warnings_not_failures(tmp_path: Path) -> None:
    code, rows, out = _doctor(tmp_path)
    assert code == 0, out
    assert rows["gemini api key"][0] == "warn" and "not set" in rows["gemini api key"][1]
    assert rows["display"][0] == "warn" and "DISPLAY" in rows["display"][1]
    assert rows["backend (hashing)"][0] == "ok" and rows["data dir"][0] == "ok"
    assert out.count("DISPLAY is not set") == 1 and "DISPLAY" not in rows  # the display problem is listed once
    assert "with warnings: display, gemini api key" in out


def test_a_status_never_contradicts_its_detail(tmp_path: Path) -> None:
    _, rows, out = _doctor(tmp_path)
    for name, (status, detail) in rows.items():
        assert status in {"ok", "warn", "FAIL"}, (name, status)
        if status == "ok":
            assert "not set" not in detail and "cannot" not in detail, (name, detail)


def test_gemini_without_a_key_fails(tmp_path: Path) -> None:
    code, rows, out = _doctor(tmp_path, backend="gemini")
    assert code == 1, out
    assert rows["gemini api key"][0] == "FAIL" and "GEMINI_API_KEY" in rows["gemini api key"][1]
    assert "FAILED: gemini api key" in out


def test_unwritable_data_dir_fails(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    code, rows, out = _doctor(tmp_path, SENSORIUM_DATA_DIR=str(blocker / "data"))
    assert code == 1, out
    assert rows["data dir"][0] == "FAIL" and "SENSORIUM_DATA_DIR" in rows["data dir"][1]

"""The settings tables are generated from the code; these tests fail when docs and code drift apart."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from sensorium.server.settings import Settings
from sensorium.server.settings_doc import README_ROWS, expected_files, settings_rows

REPO = Path(__file__).resolve().parents[1]
TEST_ONLY = {"SENSORIUM_TEST_ALL", "SENSORIUM_UPDATE_SCREENSHOT"}  # read by the tests (conftest.py, test_memory_report.py), not settings of the server


def test_readme_and_settings_doc_match_the_code() -> None:
    for path, text in expected_files(REPO).items():
        assert path.read_text(encoding="utf-8") == text, (
            f"{path.relative_to(REPO)} is stale: run `python -m sensorium.server.settings_doc` from the repo root"
        )


def test_every_setting_is_described() -> None:
    missing = [r.name for r in settings_rows() if not r.description]
    assert missing == [], f"add description= to these fields: {missing}"


def test_names_are_the_ones_pydantic_settings_reads(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in list(os.environ):
        if key.startswith(("SENSORIUM_", "GEMINI_", "GOOGLE_API")):
            monkeypatch.delenv(key)
    monkeypatch.setenv("SENSORIUM_CAPTURE__MAX_SIDE", "1000")
    monkeypatch.setenv("SENSORIUM_MEMORY__EXCLUDED_TITLES", "Bank")
    monkeypatch.setenv("GOOGLE_API_KEY", "k")
    monkeypatch.setenv("SENSORIUM_LOG_LEVEL", "DEBUG")
    s = Settings()
    assert (s.capture.max_side, s.memory.excluded_titles, s.log_level) == (1000, ["Bank"], "DEBUG")
    assert s.gemini_api_key is not None and s.gemini_api_key.get_secret_value() == "k"
    names = {n for r in settings_rows() for n in r.names}
    assert {"SENSORIUM_CAPTURE__MAX_SIDE", "SENSORIUM_MEMORY__EXCLUDED_TITLES", "GOOGLE_API_KEY", "SENSORIUM_LOG_LEVEL"} <= names
    assert set(README_ROWS) <= names


def test_every_variable_the_code_and_docs_mention_exists() -> None:
    """Error messages tell people to set SENSORIUM_GEMINI__TIMEOUT_SECONDS etc.: each must be a real setting."""
    rows = settings_rows()
    names = {n for r in rows for n in r.names} | TEST_ONLY
    sections = {n.split("__")[0] for n in names if "__" in n}
    files = [p for d in ("server", "tools", "memory") for p in (REPO / d).rglob("*.py")]
    files += [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
    unknown: dict[str, str] = {}
    for path in files:
        for match in re.finditer(r"\bSENSORIUM_[A-Z0-9_]*[A-Z0-9](__)?", path.read_text(encoding="utf-8")):
            word = match.group(0)
            ok = word.removesuffix("__") in sections if word.endswith("__") else word in names
            if not ok:
                unknown[word] = str(path.relative_to(REPO))
    assert unknown == {}, f"names no setting answers to: {unknown}"

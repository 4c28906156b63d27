""".ci/run runs exactly the README's commands (apt packages, install, tests): a test keeps the two in step."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _words(command: str) -> list[str]:
    """A command without options, `sudo`, output redirection and comments: what it does, not how loudly."""
    command = command.split(" #")[0]
    return [w for w in shlex.split(command) if not w.startswith("-") and w != "sudo" and not w.startswith(">")]


def _readme_commands() -> list[list[str]]:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```bash\n(.*?)```", text, re.S)
    return [_words(line) for block in blocks for line in block.splitlines() if line.strip()]


def _ci_commands() -> list[tuple[str, list[str]]]:
    lines = (REPO / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    out = []
    for i, line in enumerate(lines):
        if "(keep in sync)" in line:
            j = i + 1
            while not lines[j].strip() or lines[j].lstrip().startswith("#"):
                j += 1
            out.append((line.strip(), _words(lines[j])))
    return out


def test_ci_runs_the_readme_commands() -> None:
    ci = _ci_commands()
    assert len(ci) == 4, ci  # apt packages, venv, install, tests
    readme = _readme_commands()
    for marker, words in ci:
        assert words in readme, f"{marker}: `{' '.join(words)}` is not a README command; README has {readme}"


def test_install_makes_a_venv_first() -> None:
    readme = _readme_commands()
    venv = readme.index(["python3", "venv", ".venv", "&&", ".", ".venv/bin/activate"])
    assert venv < readme.index(["pip", "install", ".[test,integrations]"]) < readme.index(["python", "pytest"])

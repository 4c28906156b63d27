"""The README's client snippets are valid and start the server, and every `sensorium X` it names exists.

A user pastes these into claude_desktop_config.json / .cursor/mcp.json or a shell: a stray comma, an
`args` list that no longer ends in `serve`, or a command renamed in the CLI would fail on their machine,
not in CI. (That uvx and pipx really build and answer tools/list is measured by bench/bench_launchers.py.)
"""

from __future__ import annotations

import argparse
import json
import re
import shlex
from pathlib import Path

from sensorium.server.cli import _parser

REPO = Path(__file__).resolve().parents[1]
DOCS = [REPO / "README.md", REPO / "docs" / "INTEGRATIONS.md"]


def _code(text: str) -> list[str]:
    """Fenced blocks and inline code spans (where commands are written)."""
    blocks = re.findall(r"```\w*\n(.*?)```", text, re.S)
    rest = re.sub(r"```\w*\n.*?```", "", text, flags=re.S)
    return blocks + re.findall(r"`([^`\n]+)`", rest)


def _subcommands() -> set[str]:
    [sub] = [a for a in _parser()._actions if isinstance(a, argparse._SubParsersAction)]
    return set(sub.choices)


def _sensorium_args(argv: list[str]) -> list[str]:
    """What `sensorium` is run with, for a command line in one of the README's forms (uvx, pipx, a path)."""
    cmd, args = argv[0], argv[1:]
    if cmd == "uvx":
        assert args[0] == "--from" and args[2] == "sensorium", argv
        return args[3:]
    if cmd == "pipx":
        assert args[:2] == ["run", "--spec"] and args[3] == "sensorium", argv
        return args[4:]
    assert Path(cmd).name == "sensorium", argv
    return args


def _server_argv(argv: list[str]) -> None:
    """A command line that starts Sensorium's stdio server."""
    assert _sensorium_args(argv) == ["serve"], argv


def test_json_snippets_parse_and_start_the_server() -> None:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```json\n(.*?)```", text, re.S)
    assert len(blocks) >= 2, "Claude Desktop and Cursor snippets"
    commands = set()
    for block in blocks:
        server = json.loads(block)["mcpServers"]["sensorium"]
        assert set(server) <= {"command", "args", "env"}, server
        assert all(isinstance(v, str) for v in server.get("env", {}).values())
        _server_argv([server["command"], *server["args"]])
        commands.add(server["command"])
    assert {"uvx", "pipx"} <= commands


def test_shell_forms_start_the_server() -> None:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    lines = [line.split(" #")[0].strip() for block in _code(text) for line in block.splitlines()]
    launchers = [shlex.split(line) for line in lines if line.startswith(("uvx ", "pipx ")) and " sensorium " in f"{line} " and "..." not in line]
    assert {a[0] for a in launchers} == {"uvx", "pipx"}, launchers
    for argv in launchers:
        assert _sensorium_args(argv)[0] in _subcommands(), argv
    added = [shlex.split(line.split(" -- ", 1)[1]) for line in lines if line.startswith("claude mcp add") and " -- " in line]
    assert added, "a Claude Code command"
    for argv in added:
        if argv[0] == "uvx" or argv[0] == "pipx" or Path(argv[0]).name == "sensorium":
            _server_argv(argv)


def test_every_named_command_exists() -> None:
    known = _subcommands()
    for doc in DOCS:
        for code in _code(doc.read_text(encoding="utf-8")):
            for word in re.findall(r"(?<![\w/.-])sensorium ([a-z]+)", code):
                assert word in known, f"{doc.name} names `sensorium {word}`; the CLI has {sorted(known)}"

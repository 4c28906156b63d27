"""The direction of the code, checked on its text: callers use the protocols, lower layers know nothing of MCP."""

from __future__ import annotations

import re
from pathlib import Path

import sensorium.server as server_pkg
import sensorium.tools as tools_pkg

CONCRETE = re.compile(r"\b(LocalBackend|GeminiBackend|HashingBackend|LocalClipBackend|LocalMemoryStore)\b")
TOOLS = Path(tools_pkg.__file__).parent
SERVER = Path(server_pkg.__file__).parent


def test_only_backend_and_store_modules_name_a_concrete_backend_or_store() -> None:
    """Callers get a backend from `open_backend` and a store from `open_store`, and use the protocols."""
    callers = [*SERVER.glob("*.py"), *(p for p in TOOLS.rglob("*.py") if "backends" not in p.parts and p.name != "cache.py")]
    named = {p.name: CONCRETE.findall(p.read_text()) for p in callers}
    assert not {k: v for k, v in named.items() if v}


def test_intake_names_no_mcp_tool() -> None:
    """Which tool takes which modality is the server's business: it passes its own map to intake."""
    assert not re.search(r"\b(embed|rank)_[a-z]+\b", (TOOLS / "intake.py").read_text())

"""sha256 of a file, read in blocks: every model file (MiniLM, Whisper, icon reader, pulled image-text
models) is checked against a pinned hash before its first use."""

from __future__ import annotations

import hashlib
from pathlib import Path


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()

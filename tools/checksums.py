"""sha256 of a file, read in blocks: every model file (MiniLM, Whisper, icon reader, OCR detector,
pulled image-text models) is checked against a pinned hash before its first use."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path

from .errors import BackendUnavailable


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def verified_files(root: Path, names: Sequence[str], what: str, fix: str) -> dict[str, Path]:
    """`names` in `root`, each checked against root/manifest.json (`{"files": {name: {"sha256": ...}}}`).

    WHY one place: packaged data (icon reader, UI lexicon, int8 OCR detector) must never be used
    half-written or swapped; each failure says which file, what was expected and `fix`, as a
    BackendUnavailable the tools turn into an actionable error."""
    manifest_path = root / "manifest.json"
    try:
        manifest = json.loads(manifest_path.read_text())
        expected = {name: str(manifest["files"][name]["sha256"]) for name in names}
    except FileNotFoundError:
        raise BackendUnavailable(f"{what}: {manifest_path} is missing; {fix}") from None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise BackendUnavailable(f"{what}: {manifest_path} is unreadable ({exc}); {fix}") from exc
    paths: dict[str, Path] = {}
    for name, sha in expected.items():
        path = root / name
        if not path.is_file():
            raise BackendUnavailable(f"{what}: {path} is missing (expected sha256 {sha}); {fix}")
        actual = sha256_file(path)
        if actual != sha:
            raise BackendUnavailable(f"{what}: {path} is corrupt (sha256 {actual}, expected {sha}); {fix}")
        paths[name] = path
    return paths

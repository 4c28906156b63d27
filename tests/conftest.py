"""Shared fixtures: a real X display (Xvfb) and a way to put a known image on it.

System packages the display fixtures need (Debian): `xvfb` (the X server) and Tk for the
Python that runs the tests (`python3-tk` for Debian's python3; pyenv/python.org builds need
`tk8.6`/`libtk8.6` at run time). `xdotool` and `x11-utils` are handy for debugging, not required.

`xvfb_display` skips only when Xvfb is not installed AND the CI env var is unset; in CI a
missing Xvfb (or Tk) fails, so a broken CI image can never turn display tests into green skips.

Which tests run (one command everywhere, `python -m pytest -q`; the environment decides):
- `@pytest.mark.slow` tests are skipped unless `CI` is set or `SENSORIUM_TEST_ALL=1`, so a
  developer's default run stays short while CI runs everything.
- `@pytest.mark.evalsets` tests read the evaluation sets (SENSORIUM_EVAL_DIR, else ../shared/eval).
  They skip when the sets are absent, so a fresh clone runs; when `CI` is set or
  SENSORIUM_EVAL_DIR is given explicitly, missing sets stop the run instead.
- espeak-ng (generated speech) is treated like Xvfb: skip without it, fail in CI.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from display_support import SCREEN_SIZE, start_xvfb
from PIL import Image
from server_support import eval_dir

# A separate process shows the image, so Tk (main-thread only, one interpreter per process)
# never shares the test process. It exits when its stdin closes.
_SHOW_IMAGE = r"""
import sys, tkinter as tk
path, x, y = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
root = tk.Tk()
root.overrideredirect(True)   # no window-manager decorations: the image's pixels land exactly at (x, y)
photo = tk.PhotoImage(file=path)
root.geometry(f"{photo.width()}x{photo.height()}+{x}+{y}")
tk.Label(root, image=photo, borderwidth=0, highlightthickness=0, padx=0, pady=0).pack()
root.update()
sys.stdout.write("ready\n")
sys.stdout.flush()
root.createfilehandler(sys.stdin, tk.READABLE, lambda *a: root.destroy())
root.mainloop()
"""


def _in_ci() -> bool:
    return bool(os.environ.get("CI"))


def _run_all() -> bool:
    return _in_ci() or os.environ.get("SENSORIUM_TEST_ALL") == "1"


def pytest_configure(config: pytest.Config) -> None:
    """In CI (or with SENSORIUM_EVAL_DIR set by hand) the evaluation sets must be there: fail, never skip."""
    folder = eval_dir()
    if (_in_ci() or os.environ.get("SENSORIUM_EVAL_DIR")) and not folder.is_dir():
        raise pytest.UsageError(
            f"evaluation sets not found at {folder} (CI is set or SENSORIUM_EVAL_DIR was given): "
            "point SENSORIUM_EVAL_DIR at the folder holding ui_grounding/, icons/, ... or unset it to skip those tests"
        )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    folder = eval_dir()
    no_sets = None if folder.is_dir() else pytest.mark.skip(
        reason=f"needs the evaluation sets, not found at {folder} (set SENSORIUM_EVAL_DIR or put them at ../shared/eval)"
    )
    slow = None if _run_all() else pytest.mark.skip(reason="slow: runs in CI, or here with SENSORIUM_TEST_ALL=1")
    for item in items:
        if no_sets and "evalsets" in item.keywords:
            item.add_marker(no_sets)
        if slow and "slow" in item.keywords:
            item.add_marker(slow)


@pytest.fixture(scope="session")
def espeak() -> str:
    """Path of espeak-ng, which speaks test sentences (Debian: espeak-ng); skip without it, fail in CI."""
    import shutil

    path = shutil.which("espeak-ng")
    if path is None:
        if _in_ci():
            pytest.fail("espeak-ng is not installed but CI is set: install the Debian package `espeak-ng`")
        pytest.skip("espeak-ng is not installed (apt-get install espeak-ng); generated-speech tests need it")
    return path


@pytest.fixture(scope="session")
def say(espeak: str, tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], bytes]:
    """`say("open the settings menu")` -> WAV bytes of that sentence spoken by espeak-ng (memoised)."""
    from media_support import espeak_wav

    memo: dict[str, bytes] = {}

    def speak(text: str) -> bytes:
        if text not in memo:
            memo[text] = espeak_wav(text, espeak)
        return memo[text]

    return speak


@pytest.fixture(scope="session")
def xvfb_display() -> Iterator[str]:
    """A private Xvfb (1920x1080x24) for the session; DISPLAY points at it while it runs."""
    try:
        started = start_xvfb(SCREEN_SIZE)
    except RuntimeError as exc:
        pytest.fail(str(exc))
    if started is None:
        if _in_ci():
            pytest.fail("Xvfb is not installed but CI is set: install the Debian package `xvfb`")
        pytest.skip("Xvfb is not installed (apt-get install xvfb); display tests need it")
    proc, display = started
    old = os.environ.get("DISPLAY")
    os.environ["DISPLAY"] = display
    try:
        yield display
    finally:
        if old is None:
            os.environ.pop("DISPLAY", None)
        else:
            os.environ["DISPLAY"] = old
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


ShowImage = Callable[..., None]


@pytest.fixture
def show_image(xvfb_display: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ShowImage]:
    """`show_image(img, left=0, top=0)`: put a PIL image on the display, pixel-exact, until the test ends.

    Returns once the image's pixels are really on screen (checked with a capture), so a test
    never races the window mapping. Several images may be shown; later ones are on top.
    """
    try:
        import tkinter  # noqa: F401
    except ImportError:
        if _in_ci():
            pytest.fail("tkinter is missing but CI is set: install Tk for this Python (Debian: python3-tk)")
        pytest.skip("tkinter is not available in this Python (Debian: apt-get install python3-tk)")
    procs: list[subprocess.Popen[bytes]] = []
    folder = tmp_path_factory.mktemp("show")

    def show(image: Image.Image, left: int = 0, top: int = 0) -> None:
        path = Path(tempfile.mkstemp(suffix=".png", dir=folder)[1])
        image.convert("RGB").save(path)
        proc = subprocess.Popen(
            [sys.executable, "-c", _SHOW_IMAGE, str(path), str(left), str(top)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env={**os.environ, "DISPLAY": xvfb_display},
        )
        procs.append(proc)
        line = proc.stdout.readline() if proc.stdout else b""
        if line.strip() != b"ready":
            proc.kill()
            err = proc.communicate(timeout=10)[1].decode(errors="replace")
            raise RuntimeError(f"could not show the image with Tk: {err.strip()[-800:]}")
        _wait_until_shown(image.convert("RGB"), left, top)

    yield show
    for proc in procs:
        if proc.stdin:
            proc.stdin.close()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _wait_until_shown(image: Image.Image, left: int, top: int, timeout: float = 15.0) -> None:
    """Poll the screen until the image's corners and centre show its pixels (mapping is asynchronous)."""
    import mss

    w, h = image.size
    points = [(0, 0), (w - 1, 0), (0, h - 1), (w - 1, h - 1), (w // 2, h // 2)]
    deadline = time.monotonic() + timeout
    with mss.MSS() as sct:
        while True:
            shot = sct.grab({"left": left, "top": top, "width": w, "height": h})
            got = Image.frombytes("RGB", shot.size, shot.bgra, "raw", "BGRX")
            if all(got.getpixel(p) == image.getpixel(p) for p in points):
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"the image did not appear on screen at +{left}+{top} within {timeout} s")
            time.sleep(0.05)


@pytest.fixture(autouse=True)
def _no_vertex_variables_from_the_developer(monkeypatch: pytest.MonkeyPatch) -> None:
    """Google's Vertex AI variables on a developer's machine would turn backend=auto into Vertex AI;
    tests that want them set them."""
    for name in ("GOOGLE_GENAI_USE_VERTEXAI", "GOOGLE_CLOUD_PROJECT", "GOOGLE_CLOUD_LOCATION", "GOOGLE_APPLICATION_CREDENTIALS"):
        monkeypatch.delenv(name, raising=False)


# ---- a real Milvus server, one per test session (tests/milvus_support.py) ---------------------

@pytest.fixture(scope="session")
def milvus_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    """A standalone Milvus server (the `milvus` PyPI package) on free ports, started once per session
    (~20 s), with shorter time ticks and load checks (milvus_support.TEST_SERVER_OVERRIDES). Skips when
    the package is not installed; in CI (which installs it with the test extra) fails."""
    from milvus_support import TEST_SERVER_OVERRIDES, MilvusProcess, milvus_installed

    if not milvus_installed():
        if _in_ci():
            pytest.fail("the `milvus` and `pymilvus` packages are missing but CI is set: pip install '.[test]'")
        pytest.skip("the Milvus server package is not installed (pip install '.[test]'); Milvus tests need it")
    server = MilvusProcess(tmp_path_factory.mktemp("milvus"), TEST_SERVER_OVERRIDES)  # shorter ticks: see there
    try:
        server.start()
    except (RuntimeError, TimeoutError) as exc:
        server.stop()
        pytest.fail(f"the Milvus test server did not start: {exc}")
    try:
        yield server
    finally:
        server.stop(grace=0)  # its data dir is thrown away: no graceful shutdown to wait for


@pytest.fixture(params=["local", pytest.param("milvus", marks=pytest.mark.slow)])
def memory_engine(request: pytest.FixtureRequest) -> str:
    """Run a test against both memory engines; the Milvus one needs the session's server. The Milvus
    variants are `slow` (CI runs them): each opens a fresh collection (create + index + load, ~2 s) and
    Strong reads wait for the server's time tick (50 ms on the test server); the suite takes minutes there."""
    if request.param == "milvus":
        request.getfixturevalue("milvus_server")
    return request.param


@pytest.fixture
def memory_settings(memory_engine: str, request: pytest.FixtureRequest) -> Callable[..., object]:
    """MemorySettings for `memory_engine` (a fresh collection prefix per test on Milvus), with overrides."""
    import uuid

    from sensorium.memory.config import MemorySettings

    prefix = f"t{uuid.uuid4().hex[:10]}_"

    def make(**overrides: object) -> MemorySettings:
        if memory_engine == "milvus":
            server = request.getfixturevalue("milvus_server")
            overrides = {"milvus_uri": server.uri, "milvus_collection_prefix": prefix, **overrides}  # type: ignore[attr-defined]
        return MemorySettings(engine=memory_engine, **overrides)  # type: ignore[arg-type]

    return make

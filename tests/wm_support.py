"""A private X display with a real window manager (openbox), shared by the tests that need real title
bars and an active window: watch mode (test_watch.py) and window controls (test_window_controls.py).
Not the session display of conftest.py: a window manager there would move the pixel-exact test images."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import pytest
from display_support import start_xvfb


@dataclass
class Desktop:
    display: str
    env: dict[str, str]
    others: list[str | None] = field(default_factory=list)
    """DISPLAY values another fixture set meanwhile (the session's Xvfb), restored at the end."""

    def point_here(self) -> None:
        """Point DISPLAY back at this display if another fixture pointed it elsewhere."""
        if os.environ.get("DISPLAY") != self.display:
            self.others.append(os.environ.get("DISPLAY"))
            os.environ["DISPLAY"] = self.display


@contextmanager
def openbox_desktop(size: tuple[int, int] = (1280, 800)) -> Iterator[Desktop]:
    """Xvfb with openbox; DISPLAY points at it meanwhile. Skips when openbox, xdotool or Xvfb is missing
    (fails under CI, which installs them)."""
    for tool in ("openbox", "xdotool"):
        if shutil.which(tool) is None:
            if os.environ.get("CI"):
                pytest.fail(f"{tool} is not installed but CI is set: install the Debian package `{tool}`")
            pytest.skip(f"{tool} is not installed (apt-get install {tool}); tests of real windows need it")
    started = start_xvfb(size)
    if started is None:
        pytest.skip("Xvfb is not installed")
    xvfb, display = started
    old = os.environ.get("DISPLAY")
    os.environ["DISPLAY"] = display
    desktop = Desktop(display, {**os.environ, "DISPLAY": display})
    wm = subprocess.Popen(["openbox", "--sm-disable"], env=desktop.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        yield desktop
    finally:
        wm.kill()
        wm.wait(timeout=10)
        xvfb.kill()
        xvfb.wait(timeout=10)
        old = desktop.others[-1] if desktop.others else old
        if old is None:
            os.environ.pop("DISPLAY", None)
        else:
            os.environ["DISPLAY"] = old

"""Start a private Xvfb: shared by the test fixtures (conftest.py) and bench/bench_local.py."""

from __future__ import annotations

import os
import shutil
import subprocess

SCREEN_SIZE = (1920, 1080)


def start_xvfb(size: tuple[int, int] = SCREEN_SIZE) -> tuple[subprocess.Popen[bytes], str] | None:
    """(process, ":N"), or None when Xvfb is not installed; RuntimeError with Xvfb's words when it fails.

    -displayfd: Xvfb picks a free display number itself and writes it once it accepts
    connections, so there is neither a race on the number nor a sleep-and-hope. -noreset: by
    default an X server resets when its last client disconnects, and a capture that connects
    during that reset fails with "connection lost".
    """
    xvfb = shutil.which("Xvfb")
    if xvfb is None:
        return None
    read_fd, write_fd = os.pipe()
    proc = subprocess.Popen(
        [xvfb, "-displayfd", str(write_fd), "-noreset", "-screen", "0", f"{size[0]}x{size[1]}x24", "-nolisten", "tcp"],
        pass_fds=(write_fd,),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    os.close(write_fd)
    number = b""
    with os.fdopen(read_fd, "rb", buffering=0) as pipe:
        while not number.endswith(b"\n"):
            chunk = pipe.read(16)
            if not chunk:
                break
            number += chunk
    if not number.strip().isdigit():
        proc.kill()
        err = proc.communicate(timeout=10)[1].decode(errors="replace")
        raise RuntimeError(f"Xvfb did not start: {err.strip()[-800:]}")
    return proc, f":{number.decode().strip()}"

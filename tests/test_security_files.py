"""Issue 18 #4 and #12: file intake opens once and judges the descriptor; refusals never name a link's target.

#4: the name was checked, then opened again: a symlink to an outside file swapped in between was read
(12 of 400 calls in the outside probe) and a FIFO swapped in hung the call for good. Here a thread swaps
names as fast as it can while intake reads; the outside bytes must never come back, and no call may hang.
"""

from __future__ import annotations

import io
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from PIL import Image
from sensorium.tools.config import IntakeSettings
from sensorium.tools.errors import Forbidden, SensoriumError
from sensorium.tools.intake import media_from_path

CALLS = 400


def png_bytes(size: tuple[int, int]) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, (200, 20, 20)).save(buf, "PNG")
    return buf.getvalue()


@pytest.fixture
def layout(tmp_path: Path) -> tuple[Path, Path, IntakeSettings]:
    root = tmp_path / "root"
    outside = tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    return root, outside, IntakeSettings(allowed_roots=[root])


@contextmanager
def swapping(swap: Callable[[int], None]) -> Iterator[None]:
    """Run `swap(i)` in a loop on a thread until the block ends."""
    stop = threading.Event()

    def run() -> None:
        i = 0
        while not stop.is_set():
            swap(i)
            i += 1

    t = threading.Thread(target=run, daemon=True)
    t.start()
    try:
        yield
    finally:
        stop.set()
        t.join(30)


def _calls(path: Path, settings: IntakeSettings, secret: bytes, calls: int = CALLS) -> tuple[int, int]:
    """(calls that read the inside file, calls refused); fails on the first outside read."""
    ok = refused = 0
    for _ in range(calls):
        try:
            media = media_from_path(str(path), settings)
        except SensoriumError:
            refused += 1
            continue
        assert media.data != secret, "read a file outside the allowed folders"
        ok += 1
    return ok, refused


def test_a_symlink_swapped_in_during_intake_is_never_followed(layout) -> None:  # type: ignore[no-untyped-def]
    root, outside, settings = layout
    inside, secret = png_bytes((8, 8)), png_bytes((9, 9))
    (outside / "secret.png").write_bytes(secret)
    target = root / "shot.png"
    real_file, link = root / ".real", root / ".link"

    def swap(i: int) -> None:  # atomic renames: the name is always either a file or a symlink
        if i % 2:
            link.unlink(missing_ok=True)
            link.symlink_to(outside / "secret.png")
            os.replace(link, target)
        else:
            real_file.write_bytes(inside)
            os.replace(real_file, target)

    swap(0)
    with swapping(swap):
        ok, refused = _calls(target, settings, secret)
    assert ok + refused == CALLS and ok > 0


def test_a_parent_folder_swapped_for_a_link_is_never_followed(layout) -> None:  # type: ignore[no-untyped-def]
    """The folder on the *checked* (resolved) path becomes a link to the outside between check and open."""
    root, outside, settings = layout
    inside, secret = png_bytes((8, 8)), png_bytes((9, 9))
    (outside / "shot.png").write_bytes(secret)
    folder, parked, link = root / "folder", root / ".parked", root / ".link"
    folder.mkdir()
    (folder / "shot.png").write_bytes(inside)
    link.symlink_to(outside)

    def swap(i: int) -> None:  # folder <-> link, by two renames each way
        if i % 2 == 0:
            os.rename(folder, parked)
            os.rename(link, folder)
        else:
            os.rename(folder, link)
            os.rename(parked, folder)

    with swapping(swap):
        ok, refused = _calls(folder / "shot.png", settings, secret, CALLS * 3)
    assert ok + refused == CALLS * 3


def test_a_fifo_swapped_in_never_hangs_the_call(layout) -> None:  # type: ignore[no-untyped-def]
    root, _, settings = layout
    inside = png_bytes((8, 8))
    target, real_file, fifo = root / "shot.png", root / ".real", root / ".fifo"

    def swap(i: int) -> None:
        if i % 2:
            fifo.unlink(missing_ok=True)
            os.mkfifo(fifo)
            os.replace(fifo, target)
        else:
            real_file.write_bytes(inside)
            os.replace(real_file, target)

    swap(0)
    done: list[tuple[int, int]] = []
    with swapping(swap):
        worker = threading.Thread(target=lambda: done.append(_calls(target, settings, b"", CALLS * 5)), daemon=True)
        worker.start()
        worker.join(300)  # a hang guard: 400 calls take a second or two
    assert not worker.is_alive(), "an intake call blocked on a FIFO"
    ok, refused = done[0]
    assert ok + refused == CALLS * 5


def test_a_refusal_never_names_where_a_link_points(layout) -> None:  # type: ignore[no-untyped-def]
    root, _, settings = layout
    link = root / "notes.png"
    link.symlink_to(f"/proc/{os.getpid()}/environ")
    with pytest.raises(Forbidden) as err:
        media_from_path(str(link), settings)
    msg = str(err.value)
    assert "outside the allowed folders" in msg and str(link) in msg
    assert "/proc" not in msg and str(os.getpid()) not in msg and "resolves" not in msg


def test_a_file_just_over_the_limit_says_by_how_much(layout) -> None:  # type: ignore[no-untyped-def]
    root, _, _ = layout
    f = root / "big.png"
    head = png_bytes((8, 8))
    f.write_bytes(head + b"\0" * (50_000 - len(head)))  # 50.0 KB, one byte over a limit that also rounds to 50.0 KB
    with pytest.raises(SensoriumError) as err:
        media_from_path(str(f), IntakeSettings(allowed_roots=[root], max_file_bytes=49_999))
    assert "50,000 bytes" in str(err.value) and "49,999 bytes" in str(err.value)

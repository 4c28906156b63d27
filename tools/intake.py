"""A tool's input -> checked `Media`: from a file path, from base64 (or a data: URL), or from a capture.

Intake is the one gate every outside byte passes, so that limits, allowed roots and MIME
sniffing are enforced in one place with one wording, and the backends can assume their input
is what it says it is. Every failure names what was measured, the limit, and the way out.

The order a tool should use: `media_from_path`/`media_from_base64` (roots, byte size, MIME
sniffing: all cheap), then `require_modality` (a wrong tool is the more useful message), then
`check_limits` (decodes headers or streams to measure pixels, seconds, pages: the costly part).
All functions are blocking (file reads, decoding to measure); the server runs them off the loop.
"""

from __future__ import annotations

import base64
import binascii
import errno
import io
import os
import re
import stat
import warnings
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, BinaryIO

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

from PIL import Image, UnidentifiedImageError

from .capture import CaptureStore
from .config import IntakeSettings
from .errors import Forbidden, InvalidInput, LimitExceeded, NotFound, UnsupportedMedia, echo
from .limits import check_image_size
from .media import Media, Modality

_DATA_URL = re.compile(r"^data:(?P<mime>[^;,]*)(?P<params>(?:;[^;,]*)*),(?P<payload>.*)$", re.DOTALL | re.IGNORECASE)
_B64_CHARS = re.compile(r"^[A-Za-z0-9+/\-_]*={0,2}$")


def human_bytes(n: float) -> str:
    for unit in ("bytes", "KB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{int(n)} bytes" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1000
    raise AssertionError("unreachable")


# -- paths ----------------------------------------------------------------------------------


def _roots(settings: IntakeSettings) -> list[Path]:
    return [Path(os.path.expanduser(r)).resolve() for r in settings.allowed_roots]


def _inside(real: Path, roots: list[Path]) -> bool:
    return any(real == root or real.is_relative_to(root) for root in roots)


def _outside(raw: str, roots: list[Path]) -> Forbidden:
    """The one refusal for a path outside the roots. It never says where a symlink points: the target
    (say /proc/<pid>/environ) is none of the caller's business, and naming it lets a caller map the disk."""
    shown = ", ".join(str(r) for r in roots) or "(none configured)"
    return Forbidden(
        f"{raw} is outside the allowed folders (allowed: {shown}). Move or copy the file into one of "
        "them, or add its folder to SENSORIUM_INTAKE__ALLOWED_ROOTS"
    )


def resolve_allowed(path: str | os.PathLike[str], settings: IntakeSettings) -> Path:
    """The real path (symlinks resolved) if it lies inside an allowed root, else Forbidden.

    The check runs on the resolved path so a symlink inside a root that points outside it is
    refused, and it runs before the existence check so probing outside the roots learns nothing.
    This is a check on a *name*: `media_from_path` checks the opened file again (a name can be
    swapped between check and open).
    """
    raw = os.fspath(path)
    if not raw.strip():
        raise InvalidInput("the file path is empty: pass an absolute path to a file")
    if "\x00" in raw:
        raise InvalidInput("the file path contains a NUL character")
    candidate = Path(os.path.expanduser(raw))
    if not candidate.is_absolute():
        raise InvalidInput(
            f"the file path {echo(raw, 200)} is relative: pass an absolute path (the server's working directory "
            "is not the caller's)"
        )
    try:
        real = candidate.resolve(strict=False)
    except RuntimeError as exc:  # symlink loops (Python 3.11 raises RuntimeError)
        raise InvalidInput(f"cannot resolve {echo(raw, 200)}: a loop of symbolic links") from exc
    except OSError as exc:
        raise InvalidInput(f"cannot resolve {echo(raw, 200)}: {exc.strerror or 'error'}") from exc
    roots = _roots(settings)
    if not _inside(real, roots):
        raise _outside(raw, roots)
    return real


_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
"""O_NOFOLLOW: a last component swapped for a symlink after the check fails to open (ELOOP) instead of
being followed. O_NONBLOCK: a FIFO swapped in opens at once (and is refused by fstat) instead of
blocking the call for ever waiting for a writer. It has no effect on reads of regular files."""


def _descriptor_path(fd: int) -> Path | None:
    """Where the opened file really is (Linux /proc, macOS F_GETPATH); None where neither exists."""
    try:
        return Path(os.readlink(f"/proc/self/fd/{fd}"))
    except OSError:
        pass
    f_getpath = getattr(fcntl, "F_GETPATH", None) if fcntl is not None else None
    if f_getpath is not None:  # pragma: no cover - macOS
        try:
            raw = fcntl.fcntl(fd, f_getpath, b"\0" * 1024)
            return Path(os.fsdecode(raw.rstrip(b"\0")))
        except OSError:
            return None
    return None  # pragma: no cover


def _open_verified(real: Path, raw: str, settings: IntakeSettings) -> tuple[int, os.stat_result]:
    """Open once, then judge the *descriptor*: its type (fstat) and its real path (the roots again).

    Everything after this reads from the descriptor, so a swap of the name after the check (a
    symlink to an outside file, a FIFO, a parent folder replaced by a link) can never make us read
    anything but what was checked here. Hard links cannot be caught by any path check: a hard link
    inside a root to an outside file *is* a file inside the root (docs/SECURITY.md).
    """
    try:
        fd = os.open(real, _OPEN_FLAGS)
    except FileNotFoundError:
        raise NotFound(f"no such file: {raw}; check the path (it must be absolute)") from None
    except PermissionError as exc:
        raise Forbidden(f"cannot read {raw}: permission denied; make it readable by the user running Sensorium") from exc
    except OSError as exc:
        if exc.errno == errno.ELOOP:  # the checked name became a symlink between check and open
            raise _outside(raw, _roots(settings)) from None
        if exc.errno == errno.ENXIO:  # a FIFO/socket with no peer (O_NONBLOCK on a write-only open)
            raise InvalidInput(f"{raw} is not a regular file (a pipe, socket or device): pass a normal file") from None
        raise InvalidInput(f"cannot read {raw}: {exc.strerror or exc}") from exc
    try:
        st = os.fstat(fd)
        if stat.S_ISDIR(st.st_mode):
            raise InvalidInput(f"{raw} is a directory: pass the path of one file inside it")
        if not stat.S_ISREG(st.st_mode):
            raise InvalidInput(f"{raw} is not a regular file (a pipe, socket or device): pass a normal file")
        where = _descriptor_path(fd)
        roots = _roots(settings)
        if where is not None and not _inside(where, roots):
            raise _outside(raw, roots)
        if where is None:  # pragma: no cover - no /proc and no F_GETPATH: compare with the checked name
            try:
                again = os.stat(real, follow_symlinks=False)
            except OSError:
                raise _outside(raw, roots) from None
            if (again.st_dev, again.st_ino) != (st.st_dev, st.st_ino):
                raise _outside(raw, roots)
        return fd, st
    except BaseException:
        os.close(fd)
        raise


def open_allowed(path: str | os.PathLike[str], settings: IntakeSettings) -> tuple[BinaryIO, Path]:
    """A file inside the allowed roots, opened once and judged by its descriptor (`_open_verified`),
    as a binary file object for callers that stream it (long media) instead of reading it whole."""
    raw = os.fspath(path)
    real = resolve_allowed(path, settings)
    fd, st = _open_verified(real, raw, settings)
    if st.st_size == 0:
        os.close(fd)
        raise UnsupportedMedia(f"{raw} is empty (0 bytes)")
    os.set_blocking(fd, True)
    return os.fdopen(fd, "rb"), real


def _read_fd(fd: int, limit: int) -> bytes:
    """Up to `limit` bytes from the descriptor (one more tells that the file grew past it)."""
    chunks: list[bytes] = []
    got = 0
    while got < limit:
        chunk = os.read(fd, min(1 << 20, limit - got))
        if not chunk:
            break
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


def media_from_path(path: str | os.PathLike[str], settings: IntakeSettings) -> Media:
    """Read a file inside the allowed roots into Media (MIME sniffed from the bytes), size-checked.

    Opened once (`_open_verified`) and read from that descriptor. Content limits (pixels,
    duration, pages) are left to `check_limits`, see the module docstring.
    """
    raw = os.fspath(path)
    real = resolve_allowed(path, settings)
    fd, st = _open_verified(real, raw, settings)
    try:
        if st.st_size > settings.max_file_bytes:
            size, limit = human_bytes(st.st_size), human_bytes(settings.max_file_bytes)
            if size == limit:  # "50.0 MB, the limit is 50.0 MB" told nobody anything
                size, limit = f"{st.st_size:,} bytes", f"{settings.max_file_bytes:,} bytes"
            raise LimitExceeded(f"{raw} is {size}, the limit is {limit}: pass a smaller file (crop, compress or trim it)")
        if st.st_size == 0:
            raise UnsupportedMedia(f"{raw} is empty (0 bytes)")
        try:
            data = _read_fd(fd, settings.max_file_bytes + 1)
        except OSError as exc:
            raise InvalidInput(f"cannot read {raw}: {exc.strerror or exc}") from exc
    finally:
        os.close(fd)
    if len(data) > settings.max_file_bytes:  # grew between fstat and read
        raise LimitExceeded(f"{raw} is over the limit of {human_bytes(settings.max_file_bytes)}: pass a smaller file")
    if not data:
        raise UnsupportedMedia(f"{raw} is empty (0 bytes)")
    source = {"kind": "file", "path": str(real), "name": real.name, "bytes": len(data)}
    try:
        media = Media.from_bytes(data, source=source)
    except UnsupportedMedia as exc:
        raise UnsupportedMedia(f"{raw}: {exc}") from exc
    return media


# -- base64 ---------------------------------------------------------------------------------


def decode_base64(data: str, settings: IntakeSettings) -> tuple[bytes, dict[str, Any]]:
    """Bytes of plain base64 (standard or URL-safe, padding optional) or of a `data:...;base64,` URL."""
    if not isinstance(data, str) or not data.strip():
        raise InvalidInput("the base64 data is empty: send the media's bytes base64-encoded")
    text = data.strip()
    info: dict[str, Any] = {"kind": "base64"}
    if text[:5].lower() == "data:":
        m = _DATA_URL.match(text)
        if m is None:
            raise InvalidInput("malformed data: URL: expected data:<mime>;base64,<data>")
        params = [p.strip().lower() for p in m.group("params").split(";") if p.strip()]
        if "base64" not in params:
            raise InvalidInput(
                "the data: URL is not base64-encoded (no ';base64'): send data:<mime>;base64,<data> or plain base64"
            )
        info = {"kind": "data_url", "declared_mime": m.group("mime") or None}
        text = m.group("payload")
    compact = re.sub(r"\s+", "", text)
    if not compact:
        raise InvalidInput("the base64 data is empty: send the media's bytes base64-encoded")
    estimated = len(compact) * 3 // 4
    if estimated > settings.max_file_bytes:
        raise LimitExceeded(
            f"the base64 data decodes to about {human_bytes(estimated)}, the limit is "
            f"{human_bytes(settings.max_file_bytes)}: send a smaller file (crop, compress or trim it)"
        )
    if not _B64_CHARS.match(compact):
        bad = next((c for c in compact.rstrip("=") if not (c.isalnum() and c.isascii()) and c not in "+/-_"), "=")
        raise InvalidInput(
            f"the data is not valid base64 (unexpected character {bad!r}); send the bytes base64-encoded "
            "(RFC 4648), optionally as a data:<mime>;base64,<data> URL"
        )
    if "-" in compact or "_" in compact:
        compact = compact.replace("-", "+").replace("_", "/")
    compact += "=" * (-len(compact) % 4)
    try:
        raw = base64.b64decode(compact, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InvalidInput(
            f"the data is not valid base64 ({exc}); send the bytes base64-encoded (RFC 4648), "
            "optionally as a data:<mime>;base64,<data> URL"
        ) from exc
    if not raw:
        raise InvalidInput("the base64 data decodes to nothing (0 bytes)")
    info["bytes"] = len(raw)
    return raw, info


def media_from_base64(data: str, settings: IntakeSettings) -> Media:
    """Base64 or a data: URL -> size-checked Media; the MIME comes from the bytes, not from the URL."""
    raw, source = decode_base64(data, settings)
    try:
        media = Media.from_bytes(raw, source=source)
    except UnsupportedMedia as exc:
        raise UnsupportedMedia(f"the base64 decodes to {human_bytes(len(raw))} but {exc}") from exc
    return media


# -- captures -------------------------------------------------------------------------------


def media_from_capture(capture_id: str, store: CaptureStore) -> Media:
    """The encoded image of an earlier capture, with its geometry as source metadata.

    Not limit-checked: Sensorium made these bytes itself, within the capture settings.
    """
    capture = store.get(capture_id)
    info = capture.info()
    source = {"kind": "capture", "capture_id": info.pop("id"), **info}
    return Media.from_bytes(capture.data, source=source)


# -- limits ---------------------------------------------------------------------------------


def check_limits(media: Media, settings: IntakeSettings) -> None:
    """Size, decodability, pixels, duration and pages, each against its named setting."""
    size = len(media.data)
    if size > settings.max_file_bytes:
        raise LimitExceeded(
            f"{media.mime_type} is {human_bytes(size)}, the limit is {human_bytes(settings.max_file_bytes)}: "
            "pass a smaller file"
        )
    if media.modality is Modality.IMAGE:
        _check_image(media, settings)
    elif media.modality in (Modality.AUDIO, Modality.VIDEO):
        _check_duration(media, settings)
    elif media.modality is Modality.PDF:
        from .pdf import check_pdf_pages  # pypdfium2 loads on first use: start-up stays fast (bench_startup)

        pages = check_pdf_pages(media.data, settings.max_pdf_pages)
        if pages > settings.max_pdf_pages:
            raise LimitExceeded(
                f"the PDF has {pages} pages, the limit is {settings.max_pdf_pages}: split it or pass only "
                "the pages you need"
            )


def _check_image(media: Media, settings: IntakeSettings) -> None:
    size = len(media.data)
    if size > settings.max_image_bytes:
        raise LimitExceeded(
            f"image is {human_bytes(size)}, the limit is {human_bytes(settings.max_image_bytes)}: "
            "pass a region, a smaller image or a JPEG"
        )
    try:
        with warnings.catch_warnings():
            # Pillow warns (and past 2x its own limit raises) on huge images; our own limit,
            # checked from the header before any pixel is decoded, is the one that applies.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(media.data)) as img:  # reads the header only
                width, height = img.size
                check_image_size(width, height, settings)
                if img.format == "PNG":
                    # every chunk and its CRC, to the end, without inflating the pixels: a truncated or
                    # damaged file is refused here as before, and the one decode is where the pixels
                    # are used (which refuses a stream that still does not inflate: "does not decode").
                    # WHY: the full decode here and again at the use cost two decodes per call
                    # (30-60 ms for a 1080p screenshot, most of the difference on a one-change rank)
                    img.verify()
                else:
                    img.load()
    except Image.DecompressionBombError as exc:
        dims = re.search(r"\((\d+) pixels\)", str(exc))
        measured = _pixels(int(dims.group(1))) if dims else "too many pixels"
        raise LimitExceeded(
            f"image has {measured}, the limit is {_pixels(settings.max_image_pixels)}: "
            "downscale it or pass a region"
        ) from exc
    except LimitExceeded:
        raise
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise UnsupportedMedia(
            f"the {media.mime_type} image does not decode ({exc}); it may be truncated or corrupt: "
            "send the file again or re-save it as PNG/JPEG"
        ) from exc


def _pixels(n: int) -> str:
    return f"{n / 1e6:.1f} megapixels" if n >= 1_000_000 else f"{n:,} pixels"


def _check_duration(media: Media, settings: IntakeSettings) -> None:
    from .avmedia import probe_media  # PyAV loads on first use: start-up stays fast (bench_startup)
    from .limits import check_streams

    info = probe_media(media.data)
    seconds = info.duration_s
    kind = "audio" if media.modality is Modality.AUDIO else "video"
    limit = settings.max_audio_seconds if kind == "audio" else settings.max_video_seconds
    if seconds is None:
        raise UnsupportedMedia(
            f"cannot tell how long this {media.mime_type} {kind} is (no duration in its headers and no decodable "
            "frames): it may be truncated or corrupt; re-encode it (e.g. to WAV/MP3 or MP4)"
        )
    if seconds > limit:
        raise LimitExceeded(
            f"{kind} is {seconds:.1f} s, the limit is {limit:g} s: trim it or pass a shorter clip"
        )
    check_streams(info, settings)


# -- which tool -----------------------------------------------------------------------------


def require_modality(
    media: Media, allowed: Iterable[Modality], label: str, *, elsewhere: Mapping[Modality, str] | None = None
) -> None:
    """Refuse media this caller does not take. `label` names the caller in the message (intake knows no
    tool names); `elsewhere` maps a modality to what takes it instead (the server passes its tool names)."""
    allowed_set = set(allowed)
    if media.modality in allowed_set:
        return
    right = (elsewhere or {}).get(media.modality)
    takes = ", ".join(sorted(m.value for m in allowed_set))
    way_out = f"use {right}" if right and right != label else f"{label} takes {takes}"
    raise UnsupportedMedia(f"{label} got {media.mime_type}: {way_out}")

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
import io
import os
import re
import stat
import warnings
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

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


def resolve_allowed(path: str | os.PathLike[str], settings: IntakeSettings) -> Path:
    """The real path (symlinks resolved) if it lies inside an allowed root, else Forbidden.

    The check runs on the resolved path so a symlink inside a root that points outside it is
    refused, and it runs before the existence check so probing outside the roots learns nothing.
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
    except (OSError, RuntimeError) as exc:  # symlink loops
        raise InvalidInput(f"cannot resolve {echo(raw, 200)}: {exc}") from exc
    roots = _roots(settings)
    if not any(real == root or real.is_relative_to(root) for root in roots):
        shown = ", ".join(str(r) for r in roots) or "(none configured)"
        via = f" (it resolves to {real})" if str(real) != os.path.normpath(str(candidate)) else ""
        raise Forbidden(
            f"{raw} is outside the allowed folders{via}; allowed: {shown}. Move or copy the file into one of "
            "them, or add its folder to SENSORIUM_INTAKE__ALLOWED_ROOTS"
        )
    return real


def media_from_path(path: str | os.PathLike[str], settings: IntakeSettings) -> Media:
    """Read a file inside the allowed roots into Media (MIME sniffed from the bytes), size-checked.

    Content limits (pixels, duration, pages) are left to `check_limits`, see the module docstring.
    """
    real = resolve_allowed(path, settings)
    try:
        st = real.stat()
    except FileNotFoundError:
        raise NotFound(f"no such file: {os.fspath(path)}; check the path (it must be absolute)") from None
    except PermissionError as exc:
        raise Forbidden(f"cannot read {os.fspath(path)}: permission denied ({exc.strerror})") from exc
    except OSError as exc:
        raise InvalidInput(f"cannot read {os.fspath(path)}: {exc.strerror or exc}") from exc
    if stat.S_ISDIR(st.st_mode):
        raise InvalidInput(f"{os.fspath(path)} is a directory: pass the path of one file inside it")
    if not stat.S_ISREG(st.st_mode):
        raise InvalidInput(f"{os.fspath(path)} is not a regular file (a pipe, socket or device): pass a normal file")
    if st.st_size > settings.max_file_bytes:
        raise LimitExceeded(
            f"{os.fspath(path)} is {human_bytes(st.st_size)}, the limit is {human_bytes(settings.max_file_bytes)}: "
            "pass a smaller file (crop, compress or trim it)"
        )
    if st.st_size == 0:
        raise UnsupportedMedia(f"{os.fspath(path)} is empty (0 bytes)")
    try:
        with open(real, "rb") as fh:
            data = fh.read(settings.max_file_bytes + 1)
    except PermissionError as exc:
        raise Forbidden(
            f"cannot read {os.fspath(path)}: permission denied; make it readable by the user running Sensorium"
        ) from exc
    except OSError as exc:
        raise InvalidInput(f"cannot read {os.fspath(path)}: {exc.strerror or exc}") from exc
    if len(data) > settings.max_file_bytes:  # grew between stat and read
        raise LimitExceeded(
            f"{os.fspath(path)} is over the limit of {human_bytes(settings.max_file_bytes)}: pass a smaller file"
        )
    source = {"kind": "file", "path": str(real), "name": real.name, "bytes": len(data)}
    try:
        media = Media.from_bytes(data, source=source)
    except UnsupportedMedia as exc:
        raise UnsupportedMedia(f"{os.fspath(path)}: {exc}") from exc
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

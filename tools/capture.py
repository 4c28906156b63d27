"""Screen capture with mss: monitors, a monitor or region grab, downscale + encode, and the scale back.

A capture is only useful to an agent if boxes found in the (downscaled) image can be mapped back
to real screen pixels to click on, so every `Capture` carries its screen origin and scale and
knows how to convert boxes both ways. Capture is blocking (X round trips, resampling, encoding):
everything here is synchronous, and the server calls it through `anyio.to_thread.run_sync`.
Each call opens its own `mss.MSS` connection (a few milliseconds), so calls from different
threads share no X state and need no lock.
"""

from __future__ import annotations

import io
import logging
import math
import os
import secrets
import threading
from collections import OrderedDict
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import mss
from mss.exception import ScreenShotError
from PIL import Image
from pydantic import BaseModel, ConfigDict, Field

from .config import CaptureSettings
from .errors import CaptureUnavailable, InvalidInput, NotFound, echo
from .jpeg import base64_size, fit_jpeg
from .regions import Box

log = logging.getLogger(__name__)

"""(x1, y1, x2, y2), right/bottom exclusive, as in PIL's crop boxes and extras["ocr"] boxes."""

_MIME = {"jpeg": "image/jpeg", "png": "image/png"}

#: PNG zlib level, measured on a 1568x882 text screenshot: level 1 387 KB / 33 ms, level 3 360 KB /
#: 37 ms, level 6 (Pillow's default) 491 KB / 60 ms. Level 3 is both smaller and faster than 6 here.
_PNG_COMPRESS_LEVEL = 3


class Monitor(BaseModel):
    """One capturable area; index 0 is the union of every screen (the virtual screen)."""

    index: int
    left: int
    top: int
    width: int
    height: int
    is_primary: bool | None = Field(None, description="None when the platform cannot tell")
    is_virtual: bool = Field(False, description="True only for index 0, the bounding box of all screens")
    name: str | None = None

    def describe(self) -> str:
        return f"monitor {self.index} ({self.width}x{self.height}+{self.left}+{self.top})"


class Region(BaseModel):
    """Screen pixels of a monitor, or a capture's image pixels."""

    left: int = Field(ge=0)
    top: int = Field(ge=0)
    width: int = Field(gt=0)
    height: int = Field(gt=0)

    def geometry(self) -> str:
        """X11 geometry form (WxH+L+T), short and familiar in error messages."""
        return f"{self.width}x{self.height}+{self.left}+{self.top}"


class Capture(BaseModel):
    """A downscaled, encoded screen image plus the arithmetic to map its pixels back to the screen.

    `left`/`top` are the screen coordinates (virtual-screen pixels, as mss and X use them) of
    the captured area's top-left corner; `screen_width`/`screen_height` its size before
    downscaling; `scale` = screen pixels per image pixel (1.0 when nothing was downscaled).
    """

    model_config = ConfigDict(arbitrary_types_allowed=True, frozen=True)

    id: str
    image: Image.Image = Field(repr=False, exclude=True)
    data: bytes = Field(repr=False, exclude=True)
    mime_type: str
    width: int
    height: int
    left: int
    top: int
    screen_width: int
    screen_height: int
    scale: float
    monitor: int
    region: Region | None = None
    timestamp: datetime

    @property
    def scale_x(self) -> float:
        return self.screen_width / self.width

    @property
    def scale_y(self) -> float:
        return self.screen_height / self.height

    def to_screen(self, box: Sequence[float]) -> Box:
        """An image-pixel box -> the smallest screen-pixel box that covers it (absolute screen coordinates)."""
        x1, y1, x2, y2 = _check_box(box)
        return (
            self.left + math.floor(x1 * self.scale_x + 1e-9),
            self.top + math.floor(y1 * self.scale_y + 1e-9),
            self.left + math.ceil(x2 * self.scale_x - 1e-9),
            self.top + math.ceil(y2 * self.scale_y - 1e-9),
        )

    def to_image(self, box: Sequence[float]) -> Box:
        """An absolute screen-pixel box -> the image-pixel box covering it, clipped to the image.

        Raises InvalidInput when the box lies wholly outside this capture, since a caller
        mapping such a box has confused captures or monitors.
        """
        x1, y1, x2, y2 = _check_box(box)
        ix1 = math.floor((x1 - self.left) / self.scale_x + 1e-9)
        iy1 = math.floor((y1 - self.top) / self.scale_y + 1e-9)
        ix2 = math.ceil((x2 - self.left) / self.scale_x - 1e-9)
        iy2 = math.ceil((y2 - self.top) / self.scale_y - 1e-9)
        cx1, cy1 = max(0, ix1), max(0, iy1)
        cx2, cy2 = min(self.width, ix2), min(self.height, iy2)
        if cx1 >= cx2 or cy1 >= cy2:
            raise InvalidInput(
                f"screen box {list(box)} lies outside capture {self.id} "
                f"(screen area {self.screen_width}x{self.screen_height}+{self.left}+{self.top})"
            )
        return (cx1, cy1, cx2, cy2)

    def to_screen_point(self, x: float, y: float) -> tuple[int, int]:
        """The screen pixel under image point (x, y): where to click for something seen at (x, y)."""
        return (self.left + int(x * self.scale_x), self.top + int(y * self.scale_y))

    def info(self) -> dict[str, Any]:
        """JSON-safe metadata (no pixels), for tool results and Media.source."""
        return self.model_dump(mode="json")


def _check_box(box: Sequence[float]) -> tuple[float, float, float, float]:
    if len(box) != 4:
        raise InvalidInput(f"a box is [x1, y1, x2, y2], got {list(box)}")
    x1, y1, x2, y2 = (float(v) for v in box)
    if x2 <= x1 or y2 <= y1:
        raise InvalidInput(f"box {list(box)} is empty: x2 must be > x1 and y2 > y1")
    return x1, y1, x2, y2


# -- display access ------------------------------------------------------------------------


def _unavailable(exc: BaseException | None) -> CaptureUnavailable:
    """Explain which piece is missing for a capture and how to provide it."""
    display = os.environ.get("DISPLAY")
    wayland = os.environ.get("WAYLAND_DISPLAY")
    detail = f" ({exc})" if exc is not None else ""
    if not display and wayland:
        msg = (
            f"cannot capture the screen: this is a Wayland session (WAYLAND_DISPLAY={wayland}) without an X "
            "display, and capture needs X11; run Sensorium under XWayland (set DISPLAY, e.g. DISPLAY=:0) "
            "or in an X11 session"
        )
    elif not display:
        msg = (
            "cannot capture the screen: no display (DISPLAY is not set; a headless machine?); "
            "set DISPLAY to a running X server, or start a virtual one, e.g. "
            "`Xvfb :99 -screen 0 1920x1080x24 & export DISPLAY=:99`"
        )
    else:
        msg = (
            f"cannot capture the screen: could not connect to the X display DISPLAY={display}{detail}; "
            "check that the X server is running and this user may connect to it (xhost/XAUTHORITY), "
            "or start a virtual one with Xvfb and point DISPLAY at it"
        )
    return CaptureUnavailable(msg)


def _open() -> mss.MSS:
    try:
        return mss.MSS()
    except (ScreenShotError, OSError) as exc:
        raise _unavailable(exc) from exc


def _monitors(sct: mss.MSS) -> list[Monitor]:
    try:
        raw = sct.monitors
    except (ScreenShotError, OSError) as exc:
        raise _unavailable(exc) from exc
    out: list[Monitor] = []
    for i, m in enumerate(raw):
        out.append(
            Monitor(
                index=i,
                left=int(m["left"]),
                top=int(m["top"]),
                width=int(m["width"]),
                height=int(m["height"]),
                is_primary=m.get("is_primary") if i > 0 else None,
                is_virtual=i == 0,
                name=m.get("name") or m.get("output"),
            )
        )
    if len(out) < 2:
        raise CaptureUnavailable(
            "the X display reports no monitor to capture; check the X server's screen configuration (xrandr)"
        )
    return out


def list_monitors() -> list[Monitor]:
    """Every capturable area: index 0 = all screens together, 1.. = each monitor."""
    with _open() as sct:
        return _monitors(sct)


def _pick(monitors: list[Monitor], index: int) -> Monitor:
    if 0 <= index < len(monitors):
        return monitors[index]
    valid = "; ".join(
        f"{m.index} = {'all screens' if m.is_virtual else 'monitor'} {m.width}x{m.height}+{m.left}+{m.top}"
        for m in monitors
    )
    raise NotFound(f"there is no monitor {index}; valid monitors: {valid} (call list_monitors)")


def _check_region(mon: Monitor, region: Region) -> None:
    problems = []
    if region.left + region.width > mon.width:
        problems.append(f"its right edge x={region.left + region.width} is past the width {mon.width}")
    if region.top + region.height > mon.height:
        problems.append(f"its bottom edge y={region.top + region.height} is past the height {mon.height}")
    if problems:
        raise InvalidInput(
            f"region {region.geometry()} extends past monitor {mon.index} ({mon.width}x{mon.height}): "
            f"{' and '.join(problems)}; regions are relative to the monitor's top-left corner, so keep "
            f"left+width <= {mon.width} and top+height <= {mon.height}"
        )


# -- downscale and encode -------------------------------------------------------------------


def fit_size(width: int, height: int, max_side: int) -> tuple[int, int]:
    """The size with the same aspect whose longer side is at most max_side (never upscaled)."""
    longest = max(width, height)
    if longest <= max_side:
        return width, height
    ratio = max_side / longest
    return max(1, round(width * ratio)), max(1, round(height * ratio))


def downscale(image: Image.Image, max_side: int) -> Image.Image:
    """Shrink so the longer side is at most max_side, with LANCZOS and `reducing_gap=2.0`.

    Why LANCZOS: screenshots are mostly text, and what reads the result (OCR, an embedding model,
    a multimodal LLM) needs glyph edges. Measured on a 1920x1080 text screen -> 1568x882, 2-core
    machine: LANCZOS 43 ms, BICUBIC 32 ms, HAMMING 17 ms, BILINEAR 17 ms, `reduce(2)` 2 ms (only for
    integer factors). Down-then-up round-trip PSNR: LANCZOS 20.6 dB, BICUBIC 20.4, HAMMING 20.1,
    BILINEAR 19.8, BOX 19.2. The 25 ms LANCZOS costs over BILINEAR is small next to an embedding
    call (hundreds of ms), so sharpness wins. (Timings from a shared, noisy machine; under load
    all of them were ~2.5x higher, the ratios held.) `reducing_gap=2.0` lets Pillow `reduce()` by
    an integer factor first when shrinking 4x or more (e.g. 8K -> 1568), where a pure LANCZOS pass
    gets expensive; Pillow documents that gap as close to a fair resample. It does nothing for the
    common 1.2x-3.3x cases (1080p to 5K).
    """
    size = fit_size(image.width, image.height, max_side)
    if size == image.size:
        return image
    return image.resize(size, Image.Resampling.LANCZOS, reducing_gap=2.0)


def encode(image: Image.Image, image_format: str, jpeg_quality: int = 85) -> tuple[bytes, str]:
    """Encode as JPEG (small, what previews and most embedders want) or PNG (lossless)."""
    buf = io.BytesIO()
    if image_format == "jpeg":
        image.convert("RGB").save(buf, "JPEG", quality=jpeg_quality)
    elif image_format == "png":
        image.save(buf, "PNG", compress_level=_PNG_COMPRESS_LEVEL)
    else:
        raise InvalidInput(f"image format {image_format!r} is not supported: use 'jpeg' or 'png'")
    return buf.getvalue(), _MIME[image_format]


# -- grab -----------------------------------------------------------------------------------


def grab(monitor: int = 1, region: Region | None = None, settings: CaptureSettings | None = None) -> Capture:
    """Capture a monitor (0 = all screens) or a region of it, downscaled and encoded per settings.

    Raises NotFound for an unknown monitor, InvalidInput for a region off the monitor, and
    CaptureUnavailable when there is no X display to capture from.
    """
    settings = settings or CaptureSettings()
    with _open() as sct:
        monitors = _monitors(sct)
        mon = _pick(monitors, monitor)
        if region is not None:
            _check_region(mon, region)
            area = {
                "left": mon.left + region.left,
                "top": mon.top + region.top,
                "width": region.width,
                "height": region.height,
            }
        else:
            area = {"left": mon.left, "top": mon.top, "width": mon.width, "height": mon.height}
        try:
            shot = sct.grab(area)
        except (ScreenShotError, OSError) as exc:
            raise CaptureUnavailable(
                f"the X server refused to capture {area['width']}x{area['height']}+{area['left']}+{area['top']} "
                f"on {mon.describe()} ({exc}); the screen layout may have changed: call list_monitors and retry"
            ) from exc
    full = Image.frombytes("RGB", shot.size, shot.bgra, "raw", "BGRX")
    return from_image(full, settings, left=area["left"], top=area["top"], monitor=mon.index, region=region)


def from_image(
    full: Image.Image,
    settings: CaptureSettings | None = None,
    *,
    left: int = 0,
    top: int = 0,
    monitor: int = 1,
    region: Region | None = None,
) -> Capture:
    """Downscale + encode a full-resolution screen image whose top-left is at screen (left, top).

    Split from `grab` so the geometry and encoding can be used (and tested) without a display.
    """
    settings = settings or CaptureSettings()
    if full.mode != "RGB":
        full = full.convert("RGB")
    image = downscale(full, settings.max_side)
    data, mime = encode(image, settings.image_format, settings.jpeg_quality)
    return Capture(
        id=new_capture_id(),
        image=image,
        data=data,
        mime_type=mime,
        width=image.width,
        height=image.height,
        left=left,
        top=top,
        screen_width=full.width,
        screen_height=full.height,
        scale=full.width / image.width,
        monitor=monitor,
        region=region,
        timestamp=datetime.now(UTC),
    )


def new_capture_id() -> str:
    return "cap_" + secrets.token_hex(6)


# -- store ----------------------------------------------------------------------------------


class CaptureStore:
    """The last `cache_size` captures by id, so later calls (embed, rank, crop) can refer to one.

    In memory only: a capture is cheap to take again, and losing one on restart costs nothing.
    Thread-safe, because the server takes captures on worker threads.
    """

    def __init__(self, cache_size: int = 32) -> None:
        if cache_size < 1:
            raise ValueError("cache_size must be at least 1")
        self._cache_size = cache_size
        self._items: OrderedDict[str, Capture] = OrderedDict()
        self._lock = threading.Lock()

    @property
    def cache_size(self) -> int:
        return self._cache_size

    def put(self, capture: Capture) -> str:
        with self._lock:
            self._items[capture.id] = capture
            self._items.move_to_end(capture.id)
            while len(self._items) > self._cache_size:
                evicted, _ = self._items.popitem(last=False)
                log.debug("capture %s evicted from the cache", evicted)
        return capture.id

    def get(self, capture_id: str) -> Capture:
        with self._lock:
            capture = self._items.get(capture_id)
            if capture is not None:
                self._items.move_to_end(capture_id)
                return capture
        raise NotFound(
            f"capture {echo(capture_id)} is not available: only the last {self._cache_size} captures are kept, "
            "in memory, until the server restarts; call capture_screen again and use the new capture id"
        )

    def __contains__(self, capture_id: object) -> bool:
        with self._lock:
            return capture_id in self._items

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)

    def ids(self) -> list[str]:
        """Oldest first."""
        with self._lock:
            return list(self._items)


# -- preview --------------------------------------------------------------------------------


def preview(capture: Capture, max_bytes: int) -> tuple[bytes, str]:
    """An encoded image of the capture whose base64 text fits `max_bytes`, for an MCP ImageContent.

    The capture's own encoding when it fits, else `fit_jpeg` (quality, then size), so legibility
    degrades gradually instead of the result failing outright.
    """
    if max_bytes < 1024:
        raise InvalidInput(f"a preview budget of {max_bytes} bytes is too small: allow at least 1024")
    if base64_size(len(capture.data)) <= max_bytes:
        return capture.data, capture.mime_type
    try:
        return fit_jpeg(capture.image, max_bytes, qualities=(80, 65, 50, 35), min_side=64), "image/jpeg"
    except ValueError as exc:
        raise InvalidInput(f"cannot fit a preview into {max_bytes} bytes") from exc

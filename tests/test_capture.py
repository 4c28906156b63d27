"""Screen capture against a real X server (Xvfb) showing known pixels, plus the pure geometry.

The display tests put a known image on the screen with Tk (see conftest.show_image), capture
it through tools.capture, and compare pixels; the no-display tests point DISPLAY at nothing.
"""

from __future__ import annotations

import base64
import io
import os
import threading
from pathlib import Path

import numpy as np
import pytest
from concurrency_support import run_in_threads
from PIL import Image, ImageDraw
from sensorium.tools import capture as cap
from sensorium.tools.capture import Capture, CaptureStore, Region
from sensorium.tools.config import CaptureSettings
from sensorium.tools.errors import CaptureUnavailable, InvalidInput, NotFound

W, H = 1920, 1080
RED, GREEN, BLUE, YELLOW = (220, 30, 30), (30, 200, 60), (40, 60, 230), (250, 220, 20)
MARKER = (12, 34, 56)


def quadrants() -> Image.Image:
    """Four coloured quadrants with a dark 40x40 marker square at (1000, 600)-(1040, 640)."""
    img = Image.new("RGB", (W, H), RED)
    d = ImageDraw.Draw(img)
    d.rectangle([960, 0, W - 1, 539], fill=GREEN)
    d.rectangle([0, 540, 959, H - 1], fill=BLUE)
    d.rectangle([960, 540, W - 1, H - 1], fill=YELLOW)
    d.rectangle([1000, 600, 1039, 639], fill=MARKER)
    return img


def noise(size: tuple[int, int], seed: int = 0) -> Image.Image:
    arr = np.random.default_rng(seed).integers(0, 256, size=(size[1], size[0], 3), dtype=np.uint8)
    return Image.fromarray(arr, "RGB")


def png(max_side: int = 4096) -> CaptureSettings:
    return CaptureSettings(max_side=max_side, image_format="png")


def marker_box(image: Image.Image) -> tuple[int, int, int, int]:
    """Bounding box (x2/y2 exclusive) of the pixels close to MARKER's colour."""
    arr = np.asarray(image.convert("RGB")).astype(int)
    near = (np.abs(arr - np.array(MARKER)).sum(axis=2) < 60)
    ys, xs = np.nonzero(near)
    assert xs.size, "marker not found in the capture"
    return int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1


# -- real display ---------------------------------------------------------------------------

@pytest.mark.xvfb
def test_list_monitors_reports_the_xvfb_screen(xvfb_display: str) -> None:
    monitors = cap.list_monitors()
    assert [m.index for m in monitors] == [0, 1]
    virtual, first = monitors
    assert virtual.is_virtual and not first.is_virtual
    assert (virtual.left, virtual.top, virtual.width, virtual.height) == (0, 0, W, H)
    assert (first.left, first.top, first.width, first.height) == (0, 0, W, H)


@pytest.mark.xvfb
def test_full_monitor_capture_is_pixel_exact(show_image, xvfb_display: str) -> None:
    pattern = quadrants()
    show_image(pattern)
    c = cap.grab(1, settings=png(max_side=W))
    assert (c.width, c.height, c.scale, c.left, c.top, c.monitor) == (W, H, 1.0, 0, 0, 1)
    assert c.mime_type == "image/png"
    decoded = Image.open(io.BytesIO(c.data))
    assert decoded.size == (W, H)
    assert np.array_equal(np.asarray(decoded.convert("RGB")), np.asarray(pattern))
    assert np.array_equal(np.asarray(c.image), np.asarray(pattern))


@pytest.mark.xvfb
def test_monitor_zero_captures_the_whole_virtual_screen(show_image, xvfb_display: str) -> None:
    show_image(quadrants())
    c = cap.grab(0, settings=png(max_side=W))
    assert c.monitor == 0 and (c.width, c.height) == (W, H)
    assert c.image.getpixel((10, 10)) == RED and c.image.getpixel((W - 10, H - 10)) == YELLOW


@pytest.mark.xvfb
def test_downscaled_capture_maps_boxes_back_to_screen(show_image, xvfb_display: str) -> None:
    show_image(quadrants())
    c = cap.grab(1, settings=CaptureSettings(max_side=960, image_format="jpeg", jpeg_quality=95))
    assert (c.width, c.height) == (960, 540)
    assert c.scale == 2.0 and (c.screen_width, c.screen_height) == (W, H)
    assert c.mime_type == "image/jpeg" and c.data[:3] == b"\xff\xd8\xff"
    # quadrant colours at their (halved) centres, within JPEG error
    for (x, y), colour in {(240, 135): RED, (720, 135): GREEN, (240, 405): BLUE, (720, 405): YELLOW}.items():
        got = c.image.getpixel((x, y))
        assert max(abs(a - b) for a, b in zip(got, colour, strict=True)) <= 12, (x, y, got, colour)
    # the marker seen in the small image maps back onto its true screen box
    box = marker_box(c.image)
    assert box == pytest.approx((500, 300, 520, 320), abs=1)
    assert c.to_screen(box) == pytest.approx((1000, 600, 1040, 640), abs=2)
    assert c.to_screen((10, 20, 30, 40)) == (20, 40, 60, 80)
    assert c.to_image((1000, 600, 1040, 640)) == (500, 300, 520, 320)
    assert c.to_screen_point(500, 300) == (1000, 600)


@pytest.mark.xvfb
def test_default_max_side_scale_is_non_integer_and_still_maps_back(show_image, xvfb_display: str) -> None:
    show_image(quadrants())
    c = cap.grab(1, settings=CaptureSettings())  # 1568 by default
    assert (c.width, c.height) == (1568, 882)
    assert c.scale == pytest.approx(W / 1568)
    screen_box = c.to_screen(marker_box(c.image))
    assert screen_box == pytest.approx((1000, 600, 1040, 640), abs=3)


@pytest.mark.xvfb
def test_region_capture_is_relative_to_the_monitor_and_exact(show_image, xvfb_display: str) -> None:
    pattern = quadrants()
    show_image(pattern)
    region = Region(left=900, top=500, width=200, height=160)
    c = cap.grab(1, region=region, settings=png())
    assert (c.left, c.top, c.width, c.height, c.scale) == (900, 500, 200, 160, 1.0)
    assert c.region == region
    expected = pattern.crop((900, 500, 1100, 660))
    assert np.array_equal(np.asarray(c.image), np.asarray(expected))
    # straddles the four quadrants and contains the marker at (100, 100) relative
    assert c.image.getpixel((10, 10)) == RED and c.image.getpixel((150, 10)) == GREEN
    assert c.image.getpixel((10, 150)) == BLUE and c.image.getpixel((190, 150)) == YELLOW
    assert marker_box(c.image) == (100, 100, 140, 140)
    assert c.to_screen((100, 100, 140, 140)) == (1000, 600, 1040, 640)


@pytest.mark.xvfb
def test_image_shown_at_an_offset_is_found_there(show_image, xvfb_display: str) -> None:
    show_image(Image.new("RGB", (W, H), (0, 0, 0)))
    tile = noise((64, 48), seed=3)
    show_image(tile, left=1500, top=700)
    c = cap.grab(1, region=Region(left=1500, top=700, width=64, height=48), settings=png())
    assert np.array_equal(np.asarray(c.image), np.asarray(tile))


@pytest.mark.xvfb
def test_grabs_from_several_threads_at_once(show_image, xvfb_display: str) -> None:
    """The server grabs on worker threads (anyio.to_thread): concurrent grabs must not share X state."""
    show_image(quadrants())
    def work() -> list[Capture]:
        return [cap.grab(1, region=Region(left=940, top=520, width=40, height=40), settings=png()) for _ in range(3)]

    batches, errors = run_in_threads(work, 4)
    results = [c for batch in batches for c in batch]
    assert not errors and len(results) == 12
    expected = np.asarray(quadrants().crop((940, 520, 980, 560)))
    assert all(np.array_equal(np.asarray(r.image), expected) for r in results)
    assert len({r.id for r in results}) == 12


@pytest.mark.xvfb
def test_region_past_the_right_edge_is_refused_with_the_geometry(xvfb_display: str) -> None:
    with pytest.raises(InvalidInput) as e:
        cap.grab(1, region=Region(left=200, top=0, width=1800, height=50))
    msg = str(e.value)
    assert msg.startswith("region 1800x50+200+0 extends past monitor 1 (1920x1080):")
    assert "x=2000" in msg and "left+width <= 1920" in msg


@pytest.mark.xvfb
def test_region_past_the_bottom_edge_is_refused(xvfb_display: str) -> None:
    with pytest.raises(InvalidInput, match=r"region 10x100\+0\+1000 extends past monitor 1 .*y=1100"):
        cap.grab(1, region=Region(left=0, top=1000, width=10, height=100))


@pytest.mark.xvfb
def test_unknown_monitor_lists_the_valid_ones(xvfb_display: str) -> None:
    with pytest.raises(NotFound) as e:
        cap.grab(3)
    msg = str(e.value)
    assert "no monitor 3" in msg
    assert "0 = all screens 1920x1080+0+0" in msg and "1 = monitor 1920x1080+0+0" in msg
    with pytest.raises(NotFound):
        cap.grab(-1)


def test_region_fields_are_validated() -> None:
    with pytest.raises(ValueError):
        Region(left=-1, top=0, width=10, height=10)
    with pytest.raises(ValueError):
        Region(left=0, top=0, width=0, height=10)


# -- no display -----------------------------------------------------------------------------


def _unused_display() -> str:
    n = 950
    while Path(f"/tmp/.X11-unix/X{n}").exists() or Path(f"/tmp/.X{n}-lock").exists():
        n += 1
    return f":{n}"


def test_display_that_does_not_exist_is_capture_unavailable(monkeypatch: pytest.MonkeyPatch) -> None:
    display = _unused_display()
    monkeypatch.setenv("DISPLAY", display)
    with pytest.raises(CaptureUnavailable) as e:
        cap.grab(1)
    assert f"DISPLAY={display}" in str(e.value) and "Xvfb" in str(e.value)
    with pytest.raises(CaptureUnavailable):
        cap.list_monitors()


def test_unset_display_says_to_set_it_or_start_xvfb(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    with pytest.raises(CaptureUnavailable, match=r"DISPLAY is not set.*Xvfb :99"):
        cap.grab(1)


def test_wayland_without_x_says_to_use_xwayland(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.setenv("WAYLAND_DISPLAY", "wayland-0")
    with pytest.raises(CaptureUnavailable, match=r"Wayland session .*XWayland"):
        cap.list_monitors()


# -- geometry without a display -------------------------------------------------------------


def test_fit_size_never_upscales_and_keeps_aspect() -> None:
    assert cap.fit_size(1920, 1080, 1568) == (1568, 882)
    assert cap.fit_size(1080, 1920, 960) == (540, 960)
    assert cap.fit_size(800, 600, 1568) == (800, 600)
    assert cap.fit_size(5000, 3, 100) == (100, 1)


def test_from_image_scale_and_origin_arithmetic() -> None:
    c = cap.from_image(quadrants(), CaptureSettings(max_side=640), left=1920, top=0, monitor=2)
    assert (c.width, c.height, c.scale) == (640, 360, 3.0)
    assert c.to_screen((100, 50, 110, 60)) == (1920 + 300, 150, 1920 + 330, 180)
    assert c.to_image((1920 + 300, 150, 1920 + 330, 180)) == (100, 50, 110, 60)
    # a screen box partly outside is clipped to the image; wholly outside is an error
    assert c.to_image((1900, 0, 1930, 30)) == (0, 0, 4, 10)
    with pytest.raises(InvalidInput, match="lies outside capture"):
        c.to_image((0, 0, 100, 100))
    with pytest.raises(InvalidInput, match="is empty"):
        c.to_screen((10, 10, 10, 20))
    with pytest.raises(InvalidInput):
        c.to_screen((1, 2, 3))


def test_capture_info_is_json_safe_and_has_no_pixels() -> None:
    c = cap.from_image(quadrants(), CaptureSettings(max_side=480))
    info = c.info()
    assert "image" not in info and "data" not in info
    assert info["scale"] == 4.0 and info["mime_type"] == "image/jpeg" and info["id"].startswith("cap_")


# -- store ----------------------------------------------------------------------------------


def _small_capture() -> Capture:
    return cap.from_image(Image.new("RGB", (8, 8), RED))


def test_store_is_a_bounded_lru() -> None:
    store = CaptureStore(cache_size=3)
    a, b, c, d = (_small_capture() for _ in range(4))
    for x in (a, b, c):
        store.put(x)
    assert store.get(a.id) is a  # touch a: b becomes the oldest
    store.put(d)
    assert b.id not in store and len(store) == 3
    assert store.ids() == [c.id, a.id, d.id]
    with pytest.raises(NotFound, match=r"only the last 3 captures are kept.*capture_screen again"):
        store.get(b.id)


def test_store_survives_concurrent_writers_and_readers() -> None:
    store = CaptureStore(cache_size=16)
    captures = [_small_capture() for _ in range(200)]
    errors: list[BaseException] = []

    def work(chunk: list[Capture]) -> None:
        try:
            for x in chunk:
                store.put(x)
                store.ids()
                if x.id in store:
                    try:
                        store.get(x.id)
                    except NotFound:
                        pass  # evicted by another thread in between: allowed
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(captures[i::4],)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(store) == 16 and len(set(store.ids())) == 16


# -- preview --------------------------------------------------------------------------------


def test_preview_returns_the_capture_itself_when_it_fits() -> None:
    c = cap.from_image(quadrants(), CaptureSettings(max_side=800))
    data, mime = cap.preview(c, 900_000)
    assert data == c.data and mime == "image/jpeg"


def test_preview_shrinks_until_the_base64_fits_the_budget() -> None:
    c = cap.from_image(noise((1568, 882)), CaptureSettings(max_side=1568, image_format="png"))
    assert len(c.data) > 1_000_000  # noise does not compress
    for budget in (900_000, 200_000, 30_000):
        data, mime = cap.preview(c, budget)
        assert mime == "image/jpeg"
        assert len(base64.b64encode(data)) <= budget
        img = Image.open(io.BytesIO(data))
        img.load()
        assert img.width / img.height == pytest.approx(1568 / 882, rel=0.02)


def test_encode_png_and_jpeg_round_trip() -> None:
    img = quadrants().resize((192, 108))
    data, mime = cap.encode(img, "png")
    assert mime == "image/png" and np.array_equal(np.asarray(Image.open(io.BytesIO(data)).convert("RGB")), np.asarray(img))
    data, mime = cap.encode(img, "jpeg", 90)
    assert mime == "image/jpeg" and Image.open(io.BytesIO(data)).format == "JPEG"
    with pytest.raises(InvalidInput):
        cap.encode(img, "gif")


def test_xvfb_fixture_sets_display(xvfb_display: str) -> None:
    assert os.environ["DISPLAY"] == xvfb_display and xvfb_display.startswith(":")

"""The classical line detector with DB as the fallback per tile (tools/backends/local/lines.py), and
the OCR engine reading through it (`text_detector="hybrid"`): real OpenCV, real PP-OCR models."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont
from sensorium.tools.backends.local.lines import TILE, classical_lines, detect_lines
from sensorium.tools.backends.local.ocr import OcrEngine

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))

from scenes import desktop  # noqa: E402

ROWS = ["Open recent files", "Save changes", "Export as PDF", "Print preview", "Close window"]


def _font(px: int) -> ImageFont.ImageFont:
    for path in ("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", "/usr/share/fonts/dejavu/DejaVuSans.ttf"):
        if Path(path).exists():
            return ImageFont.truetype(path, px)
    return ImageFont.load_default(px)


def _block(bg: tuple[int, int, int], ink: tuple[int, int, int]) -> tuple[np.ndarray, list[tuple[int, int, int, int]]]:
    """A 640x384 flat panel with five menu-like lines; BGR pixels and each line's ink box."""
    img = Image.new("RGB", (640, 384), bg)
    draw = ImageDraw.Draw(img)
    boxes = []
    for i, text in enumerate(ROWS):
        xy = (40 + 30 * i, 30 + 60 * i)
        draw.text(xy, text, fill=ink, font=_font(16))
        boxes.append(draw.textbbox(xy, text, font=_font(16)))
    return np.ascontiguousarray(np.asarray(img)[:, :, ::-1]), boxes


def _never(_: np.ndarray) -> np.ndarray:
    raise AssertionError("DB should not run on a flat panel of text")


def _covered(found: np.ndarray, box: tuple[int, int, int, int]) -> bool:
    x1, y1, x2, y2 = box
    return bool(((found[:, 0] <= x1) & (found[:, 1] <= y1) & (found[:, 2] >= x2) & (found[:, 3] >= y2)
                 & (found[:, 3] - found[:, 1] <= 2 * (y2 - y1) + 8)).any())


@pytest.mark.parametrize(("bg", "ink"), [((250, 250, 250), (30, 30, 30)), ((30, 32, 40), (220, 220, 220))], ids=["light", "dark"])
def test_finds_each_line_of_a_rendered_block_without_db(bg: tuple[int, int, int], ink: tuple[int, int, int]) -> None:
    bgr, boxes = _block(bg, ink)
    res = detect_lines(bgr, _never)
    hulls = np.concatenate([res.quads.min(axis=1), res.quads.max(axis=1)], axis=1)
    assert res.db == 0 and res.db_fraction == 0.0
    assert len(hulls) == len(ROWS)  # one box per line: words joined, lines apart
    for box in boxes:
        assert _covered(hulls, box), box
        # padded like DB's boxes: a few pixels beyond the ink, not flush with it
    assert (hulls[:, 0] < min(b[0] for b in boxes)).any()


def test_a_photo_like_tile_goes_to_db_and_its_boxes_come_back_in_place() -> None:
    bgr, _ = _block((250, 250, 250), (30, 30, 30))
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:TILE, 0:TILE]
    photo = (np.stack([x, y, x + y], axis=2) * 0.8 + rng.normal(0, 18, (TILE, TILE, 3))).clip(0, 255).astype(np.uint8)
    bgr[256:256 + TILE, 384:384 + TILE] = photo
    calls: list[tuple[int, int]] = []

    def db(crop: np.ndarray) -> np.ndarray:
        calls.append(crop.shape[:2])
        # one "line" in the middle of whatever DB was given, in the crop's pixels
        h, w = crop.shape[:2]
        return np.array([[[w / 2 - 10, h / 2 - 5], [w / 2 + 10, h / 2 - 5], [w / 2 + 10, h / 2 + 5], [w / 2 - 10, h / 2 + 5]]],
                        np.float32)

    _, trusted = classical_lines(bgr)
    assert not trusted[256 // TILE, 384 // TILE]
    assert trusted[0, 0]
    res = detect_lines(bgr, db)
    assert calls and all(h < bgr.shape[0] or w < bgr.shape[1] for h, w in calls)  # a region, not the whole screen
    assert res.db == 1 and 0 < res.db_fraction < 0.6
    centres = res.quads.mean(axis=1)
    x1, y1, x2, y2 = res.regions[0]
    assert ((np.abs(centres[:, 0] - (x1 + x2) / 2) < 1) & (np.abs(centres[:, 1] - (y1 + y2) / 2) < 1)).any()
    assert res.classical == len(ROWS) - 1 or res.classical == len(ROWS)  # the lines away from the photo stay classical


def _words(res: object) -> list[str]:
    return sorted(w for ln in res.lines for w in ln.text.split())  # type: ignore[attr-defined]


@pytest.mark.slow
def test_a_generated_desktop_reads_like_db() -> None:
    """The hybrid read of a generated 1280x800 desktop holds the words the DB read holds. Tolerance: DB
    splits terminal columns at places no rule reproduces ("86915 Nov" as one line or two), and a
    line joined differently can be read a character differently, so >= 90 % of DB's words (bench:
    ~93-97 % on these desktops, the rest mostly brackets and spacing), and every calculator key and menu
    word DB reads."""
    scene = desktop((1280, 800), seed=0)
    db = OcrEngine(cache_size=0, history=0).read(scene.image)
    hybrid = OcrEngine(cache_size=0, history=0, text_detector="hybrid").read(scene.image)
    a, b = _words(db), _words(hybrid)
    common = sum(min(a.count(w), b.count(w)) for w in set(a))
    assert common >= 0.9 * len(a)
    # every calculator key and menu word DB reads (PP-OCR reads "cos" as "COS" from DB's box too) is read
    db_words, hybrid_words = set(a), set(b)
    # and the lone glyphs the classical detector used to drop ("(", ")", the minus bar read as "一")
    for key in ("sin", "cos", "COS", "tan", "7", "8", "9", "File", "Edit", "Help", "(", ")", "一", "-", "×", "+"):
        assert key not in db_words or key in hybrid_words, key


def test_the_engine_refuses_an_unknown_detector() -> None:
    from sensorium.tools.errors import InvalidInput

    with pytest.raises(InvalidInput, match="text_detector"):
        OcrEngine(text_detector="morph")


def test_a_lone_glyph_gets_a_box_as_wide_as_dbs() -> None:
    """Calculator keys: ")" is ink narrower than 0.3x its height and "−" a bar lower than any text; both
    used to be dropped (DB boxes and PP-OCR reads them). Each now gets one box, about 0.7x as wide as
    tall (DB's ")" box on a generated desktop is 19x28 px; the recogniser read nothing from a tighter one)."""
    img = Image.new("RGB", (384, 192), (235, 235, 238))
    draw = ImageDraw.Draw(img)
    draw.text((100, 60), ")", fill=(20, 20, 20), font=_font(22))
    draw.text((250, 60), "\u2212", fill=(20, 20, 20), font=_font(22))
    ink = [draw.textbbox((100, 60), ")", font=_font(22)), draw.textbbox((250, 60), "\u2212", font=_font(22))]
    res = detect_lines(np.ascontiguousarray(np.asarray(img)[:, :, ::-1]), _never)
    hulls = np.concatenate([res.quads.min(axis=1), res.quads.max(axis=1)], axis=1)
    assert len(hulls) == 2
    for x1, y1, x2, y2 in ink:
        inside = hulls[(hulls[:, 0] <= (x1 + x2) / 2) & (hulls[:, 2] >= (x1 + x2) / 2) & (hulls[:, 1] <= (y1 + y2) / 2)
                       & (hulls[:, 3] >= (y1 + y2) / 2)]
        assert len(inside) == 1
        bw, bh = inside[0, 2] - inside[0, 0], inside[0, 3] - inside[0, 1]
        assert bw >= 0.6 * bh and bh >= 14


def test_ink_below_the_letters_takes_the_place_of_the_bottom_pad() -> None:
    """DB's box ends near the baseline: a terminal line with brackets (14 px of ink) gets a 17 px box, one
    without (11-12 px) 18 px. A line with descenders or brackets is padded less below than one without,
    so the recogniser sees DB's crop ("CRON[2863]:" was read "CRoN[2863]:" from a box 3 px taller)."""
    img = Image.new("RGB", (512, 128), (30, 32, 40))
    draw = ImageDraw.Draw(img)
    f = _font(14)
    draw.text((20, 20), "Reached the Timers at noon", fill=(220, 220, 220), font=f)
    draw.text((20, 70), "CRON[2863]: jobs (query)", fill=(220, 220, 220), font=f)
    plain, hanging = draw.textbbox((20, 20), "Reached the Timers at noon", font=f), draw.textbbox((20, 70), "CRON[2863]: jobs (query)", font=f)
    boxes, _ = classical_lines(np.ascontiguousarray(np.asarray(img)[:, :, ::-1]))
    assert len(boxes) == 2
    top, bottom = sorted(boxes.tolist(), key=lambda b: b[1])
    assert bottom[3] - hanging[3] < top[3] - plain[3]  # smaller pad below the brackets and descenders
    assert bottom[3] >= hanging[3]  # the box still holds the ink

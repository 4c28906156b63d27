"""Small generated screens with known elements: buttons, calculator keys, terminal text, icon-only boxes."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

FONT = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
MONO = Path("/usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf")


def font(size: int, mono: bool = False) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    path = MONO if mono else FONT
    return ImageFont.truetype(str(path), size) if path.exists() else ImageFont.load_default(size=size)


@dataclass
class Element:
    label: str
    box: tuple[int, int, int, int]


def button(draw: ImageDraw.ImageDraw, box: tuple[int, int, int, int], label: str, size: int = 22) -> Element:
    draw.rounded_rectangle(box, radius=4, fill=(235, 238, 242), outline=(90, 96, 110), width=2)
    f = font(size)
    l, t, r, b = draw.textbbox((0, 0), label, font=f)
    x = (box[0] + box[2] - (r - l)) // 2 - l
    y = (box[1] + box[3] - (b - t)) // 2 - t
    draw.text((x, y), label, fill=(20, 20, 30), font=f)
    return Element(label, (box[0], box[1], box[2] + 1, box[3] + 1))


def calculator(draw: ImageDraw.ImageDraw, left: int, top: int, key: int = 64, gap: int = 3) -> list[Element]:
    """A 5x4 keypad (sin cos tan, digits, + - x /, =): keys `gap` px apart."""
    rows = [["sin", "cos", "tan", "C"], ["7", "8", "9", "/"], ["4", "5", "6", "x"], ["1", "2", "3", "-"], ["0", ".", "=", "+"]]
    out = []
    for r, row in enumerate(rows):
        for c, label in enumerate(row):
            x, y = left + c * (key + gap), top + r * (key + gap)
            out.append(button(draw, (x, y, x + key - 1, y + key - 1), label, size=24))
    return out


def terminal(draw: ImageDraw.ImageDraw, box: tuple[int, int, int, int], lines: int, seed: int = 0) -> None:
    draw.rectangle(box, fill=(18, 18, 24))
    f = font(15, mono=True)
    words = "ls cd git status commit push make build test server error warning debug info value total files".split()
    y = box[1] + 6
    for n in range(lines):
        text = f"$ {words[(n * 7 + seed) % len(words)]} --{words[(n * 3 + seed) % len(words)]} {n * 37 % 1000} {words[(n + seed) % len(words)]}"
        draw.text((box[0] + 8, y), text, fill=(200, 220, 200), font=f)
        y += 19
        if y > box[3] - 20:
            break


def icon_box(draw: ImageDraw.ImageDraw, box: tuple[int, int, int, int]) -> Element:
    """A textless square 'icon' (a gear-like circle with spokes)."""
    x1, y1, x2, y2 = box
    cx, cy, r = (x1 + x2) // 2, (y1 + y2) // 2, (x2 - x1) // 3
    draw.ellipse((cx - r, cy - r, cx + r, cy + r), outline=(40, 40, 40), width=3)
    for dx, dy in ((0, -1), (1, 0), (0, 1), (-1, 0)):
        draw.line((cx + dx * r, cy + dy * r, cx + dx * (r + 6), cy + dy * (r + 6)), fill=(40, 40, 40), width=3)
    return Element("", (x1, y1, x2 + 1, y2 + 1))


def calculator_screen(size: tuple[int, int] = (1280, 800)) -> tuple[Image.Image, list[Element]]:
    img = Image.new("RGB", size, (250, 250, 252))
    d = ImageDraw.Draw(img)
    keys = calculator(d, 820, 200)
    terminal(d, (20, 20, 760, 780), 40)
    return img, keys


def busy_screen(size: tuple[int, int] = (1920, 1080)) -> tuple[Image.Image, list[Element]]:
    """Two full terminals, a keypad and a row of icon boxes: many more candidates than a small limit."""
    img = Image.new("RGB", size, (236, 239, 244))
    d = ImageDraw.Draw(img)
    terminal(d, (10, 10, 700, 1070), 60, seed=1)
    terminal(d, (710, 10, 1400, 1070), 60, seed=2)
    keys = calculator(d, 1480, 300, key=90, gap=3)
    icons = [icon_box(d, (1430 + 60 * i, 40, 1470 + 60 * i, 80)) for i in range(7)]
    return img, keys + icons

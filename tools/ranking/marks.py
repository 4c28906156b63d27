"""Set-of-Mark image: numbered boxes drawn on the screenshot, so the calling model can check a ranking by eye.

The number drawn is the candidate's rank (1 = best). The result must fit an ImageContent
budget (MCP clients such as Claude Desktop reject results over 1 MB): `fit_jpeg` lowers the
JPEG quality, then the size, until its base64 text fits.
"""

from __future__ import annotations

from collections.abc import Sequence

from PIL import Image, ImageDraw, ImageFont

from ..jpeg import fit_jpeg

_COLOURS = [(230, 25, 75), (60, 180, 75), (0, 130, 200), (245, 130, 48), (145, 30, 180), (70, 240, 240), (240, 50, 230), (128, 128, 0)]


def draw_marks(image: Image.Image, boxes: Sequence[Sequence[float]], numbers: Sequence[int] | None = None) -> Image.Image:
    out = image.convert("RGB").copy()
    draw = ImageDraw.Draw(out)
    size = max(12, min(out.size) // 50)
    try:
        font = ImageFont.load_default(size=size)
    except TypeError:  # very old Pillow
        font = ImageFont.load_default()
    numbers = list(numbers) if numbers is not None else list(range(1, len(boxes) + 1))
    # draw the worst first so the best ranks end on top
    for box, n in reversed(list(zip(boxes, numbers, strict=True))):
        colour = _COLOURS[(n - 1) % len(_COLOURS)]
        x1, y1, x2, y2 = (int(v) for v in box)
        draw.rectangle((x1, y1, x2 - 1, y2 - 1), outline=colour, width=2)
        tag = str(n)
        l, t, r, b = draw.textbbox((0, 0), tag, font=font)
        tw, th = r - l + 6, b - t + 4
        tx = min(max(0, x1), out.width - tw)
        ty = y1 - th if y1 - th >= 0 else min(y1, out.height - th)
        draw.rectangle((tx, ty, tx + tw, ty + th), fill=colour)
        draw.text((tx + 3 - l, ty + 2 - t), tag, fill=(255, 255, 255), font=font)
    return out


def marks_image(image: Image.Image, boxes: Sequence[Sequence[float]], max_base64: int, numbers: Sequence[int] | None = None) -> bytes:
    """The Set-of-Mark JPEG, its base64 text within `max_base64` (tools/jpeg.py)."""
    return fit_jpeg(draw_marks(image, boxes, numbers), max_base64)

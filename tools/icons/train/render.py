"""SVG -> UI-like crops -> `preprocess`ed training pictures, cached once as uint8 arrays.

WHY render like a UI: at inference the reader sees small anti-aliased glyphs in arbitrary
colours on light or dark buttons, sometimes blurred or JPEG-compressed, with padding. Each
icon is rendered at several pixel sizes (12-96 px: 96 is what the dev eval uses, 12-48 what
screens show), stroke weights (stroke sets), colour pairs and paddings, then passed through
the very `preprocess` the reader uses, so training and inference pictures come from one
function. Caching the results once keeps each training epoch cheap on 2 CPU cores.
"""

from __future__ import annotations

import io
import re

import numpy as np
from PIL import Image, ImageFilter

from ..preprocess import SIZE, preprocess

PIXEL_SIZES = (12, 14, 16, 18, 20, 24, 28, 32, 40, 48, 64, 96)
_SIZE_WEIGHTS = np.array([1, 1, 2, 2, 2, 3, 2, 2, 2, 2, 1.5, 1.5], dtype=np.float64)
_SIZE_WEIGHTS /= _SIZE_WEIGHTS.sum()

_STROKE_RE = re.compile(r'stroke-width(\s*=\s*"|\s*:\s*)([0-9.]+)(px)?')


def scale_strokes(svg: str, factor: float) -> str:
    """Multiply every stroke-width in the SVG (attribute or style) by factor."""
    if "stroke-width" not in svg:
        if 'stroke="currentColor"' in svg or "stroke='currentColor'" in svg:
            return svg.replace("<svg ", f'<svg stroke-width="{2 * factor:.2f}" ', 1)
        return svg
    return _STROKE_RE.sub(lambda m: f"stroke-width{m.group(1)}{float(m.group(2)) * factor:.3g}{m.group(3) or ''}", svg)


def render_alpha(svg: str, px: int) -> np.ndarray:
    """(px, px) float32 coverage of the glyph drawn in black, anti-aliased by resvg."""
    import resvg_py

    svg = svg.replace("currentColor", "#000000")
    png = resvg_py.svg_to_bytes(svg_string=svg, width=px, height=px, skip_system_fonts=True)
    img = Image.open(io.BytesIO(bytes(png))).convert("RGBA")
    if img.size != (px, px):  # non-square viewBox: fit inside px x px
        img.thumbnail((px, px))
        canvas = Image.new("RGBA", (px, px))
        canvas.paste(img, ((px - img.width) // 2, (px - img.height) // 2))
        img = canvas
    return np.asarray(img, dtype=np.float32)[..., 3] / 255.0


def _colours(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A background and a glyph colour with enough contrast to be seen, as UIs use."""
    kind = rng.random()
    if kind < 0.45:  # dark on light (most common)
        bg = rng.uniform(0.85, 1.0, 3) if rng.random() < 0.8 else rng.uniform(0.6, 1.0, 3)
        fg = rng.uniform(0.0, 0.45, 3)
    elif kind < 0.75:  # light on dark
        bg = rng.uniform(0.0, 0.3, 3)
        fg = rng.uniform(0.7, 1.0, 3)
    else:  # coloured button / accent glyph
        while True:
            bg, fg = rng.uniform(0, 1, 3), rng.uniform(0, 1, 3)
            if np.abs(bg - fg).max() > 0.35:
                break
    return bg.astype(np.float32), fg.astype(np.float32)


def ui_crop(alpha: np.ndarray, rng: np.random.Generator) -> Image.Image:
    """Put a glyph coverage map on a coloured background with padding, blur, noise, JPEG."""
    px = alpha.shape[0]
    pads = rng.integers(0, max(2, px // 2) + 1, size=4)
    h, w = px + pads[0] + pads[1], px + pads[2] + pads[3]
    a = np.zeros((h, w), dtype=np.float32)
    a[pads[0] : pads[0] + px, pads[2] : pads[2] + px] = alpha
    if rng.random() < 0.15:  # a faint box or circle drawn around the icon (button outline)
        ring = np.zeros_like(a)
        ring[[0, -1], :] = 1
        ring[:, [0, -1]] = 1
        a = np.maximum(a, ring * rng.uniform(0.08, 0.22))
    bg, fg = _colours(rng)
    opacity = rng.uniform(0.7, 1.0)
    img = bg[None, None, :] * (1 - a[..., None] * opacity) + fg[None, None, :] * a[..., None] * opacity
    if rng.random() < 0.3:  # gradient background
        grad = np.linspace(-1, 1, h, dtype=np.float32)[:, None, None] * rng.uniform(0, 0.08)
        img = img + grad
    img = img + rng.normal(0, rng.uniform(0, 0.02), img.shape).astype(np.float32)
    pil = Image.fromarray((np.clip(img, 0, 1) * 255).astype(np.uint8), "RGB")
    return _soften(pil, rng, blur=(0.3, 0.3, 0.8), jpeg=(0.25, 50, 95))


def _soften(
    pil: Image.Image, rng: np.random.Generator, *, blur: tuple[float, float, float], jpeg: tuple[float, int, int]
) -> Image.Image:
    """Slight blur (probability, sigma range) then a JPEG round trip (probability, quality range), the
    last steps of every render: screenshots are scaled and compressed. The rng draws stay in this order
    so a seed keeps giving the same renders."""
    if rng.random() < blur[0]:
        pil = pil.filter(ImageFilter.GaussianBlur(rng.uniform(blur[1], blur[2])))
    if rng.random() < jpeg[0]:
        buf = io.BytesIO()
        pil.save(buf, "JPEG", quality=int(rng.integers(jpeg[1], jpeg[2])))
        pil = Image.open(io.BytesIO(buf.getvalue())).convert("RGB")
    return pil


def icon_variants(svg: str, stroke: bool, count: int, rng: np.random.Generator) -> list[np.ndarray]:
    """`count` preprocessed (SIZE, SIZE) uint8 pictures of one icon in different UI renderings."""
    out: list[np.ndarray] = []
    for i in range(count):
        px = int(rng.choice(PIXEL_SIZES, p=_SIZE_WEIGHTS)) if i else 96
        src = scale_strokes(svg, float(rng.choice((0.7, 0.85, 1.0, 1.0, 1.2, 1.4)))) if stroke and i else svg
        alpha = render_alpha(src, px)
        if alpha.max() < 0.05:
            return []
        crop = ui_crop(alpha, rng) if i else Image.fromarray(((1 - alpha) * 255).astype(np.uint8), "L")
        out.append((preprocess(crop) * 255).round().astype(np.uint8))
    return out


def non_icon(rng: np.random.Generator) -> np.ndarray:
    """A textless crop that is not an icon: blank, a border, a gradient, a photo-like fragment."""
    h, w = int(rng.integers(12, 64)), int(rng.integers(12, 64))
    kind = rng.integers(0, 5)
    bg, fg = _colours(rng)
    img = np.broadcast_to(bg, (h, w, 3)).astype(np.float32).copy()
    if kind == 1:  # border / separator fragments
        t = int(rng.integers(1, 3))
        if rng.random() < 0.5:
            img[: t] = fg
        if rng.random() < 0.5:
            img[:, :t] = fg
        if rng.random() < 0.5:
            y = int(rng.integers(0, h))
            img[y : y + t] = fg
    elif kind == 2:  # gradient
        g = np.linspace(0, 1, w, dtype=np.float32)[None, :, None]
        img = bg * (1 - g) + fg * g
    elif kind in (3, 4):  # photo-like smooth colour noise
        small = rng.uniform(0, 1, (int(rng.integers(2, 8)), int(rng.integers(2, 8)), 3)).astype(np.float32)
        img = np.asarray(Image.fromarray((small * 255).astype(np.uint8)).resize((w, h), Image.BICUBIC), np.float32) / 255
        img = img + rng.normal(0, rng.uniform(0.01, 0.08), img.shape).astype(np.float32)
    img = img + rng.normal(0, rng.uniform(0, 0.02), img.shape).astype(np.float32)
    pil = Image.fromarray((np.clip(img, 0, 1) * 255).astype(np.uint8), "RGB")
    return (preprocess(pil) * 255).round().astype(np.uint8)


assert SIZE == 32


# ---- session 5: icons as UIs show them in the wild (badges, neighbours, focus rings, low contrast, tiny) ----

SMALL_SIZES = (12, 13, 14, 15, 16)
_BADGE_COLOURS = np.array([(0.86, 0.15, 0.15), (0.94, 0.27, 0.27), (0.96, 0.45, 0.05), (0.92, 0.2, 0.45), (0.1, 0.55, 0.9),
                           (0.1, 0.65, 0.3), (0.5, 0.3, 0.85)], dtype=np.float32)
_RING_COLOURS = np.array([(0.23, 0.51, 0.96), (0.15, 0.39, 0.92), (0.4, 0.4, 0.45), (0.75, 0.75, 0.78), (0.0, 0.47, 0.84)], dtype=np.float32)


def _font(size: int):  # noqa: ANN202 - PIL font object
    from PIL import ImageFont

    return ImageFont.load_default(size=max(6, size))


def draw_badge(img: Image.Image, glyph: tuple[int, int, int, int], px: int, rng: np.random.Generator) -> Image.Image:
    """A notification counter: a filled saturated pill (or dot) with 1-3 white digits on a corner of
    the glyph box, partly over the glyph, drawn at 4x and downsampled (anti-aliased like a UI)."""
    from PIL import ImageDraw

    s = 4
    w, h = img.size
    x1, y1, x2, y2 = glyph
    digits = "" if rng.random() < 0.15 else str(int(rng.integers(1, 10 ** int(rng.choice((1, 1, 2, 2, 3))))))
    bh = max(4.0, px * rng.uniform(0.4, 0.7)) if digits else max(3.0, px * rng.uniform(0.25, 0.4))
    bw = max(bh, bh * (0.55 * len(digits) + 0.35)) if digits else bh
    corner = rng.choice(4, p=[0.6, 0.2, 0.12, 0.08])  # top-right, top-left, bottom-right, bottom-left
    over = rng.uniform(0.25, 0.6)  # share of the badge lying over the glyph box
    cx = x2 - over * bw + bw / 2 if corner in (0, 2) else x1 + over * bw - bw / 2
    cy = y1 + over * bh - bh / 2 if corner in (0, 1) else y2 - over * bh + bh / 2
    layer = Image.new("RGBA", (w * s, h * s), (0, 0, 0, 0))
    d = ImageDraw.Draw(layer)
    box = [(cx - bw / 2) * s, (cy - bh / 2) * s, (cx + bw / 2) * s, (cy + bh / 2) * s]
    col = tuple(int(v * 255) for v in _BADGE_COLOURS[rng.integers(len(_BADGE_COLOURS))])
    if rng.random() < 0.4:  # a ring in the background colour around the badge (common in UI kits)
        bgc = img.getpixel((0, 0))
        r = 1.0 * s
        d.rounded_rectangle([box[0] - r, box[1] - r, box[2] + r, box[3] + r], radius=(bh / 2) * s + r, fill=(*bgc[:3], 255))
    d.rounded_rectangle(box, radius=(bh / 2) * s, fill=(*col, 255))
    if digits:
        f = _font(int(bh * 0.78 * s))
        d.text(((box[0] + box[2]) / 2, (box[1] + box[3]) / 2 + 0.3 * s), digits, font=f, fill=(255, 255, 255, 255), anchor="mm")
    layer = layer.resize((w, h), Image.LANCZOS)
    out = img.convert("RGBA")
    out.alpha_composite(layer)
    return out.convert("RGB")


def _neighbour(img: Image.Image, rng: np.random.Generator) -> Image.Image:
    """The edge of a neighbouring element (a button, a panel) covering one side of the crop."""
    from PIL import ImageDraw

    w, h = img.size
    d = ImageDraw.Draw(img)
    side = int(rng.integers(4))
    frac = rng.uniform(0.08, 0.3)
    _, fg = _colours(rng)
    col = tuple(int(v * 255) for v in (fg if rng.random() < 0.5 else rng.uniform(0.5, 1.0, 3)))
    line = tuple(int(v * 255) for v in rng.uniform(0, 0.6, 3))
    if side == 0:
        box = [0, 0, int(w * frac), h - 1]
    elif side == 1:
        box = [w - 1 - int(w * frac), 0, w - 1, h - 1]
    elif side == 2:
        box = [0, 0, w - 1, int(h * frac)]
    else:
        box = [0, h - 1 - int(h * frac), w - 1, h - 1]
    d.rectangle(box, fill=col, outline=line if rng.random() < 0.5 else None)
    return img


def _ring(img: Image.Image, rng: np.random.Generator) -> Image.Image:
    """A focus ring or a button outline around the glyph (rounded, 1-2 px)."""
    from PIL import ImageDraw

    w, h = img.size
    d = ImageDraw.Draw(img)
    inset = int(rng.integers(0, 2))
    width = int(rng.choice((1, 1, 2)))
    col = tuple(int(v * 255) for v in _RING_COLOURS[rng.integers(len(_RING_COLOURS))])
    d.rounded_rectangle([inset, inset, w - 1 - inset, h - 1 - inset], radius=int(rng.integers(0, max(1, min(w, h) // 3))),
                        outline=col, width=width)
    return img


def wild_crop(alpha: np.ndarray, rng: np.random.Generator, *, badge: float = 0.5) -> Image.Image:
    """An icon as a screen crop shows it in the wild: on a button (small padding), sometimes in
    low contrast, with a notification badge (probability `badge`), a neighbour's edge or a
    cropped side, a focus ring / outline, blur or JPEG. Deterministic for the rng's state."""
    px = alpha.shape[0]
    pads = rng.integers(1, max(2, px // 3) + 1, size=4)
    h, w = px + pads[0] + pads[1], px + pads[2] + pads[3]
    a = np.zeros((h, w), dtype=np.float32)
    a[pads[0] : pads[0] + px, pads[2] : pads[2] + px] = alpha
    bg, fg = _colours(rng)
    if rng.random() < 0.2:  # low contrast: a disabled / muted icon, a subtle toolbar glyph
        fg = np.clip(bg + rng.choice((-1, 1)) * rng.uniform(0.15, 0.3), 0, 1).astype(np.float32) * np.ones(3, np.float32)
    img = bg[None, None, :] * (1 - a[..., None]) + fg[None, None, :] * a[..., None]
    pil = Image.fromarray((np.clip(img, 0, 1) * 255).astype(np.uint8), "RGB")
    ys, xs = np.nonzero(a > 0.2)
    glyph = (int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1) if len(xs) else (0, 0, w, h)
    if rng.random() < badge:
        pil = draw_badge(pil, glyph, px, rng)
    r = rng.random()
    if r < 0.2:
        pil = _neighbour(pil, rng)
    elif r < 0.3:  # cropped by the element box: part of the glyph is cut off
        cut = int(round(px * rng.uniform(0.08, 0.2)))
        side = int(rng.integers(4))
        box = [(cut + pads[2], 0, w, h), (0, 0, w - cut - pads[3], h), (0, cut + pads[0], w, h), (0, 0, w, h - cut - pads[1])][side]
        if box[2] - box[0] >= 6 and box[3] - box[1] >= 6:
            pil = pil.crop(box)
    if rng.random() < 0.25:
        pil = _ring(pil, rng)
    return _soften(pil, rng, blur=(0.25, 0.3, 0.6), jpeg=(0.2, 60, 95))


def wild_variant(svg: str, stroke: bool, rng: np.random.Generator, *, erase: float = 0.5) -> np.ndarray | None:
    """One preprocessed wild picture of an icon (None when it draws nothing). With probability
    `erase` the crop first goes through the backend's own badge eraser, as in ranking."""
    from ..badges import erase_badges

    px = int(rng.choice(SMALL_SIZES)) if rng.random() < 0.55 else int(rng.choice(PIXEL_SIZES[:9], p=_SIZE_WEIGHTS[:9] / _SIZE_WEIGHTS[:9].sum()))
    src = scale_strokes(svg, float(rng.choice((0.85, 1.0, 1.0, 1.2, 1.4)))) if stroke else svg
    alpha = render_alpha(src, px)
    if alpha.max() < 0.05:
        return None
    crop = wild_crop(alpha, rng)
    if rng.random() < erase:
        crop = erase_badges(crop)
    return (preprocess(crop) * 255).round().astype(np.uint8)

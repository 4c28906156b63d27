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
    if rng.random() < 0.3:
        pil = pil.filter(ImageFilter.GaussianBlur(rng.uniform(0.3, 0.8)))
    if rng.random() < 0.25:
        buf = io.BytesIO()
        pil.save(buf, "JPEG", quality=int(rng.integers(50, 95)))
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

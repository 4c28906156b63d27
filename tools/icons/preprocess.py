"""One crop normalisation for training renders and real screen crops.

WHY one function: the icon model only ever sees what this returns, so a crop from a
screenshot (white glyph on a blue button, grey glyph on a dark toolbar, JPEG noise, padding)
must land on the same kind of picture as a training render (black glyph on transparent).
The recipe: estimate the background from the crop's border, take the per-pixel colour
distance to it as "ink" (so polarity and hue stop mattering), stretch the ink so the glyph is
full-strength, crop to the inked area with a small margin, and resize that square to SIZE px.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

SIZE = 32
"""Side of the model's input picture (pixels)."""

_INK_FLOOR = 0.12
"""Smallest colour distance (0..1) treated as full ink: a faint-noise crop is not blown up into a glyph."""

_CONTENT = 0.25
"""Ink level (after stretching) that counts as content when finding the glyph's box."""

_MARGIN = 0.08
"""Margin around the content box, as a fraction of its longer side."""


def _ink(image: Image.Image) -> np.ndarray:
    """(h, w) float32 in 0..1: how far each pixel is from the background colour."""
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = np.asarray(image.convert("RGBA"), dtype=np.float32) / 255.0
        alpha = rgba[..., 3]
        if float(alpha.min()) < 0.98:  # a real alpha channel: a transparent icon is its alpha
            rgb = rgba[..., :3]
            border = np.concatenate([rgb[0], rgb[-1], rgb[:, 0], rgb[:, -1]])
            weights = np.concatenate([alpha[0], alpha[-1], alpha[:, 0], alpha[:, -1]])
            if float(weights.sum()) < 1.0:  # border fully transparent: ink = coverage
                return alpha
            bg = (border * weights[:, None]).sum(0) / weights.sum()
            dist = np.abs(rgb - bg).max(axis=2)
            return np.maximum(alpha * dist, alpha * (1.0 - weights.mean()))
    rgb = np.asarray(image.convert("RGB"), dtype=np.float32) / 255.0
    border = np.concatenate([rgb[0], rgb[-1], rgb[:, 0], rgb[:, -1]])
    bg = np.median(border, axis=0)
    return np.abs(rgb - bg).max(axis=2)


def preprocess(image: Image.Image) -> np.ndarray:
    """A crop -> (SIZE, SIZE) float32 in 0..1, glyph bright on black, centred, scaled to fill.

    A crop with no ink at all (blank) comes back all zeros; the model is trained to give it a
    low confidence.
    """
    import cv2  # here, not at module import: importing the package stays cheap for server start-up

    if image.width < 1 or image.height < 1:
        return np.zeros((SIZE, SIZE), dtype=np.float32)
    ink = _ink(image)
    top = float(np.percentile(ink, 99.5)) if ink.size > 16 else float(ink.max())
    ink = np.clip(ink / max(top, _INK_FLOOR), 0.0, 1.0)
    ys, xs = np.nonzero(ink >= _CONTENT)
    if ys.size == 0:
        return np.zeros((SIZE, SIZE), dtype=np.float32)
    y0, y1, x0, x1 = int(ys.min()), int(ys.max()) + 1, int(xs.min()), int(xs.max()) + 1
    side = max(y1 - y0, x1 - x0)
    side = side + 2 * max(1, int(round(side * _MARGIN)))
    cy, cx = (y0 + y1) / 2.0, (x0 + x1) / 2.0
    top_y, left_x = int(round(cy - side / 2.0)), int(round(cx - side / 2.0))
    canvas = np.zeros((side, side), dtype=np.float32)
    sy0, sx0 = max(top_y, 0), max(left_x, 0)
    sy1, sx1 = min(top_y + side, ink.shape[0]), min(left_x + side, ink.shape[1])
    canvas[sy0 - top_y : sy1 - top_y, sx0 - left_x : sx1 - left_x] = ink[sy0:sy1, sx0:sx1]
    interp = cv2.INTER_AREA if side > SIZE else cv2.INTER_LINEAR
    out = cv2.resize(canvas, (SIZE, SIZE), interpolation=interp)
    return np.clip(out, 0.0, 1.0).astype(np.float32)

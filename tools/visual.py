"""A compact visual descriptor: what the text-bridged space cannot see about an image.

The local backend embeds images through their OCR text, so two screens with the same words
but different looks (a theme, a chart, a photo, an icon-only toolbar) collide, and a screen
with no text at all has no content vector. This descriptor is kept beside the vector
(extras["visual"]) for image <-> image questions: "have I seen this screen before?" and
near-duplicate detection.

It is 576 floats:
- 64-bit dHash (sign of horizontal gradients on a 9x8 grayscale thumbnail): overall structure;
- 64-bit pHash (low-frequency 8x8 DCT of a 32x32 thumbnail against its median): robust to
  small rescales and JPEG noise;
- a 4x4x4 RGB colour histogram (64 bins, sums to 1): palette, theme, dominant colours;
- a 16x24 (columns x rows) grayscale layout grid: where the light and dark blocks are.
`visual_similarity` compares the grids with a vertical shift of up to 3 rows (1/8 of the
height), so a page scrolled by a few lines still matches itself.

What it can do (measured on ../shared/eval/screen_states, 26 stored 1280x800 states, 78
revisits): ranking the stored states by this similarity put the right state first for every
scrolled (24-96 px), resized (viewport 1200-1440 x 768-900) and interacted (text typed into a
field) revisit; see tests/test_local_ocr_visual.py.

What it cannot do: it has no semantics. It cannot match a text query, cannot tell which icon
is which, cannot relate two different photos of the same thing, and is not invariant to big
scrolls (over ~1/8 of the screen), zoom, crops, rotation or a theme switch (dark mode moves
every component). Pages of one site share their chrome (sidebar, top bar), so their
similarities sit close together: the margin between the right state and the best wrong one
was often only a few hundredths. Use it as a cue beside text, not as proof.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from .errors import InvalidInput

GRID_COLS = 16
GRID_ROWS = 24
MAX_SHIFT_ROWS = 3
_HASH_BITS = 64
_HIST_BINS = 64
DIMENSION = _HASH_BITS * 2 + _HIST_BINS + GRID_COLS * GRID_ROWS
"""576: dHash 64 + pHash 64 + colour histogram 64 + layout grid 16x24."""

_WEIGHTS = {"grid": 0.5, "hist": 0.2, "dhash": 0.15, "phash": 0.15}
_GRID_SCALE = 0.25
"""A mean absolute grid difference of 0.25 (a quarter of full range) counts as 'nothing alike'."""


def _dct_matrix(n: int) -> np.ndarray:
    k = np.arange(n)[:, None]
    i = np.arange(n)[None, :]
    m = np.cos(np.pi * (2 * i + 1) * k / (2 * n))
    m[0] *= 1 / np.sqrt(2)
    return (m * np.sqrt(2 / n)).astype(np.float64)


_DCT32 = _dct_matrix(32)


def _gray(image: Image.Image, size: tuple[int, int]) -> np.ndarray:
    return np.asarray(image.convert("L").resize(size, Image.Resampling.BOX), dtype=np.float32) / 255.0


def visual_descriptor(image: Image.Image) -> np.ndarray:
    """The 576-float descriptor of an image (any size or mode)."""
    if image.width < 1 or image.height < 1:
        raise InvalidInput(f"cannot describe an empty image ({image.width}x{image.height})")
    rgb = image.convert("RGB")
    # one shared reduction keeps this cheap on big screenshots (~5 ms at 1920x1080)
    base = rgb.reduce(max(1, min(rgb.width, rgb.height) // 128)) if min(rgb.size) > 256 else rgb
    g9 = _gray(base, (9, 8))
    dhash = (g9[:, 1:] > g9[:, :-1]).astype(np.float32).ravel()
    g32 = _gray(base, (32, 32)).astype(np.float64)
    coeffs = (_DCT32 @ g32 @ _DCT32.T)[:8, :8].ravel()
    phash = (coeffs > np.median(coeffs[1:])).astype(np.float32)
    phash[0] = 0.0  # the DC term says only "how bright": brightness is the histogram's job
    small = np.asarray(base.resize((64, 40), Image.Resampling.BOX), dtype=np.uint8).reshape(-1, 3) // 64
    idx = small[:, 0].astype(np.int64) * 16 + small[:, 1] * 4 + small[:, 2]
    hist = np.bincount(idx, minlength=_HIST_BINS).astype(np.float32)
    hist /= max(float(hist.sum()), 1.0)
    grid = _gray(base, (GRID_COLS, GRID_ROWS)).ravel()
    return np.concatenate([dhash, phash, hist, grid]).astype(np.float32)


def _split(v: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    a = np.asarray(v, dtype=np.float32).reshape(-1)
    if a.shape[0] != DIMENSION:
        raise InvalidInput(f"a visual descriptor has {DIMENSION} values, got {a.shape[0]} (made by another version?)")
    h = _HASH_BITS
    return a[:h], a[h : 2 * h], a[2 * h : 2 * h + _HIST_BINS], a[2 * h + _HIST_BINS :].reshape(GRID_ROWS, GRID_COLS)


def _grid_similarity(a: np.ndarray, b: np.ndarray) -> float:
    best = float("inf")
    for s in range(-MAX_SHIFT_ROWS, MAX_SHIFT_ROWS + 1):
        x = a[max(0, s) : GRID_ROWS + min(0, s)]
        y = b[max(0, -s) : GRID_ROWS + min(0, -s)]
        best = min(best, float(np.abs(x - y).mean()))
    return max(0.0, 1.0 - best / _GRID_SCALE)


def visual_similarity(a: np.ndarray | list[float], b: np.ndarray | list[float]) -> float:
    """1.0 for identical images, near 0 for unrelated ones; symmetric, in [0, 1]."""
    da, pa, ha, ga = _split(np.asarray(a))
    db, pb, hb, gb = _split(np.asarray(b))
    parts = {
        "dhash": 1.0 - float(np.abs(da - db).mean()),
        "phash": 1.0 - float(np.abs(pa[1:] - pb[1:]).mean()),
        "hist": float(np.minimum(ha, hb).sum()),
        "grid": _grid_similarity(ga, gb),
    }
    score = sum(_WEIGHTS[k] * v for k, v in parts.items())
    return float(min(1.0, max(0.0, score)))

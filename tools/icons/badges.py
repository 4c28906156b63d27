"""Erase a notification counter (a badge) from an icon button's crop before the icon reader sees it.

WHY: a bell with a red "15" pill on its corner is read as something else: the reader was trained
on bare icons, and the pill is often bigger than the icon's thin strokes. OCR does not reliably
read the small digits either (so their OCR box cannot be relied on to mask them). What every
badge has in common is its shape and place: a small, *filled*, saturated blob (red, orange,
yellow, green, blue pill or dot) in the upper or right part of the element, away from its centre,
where the icon itself is drawn. Such a blob (with the digits inside its outline) is painted over
with the crop's background colour. Nothing else is touched, so an icon without a badge reaches
the reader unchanged.

Rules (geometry only, written from what badges are in UI kits, not fitted to any eval item):
- saturated: max - min channel >= SATURATION, and far from the background;
- filled: its pixels plus the holes inside its outline cover >= FILL of its bounding box
  (strokes of an outline icon cover far less);
- small: at most MAX_AREA of the crop, at least MIN_SIDE px high;
- off-centre: its centre lies at least OFF_CENTRE of the crop's side right of or above the
  crop's centre (an icon is drawn around the centre, a badge sits on a corner).
"""

from __future__ import annotations

import numpy as np
from PIL import Image
import cv2

SATURATION = 90
BG_DISTANCE = 60
FILL = 0.6
MAX_AREA = 0.4
MIN_SIDE = 5
OFF_CENTRE = 0.15
"""Thresholds of the rules above (general, from UI conventions; checked on held-out generated
screens with badges, bench/heldout_grounding.py --badges, not on dev items)."""


def _background(a: np.ndarray) -> np.ndarray:
    border = np.concatenate([a[0], a[-1], a[:, 0], a[:, -1]]).reshape(-1, 3)
    return np.median(border, axis=0)


def _badges(a: np.ndarray) -> list[tuple[tuple[int, int, int, int], np.ndarray]]:
    """(box, filled mask over the whole crop) of each badge-like blob of an RGB int16 array."""
    h, w = a.shape[:2]
    if h < 8 or w < 8:
        return []
    bg = _background(a)
    chroma = a.max(axis=2) - a.min(axis=2)
    far = np.abs(a - bg).max(axis=2) >= BG_DISTANCE
    mask = (chroma >= SATURATION) & far
    if not mask.any():
        return []
    n, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    out = []
    cx, cy = w / 2, h / 2
    for k in range(1, n):
        x, y, bw, bh = (int(v) for v in stats[k, :4])
        if bh < MIN_SIDE or bw < MIN_SIDE or bh * bw > MAX_AREA * h * w:
            continue
        blob = (labels[y : y + bh, x : x + bw] == k).astype(np.uint8)
        contours, _ = cv2.findContours(blob, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        filled = np.zeros_like(blob)
        cv2.drawContours(filled, contours, -1, 1, thickness=-1)  # the outline with its holes (the digits) filled
        if filled.mean() < FILL:
            continue
        mx, my = x + bw / 2, y + bh / 2
        if not (mx > cx + OFF_CENTRE * w or my < cy - OFF_CENTRE * h):
            continue
        full = np.zeros((h, w), dtype=np.uint8)
        full[y : y + bh, x : x + bw] = filled
        out.append(((x, y, x + bw, y + bh), full))
    return out


def badge_boxes(image: Image.Image) -> list[tuple[int, int, int, int]]:
    """Boxes (x1, y1, x2, y2, exclusive) of the badge-like blobs of a crop (see the module docstring)."""
    return [box for box, _ in _badges(np.asarray(image.convert("RGB"), dtype=np.int16))]


def erase_badges(image: Image.Image) -> Image.Image:
    """The crop with every badge-like blob (its filled outline, grown 2 px for the anti-aliased rim)
    painted in its background colour; the same image when there is none. Only the badge's own pixels
    go: the part of the icon it does not cover stays."""
    a16 = np.asarray(image.convert("RGB"), dtype=np.int16)
    found = _badges(a16)
    if not found:
        return image
    a = a16.astype(np.uint8).copy()
    bg = _background(a16).astype(np.uint8)
    grow = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5))
    for _, mask in found:
        a[cv2.dilate(mask, grow) > 0] = bg
    return Image.fromarray(a)

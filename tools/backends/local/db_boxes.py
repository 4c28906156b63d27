"""Text-line boxes from the DB detector's probability map: RapidOCR's post-processing, with less per-box overhead.

WHY: RapidOCR's `DBPostProcess` turns each contour of the thresholded map into a box with a dozen
numpy calls on 4-point arrays (scalar clips, a shapely Polygon per box for the unclip distance,
per-point Python loops). On a busy screen that is 300+ contours and 60-80 ms of single-threaded Python
on the critical path of every cold read (0.06 s of a 1280x800 rank_ui_elements, 0.08 s of a 1080p
embed_screenshot on this project's 2-core machine), next to 0.14-0.27 s for the network itself.

`db_boxes` returns exactly what `DBPostProcess.__call__` returns (the same boxes, in the same order,
as int32 quads after its `filter_det_res`): the same OpenCV primitives (findContours, minAreaRect,
boxPoints, fillPoly, mean) and the same pyclipper offset, with the arithmetic around them done on
Python numbers where that is exact (integer clipping, the stable sort of four corners), shapely's
area and length computed for all boxes at once (the same GEOS functions), and the final rescale
and clipping vectorised with the same float32 operations. `tests/test_db_boxes.py` compares it with
RapidOCR's own on real and generated screens.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np


def _mini_box(points: np.ndarray) -> tuple[np.ndarray, float]:
    """`DBPostProcess.get_mini_boxes`: the min-area rectangle's corners in its order, and its short side."""
    import cv2

    rect = cv2.minAreaRect(points)
    corners = cv2.boxPoints(rect)
    xs, ys = corners[:, 0].tolist(), corners[:, 1].tolist()
    a, b, c, d = sorted(range(4), key=xs.__getitem__)  # Python's sort is stable, as RapidOCR's `sorted` is
    i1, i4 = (a, b) if ys[b] > ys[a] else (b, a)
    i2, i3 = (c, d) if ys[d] > ys[c] else (d, c)
    return corners[[i1, i2, i3, i4]], min(rect[1])


def _score(pred: np.ndarray, box: np.ndarray) -> float:
    """`DBPostProcess.box_score_fast`: the mean probability inside the box. Bounds and the shifted
    corners on Python numbers: numpy's floor/ceil of a float32 corner is the same integer, and a
    float32 below 2^24 minus an integer is exact in float32 as in float64, so truncating it gives the
    polygon RapidOCR fills."""
    import cv2

    h, w = pred.shape[:2]
    (x0, y0), (x1, y1), (x2, y2), (x3, y3) = box.tolist()
    xmin = min(max(math.floor(min(x0, x1, x2, x3)), 0), w - 1)
    xmax = min(max(math.ceil(max(x0, x1, x2, x3)), 0), w - 1)
    ymin = min(max(math.floor(min(y0, y1, y2, y3)), 0), h - 1)
    ymax = min(max(math.ceil(max(y0, y1, y2, y3)), 0), h - 1)
    mask = np.zeros((ymax - ymin + 1, xmax - xmin + 1), dtype=np.uint8)
    poly = [[int(x - xmin), int(y - ymin)] for x, y in ((x0, y0), (x1, y1), (x2, y2), (x3, y3))]
    cv2.fillPoly(mask, np.array([poly], dtype=np.int32), 1)
    return float(cv2.mean(pred[ymin : ymax + 1, xmin : xmax + 1], mask)[0])


def _clockwise(box: np.ndarray) -> np.ndarray:
    """`DBPostProcess.order_points_clockwise`, with numpy's argsort as there (its tie order included)."""
    x_sorted = box[np.argsort(box[:, 0]), :]
    left, right = x_sorted[:2, :], x_sorted[2:, :]
    tl, bl = left[np.argsort(left[:, 1]), :]
    tr, br = right[np.argsort(right[:, 1]), :]
    return np.array([tl, tr, br, bl], dtype="float32")


def db_boxes(post: Any, pred: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """`post(pred, shape)[0]` for RapidOCR's `DBPostProcess` `post`: (n, 4, 2) quads in `shape`'s pixels."""
    import cv2
    import pyclipper
    import shapely

    src_h, src_w = shape
    prob = pred[0, 0]
    bitmap = prob > post.thresh
    if post.dilation_kernel is not None:
        bitmap = cv2.dilate(bitmap.astype(np.uint8), post.dilation_kernel)
    height, width = bitmap.shape
    contours = cv2.findContours(bitmap.astype(np.uint8) * 255, cv2.RETR_LIST, cv2.CHAIN_APPROX_SIMPLE)[-2]

    scored: list[np.ndarray] = []
    for contour in contours[: post.max_candidates]:
        box, short = _mini_box(contour)
        if short < post.min_size or post.box_thresh > _score(prob, box):
            continue
        scored.append(box)
    if not scored:
        return np.zeros((0, 4, 2), dtype=np.float32)
    polygons = shapely.polygons(np.stack(scored))  # one Polygon per box, as `unclip` makes, area and length at once
    distances = (shapely.area(polygons) * post.unclip_ratio / shapely.length(polygons)).tolist()

    grown: list[np.ndarray] = []
    for box, distance in zip(scored, distances, strict=True):
        offset = pyclipper.PyclipperOffset()
        offset.AddPath(box, pyclipper.JT_ROUND, pyclipper.ET_CLOSEDPOLYGON)
        expanded = np.array(offset.Execute(distance)).reshape((-1, 1, 2))
        quad, short = _mini_box(expanded)
        if short < post.min_size + 2:
            continue
        grown.append(quad)
    if not grown:
        return np.zeros((0, 4, 2), dtype=np.float32)
    quads = np.stack(grown)
    quads[:, :, 0] = np.clip(np.round(quads[:, :, 0] / width * src_w), 0, src_w)
    quads[:, :, 1] = np.clip(np.round(quads[:, :, 1] / height * src_h), 0, src_h)
    quads = quads.astype(np.int32)

    # `filter_det_res`: corners clockwise from top-left, clipped inside the image, boxes under 4 px dropped
    boxes = np.stack([_clockwise(quad) for quad in quads])
    boxes[:, :, 0] = np.trunc(np.minimum(np.maximum(boxes[:, :, 0], 0), src_w - 1))
    boxes[:, :, 1] = np.trunc(np.minimum(np.maximum(boxes[:, :, 1], 0), src_h - 1))
    # int(norm) <= 3 of integer-valued sides: exact in float32 and float64 alike near that bound
    width = np.hypot(*(boxes[:, 0] - boxes[:, 1]).T.astype(np.float64))
    height = np.hypot(*(boxes[:, 0] - boxes[:, 3]).T.astype(np.float64))
    keep = (width >= 4) & (height >= 4)
    return boxes[keep] if keep.any() else np.array([])

"""Candidate UI elements for a screenshot when the caller has none: OCR text lines plus edge regions.

An agent without an accessibility tree still needs boxes to rank. Two cheap, complementary
sources cover most clickable things on a screen:

- **OCR lines** (rapidocr 3.x through the local backend's OcrEngine): every readable label,
  link and menu entry; they also carry the text that the scorer compares with the instruction. A line box is grown by 0.6x its height
  left/right and 0.5x top/bottom, about a button's or link's padding around its text.
- **Edge regions**: icons, checkboxes, empty text fields and buttons have no letters. The
  proposal is: grey -> Sobel gradient magnitude -> threshold (mean + 1 std, at least 24/255)
  -> dilate with a small rectangular kernel at three sizes (3x3 keeps icons apart, 9x5 and
  15x9 join a button's outline, icon and label) -> connected components (OpenCV, a rapidocr
  dependency) -> keep components at least 8 px each way, at most half the image width wide
  and half its shorter side tall, aspect <= 12.
- Region boxes that largely repeat an OCR box (IoU >= 0.5) or each other (IoU >= 0.7) are
  dropped; OCR boxes are kept first, because they bring a label.

Coverage on the ui_grounding dev set (`python -m sensorium.tools.ranking.coverage EVAL_DIR`):
a target counts as covered when the centre of at least one proposal lies inside its box.
Measured on all 166 dev items / 42 screenshots (OCR through OcrEngine, max side 1600): OCR only
0.84, regions only 0.97, merged 0.97, ~315 proposals a screenshot; the stricter "some proposal
has IoU >= 0.5 with the target": OCR 0.27, regions 0.48, merged 0.61. The OCR padding and the
third kernel were chosen on this same dev set (merged IoU-0.5 coverage 0.50 -> 0.59 with the
same OCR words), so these numbers are optimistic for unseen screens.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Sequence
from typing import Any, Literal

import numpy as np
from PIL import Image
from pydantic import BaseModel, Field

log = logging.getLogger(__name__)

Box = tuple[int, int, int, int]
Source = Literal["given", "ocr", "region"]

MAX_PROPOSALS = 500
"""Same bound as the tool's candidate limit: more boxes only cost embedding time."""


class Proposal(BaseModel):
    box: Box = Field(description="[x1, y1, x2, y2] in image pixels, right/bottom exclusive")
    label: str | None = None
    role: str | None = None
    source: Source
    confidence: float | None = Field(None, description="OCR confidence for OCR lines")


class OcrWord(BaseModel):
    text: str
    box: Box
    score: float


# -- OCR -------------------------------------------------------------------------------------


class OcrReader:
    """OCR lines for proposals, through the local backend's `OcrEngine` (tools/backends/local/ocr.py).

    That engine already does what proposals need: rapidocr 3.x created lazily under a lock,
    capped threads, screens OCR'd at most `max_side` large with boxes scaled back, and an LRU
    cache by pixel content. Pass the running local backend's engine (`engine=`) so one
    onnxruntime session and one cache serve both embedding and ranking.
    """

    def __init__(self, engine: Any = None, *, max_side: int = 1600, threads: int = 2) -> None:
        self._engine = engine
        self._max_side = max_side
        self._threads = threads
        self._lock = threading.Lock()

    def _get(self) -> Any:
        with self._lock:
            if self._engine is None:
                from ..backends.local.ocr import OcrEngine

                self._engine = OcrEngine(max_side=self._max_side, threads=self._threads)
            return self._engine

    def read(self, image: Image.Image) -> list[OcrWord]:
        """Text lines with axis-aligned boxes in `image` pixels. Blocking: call it off the event loop."""
        result = self._get().read(image.convert("RGB"))
        return [OcrWord(text=ln.text, box=tuple(ln.box), score=float(ln.score)) for ln in result.lines if ln.text.strip()]


def words_from_extras(extras: dict[str, Any]) -> list[OcrWord] | None:
    """OCR a backend already did (Embedding.extras["ocr"]), so the screen is not read twice."""
    raw = extras.get("ocr")
    if not isinstance(raw, list):
        return None
    words: list[OcrWord] = []
    for w in raw:
        try:
            x1, y1, x2, y2 = (int(v) for v in w["box"])
            if x2 > x1 and y2 > y1 and str(w.get("text", "")).strip():
                words.append(OcrWord(text=str(w["text"]).strip(), box=(x1, y1, x2, y2), score=float(w.get("score", 1.0))))
        except (KeyError, TypeError, ValueError):
            continue
    return words


# -- geometry --------------------------------------------------------------------------------


def clip_box(box: Sequence[float], size: tuple[int, int]) -> Box | None:
    w, h = size
    x1, y1, x2, y2 = (int(round(v)) for v in box)
    x1, y1, x2, y2 = max(0, x1), max(0, y1), min(w, x2), min(h, y2)
    return (x1, y1, x2, y2) if x2 > x1 and y2 > y1 else None


def iou(a: Sequence[float], b: Sequence[float]) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def centre(box: Sequence[float]) -> tuple[float, float]:
    return ((box[0] + box[2]) / 2.0, (box[1] + box[3]) / 2.0)


def contains_point(box: Sequence[float], x: float, y: float) -> bool:
    return box[0] <= x < box[2] and box[1] <= y < box[3]


# -- proposals -------------------------------------------------------------------------------


def ocr_proposals(
    words: Iterable[OcrWord], size: tuple[int, int], pad_x: float = 0.6, pad_y: float = 0.5
) -> list[Proposal]:
    """One box per OCR line, grown by pad_x / pad_y times the line height (a button's padding)."""
    out: list[Proposal] = []
    for w in words:
        h = w.box[3] - w.box[1]
        px, py = int(pad_x * h), int(pad_y * h)
        box = clip_box((w.box[0] - px, w.box[1] - py, w.box[2] + px, w.box[3] + py), size)
        if box is not None:
            out.append(Proposal(box=box, label=w.text, source="ocr", confidence=round(w.score, 4)))
    return out


def region_proposals(image: Image.Image, kernels: Sequence[tuple[int, int]] = ((3, 3), (9, 5), (15, 9))) -> list[Proposal]:
    """Connected components of a dilated edge map, at each kernel size (see the module docstring)."""
    import cv2

    grey = np.asarray(image.convert("L"), dtype=np.float32)
    h, w = grey.shape
    gx = cv2.Sobel(grey, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(grey, cv2.CV_32F, 0, 1, ksize=3)
    mag = np.hypot(gx, gy)
    threshold = max(24.0 * 4, float(mag.mean() + mag.std()))  # Sobel 3x3 gain is ~4 for a unit step
    edges = (mag >= threshold).astype(np.uint8)
    out: list[Proposal] = []
    max_side = max(16, min(w, h) // 2)
    for kw, kh in kernels:
        mask = cv2.dilate(edges, np.ones((kh, kw), np.uint8))
        n, _, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
        for i in range(1, n):
            x, y, bw, bh, _area = (int(v) for v in stats[i])
            if bw < 8 or bh < 8 or bw > w // 2 or bh > max_side:
                continue
            if max(bw / bh, bh / bw) > 12:
                continue
            out.append(Proposal(box=(x, y, x + bw, y + bh), source="region"))
    return out


def merge(ocr: Sequence[Proposal], regions: Sequence[Proposal], limit: int = MAX_PROPOSALS) -> list[Proposal]:
    """OCR boxes first (they carry labels), then regions that add something new, smallest first."""
    kept: list[Proposal] = list(ocr[:limit])
    ordered = sorted(regions, key=lambda p: (p.box[2] - p.box[0]) * (p.box[3] - p.box[1]))
    for p in ordered:
        if len(kept) >= limit:
            break
        if any(iou(p.box, q.box) >= (0.5 if q.source == "ocr" else 0.7) for q in kept):
            continue
        kept.append(p)
    return kept


def propose(
    image: Image.Image, reader: OcrReader | None, words: list[OcrWord] | None = None, limit: int = MAX_PROPOSALS
) -> tuple[list[Proposal], list[OcrWord]]:
    """Proposals for one screenshot, plus the OCR words used (read now unless `words` is given)."""
    if words is None:
        words = reader.read(image) if reader is not None else []
    ocr = ocr_proposals(words, image.size)
    regions = region_proposals(image)
    return merge(ocr, regions, limit), words


def coverage(targets: Sequence[Sequence[float]], proposals: Sequence[Proposal]) -> float:
    """Fraction of target boxes that contain the centre of at least one proposal."""
    if not targets:
        return 0.0
    centres = [centre(p.box) for p in proposals]
    hit = sum(any(contains_point(t, x, y) for x, y in centres) for t in targets)
    return hit / len(targets)

"""Text on screens and images, with boxes, via RapidOCR 3.x (PP-OCRv6 det/rec ONNX bundled in the wheel).

The local backend sees images through their text, and UI ranking needs to know *where* each
piece of text is, so OCR returns lines with axis-aligned integer boxes in the pixels of the
image it was given, sorted in reading order (rows top to bottom, left to right in a row).

Cost: OCR is the slowest step of the local backend (recognition grows with the number of
text lines), so
- images are OCR'd at most `LocalSettings.ocr_max_side` on their longer side (boxes are scaled
  back to the original pixels);
- the angle classifier is off: screens are upright, and it cost ~15 % for nothing;
- results are cached by image content (a bounded LRU owned by the engine), so the same
  screenshot, or the same page embedded as query and document, is OCR'd once;
- below that, recognised text is cached per detected line crop, so a screen that changed in
  one place re-reads only the lines whose pixels changed (detection still runs on the whole).

RapidOCR's engine is created lazily (first call) under a lock and called under that lock;
its own logger writes to stderr only (never stdout, the MCP stdio channel) and is kept at
ERROR: its INFO chatter and its "no text detected" warning (normal for icons) would flood the log.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections import OrderedDict
from typing import TYPE_CHECKING, Any

import numpy as np
from PIL import Image
from pydantic import BaseModel, ConfigDict

from ...errors import BackendUnavailable, InvalidInput

if TYPE_CHECKING:
    from rapidocr import RapidOCR

log = logging.getLogger(__name__)


class OcrLine(BaseModel):
    """One recognised run of text: extras['ocr'] entries are these, dumped."""

    model_config = ConfigDict(frozen=True)

    text: str
    box: tuple[int, int, int, int]
    """x1, y1, x2, y2 in the pixels of the image that was passed in (x2/y2 exclusive)."""
    score: float
    row: int = 0
    """Reading-order row (lines whose vertical centres fall in one row's span share it)."""


class OcrResult(BaseModel):
    model_config = ConfigDict(frozen=True)

    lines: tuple[OcrLine, ...]
    """In reading order."""
    width: int
    height: int
    ms: float
    """Time of the OCR run that produced this result (a cache hit returns the same object, same figure)."""

    @property
    def text(self) -> str:
        """Rows joined by newlines, items of a row by spaces: the text the encoder embeds."""
        rows: list[list[str]] = []
        last = None
        for ln in self.lines:
            if ln.row != last:
                rows.append([])
                last = ln.row
            rows[-1].append(ln.text)
        return "\n".join(" ".join(r) for r in rows)

    def extras(self) -> list[dict[str, Any]]:
        """The `extras["ocr"]` convention: [{"text", "box": [x1, y1, x2, y2], "score"}]."""
        return [{"text": ln.text, "box": list(ln.box), "score": round(ln.score, 4)} for ln in self.lines]


def reading_order(lines: list[OcrLine]) -> tuple[OcrLine, ...]:
    """Group lines into rows (vertical centre inside the row's span), rows top-down, each left-right.

    A fixed pixel tolerance would fail across font sizes; comparing each box's centre with the
    vertical extent of the row it might join adapts to the text height.
    """
    rows: list[list[OcrLine]] = []
    spans: list[tuple[float, float]] = []
    for ln in sorted(lines, key=lambda item: ((item.box[1] + item.box[3]) / 2, item.box[0])):
        cy = (ln.box[1] + ln.box[3]) / 2
        if rows:
            top, bottom = spans[-1]
            if top <= cy <= bottom:
                rows[-1].append(ln)
                continue
        rows.append([ln])
        spans.append((ln.box[1], ln.box[3]))
    return tuple(
        ln.model_copy(update={"row": r}) for r, row in enumerate(rows) for ln in sorted(row, key=lambda item: item.box[0])
    )


def image_key(image: Image.Image) -> str:
    """Content hash of the decoded pixels (so a PNG and a lossless re-encode share an entry)."""
    h = hashlib.sha256()
    h.update(f"{image.mode}:{image.size[0]}x{image.size[1]}:".encode())
    h.update(image.tobytes())
    return h.hexdigest()


MIN_DETECT_SIDE = 64
"""Crops shorter than this are enlarged to it before detection (the detector works on a 32 px grid)."""


class OcrEngine:
    """RapidOCR behind a lock and an LRU cache; blocking (call through anyio.to_thread)."""

    def __init__(
        self, *, max_side: int = 1600, threads: int = 2, cache_size: int = 64, line_cache_size: int = 4096, min_score: float = 0.5
    ) -> None:
        if max_side < 32 or threads < 1 or cache_size < 0:
            raise InvalidInput(f"bad OCR settings: max_side={max_side}, threads={threads}, cache_size={cache_size}")
        self.max_side = max_side
        self.threads = threads
        self.cache_size = cache_size
        self.min_score = min_score
        self._engine: RapidOCR | None = None
        self._lock = threading.Lock()
        self._cache: OrderedDict[str, OcrResult] = OrderedDict()
        self._lines: OrderedDict[bytes, tuple[str, float]] = OrderedDict()
        self.line_cache_size = line_cache_size
        self._incremental = True
        self.hits = 0
        self.misses = 0
        self.lines_recognised = 0
        self.lines_reused = 0

    @property
    def loaded(self) -> bool:
        return self._engine is not None

    def _load(self) -> RapidOCR:
        """Create the engine (caller holds the lock)."""
        if self._engine is None:
            try:
                from rapidocr import RapidOCR
            except ImportError as exc:
                raise BackendUnavailable("OCR needs the `rapidocr` package (3.x): pip install 'rapidocr>=3.4,<4'") from exc
            try:
                self._engine = RapidOCR(
                    params={
                        "Global.log_level": "error",  # "no text detected" is a WARNING there, and normal here
                        "Global.use_cls": False,
                        "Global.text_score": self.min_score,
                        # RapidOCR's default ("min", 736) blows every small crop up to 736 px on its
                        # short side: a 40x120 button became 2208x736 and took seconds. Capping the long
                        # side instead leaves screens as they are (we downscale them to max_side already)
                        # and small crops small; _run enlarges only crops too small to detect.
                        "Det.limit_type": "max",
                        "Det.limit_side_len": self.max_side,
                        "EngineConfig.onnxruntime.intra_op_num_threads": self.threads,
                        "EngineConfig.onnxruntime.inter_op_num_threads": 1,
                    }
                )
            except Exception as exc:  # its model files are checked and loaded here
                raise BackendUnavailable(f"RapidOCR failed to start ({exc}); reinstall `pip install --force-reinstall rapidocr`") from exc
            logging.getLogger("RapidOCR").setLevel(logging.ERROR)  # its constructor resets the level
        return self._engine

    def load(self) -> None:
        with self._lock:
            self._load()

    def read(self, image: Image.Image, *, key: str | None = None) -> OcrResult:
        """Lines of text with boxes in `image`'s pixels, in reading order (cached by content)."""
        if image.width < 1 or image.height < 1:
            raise InvalidInput(f"cannot OCR an empty image ({image.width}x{image.height})")
        rgb = image if image.mode == "RGB" else image.convert("RGB")
        key = key or image_key(rgb)
        with self._lock:
            cached = self._cache.get(key)
            if cached is not None:
                self._cache.move_to_end(key)
                self.hits += 1
                return cached
        result = self._run(rgb)
        with self._lock:
            self.misses += 1
            if self.cache_size:
                self._cache[key] = result
                self._cache.move_to_end(key)
                while len(self._cache) > self.cache_size:
                    self._cache.popitem(last=False)
        return result

    def _run(self, rgb: Image.Image) -> OcrResult:
        w, h = rgb.size
        work = rgb
        if max(w, h) > self.max_side:
            scale = self.max_side / max(w, h)
            work = rgb.resize((max(1, round(w * scale)), max(1, round(h * scale))), Image.Resampling.BILINEAR)
        elif min(w, h) < MIN_DETECT_SIDE:
            scale = min(MIN_DETECT_SIDE / min(w, h), self.max_side / max(w, h))
            work = rgb.resize((max(1, round(w * scale)), max(1, round(h * scale))), Image.Resampling.BICUBIC)
        bgr = np.ascontiguousarray(np.asarray(work)[:, :, ::-1])  # RapidOCR takes arrays as BGR (OpenCV order)
        t0 = time.perf_counter()
        with self._lock:
            engine = self._load()
            raw = self._recognise(engine, bgr)
        ms = (time.perf_counter() - t0) * 1000
        lines: list[OcrLine] = []
        sx, sy = w / work.width, h / work.height
        for quad, txt, score in raw:
            text = str(txt).strip()
            if not text or score < self.min_score:
                continue
            q = np.asarray(quad, dtype=np.float64).reshape(-1, 2)
            x1 = int(np.clip(np.floor(q[:, 0].min() * sx), 0, w - 1))
            y1 = int(np.clip(np.floor(q[:, 1].min() * sy), 0, h - 1))
            x2 = int(np.clip(np.ceil(q[:, 0].max() * sx), x1 + 1, w))
            y2 = int(np.clip(np.ceil(q[:, 1].max() * sy), y1 + 1, h))
            lines.append(OcrLine(text=text, box=(x1, y1, x2, y2), score=float(score)))
        log.debug("OCR %dx%d (run at %dx%d): %d lines in %.0f ms", w, h, work.width, work.height, len(lines), ms)
        return OcrResult(lines=reading_order(lines), width=w, height=h, ms=round(ms, 1))

    def _recognise(self, engine: RapidOCR, bgr: np.ndarray) -> list[tuple[Any, str, float]]:
        """(quad, text, score) per detected line; the caller holds the lock.

        Detection runs on the whole image; recognition (~80 % of the time on a busy screen)
        runs only for line crops whose pixels were not recognised before. A re-capture of a
        screen where a clock ticked or a field got a character re-reads one or two lines, not
        eighty: the "only the tiles that changed" saving, without needing to know which
        capture came before. Uses RapidOCR's pipeline steps; if a future 3.x renames them,
        this falls back to the plain one-call pipeline (same results, no line reuse).
        """
        if self._incremental:
            try:
                return self._recognise_incremental(engine, bgr)
            except (AttributeError, ImportError, TypeError, KeyError) as exc:
                log.warning("RapidOCR's pipeline steps changed (%s): OCR falls back to whole-image runs", exc)
                self._incremental = False
        out = engine(bgr)
        boxes, txts, scores = getattr(out, "boxes", None), getattr(out, "txts", None), getattr(out, "scores", None)
        if boxes is None or txts is None or not len(txts):
            return []
        self.lines_recognised += len(txts)
        return list(zip(boxes, txts, scores or [1.0] * len(txts), strict=False))

    @staticmethod
    def _line_key(img: np.ndarray, quad: Any, grid: int = 8) -> bytes:
        """The pixels around a detected line, on an 8 px grid.

        Detection boxes jitter by a pixel when something elsewhere on the screen changes, so the
        exact crop is a poor key; the image region under the box snapped outwards to the grid
        is stable, and any changed pixel inside it (a new character) changes the key.
        """
        q = np.asarray(quad, dtype=np.float64).reshape(-1, 2)
        h, w = img.shape[:2]
        x1 = int(max(0, np.floor(q[:, 0].min() / grid) * grid))
        y1 = int(max(0, np.floor(q[:, 1].min() / grid) * grid))
        x2 = int(min(w, np.ceil(q[:, 0].max() / grid) * grid))
        y2 = int(min(h, np.ceil(q[:, 1].max() / grid) * grid))
        region = np.ascontiguousarray(img[y1:y2, x1:x2])
        return hashlib.blake2b(f"{x1},{y1},{x2},{y2}".encode() + region.tobytes(), digest_size=16).digest()

    def _recognise_incremental(self, engine: RapidOCR, bgr: np.ndarray) -> list[tuple[Any, str, float]]:
        from rapidocr.utils.process_img import apply_vertical_padding, map_boxes_to_original

        ori = engine.load_img(bgr)
        img, op_record = engine.preprocess_img(ori)
        if engine.cfg.Global.use_vertical_padding:
            img, op_record = apply_vertical_padding(img, op_record, engine.width_height_ratio, engine.min_height)
        else:
            op_record["padding_1"] = {"top": 0, "left": 0}
        det = engine._load_det_model()(img)
        if det.boxes is None or len(det.boxes) == 0:
            return []
        keys = [self._line_key(img, quad) for quad in det.boxes]
        todo = [i for i, k in enumerate(keys) if k not in self._lines]
        if todo:
            crops = engine.crop_text_regions(img, [det.boxes[i] for i in todo])
            rec = engine.recognize_txt(crops)
            for i, txt, score in zip(todo, rec.txts or (), rec.scores or (), strict=False):
                self._lines[keys[i]] = (str(txt), float(score))
            self.lines_recognised += len(todo)
        self.lines_reused += len(keys) - len(todo)
        boxes = map_boxes_to_original(det.boxes, op_record, ori.shape[0], ori.shape[1])
        out = []
        for i, k in enumerate(keys):
            txt, score = self._lines.get(k, ("", 0.0))
            if k in self._lines:
                self._lines.move_to_end(k)
            out.append((boxes[i], txt, score))
        while len(self._lines) > self.line_cache_size:
            self._lines.popitem(last=False)
        return out

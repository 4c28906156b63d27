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
- a capture of the same size as one of the last few reads that differs from it in a few pixels
  (a typed character, a ticking clock) is re-detected only in regions around the changed pixels
  and the lines they touch, and only lines the change touches are read again; every other line is
  kept from the earlier read (`ocr_change` has the rules). The result agrees with a full read of the
  new screen to within the 1-3 px the detector itself moves boxes by when any pixel changes (it has
  global-pooling blocks);
- below that, recognised text is cached per detected line crop, so only lines whose pixels
  changed are recognised again;
- recognition runs its own loop over RapidOCR's recogniser (`rec_plan`): RapidOCR pads every batch
  to 320 px at the model's 48 px height, so a 5-letter label cost what a long line does; only
  glyph-sized crops keep that canvas now, the rest are padded to >= 192 px and batched with crops of
  nearly their width (99.1 % of lines identical on 880 dev/generated lines, recognition CPU 0.75x);
- a caller in a hurry (rank_ui_elements without candidates) reads a new screen under a recognition
  budget (`read(budget=)`, `cold_plan`): free-standing lines (labels, buttons, menu entries, keys)
  first, cheapest first, until the budget; the rest stay `deferred` (boxes only) until a read without
  a budget, `complete(key)`, or the background worker (`read_later`) recognises them and publishes the
  complete result under the same key;
- embedding an image reads only the lines a caller's rule picks from every detected box
  (`read_chosen`; the rule is the local backend's `screen_read.choose_lines`), so the choice, and
  the vector, do not depend on what was read before;
- detection is one step (`_detect`) for full reads and change re-reads: DB on the whole image (`text_detector="db"`,
  the default), or `lines.detect_lines` ("hybrid": a classical line detector on flat, text-like tiles and
  DB on the rest; ~0.15-0.5x DB's CPU, but 0.96 line recall vs DB, so not the default: docs/RANKING.md);
- onnxruntime's memory arena is on and recognition batches are small (see LocalSettings):
  issue 14 measured 0.88-0.90x (arena) and 0.86-0.90x (batch 1-3) on a quiet machine; bench/bench_ocr.py
  compares them with RapidOCR's defaults, but on a loaded machine (load 6-12 on 2 cores) its cold
  ratios stayed within noise (0.94-1.10x). Tried and rejected (issue 14):
  int8 dynamic quantisation of the recogniser (MatMul only, or MatMul+Conv) was slower, 0.9-2.2x;
  static QDQ int8 (calibrated on PIL-rendered text, not on eval data) cost 0.82x CPU but only
  86.9 % of lines stayed identical on 4 dev screenshots, below the 98 % bar. Session 11 built one that
  reads as well on the measures that matter (ground truth of generated screens, grounding): the int8
  recogniser (`ocr_recogniser.py`, docs/OCR_RECOGNISER.md), used where int8 is exact, lone glyphs left to fp32.

RapidOCR's engine is created lazily (first call) under a lock and called under that lock;
its own logger writes to stderr only (never stdout, the MCP stdio channel) and is kept at
ERROR: its INFO chatter and its "no text detected" warning (normal for icons) would flood the log.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from PIL import Image
from pydantic import BaseModel, ConfigDict

from ...config import LocalSettings
from ...errors import BackendUnavailable, InvalidInput
from ...heap import freeze_long_lived
from . import ocr_change
from .db_boxes import db_boxes
from .ort_spin import rapidocr_spinning
from .ocr_detector import ASSETS as INT8_ASSETS
from .ocr_detector import INT8_BOX_THRESH, DetectorChoice, detector_model, rapidocr_model
from .ocr_recogniser import RecogniserChoice, recogniser_model
from .rec_lanes import Recognisers, make_lanes, run_in_lanes, runner

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
    deferred: tuple[tuple[int, int, int, int], ...] = ()
    """Boxes of lines detected but not recognised yet: a read under a recognition budget (`read(budget=)`)
    reads the lines most likely to be targets first and leaves these for later (`complete`)."""
    dropped: tuple[tuple[int, int, int, int], ...] = ()
    """Boxes of lines detected and recognised as nothing (empty or below the score floor). With `lines`
    and `deferred` they make every detected box, the same set whether the read is partial or complete:
    a rule that picks lines by geometry (`read_chosen`) must see the same boxes either way."""

    @property
    def complete(self) -> bool:
        return not self.deferred

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

GRID = ocr_change.GRID
"""The detector's stride: its input sides are multiples of this, and a region cut on this grid sees the
same pixels at the same phase as the full read did."""

GROW_ROUNDS = 2
"""Times a change re-read may grow its regions around lines they cut before it reads the whole screen."""

_Raw = tuple[np.ndarray, str | None, float]
"""One detected line in work-image pixels: its quadrilateral (4x2), text (None: deferred, not read yet),
score (before filtering)."""

FirstLines = Callable[[np.ndarray, np.ndarray], np.ndarray]
"""Given the BGR image the detector saw and the boxes (n, 4: x1, y1, x2, y2 in its pixels) of lines not
read yet, an int per line: its place among the lines to read in this round whatever the budget (0 =
best guess), -1 for the rest (`OcrEngine.read(first=)`, `read_more`, `cold_plan`)."""


class _Read:
    """A full-screen read kept so the next capture of the same screen re-detects only what changed."""

    __slots__ = ("work", "lines")

    def __init__(self, work: np.ndarray, lines: list[_Raw]) -> None:
        self.work = work
        self.lines = lines


class _Partial:
    """A read under a budget whose deferred lines (text None in `raw`) are still to be recognised.

    `raw` is the same list object the remembered `_Read` holds, so filling it in completes both.
    `running`: per line, whether it sits in running text (`running_text`); its lines' boxes never change,
    so it is judged once, not on every background step and every round (O(n^2) in the lines)."""

    __slots__ = ("bgr", "raw", "size", "running")

    def __init__(self, bgr: np.ndarray, raw: list[_Raw], size: tuple[int, int]) -> None:
        self.bgr = bgr
        self.raw = raw
        self.size = size
        self.running = running_text([ln[0] for ln in raw])


class _ForegroundGate:
    """How many foreground calls are waiting for or holding the engine lock; the background worker starts
    no step while any is (`OcrEngine._work`).

    WHY every foreground lock goes through it, the cache lookup at the top of `read` included: Python's
    Lock is not fair, and the worker releases and re-takes it between steps in a tight loop, so a call
    that waited for the lock without saying so waited for every deferred line of the screen (an
    embed_screenshot of a changed screen right after a cold one took 3.2-4.7 s instead of 0.1-0.2 s,
    `python bench/bench_ranking.py`). The count has its own lock: `+= 1` from two threads can lose one."""

    def __init__(self) -> None:
        self._count = 0
        self._lock = threading.Lock()

    def __enter__(self) -> None:
        with self._lock:
            self._count += 1

    def __exit__(self, *exc: object) -> None:
        with self._lock:
            self._count -= 1

    def __bool__(self) -> bool:
        return self._count > 0


def engine_from_settings(settings: LocalSettings) -> OcrEngine:
    """The engine as LocalSettings configure it: one place for the server, the local backend and the eval."""
    return OcrEngine(
        max_side=settings.ocr_max_side, threads=settings.threads, cache_size=settings.ocr_cache_size,
        rec_batch=settings.ocr_rec_batch, rec_lanes=settings.ocr_rec_lanes, mem_arena=settings.ocr_mem_arena, spin_wait=settings.ocr_spin_wait,
        history=settings.ocr_history,
        max_changed=settings.ocr_max_changed, cold_budget=settings.ocr_cold_budget, text_detector=settings.text_detector,
        detector=settings.ocr_detector, recogniser=settings.ocr_recogniser,
    )


class OcrEngine:
    """RapidOCR behind a lock and an LRU cache; blocking (call through anyio.to_thread).

    Three layers of reuse, cheapest first: the same pixels return the cached result; a capture of
    the same size that differs from a recent one in a few pixels re-detects only around them and
    re-reads only the lines they touch (old lines elsewhere are kept); any detected line whose
    pixels were read before takes its text from the line cache.
    """

    def __init__(
        self,
        *,
        max_side: int = 1600,
        threads: int = 2,
        cache_size: int = 64,
        line_cache_size: int = 4096,
        min_score: float = 0.5,
        rec_batch: int = 3,
        mem_arena: bool = True,
        spin_wait: bool = False,
        history: int = 4,
        max_changed: float = 0.35,
        own_rec_loop: bool = True,
        cold_budget: int = 0,
        text_detector: str = "db",
        detector: DetectorChoice = "auto",
        int8_assets: Path | None = None,
        recogniser: RecogniserChoice = "auto",
        rec_lanes: int = 2,
    ) -> None:
        if (max_side < 32 or threads < 1 or cache_size < 0 or rec_batch < 1 or rec_lanes < 1 or history < 0 or not 0 <= max_changed <= 1
                or cold_budget < 0 or text_detector not in ("db", "hybrid") or detector not in ("auto", "int8", "fp32")
                or recogniser not in ("auto", "int8", "fp32")):
            raise InvalidInput(
                f"bad OCR settings: max_side={max_side}, threads={threads}, cache_size={cache_size}, "
                f"rec_batch={rec_batch}, rec_lanes={rec_lanes}, history={history}, max_changed={max_changed}, cold_budget={cold_budget}, "
                f"text_detector={text_detector!r} (db or hybrid), detector={detector!r} (auto, int8 or fp32), "
                f"recogniser={recogniser!r} (auto, int8 or fp32)"
            )
        self.detector: DetectorChoice = detector
        """The DB model's precision: RapidOCR's fp32 file or this project's int8 copy (`ocr_detector.py`)."""
        self.int8_assets = int8_assets or INT8_ASSETS
        """Folder of the int8 models and their manifest (the package's; a rebuilt one for the build steps' tests)."""
        self.recogniser: RecogniserChoice = recogniser
        """The recogniser's precision: RapidOCR's fp32 file or this project's int8 copy (`ocr_recogniser.py`)."""
        self.text_detector = text_detector
        """db: PP-OCR's DB detector on the whole image; hybrid: `lines.detect_lines` (classical where trusted)."""
        self.max_side = max_side
        self.threads = threads
        self.cache_size = cache_size
        self.min_score = min_score
        self.rec_batch = rec_batch
        self.rec_lanes = min(rec_lanes, threads)
        """Recogniser lanes (`rec_lanes.py`): single-threaded session copies reading batches side by side,
        `threads // rec_lanes` threads each; 1 = RapidOCR's session alone."""
        self.mem_arena = mem_arena
        self.spin_wait = spin_wait
        """onnxruntime's intra-op spin-waiting for the OCR sessions (ort_spin.py says why it is off)."""
        self.history = history
        self.max_changed = max_changed
        self.own_rec_loop = own_rec_loop
        """False: RapidOCR's own recognition loop (its 320 px canvas for every batch), for A/B benches."""
        self.cold_budget = cold_budget
        """Recognition budget of a first read when the caller asks for one (`read(budget=...)`), in
        recogniser columns (see `cold_plan`); 0 = callers read everything."""
        self._partial: OrderedDict[str, _Partial] = OrderedDict()
        self._worker: threading.Thread | None = None
        self._after: list[Callable[[], None]] = []
        self._foreground = _ForegroundGate()  # calls waiting for the lock: the background worker yields to them
        self._closed = False
        self._engine: RapidOCR | None = None
        self._recognisers: Recognisers | None = None
        """RapidOCR's recogniser and the int8 one (or None) at `threads` each: reads of one batch."""
        self._lanes: list[Recognisers] = []
        self._lock = threading.Lock()
        self._worker_lock = threading.Lock()
        """Guards `_worker`, `_after`, `_closed`: held only briefly, so read_later never waits for the engine."""
        self._cache: OrderedDict[str, OcrResult] = OrderedDict()
        self._lines: OrderedDict[bytes, tuple[str, float]] = OrderedDict()
        self._reads: list[_Read] = []
        self._replay = False
        """Inside `replaying_cold`: budgets plan over every line, read before or not."""
        self.line_cache_size = line_cache_size
        self._incremental = True
        self.hits = 0
        self.misses = 0
        self.lines_recognised = 0
        self.lines_reused = 0
        self.reads_full = 0
        self.reads_banded = 0
        self.reads_unchanged = 0
        self.rows_redetected = 0
        self.pixels_redetected = 0
        self.lines_deferred = 0
        self.lines_completed = 0

    @property
    def loaded(self) -> bool:
        return self._engine is not None

    def _load(self) -> RapidOCR:
        """Create the engine (caller holds the lock)."""
        if self._engine is None:
            try:
                from onnxruntime import InferenceSession
                from rapidocr import RapidOCR
            except ImportError as exc:
                raise BackendUnavailable("OCR needs the `rapidocr` package (3.x): pip install 'rapidocr>=3.4,<4'") from exc
            # verified before use; a bad copy is a clear error
            det_path = detector_model(self.detector, self.int8_assets)
            rec_path = recogniser_model(self.recogniser, self.int8_assets)
            try:
                with rapidocr_spinning(self.spin_wait):
                    engine = RapidOCR(
                        params={
                            "Global.log_level": "error",  # "no text detected" is a WARNING there, and normal here
                            "Global.use_cls": False,
                            "Global.text_score": self.min_score,
                            # its own pre-shrink (2000 px) must never touch what we already sized
                            "Global.max_side_len": max(2000, self.max_side + GRID),
                            # RapidOCR's default ("min", 736) blows every small crop up to 736 px on its
                            # short side: a 40x120 button became 2208x736 and took seconds. Capping the long
                            # side instead leaves screens as they are (we downscale them to max_side already)
                            # and small crops small; _work_image enlarges only crops too small to detect.
                            "Det.limit_type": "max",
                            "Det.limit_side_len": self.max_side + GRID,
                            "EngineConfig.onnxruntime.intra_op_num_threads": self.threads,
                            "EngineConfig.onnxruntime.inter_op_num_threads": 1,
                            # RapidOCR ships the arena off; on, a cold screen read took 0.88-0.90x the time
                            # (allocations of the variable-sized activations are reused instead of malloc'd)
                            "EngineConfig.onnxruntime.enable_cpu_mem_arena": self.mem_arena,
                            # crops are sorted by aspect and padded to the widest of their batch: smaller
                            # batches pad less (measured in bench/bench_ocr.py and the module docstring)
                            "Rec.rec_batch_num": self.rec_batch,
                            **({"Det.model_path": str(det_path), "Det.box_thresh": INT8_BOX_THRESH} if det_path else {}),
                        }
                    )
                    # RapidOCR creates its sessions lazily; create both here, where the spin option applies
                    # (and so the first read pays no model load)
                    engine._load_det_model()
                    rec = engine._load_rec_model()
                    # the int8 recogniser reads text lines; lone glyphs stay with RapidOCR's fp32 one
                    # (`_recognise_crops` says why). Same session options as RapidOCR's own session.
                    int8 = None if rec_path is None else InferenceSession(
                        str(rec_path), sess_options=rec.session.session.get_session_options(),
                        providers=rec.session.session.get_providers(),
                    )
                    self._recognisers = Recognisers(rec.session, None if int8 is None else runner(int8))
                    if self.rec_lanes > 1:
                        self._lanes = make_lanes(
                            rapidocr_model("rec"), rec_path, lanes=self.rec_lanes, threads=self.threads // self.rec_lanes,
                            mem_arena=self.mem_arena, spin_wait=self.spin_wait,
                        )
            except Exception as exc:  # its model files are checked and loaded here
                raise BackendUnavailable(f"RapidOCR failed to start ({exc}); reinstall `pip install --force-reinstall rapidocr`") from exc
            self._engine = engine
            logging.getLogger("RapidOCR").setLevel(logging.ERROR)  # its constructor resets the level
            freeze_long_lived("the OCR engine")
        return self._engine

    def load(self) -> None:
        with self._lock:
            self._load()

    def detector_input(self, image: Image.Image) -> np.ndarray:
        """The tensor the text detector gets for `image` on a full read (`_detector_tensor` of the work
        image): what the int8 detector is calibrated on."""
        bgr = np.ascontiguousarray(np.asarray(self._work_image(image.convert("RGB")))[:, :, ::-1])
        with self._lock:
            det = self._load()._load_det_model()
        x = _detector_tensor(det, bgr)
        if x is None:
            raise InvalidInput(f"image {image.size} is too small for the text detector")
        return x

    def clear(self) -> None:
        """Forget every cached result, line text and remembered read (the models stay loaded):
        the next read is cold. For benchmarks and for callers that know the screen is gone."""
        with self._lock:
            self._lines.clear()
            self._forget_reads()

    def _forget_reads(self) -> None:
        """Drop whole reads (results, remembered reads, partial reads), keeping line texts; the caller
        holds the lock."""
        self._cache.clear()
        self._reads.clear()
        self._partial.clear()

    @contextlib.contextmanager
    def replaying_cold(self) -> Iterator[None]:
        """Reads inside the block go as on a screen never seen: whole reads are forgotten (on entry and
        on exit) and a budget plans over every detected line, but a line whose text was recognised
        before is taken from the line cache at no cost when the plan reaches it. WHY: the eval asks many
        instructions of one screenshot, and the tool's rounds depend on the instruction (word spotting
        reads its words first); replaying each item's rounds as a cold call makes them, so `proposed`
        is decided exactly as `rank_ui_elements` decides, for a detection per item instead of a full
        cold read."""
        with self._lock:
            self._forget_reads()
            self._replay = True
        try:
            yield
        finally:
            with self._lock:
                self._replay = False
                self._forget_reads()

    def read(
        self, image: Image.Image, *, key: str | None = None, budget: int | None = None, first: FirstLines | None = None
    ) -> OcrResult:
        """Lines of text with boxes in `image`'s pixels, in reading order (cached by content).

        `budget=None` reads every line. With a budget (recogniser columns, see `cold_plan`) a screen
        read for the first time recognises its likely targets first (short, free-standing lines) and
        leaves the rest in `result.deferred`; `complete(key)` or `read_later()` reads them, and any
        read without a budget returns the complete result. Lines read before cost nothing either way.
        `first` (with a budget) picks, from the detected lines' pixels, lines to recognise in this read
        on top of the budget's (`tools/ranking/spotting.py`: the ones that look like the instruction's words).
        """
        if image.width < 1 or image.height < 1:
            raise InvalidInput(f"cannot OCR an empty image ({image.width}x{image.height})")
        rgb = image if image.mode == "RGB" else image.convert("RGB")
        key = key or image_key(rgb)
        with self._foreground:
            with self._lock:
                cached = self._cache.get(key)
                if cached is not None:
                    self._cache.move_to_end(key)
                    self.hits += 1
                    if not cached.deferred or budget is not None:
                        return cached
            if cached is not None:
                return self.complete(key) or cached
            result = self._run(rgb, key, budget, first)
            with self._lock:
                self.misses += 1
                if self.cache_size:
                    self._cache[key] = result
                    self._cache.move_to_end(key)
                    while len(self._cache) > self.cache_size:
                        self._cache.popitem(last=False)
            return result

    def read_chosen(
        self, image: Image.Image, choose: Callable[[list[tuple[int, int, int, int]]], Sequence[int]], *, key: str | None = None
    ) -> tuple[OcrResult, set[tuple[int, int, int, int]]]:
        """Detect every line, recognise only the ones `choose` picks from all detected boxes, and
        return the read (other lines stay deferred unless read before) with the chosen boxes.

        WHY: embedding a screen needs a vector that is a function of the screen alone. `choose` sees
        every detected box (`lines` + `deferred` + `dropped`: the same set for a cold read, a partial
        read left by rank_ui_elements and a complete one), so the same pixels give the same chosen lines
        and the same text, however much of the screen was read before. Lines already read cost nothing;
        `read_later()` or a read without a budget completes the rest under the same key.
        """
        rgb = image if image.mode == "RGB" else image.convert("RGB")
        key = key or image_key(rgb)
        res = self.read(rgb, key=key, budget=0)  # detection (and any line read before), nothing new recognised
        boxes = [ln.box for ln in res.lines] + list(res.deferred) + list(res.dropped)
        chosen = {boxes[i] for i in choose(boxes)}
        need = chosen.intersection(res.deferred)
        if need:
            res = self._recognise_boxes(key, need) or self.read(rgb, key=key)  # partial gone (completed, evicted): read in full
        return res, chosen

    def _recognise_boxes(self, key: str, boxes: set[tuple[int, int, int, int]]) -> OcrResult | None:
        """Recognise the deferred lines of the partial read under `key` whose boxes (caller's pixels) are
        in `boxes`, and cache the read as it now stands (complete when nothing is left); None when no
        partial read is pending under `key`."""

        def chosen(part: _Partial) -> list[int]:
            work_size = (part.bgr.shape[1], part.bgr.shape[0])
            return [i for i, ln in enumerate(part.raw) if ln[1] is None and _image_box(ln[0], part.size, work_size) in boxes]

        return self._grow_partial(key, chosen)

    def _grow_partial(self, key: str, pick: Callable[[_Partial], list[int] | None]) -> OcrResult | None:
        """Recognise the lines `pick` chooses from the partial read under `key` and publish the read as it
        now stands (dropping the partial entry once nothing is deferred). None when nothing is pending
        under `key` or `pick` says there is nothing to read. The one way a foreground call grows a
        partial read (`read_chosen`'s boxes, `read_more`'s rounds): the background worker yields to it."""
        with self._foreground, self._lock:
            part = self._partial.get(key)
            if part is None:
                return None
            step = pick(part)
            if step is None:
                return None
            if step:
                texts = self._texts(self._load(), part.bgr, np.stack([part.raw[i][0] for i in step]), running=part.running[step])
                for i, (t, sc) in zip(step, texts, strict=True):
                    part.raw[i] = (part.raw[i][0], t, sc)
                self.lines_completed += len(step)
            old = self._cache.get(key)
            result = self._result(part.raw, part.size, (part.bgr.shape[1], part.bgr.shape[0]), old.ms if old else 0.0)
            if not result.deferred:
                del self._partial[key]
            if self.cache_size:
                self._cache[key] = result
                self._cache.move_to_end(key)
            return result

    # -- deferred lines ---------------------------------------------------------------------------
    def complete(self, key: str, *, max_lines: int | None = None) -> OcrResult | None:
        """Recognise the deferred lines of the read cached under `key` (at most `max_lines` of them:
        the background worker goes in small steps so a new read waits little) and, once none are
        left, publish the complete result under `key`. Returns the result when it is complete, None
        when lines remain or nothing is pending under `key`."""
        with self._foreground if max_lines is None else contextlib.nullcontext(), self._lock:
            part = self._partial.get(key)
            if part is None:
                got = self._cache.get(key)
                return got if got is not None and not got.deferred else None
            todo = [i for i, ln in enumerate(part.raw) if ln[1] is None]
            step = todo if max_lines is None else todo[:max_lines]
            if step:
                engine = self._load()
                texts = self._texts(engine, part.bgr, np.stack([part.raw[i][0] for i in step]), running=part.running[step])
                for i, (t, sc) in zip(step, texts, strict=True):
                    part.raw[i] = (part.raw[i][0], t, sc)
                self.lines_completed += len(step)
            if len(step) < len(todo):
                return None
            del self._partial[key]
            old = self._cache.get(key)
            result = self._result(part.raw, part.size, (part.bgr.shape[1], part.bgr.shape[0]), old.ms if old else 0.0)
            if self.cache_size:
                self._cache[key] = result
            return result

    def read_more(self, key: str, budget: int, first: FirstLines | None = None) -> OcrResult | None:
        """One more round of a budgeted read: recognise the free-standing lines (labels, buttons, keys:
        `stacked_lines` False) still deferred under `key`, cheapest first, within `budget` columns, and
        publish the grown (still partial, or complete) result under `key`. None when no free-standing
        line is left unread (or nothing is pending under `key`): the caller then reads the rest in full.
        WHY rounds: a target that did not fit the first budget (the 20th cheapest label) is usually in
        the next few thousand columns, far cheaper than reading every terminal and paragraph line.
        `first`: as in `read`, among these lines."""

        def round_of(part: _Partial) -> list[int] | None:
            todo = [i for i, ln in enumerate(part.raw) if ln[1] is None and not part.running[i]]
            if not todo:
                return None
            hulls = _hulls([part.raw[i][0] for i in todo])
            now = cold_plan(hulls, budget, None if first is None else first(part.bgr, hulls))
            return [i for i, n in zip(todo, now, strict=True) if n] or [todo[int(np.argmin(line_costs(hulls)))]]

        return self._grow_partial(key, round_of)

    def pending(self) -> int:
        """Reads that still have deferred lines."""
        with self._lock:
            return len(self._partial)

    def read_later(self, then: Callable[[], None] | None = None) -> None:
        """Read every deferred line in a background thread (newest read first), in steps of a few
        lines so a foreground read waits at most one step, then run `then` (e.g. embed the now
        complete screen's elements, so the next call finds them cached). Call it once the answer that
        needed the budget is out: on 2 cores the worker would otherwise slow that answer down."""
        # Only the worker's own lock, never the engine's: read_later runs on the event loop right after an
        # answer, and the engine lock is held by a background step (seconds on a loaded machine); taking it
        # here blocked the loop for 0.5-1 s when an embed_screenshot came right after another.
        with self._worker_lock:
            if self._closed:
                return
            if then is not None:
                self._after.append(then)
            if not self._partial and not self._after:  # len() of a dict is atomic; a worker that saw it empty
                return  # decided under both locks, so it has already let go of `_worker` (below)
            if self._worker is not None and self._worker.is_alive():
                return
            self._worker = threading.Thread(target=self._work, name="ocr-deferred", daemon=True)
            self._worker.start()

    def close(self, timeout: float = 30.0) -> None:
        """Stop the background worker after its current step and wait for it (bounded).

        WHY: the worker is a daemon thread; a process that exits while it is inside onnxruntime dies
        with "terminate called without an active exception" (SIGABRT, measured with the bounded
        embed read leaving work behind). Deferred lines stay unread; later reads still work (they
        read in the foreground), only `read_later` does nothing any more."""
        with self._worker_lock:
            self._closed = True
            worker = self._worker
        if worker is not None and worker is not threading.current_thread():
            worker.join(timeout)

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Wait for the background worker to finish (tests, benches); True when nothing is pending."""
        with self._worker_lock:
            worker = self._worker
        if worker is not None:
            worker.join(timeout)
        return self.pending() == 0

    def _work(self) -> None:
        while True:
            if self._closed:
                with self._worker_lock:
                    self._worker = None
                return
            if self._foreground:
                time.sleep(0.005)
                continue
            job: Callable[[], None] | None = None
            with self._lock:  # the engine's state (`_partial`), then the worker's (lock order: _lock, _worker_lock)
                with self._worker_lock:
                    if self._partial:
                        key = next(reversed(self._partial))
                    elif self._after:
                        job = self._after.pop(0)
                    else:
                        self._worker = None
                        return
            if job is not None:
                try:
                    job()
                except Exception:  # a follow-up is an optimisation: its failure must not end the worker
                    log.exception("a job after the deferred OCR lines failed")
                continue
            try:
                self.complete(key, max_lines=BACKGROUND_STEP)
            except Exception:  # a failed background read must not leave a half-filled entry looping
                log.exception("reading deferred OCR lines failed; they stay unread")
                with self._lock:
                    self._partial.pop(key, None)

    def _work_image(self, rgb: Image.Image) -> Image.Image:
        """The image detection runs on: at most max_side, at least MIN_DETECT_SIDE, on the 32 px grid.

        The detector resizes every input to multiples of 32 anyway (a 1600x900 screen became
        1600x896); doing it here, once, means the region of a later re-read is cut from exactly the
        pixels the full read saw. Only near-grid sizes are snapped (<= 2 % per side, i.e. screens);
        small crops keep their aspect.
        """
        w, h = rgb.size
        scale = 1.0
        if max(w, h) > self.max_side:
            scale = self.max_side / max(w, h)
        elif min(w, h) < MIN_DETECT_SIDE:
            scale = min(MIN_DETECT_SIDE / min(w, h), self.max_side / max(w, h))
        tw, th = max(1, round(w * scale)), max(1, round(h * scale))
        gw, gh = (max(GRID, round(v / GRID) * GRID) for v in (tw, th))
        gw = gw if gw <= self.max_side else gw - GRID
        gh = gh if gh <= self.max_side else gh - GRID
        if abs(gw - tw) <= 0.02 * tw and abs(gh - th) <= 0.02 * th and gw >= GRID and gh >= GRID:
            tw, th = gw, gh
        if (tw, th) == (w, h):
            return rgb
        method = Image.Resampling.BILINEAR if scale <= 1 else Image.Resampling.BICUBIC
        return rgb.resize((tw, th), method)

    def _run(self, rgb: Image.Image, key: str, budget: int | None, first: FirstLines | None = None) -> OcrResult:
        work = self._work_image(rgb)
        bgr = np.ascontiguousarray(np.asarray(work)[:, :, ::-1])  # RapidOCR takes arrays as BGR (OpenCV order)
        t0 = time.perf_counter()
        with self._foreground, self._lock:
            engine = self._load()
            raw = self._recognise(engine, bgr, budget, first)
            if any(ln[1] is None for ln in raw):
                self._partial[key] = _Partial(bgr, raw, rgb.size)
                self._partial.move_to_end(key)
                while len(self._partial) > MAX_PENDING:  # never completed (the caller failed): forget it
                    old, _ = self._partial.popitem(last=False)
                    self._cache.pop(old, None)  # so a later read of it starts again, never returns it partial
        ms = (time.perf_counter() - t0) * 1000
        result = self._result(raw, rgb.size, work.size, ms)
        log.debug("OCR %dx%d (run at %dx%d): %d lines (%d deferred) in %.0f ms", rgb.width, rgb.height, work.width,
                  work.height, len(result.lines), len(result.deferred), ms)
        return result

    def _result(self, raw: list[_Raw], size: tuple[int, int], work_size: tuple[int, int], ms: float) -> OcrResult:
        """Raw lines (work pixels) as an OcrResult in the caller's pixels; unread lines become `deferred`."""
        lines: list[OcrLine] = []
        deferred: list[tuple[int, int, int, int]] = []
        dropped: list[tuple[int, int, int, int]] = []
        for quad, txt, score in raw:
            box = _image_box(quad, size, work_size)
            text = None if txt is None else str(txt).strip()
            if text is None:
                deferred.append(box)
            elif not text or score < self.min_score:
                dropped.append(box)
            else:
                lines.append(OcrLine(text=text, box=box, score=float(score)))
        return OcrResult(lines=reading_order(lines), width=size[0], height=size[1], ms=round(ms, 1), deferred=tuple(deferred),
                         dropped=tuple(dropped))

    def _recognise(
        self, engine: RapidOCR, bgr: np.ndarray, budget: int | None = None, first: FirstLines | None = None
    ) -> list[_Raw]:
        """(quad, text, score) per detected line, quads in `bgr`'s pixels; the caller holds the lock.

        Uses RapidOCR's pipeline steps (detector, crops, recogniser) so that work can be skipped:
        unchanged lines take their text from the line cache, and a capture that differs from a
        recent one in a few pixels is re-detected only around them (`_read_changed`). If a future 3.x renames
        those steps, this falls back to the plain one-call pipeline (same results, no reuse).
        """
        if self._incremental:
            try:
                raw = self._recognise_incremental(engine, bgr, budget, first)
                todo = [i for i, ln in enumerate(raw) if ln[1] is None] if budget is None else []
                if todo:  # lines a remembered partial read left (an unchanged screen, a change re-read's kept lines)
                    running = running_text([ln[0] for ln in raw])[todo]
                    texts = self._texts(engine, bgr, np.stack([raw[i][0] for i in todo]), running=running)
                    for i, (t, sc) in zip(todo, texts, strict=True):
                        raw[i] = (raw[i][0], t, sc)
                return raw
            except (AttributeError, ImportError, TypeError, KeyError) as exc:
                log.warning("RapidOCR's pipeline steps changed (%s): OCR falls back to whole-image runs", exc)
                self._incremental = False
        out = engine(bgr)
        boxes, txts, scores = getattr(out, "boxes", None), getattr(out, "txts", None), getattr(out, "scores", None)
        if boxes is None or txts is None or not len(txts):
            return []
        self.lines_recognised += len(txts)
        return list(zip(boxes, txts, scores or [1.0] * len(txts), strict=False))

    def _recognise_incremental(
        self, engine: RapidOCR, bgr: np.ndarray, budget: int | None = None, first: FirstLines | None = None
    ) -> list[_Raw]:
        prev, changed = self._closest_read(bgr)
        if prev is not None:
            if not len(changed):
                self.reads_unchanged += 1
                return list(prev.lines)
            raw = self._read_changed(engine, bgr, prev, changed)
            if raw is not None:
                self.reads_banded += 1
                self._remember(bgr, raw)
                return raw
        raw, exact = self._read_full(engine, bgr, budget, first)
        self.reads_full += 1
        if exact:
            self._remember(bgr, raw)
        return raw

    # -- full read --------------------------------------------------------------------------------
    def _read_full(
        self, engine: RapidOCR, bgr: np.ndarray, budget: int | None = None, first: FirstLines | None = None
    ) -> tuple[list[_Raw], bool]:
        """Detect on the whole image; the flag says whether the detector saw `bgr` itself (no
        padding or resize by RapidOCR), which a later change re-read relies on."""
        from rapidocr.utils.process_img import apply_vertical_padding, map_boxes_to_original

        img, op_record = engine.preprocess_img(bgr)
        if engine.cfg.Global.use_vertical_padding:
            img, op_record = apply_vertical_padding(img, op_record, engine.width_height_ratio, engine.min_height)
        else:
            op_record["padding_1"] = {"top": 0, "left": 0}
        pre = op_record.get("preprocess", {})
        pad = op_record.get("padding_1", {})
        exact = (
            img.shape == bgr.shape and pre.get("ratio_h", 1.0) == 1.0 and pre.get("ratio_w", 1.0) == 1.0
            and not pad.get("top") and not pad.get("left") and bgr.shape[0] % GRID == 0 and bgr.shape[1] % GRID == 0
        )
        quads = self._detect(engine, img)
        if not len(quads):
            return [], exact
        texts = self._texts(engine, img, quads, budget, running_text(list(quads)), first)
        quads = map_boxes_to_original(quads.copy(), op_record, bgr.shape[0], bgr.shape[1])
        return [(quads[i], t, s) for i, (t, s) in enumerate(texts)], exact

    def _detect(self, engine: RapidOCR, img: np.ndarray) -> np.ndarray:
        """Text-line quads (n, 4, 2) of a BGR image, by the configured detector (`text_detector`):
        DB on the whole image, or the classical detector with DB on the tiles it cannot trust
        (`lines.detect_lines`). The one place both full reads and change re-reads detect."""
        det_model = engine._load_det_model()

        def db(crop: np.ndarray) -> np.ndarray:  # RapidOCR's TextDetector.__call__ with `_detector_tensor`, `db_boxes`
            empty = np.zeros((0, 4, 2), dtype=np.float32)
            x = _detector_tensor(det_model, crop)
            if x is None:
                return empty
            preds = det_model.session(x)
            boxes = db_boxes(det_model.postprocess_op, preds, crop.shape[:2])
            if len(boxes) == 0:
                return empty
            return np.asarray(det_model.sorted_boxes(boxes), dtype=np.float32)

        if self.text_detector == "hybrid":
            from .lines import detect_lines

            return detect_lines(img, db).quads
        return db(img)

    def _texts(
        self, engine: RapidOCR, img: np.ndarray, quads: np.ndarray, budget: int | None = None,
        running: np.ndarray | None = None, first: FirstLines | None = None,
    ) -> list[tuple[str | None, float]]:
        """Text and score per quad (in `img`'s pixels), recognising only crops not read before; with a
        budget, only the lines `cold_plan` picks (the others get None: deferred). `running` (per quad,
        judged among all of the screen's lines: `running_text`) lets glyph-sized words in running text
        skip the lone-glyph canvas (REC_RUNNING_GLYPHS); `first` picks lines read on top of the budget (`read`)."""
        keys = [self._line_key(img, quad) for quad in quads]
        todo = [i for i, k in enumerate(keys) if k not in self._lines]
        held: set[int] = set()  # lines read before that a replayed cold plan leaves unread
        if budget is not None and (todo or self._replay):
            plan = list(range(len(keys))) if self._replay else todo
            hulls = _hulls([quads[i] for i in plan])
            now = cold_plan(hulls, budget, None if first is None else first(img, hulls))
            self.lines_deferred += int((~now).sum())
            held = {i for i, n in zip(plan, now, strict=True) if not n}
            todo = [i for i in todo if i not in held]
        if todo:
            crops = engine.crop_text_regions(img, [quads[i].copy() for i in todo])
            if self.own_rec_loop:
                read = self._recognise_crops(engine, crops, None if running is None else [bool(running[i]) for i in todo])
            else:
                rec = engine.recognize_txt(crops)
                read = list(zip(rec.txts or (), rec.scores or (), strict=False))
            for i, (txt, score) in zip(todo, read, strict=False):
                self._lines[keys[i]] = (str(txt), float(score))
            self.lines_recognised += len(todo)
        out: list[tuple[str | None, float]] = []
        for i, k in enumerate(keys):
            got = None if i in held else self._lines.get(k)
            if got is not None:
                self._lines.move_to_end(k)
                self.lines_reused += 1
            out.append(got or (None, 0.0))
        self.lines_reused -= len(todo)
        while len(self._lines) > self.line_cache_size:
            self._lines.popitem(last=False)
        return out

    def _recognise_crops(
        self, engine: RapidOCR, crops: list[np.ndarray], running: Sequence[bool] | None = None
    ) -> list[tuple[str, float]]:
        """Text and score per line crop, with less padding than RapidOCR's own loop (`rec_plan`).

        RapidOCR pads every batch to at least 320 px at the recogniser's 48 px height, so a
        short label (most UI text) costs what a 320 px line does. Here only glyph-sized crops keep
        that canvas (PP-OCR reads a lone symbol or icon differently without it); wider crops are
        padded to at least REC_MIN_WIDTH and batched only with crops of nearly the same width.
        Same model, resize, normalisation and CTC decoder as RapidOCR's. Two or more batches are
        read side by side in the recogniser lanes (`rec_lanes.py`), widest first; one batch by the
        two-thread sessions; the background worker's reads (`read_later`) on one lane only.

        With the int8 recogniser (`ocr_recogniser.py`) a batch holding a lone glyph still goes to the
        fp32 model: int8 read calculator keys as CJK look-alikes ('±' as '土', '+' as '十') where fp32
        read them right (docs/OCR_RECOGNISER.md), and a key's symbol is what an instruction names.
        """
        rec = engine._load_rec_model()
        out: list[tuple[str, float]] = [("", 0.0)] * len(crops)
        plan = self._rec_plan(engine, crops, running)

        def read(models: Recognisers, item: tuple[list[int], int]) -> None:
            batch, width = item
            ratios, norm = self._rec_input(rec, crops, batch, width)
            height = rec.rec_image_shape[1]
            # (batch, steps, ~18.7k characters): tens of MB for a long batch
            if models.int8 is not None and all(r * height >= REC_GLYPH_WIDTH for r in ratios):
                preds = models.int8(norm)
            else:
                preds = models.fp32(norm)
            # RapidOCR's CTC decoder (postprocess_op) with its index and probability from one pass over
            # the scores instead of two (argmax, then max): the same values, ~15 ms less on a bounded read
            idx = preds.argmax(axis=2)
            prob = np.take_along_axis(preds, idx[:, :, None], axis=2)[:, :, 0]
            lines, _ = rec.postprocess_op.decode(idx, prob, False, ratios, width / height, remove_duplicate=True)
            for i, (txt, score) in zip(batch, lines, strict=True):
                out[i] = (str(txt), float(score))

        if self._lanes and threading.current_thread() is self._worker:
            # the background worker reads on one lane: the other core stays free for the agent's next call
            for item in plan:
                read(self._lanes[0], item)
            return out
        if len(plan) > 1 and len(self._lanes) > 1:
            run_in_lanes(self._lanes, sorted(plan, key=lambda item: -len(item[0]) * item[1]), read)
            return out
        assert self._recognisers is not None  # set with the engine (`_load`)
        for item in plan:
            read(self._recognisers, item)
        return out

    def _rec_plan(
        self, engine: RapidOCR, crops: list[np.ndarray], running: Sequence[bool] | None = None
    ) -> list[tuple[list[int], int]]:
        """`rec_plan` of the crops' widths at the recogniser's height: (crop indices, padded width) per batch."""
        _, height, canvas = engine._load_rec_model().rec_image_shape[:3]
        widths = [max(1, math.ceil(height * c.shape[1] / max(1, c.shape[0]))) for c in crops]
        return rec_plan(widths, canvas=canvas, max_batch=self.rec_batch, running=running if REC_RUNNING_GLYPHS else None)

    @staticmethod
    def _rec_input(rec: Any, crops: list[np.ndarray], batch: list[int], width: int) -> tuple[list[float], np.ndarray]:
        """Each crop's width/height ratio and the normalised NCHW float32 tensor of one batch."""
        height = rec.rec_image_shape[1]
        ratios = [max(1, math.ceil(height * crops[i].shape[1] / max(1, crops[i].shape[0]))) / height for i in batch]
        norm = np.concatenate([rec.resize_norm_img(crops[i], width / height)[np.newaxis] for i in batch]).astype(np.float32)
        return ratios, norm

    def _rec_batches(
        self, engine: RapidOCR, crops: list[np.ndarray]
    ) -> Iterator[tuple[list[int], int, list[float], np.ndarray]]:
        """The recogniser's batches for `crops` as `rec_plan` groups them: crop indices, padded width,
        each crop's width/height ratio, and the normalised NCHW float32 tensor."""
        rec = engine._load_rec_model()
        for batch, width in self._rec_plan(engine, crops):
            ratios, norm = self._rec_input(rec, crops, batch, width)
            yield batch, width, ratios, norm

    def recogniser_inputs(self, image: Image.Image) -> list[np.ndarray]:
        """The tensors the recogniser gets for every line of `image` on a full read (`_rec_batches` of
        the detected lines' crops): what the int8 recogniser is calibrated on."""
        bgr = np.ascontiguousarray(np.asarray(self._work_image(image.convert("RGB")))[:, :, ::-1])
        with self._lock:
            engine = self._load()
            img, _ = engine.preprocess_img(bgr)
            quads = self._detect(engine, img)
            if not len(quads):
                return []
            crops = engine.crop_text_regions(img, [q.copy() for q in quads])
            return [norm for *_, norm in self._rec_batches(engine, crops)]

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

    # -- incremental re-read ----------------------------------------------------------------------
    def _remember(self, bgr: np.ndarray, raw: list[_Raw]) -> None:
        if not self.history:
            return
        self._reads = [r for r in self._reads if r.work.shape != bgr.shape or not np.array_equal(r.work, bgr)]
        self._reads.append(_Read(bgr, raw))
        del self._reads[: -self.history]

    def _closest_read(self, bgr: np.ndarray) -> tuple[_Read | None, np.ndarray]:
        """The remembered read of this size with the fewest changed rows, and those rows
        (None when none is close enough for a change re-read to pay)."""
        best: _Read | None = None
        best_rows = np.empty(0, dtype=np.int64)
        limit = self.max_changed * bgr.shape[0]
        for prev in reversed(self._reads):
            if prev.work.shape != bgr.shape:
                continue
            rows = np.flatnonzero((prev.work != bgr).any(axis=(1, 2)))
            if len(rows) <= limit and (best is None or len(rows) < len(best_rows)):
                best, best_rows = prev, rows
                if not len(rows):
                    break
        return best, best_rows

    def _read_changed(self, engine: RapidOCR, bgr: np.ndarray, prev: _Read, changed: np.ndarray) -> list[_Raw] | None:
        """Re-detect only regions around the changed pixels and re-read only the lines the change
        touches (`ocr_change` has the rules); every other line of `prev` is kept as it was. None =
        do a full read (the regions are, or grew, too large).

        A line the change touches that reaches a region's cut edge (typing made it longer) grows the
        plan around it (GROW_ROUNDS times at most, regions already detected are not detected again).

        WHY not full-width bands (session 5): detection cost is proportional to the area detected,
        and a 1600 px wide band re-detected unchanged lines with band-cut boxes that no longer matched
        the full read's, so they were recognised again (5 lines for a calculator display, 4 for a
        badge, on the generated 1920x1080 desktop) and could read differently.
        """
        height, width = bgr.shape[:2]
        size = (width, height)
        lo, hi = int(changed[0]), int(changed[-1]) + 1
        mask = np.zeros((height, width), dtype=bool)
        mask[lo:hi] = (prev.work[lo:hi] != bgr[lo:hi]).any(axis=2)
        hulls = _hulls([ln[0] for ln in prev.lines])
        touched = ocr_change.touches(mask, hulls)
        boxes = ocr_change.change_boxes(mask)
        grow = hulls[touched]
        seen: dict[tuple[int, int, int, int], list[np.ndarray]] = {}  # quads per region detected, for a regrown plan
        for _ in range(GROW_ROUNDS + 1):
            rects = ocr_change.regions(boxes, grow, size)
            if sum((x1 - x0) * (y1 - y0) for x0, y0, x1, y1 in rects) > self.max_changed * height * width:
                return None
            found: list[np.ndarray] = []
            cut: list[bool] = []
            for rect in rects:
                if rect not in seen:
                    x0, y0, x1, y1 = rect
                    seen[rect] = []
                    for quad in self._detect(engine, np.ascontiguousarray(bgr[y0:y1, x0:x1])):
                        q = quad.copy()
                        q[:, 0] += x0
                        q[:, 1] += y0
                        seen[rect].append(q)
                    self.rows_redetected += y1 - y0
                    self.pixels_redetected += (y1 - y0) * (x1 - x0)
                found.extend(seen[rect])
                cut.extend(ocr_change.is_cut(h, rect, size) for h in _hulls(seen[rect]))
            new_hulls = _hulls(found)
            drop, take = ocr_change.resolve(hulls, touched, new_hulls, ocr_change.touches(mask, new_hulls))
            # a line the change touches that a region saw cut (the text grew past the margin), or an
            # old line being replaced that no region saw whole: grow the plan around it and look again
            unseen = hulls[drop][~ocr_change.inside_any(hulls[drop], rects, size)]
            short = np.concatenate([new_hulls[take & np.asarray(cut, dtype=bool)], unseen])
            if not len(short):
                break
            grow = np.concatenate([grow, short])
        else:
            return None
        kept = [ln for ln, d in zip(prev.lines, drop) if not d]
        # a taken line whose pixels did not change is the old line (a neighbour a replaced line
        # covered): keep it whole, box and text, so it neither jitters nor costs a recognition
        dropped = [ln for ln, d in zip(prev.lines, drop) if d]
        dropped_hulls = hulls[drop]
        free = np.ones(len(dropped), dtype=bool)
        same: list[_Raw] = []
        todo: list[np.ndarray] = []
        for q in (q for q, t in zip(found, take) if t):
            ious = np.where(free, _ious(q, dropped_hulls), 0.0)
            j = int(np.argmax(ious)) if len(ious) else -1
            if j >= 0 and ious[j] >= 0.7 and _unchanged(prev.work, bgr, q, dropped[j][0]):
                same.append(dropped[j])
                free[j] = False
            else:
                todo.append(q)
        if not todo:
            return kept + same
        quads = np.stack(todo)
        running = running_text([ln[0] for ln in kept + same] + todo)[len(kept) + len(same):]
        texts = self._texts(engine, bgr, quads, running=running)
        return kept + same + [(quads[i], t, s) for i, (t, s) in enumerate(texts)]


REC_GLYPH_WIDTH = 96
"""Crops narrower than this at the recogniser's height (aspect < 2: a lone symbol, an icon, one or two
letters) keep RapidOCR's 320 px canvas: without it PP-OCR read '+' as '十' and 'C' as '<'."""

REC_MIN_WIDTH = 192
"""Every other crop is padded to at least this (recogniser pixels), and a batch only holds crops within
REC_WIDTH_TOLERANCE of its narrowest, so padding stays small. Measured on 6 dev screenshots and the
generated busy desktop (880 lines): 99.1 % of lines read the same as RapidOCR's own loop, recognition
CPU 0.75x in an interleaved A/B (bench/bench_ocr.py compares whole reads)."""

REC_WIDTH_TOLERANCE = 1.15

REC_RUNNING_GLYPHS = True
"""A glyph-sized crop inside running text (stacked within COLD_PITCH: a terminal's 'Sep', '2022', 'root',
a chart's axis labels) is a short word, not a lone symbol: it is padded to REC_MIN_WIDTH like any line,
not to the 320 canvas. Measured (fp32, 192 vs 320): such crops read the same in 98/98 - 2 on the issue's
xcalc + xterm screen, 36/36 on 16 dev screenshots, 256/259 on 6 generated desktops (the differences:
'13 1'/'1 3', 'Jan'/'Jān', '-m'/'-M', 'Sep'/'sep', 'E.'/'F.'), while free-standing glyphs (keys, icons,
lone symbols) changed in 13-18 % and keep the canvas. The terminal's 98 crops were 0.46 s of that screen's
2.7 s full read at 320 (docs/RANKING.md, session 13)."""


REC_HEIGHT = 48
"""The recogniser's input height (PP-OCR's rec_image_shape): crop widths are counted at this height."""

REC_CALL_COLUMNS = 35
"""A recogniser call's fixed cost, in columns: ~3.3 ms per call against ~0.095 ms per column at 48 px
(session 3's cost model, 1 thread), so a line costs its padded width plus this."""

DENSE_PITCH = 1.6
"""Lines stacked closer than this (centre to centre, in line heights) with horizontal overlap are a
block of running text (a terminal, a paragraph, a log) for the bounded embed read (`screen_read`), whose
choice of lines makes a screen's stored vector; the budgeted read of ranking uses COLD_PITCH."""

COLD_PITCH = 1.1
"""The budgeted read's test of running text (`cold_plan`, `read_more`): lines stacked closer than this
many line heights. Tighter than DENSE_PITCH because DB's boxes are taller than their text: single-spaced
terminal and paragraph lines sit 0.54-1.0 box heights apart, while xcalc's keys (1.11-1.59 on the issue's
Xvfb screen: xcalc, an xterm, the tkinter demo), the sidebar entries and stat labels of web dashboards
(1.2-1.6) were stacked within 1.6 and read last, with the running text: "press the sin key" on that
screen read all of it before answering (3.9 s). Chosen from that screen, the generated desktops and four
dev screenshots' line spacings (docs/RANKING.md, session 13). The bounded embed read keeps DENSE_PITCH:
its choice of lines is a screen's stored vector."""

MAX_PENDING = 8
"""Partial reads kept for completion; an older one is forgotten with its cached result (4-6 MB each)."""

BACKGROUND_STEP = 6
"""Deferred lines recognised per step of the background worker (one or two recogniser calls), so a
foreground read waits at most that long for the lock."""


def cold_plan(hulls: np.ndarray, budget: int, first: np.ndarray | None = None) -> np.ndarray:
    """Which detected lines a budgeted read recognises now (bool per line); the rest are deferred.

    Lines that can be a target come first: free-standing lines (labels, buttons, menu entries, keys)
    before lines inside a block of running text (`COLD_PITCH`), and within each group the cheapest
    first (padded width as `rec_plan` pads it, plus a call's fixed cost), until `budget` columns are
    spent. WHY this order: a cold read is 80 % recognition, and on busy screens most of it goes to
    terminal and paragraph lines an instruction rarely names; the caller reads them when the
    instruction matches nothing read (`tools/ranking/screen.py`) and after the answer otherwise.
    Among lone glyphs (all cost one canvas) those in a 2-D grid come first (`glyph_grid`). Lines
    `first` places (>= 0: the caller's guesses at the target, `tools/ranking/spotting.py`) are read
    as well, beyond the budget: a guess adds a few lines to the round and never pushes out a line
    the plan had (a wrong one cost "press the sin key" its first-round answer on the issue's screen).
    """
    n = len(hulls)
    if n == 0:
        return np.zeros(0, dtype=bool)
    cost = line_costs(hulls)
    dense = stacked_lines(hulls, COLD_PITCH)
    order = np.lexsort((~glyph_grid(hulls), cost, dense))  # equal costs: glyphs in a grid (keys) first
    now = np.zeros(n, dtype=bool)
    now[order[np.cumsum(cost[order]) <= budget]] = True
    if first is not None:
        now |= np.asarray(first) >= 0
    return now


def glyph_grid(hulls: np.ndarray) -> np.ndarray:
    """Per line, whether it is glyph-sized with a glyph-sized neighbour in its row and one in its column
    (each within GRID_REACH line heights): a keypad's keys, a calendar's days. WHY: lone glyphs all cost
    one 320-column canvas, so the budgeted read took them top to bottom, and a toolbar's icons and a
    window's buttons (one row each, above the content) filled the first round before a calculator's keys;
    a key is named by its label ("press the sin key", answered on a partial read), an icon by what it does
    (answered only once the screen is read in full and the icon reader has looked: screen.rank_read)."""
    n = len(hulls)
    if n == 0:
        return np.zeros(0, dtype=bool)
    x1, y1, x2, y2 = (hulls[:, k] for k in range(4))
    w, h = np.maximum(x2 - x1, 1.0), np.maximum(y2 - y1, 1.0)
    glyph = glyph_sized(hulls)
    reach = GRID_REACH * np.maximum(h[:, None], h[None, :])
    v_overlap = np.minimum(y2[:, None], y2[None, :]) - np.maximum(y1[:, None], y1[None, :])
    h_overlap = np.minimum(x2[:, None], x2[None, :]) - np.maximum(x1[:, None], x1[None, :])
    pair = glyph[:, None] & glyph[None, :] & ~np.eye(n, dtype=bool)
    row = pair & (v_overlap > 0.5 * np.minimum(h[:, None], h[None, :])) & (-h_overlap < reach)
    col = pair & (h_overlap > 0.3 * np.minimum(w[:, None], w[None, :])) & (-v_overlap < reach)
    return glyph & row.any(axis=1) & col.any(axis=1)


GRID_REACH = 3.0
"""Neighbours of a glyph in a grid are at most this many line heights apart, edge to edge (keys sit
under one apart; a toolbar's row of icons has nothing glyph-sized that close above or below)."""


def glyph_sized(hulls: np.ndarray) -> np.ndarray:
    """Per line, whether its crop is narrower than REC_GLYPH_WIDTH at the recogniser's height (a lone
    symbol, an icon, a short word): what `line_costs` charges one canvas for."""
    return np.ceil(REC_HEIGHT * (hulls[:, 2] - hulls[:, 0]) / np.maximum(hulls[:, 3] - hulls[:, 1], 1.0)) < REC_GLYPH_WIDTH


def line_costs(hulls: np.ndarray) -> np.ndarray:
    """Recogniser columns per line: its padded width as `rec_plan` pads it, plus a call's fixed cost."""
    h = np.maximum(hulls[:, 3] - hulls[:, 1], 1.0)
    widths = np.ceil(REC_HEIGHT * (hulls[:, 2] - hulls[:, 0]) / h)
    return np.where(widths < REC_GLYPH_WIDTH, 320, np.maximum(widths, REC_MIN_WIDTH)) + REC_CALL_COLUMNS


def stacked_pairs(hulls: np.ndarray, pitch_limit: float = DENSE_PITCH) -> np.ndarray:
    """(n, n) bool: lines stacked as rows of one block of running text (a neighbour overlapping sideways
    within `pitch_limit` line heights; symmetric). The budgeted cold read (COLD_PITCH) and the bounded
    embed read (`screen_read`, DENSE_PITCH) both judge "running text" by this one test."""
    x1, y1, x2, y2 = (hulls[:, k] for k in range(4))
    h = np.maximum(y2 - y1, 1.0)
    overlap = np.minimum(x2[:, None], x2[None, :]) - np.maximum(x1[:, None], x1[None, :])
    narrower = np.minimum((x2 - x1)[:, None], (x2 - x1)[None, :])
    pitch = np.abs((y1 + y2)[:, None] - (y1 + y2)[None, :]) / 2
    mean_h = (h[:, None] + h[None, :]) / 2
    return (overlap > 0.3 * narrower) & (pitch > 0.5 * mean_h) & (pitch < pitch_limit * mean_h)


def running_text(quads: Sequence[np.ndarray]) -> np.ndarray:
    """Per detected line (quads of one screen, all of them), whether it sits in running text as the
    budgeted read judges it (COLD_PITCH): the recogniser reads glyph-sized words there without the
    lone-glyph canvas (REC_RUNNING_GLYPHS)."""
    if not len(quads):
        return np.zeros(0, dtype=bool)
    return stacked_lines(_hulls(list(quads)), COLD_PITCH)


def stacked_lines(hulls: np.ndarray, pitch_limit: float = DENSE_PITCH) -> np.ndarray:
    """Per line, whether it sits in a block of running text (`stacked_pairs`)."""
    if not len(hulls):
        return np.zeros(0, dtype=bool)
    return stacked_pairs(hulls, pitch_limit).any(axis=1)


def rec_plan(
    widths: list[int], *, canvas: int, max_batch: int, running: Sequence[bool] | None = None
) -> list[tuple[list[int], int]]:
    """Batches of crop indices and the width each batch is padded to (see REC_MIN_WIDTH). A glyph-sized
    crop keeps `canvas` unless `running` says it sits in running text (REC_RUNNING_GLYPHS)."""
    padded = [
        canvas if w < REC_GLYPH_WIDTH and not (running is not None and running[i]) else max(w, REC_MIN_WIDTH)
        for i, w in enumerate(widths)
    ]
    glyph = [w < REC_GLYPH_WIDTH for w in widths]  # a batch holds glyphs or lines, not both: see _recognise_crops' int8 rule
    order = sorted(range(len(widths)), key=lambda i: (padded[i], glyph[i]))
    plan: list[tuple[list[int], int]] = []
    start = 0
    while start < len(order):
        end = start + 1
        while (
            end < len(order) and end - start < max_batch and glyph[order[end]] == glyph[order[start]]
            and padded[order[end]] <= REC_WIDTH_TOLERANCE * padded[order[start]]
        ):
            end += 1
        batch = order[start:end]
        plan.append((batch, max(padded[i] for i in batch)))
        start = end
    return plan


def _image_box(quad: np.ndarray, size: tuple[int, int], work_size: tuple[int, int]) -> tuple[int, int, int, int]:
    """A work-pixel quad's axis-aligned box in the caller's pixels (x2/y2 exclusive, inside the image).

    Plain Python on the quad's four points: it runs for every detected line of every result (300+ on a
    busy screen, three times in a bounded embed read); numpy's per-call overhead made it 14 us a call,
    this is 2 us with the same arithmetic (float64 products, floor/ceil, clipping; checked equal on
    200,000 random quads)."""
    w, h = size
    sx, sy = w / work_size[0], h / work_size[1]
    pts = np.asarray(quad, dtype=np.float64).reshape(-1, 2).tolist()
    xs, ys = [p[0] for p in pts], [p[1] for p in pts]
    x1 = min(max(math.floor(min(xs) * sx), 0), w - 1)
    y1 = min(max(math.floor(min(ys) * sy), 0), h - 1)
    x2 = min(max(math.ceil(max(xs) * sx), x1 + 1), w)
    y2 = min(max(math.ceil(max(ys) * sy), y1 + 1), h)
    return x1, y1, x2, y2


def _hulls(quads: list[np.ndarray]) -> np.ndarray:
    """(n, 4) axis-aligned hulls x1, y1, x2, y2 of quads."""
    if not quads:
        return np.zeros((0, 4), dtype=np.float64)
    q = np.stack([np.asarray(x, dtype=np.float64).reshape(-1, 2) for x in quads])
    return np.concatenate([q.min(axis=1), q.max(axis=1)], axis=1)


def _detector_tensor(det_model: Any, bgr: np.ndarray) -> np.ndarray | None:
    """RapidOCR's detector input for a BGR image (its resize to the 32 px grid, then `_det_tensor`);
    None when the resize refuses the image. The one preparation for reads and for calibration."""
    resized = det_model.get_preprocess().resize(bgr)
    return None if resized is None else _det_tensor(resized, det_model.mean, det_model.std)


def _det_tensor(bgr: np.ndarray, mean: Sequence[float], std: Sequence[float]) -> np.ndarray:
    """(1, 3, h, w) float32 detector input: (pixel / 255 - mean) / std per channel.

    WHY not RapidOCR's DetPreProcess.normalize: its mean and std are lists, so numpy computes the
    whole image in float64 (three 34 MB temporaries at 1600x896); that took 0.05 s on a warm
    machine and up to 0.18 s in a cold call (fresh pages). One float32 multiply-add per pixel gives
    the same values to float32 rounding (the int8 detector quantises its input to 8 bits anyway).
    Channel by channel with OpenCV into the (1, 3, h, w) array itself: the same float32 values as
    numpy's multiply-add on an HWC copy then a transpose, in a quarter of the time (17 -> 4 ms at
    1568x896)."""
    import cv2

    scale = (1.0 / (255.0 * np.asarray(std, dtype=np.float64))).astype(np.float32)
    offset = (np.asarray(mean, dtype=np.float64) / np.asarray(std, dtype=np.float64)).astype(np.float32)
    x = np.empty((1, 3, *bgr.shape[:2]), dtype=np.float32)
    for c in range(3):
        cv2.multiply(bgr[:, :, c], float(scale[c]), dst=x[0, c], dtype=cv2.CV_32F)
        x[0, c] -= offset[c]
    return x


def _ious(quad: np.ndarray, hulls: np.ndarray) -> np.ndarray:
    """Overlap (IoU) of one quad's hull with each of `hulls`."""
    if not len(hulls):
        return np.zeros(0)
    h = _hulls([quad])[0]
    iw = np.clip(np.minimum(h[2], hulls[:, 2]) - np.maximum(h[0], hulls[:, 0]), 0, None)
    ih = np.clip(np.minimum(h[3], hulls[:, 3]) - np.maximum(h[1], hulls[:, 1]), 0, None)
    inter = iw * ih
    union = (h[2] - h[0]) * (h[3] - h[1]) + (hulls[:, 2] - hulls[:, 0]) * (hulls[:, 3] - hulls[:, 1]) - inter
    return inter / np.maximum(union, 1e-9)


def _unchanged(a: np.ndarray, b: np.ndarray, *quads: np.ndarray, pad: int = 2) -> bool:
    """Whether the pixels under the hull of `quads` (plus `pad`) are the same in `a` and `b`."""
    pts = np.concatenate([np.asarray(q).reshape(-1, 2) for q in quads])
    h, w = a.shape[:2]
    x1, y1 = int(max(0, np.floor(pts[:, 0].min()) - pad)), int(max(0, np.floor(pts[:, 1].min()) - pad))
    x2, y2 = int(min(w, np.ceil(pts[:, 0].max()) + pad + 1)), int(min(h, np.ceil(pts[:, 1].max()) + pad + 1))
    return bool(np.array_equal(a[y1:y2, x1:x2], b[y1:y2, x1:x2]))

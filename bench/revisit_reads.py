"""Full OCR reads of bench/revisit_scenes.py screens, cached on disk, for bench/bench_revisits.py.

WHY a cache: comparing rules that choose which lines a vector is made of needs every line of every
screen recognised once (a rule's bounded read is the full read restricted to its chosen boxes: the
same detection, the same crops), and a full read of a busy 1080p screen costs 10-20 CPU-s. Rules are
then compared for the cost of encoding their text. Entries are keyed by the pixels and the detector.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from sensorium.tools.backends.local.ocr import OcrEngine, image_key


@dataclass(frozen=True)
class Read:
    """Every detected line of one image: box (image pixels), text ('' when it read as nothing), score."""

    boxes: list[tuple[int, int, int, int]]
    texts: list[str]
    scores: list[float]
    size: tuple[int, int]
    cpu_s: float


def full_read(engine: OcrEngine, image: Image.Image, cache: Path) -> Read:
    """The image's full read from `cache` (a directory) or from `engine` (history off: no band re-read, so
    a revisit is read cold, as a capture the engine has not seen)."""
    key = f"{engine.text_detector}-{engine.max_side}-{image_key(image)[:32]}"
    path = cache / f"{key}.json"
    if path.is_file():
        d = json.loads(path.read_text())
        return Read([tuple(b) for b in d["boxes"]], d["texts"], d["scores"], tuple(d["size"]), d["cpu_s"])  # type: ignore[misc]
    t = time.process_time()
    res = engine.read(image, key=key, budget=None)
    cpu = time.process_time() - t
    boxes = [ln.box for ln in res.lines] + list(res.dropped)
    texts = [ln.text for ln in res.lines] + [""] * len(res.dropped)
    scores = [ln.score for ln in res.lines] + [0.0] * len(res.dropped)
    cache.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"boxes": boxes, "texts": texts, "scores": scores, "size": image.size, "cpu_s": cpu}))
    engine.clear()
    return Read(boxes, texts, scores, image.size, cpu)

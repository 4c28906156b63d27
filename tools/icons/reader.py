"""Icon reader: a textless crop -> a vector in the MiniLM text space + the words for it.

WHY: the offline backend reads screens with OCR, so every crop without text (an icon) used to
get the same vector. This small CNN, trained by this project on public icon sets
(docs/ICON_READER.md), maps a crop into `local/minilm-l6@384`, the space the TextEncoder puts
queries in, so "trash (delete, bin)" finds the trash icon. Words come from a shipped
vocabulary of icon names/tags (nearest terms by cosine), and a confidence says how icon-like
the crop is (a blank patch or a photo fragment should not claim a match).

Files (package data in assets/, or `model_dir`): icon_reader.onnx, vocab.json, vocab.npy and
manifest.json holding their sha256; each file is hashed before first use so a corrupt copy
fails here with a message naming the file, not deep inside onnxruntime. Nothing loads before
the first `read`; loading is guarded by a lock and `InferenceSession.run` is thread-safe.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image
from pydantic import BaseModel, ConfigDict

from ..checksums import verified_files
from ..errors import BackendUnavailable, InvalidInput
from ..heap import freeze_long_lived
from ..ort_options import session_options
from .preprocess import SIZE, preprocess

if TYPE_CHECKING:
    import onnxruntime

__all__ = ["ASSETS", "IconReader", "IconReading", "preprocess"]

log = logging.getLogger(__name__)

ASSETS = Path(__file__).parent / "assets"
DIMENSION = 384
MAX_WORDS = 5
_BATCH = 64
_FILES = ("icon_reader.onnx", "vocab.json", "vocab.npy")
_FIX = "reinstall sensorium-mcp (`pip install --force-reinstall sensorium-mcp`) or pass a model_dir holding a good copy"


class IconReading(BaseModel):
    """What the reader makes of one crop."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    vector: np.ndarray
    """(384,) float32, L2-normalised, in the MiniLM text space (`local/minilm-l6@384`)."""
    words: list[str]
    """Up to 5 vocabulary terms nearest to the vector, best first."""
    words_vector: np.ndarray
    """(384,) float32, L2-normalised: the sum of `words`' vocabulary vectors (the sentence encoder's
    vectors of each term, shipped in vocab.npy). WHY: the local backend used the encoder's vector of
    the words joined ('x mark close cancel'), which a screen of 100+ icons paid for in encoder time
    (0.2-0.35 s of a cold paraphrase ranking on a 1080p dashboard); this one costs nothing, points the
    same way (cosine 0.6-0.8 with it) and found icons as often or more on held-out generated screens
    (docs/RANKING.md, session 13)."""
    confidence: float
    """0..1: how sure the crop is an icon (low for blank patches, borders, photo fragments)."""


class _Loaded:
    def __init__(self, session: onnxruntime.InferenceSession, terms: list[str], vocab: np.ndarray) -> None:
        self.session = session
        self.terms = terms
        self.vocab = vocab


class IconReader:
    """Crops -> IconReadings; blocking (call it via anyio.to_thread), batched, thread-safe."""

    dimension = DIMENSION

    def __init__(self, *, threads: int = 2, model_dir: Path | None = None, spin_wait: bool = False) -> None:
        if threads < 1:
            raise InvalidInput(f"threads must be >= 1, got {threads}")
        self.threads = threads
        self.spin_wait = spin_wait  # onnxruntime's spin-waiting (tools/ort_options.py says why it is off)
        self.model_dir = Path(model_dir) if model_dir is not None else ASSETS
        self._loaded: _Loaded | None = None
        self._lock = threading.Lock()

    @property
    def version(self) -> str:
        """The model's identity (first 12 hex of its pinned sha256, or 'missing'), without loading it:
        embedding caches key on it, so a retrained model is never served stale vectors."""
        try:
            manifest = json.loads((self.model_dir / "manifest.json").read_text())
            return str(manifest["files"]["icon_reader.onnx"]["sha256"])[:12]
        except (OSError, ValueError, KeyError, TypeError):
            return "missing"

    @property
    def loaded(self) -> bool:
        return self._loaded is not None

    def load(self) -> None:
        """Load now (warm-up, bench) instead of on the first read."""
        self._ensure_loaded()

    def _verified(self) -> dict[str, Path]:
        return verified_files(self.model_dir, _FILES, "icon reader", _FIX)

    def _ensure_loaded(self) -> _Loaded:
        if self._loaded is not None:
            return self._loaded
        with self._lock:
            if self._loaded is None:
                import onnxruntime as ort

                paths = self._verified()
                opts = session_options(self.threads, spin_wait=self.spin_wait)
                try:
                    session = ort.InferenceSession(str(paths["icon_reader.onnx"]), sess_options=opts, providers=["CPUExecutionProvider"])
                    terms = json.loads(paths["vocab.json"].read_text())
                    vocab = np.load(paths["vocab.npy"], allow_pickle=False).astype(np.float32)
                except Exception as exc:  # onnxruntime/numpy raise their own types for bad bytes
                    raise BackendUnavailable(f"icon reader: files in {self.model_dir} do not load ({exc}); {_FIX}") from exc
                if vocab.shape != (len(terms), DIMENSION):
                    raise BackendUnavailable(f"icon reader: vocab.npy {vocab.shape} does not match {len(terms)} terms; {_FIX}")
                self._loaded = _Loaded(session, terms, vocab)
                freeze_long_lived("the icon reader")
                log.info("loaded icon reader from %s (%d vocabulary terms)", self.model_dir, len(terms))
        assert self._loaded is not None
        return self._loaded

    def read(self, images: Sequence[Image.Image]) -> list[IconReading]:
        """One reading per crop, in order; an empty sequence gives []."""
        if isinstance(images, Image.Image):
            raise InvalidInput("read takes a sequence of images, not one image")
        if not images:
            return []
        for i, im in enumerate(images):
            if not isinstance(im, Image.Image):
                raise InvalidInput(f"read: item {i} is {type(im).__name__}, expected a PIL.Image.Image")
        m = self._ensure_loaded()
        out: list[IconReading] = []
        for start in range(0, len(images), _BATCH):
            batch = np.stack([preprocess(im) for im in images[start : start + _BATCH]])[:, None].astype(np.float32)
            emb, logit = m.session.run(["embedding", "icon_logit"], {"image": batch})
            emb = emb.astype(np.float32)
            emb /= np.clip(np.linalg.norm(emb, axis=1, keepdims=True), 1e-9, None)
            sims = emb @ m.vocab.T
            conf = 1.0 / (1.0 + np.exp(-np.asarray(logit, dtype=np.float64).reshape(-1)))
            blank = batch.reshape(len(batch), -1).max(axis=1) <= 0.0  # nothing inked at all
            for k in range(len(batch)):
                top = np.argsort(-sims[k])[:MAX_WORDS]
                said = m.vocab[top].astype(np.float32).sum(axis=0)
                out.append(
                    IconReading(
                        vector=emb[k],
                        words=[m.terms[j] for j in top],
                        words_vector=said / max(float(np.linalg.norm(said)), 1e-9),
                        confidence=0.0 if blank[k] else float(conf[k]),
                    )
                )
        return out


assert SIZE == 32

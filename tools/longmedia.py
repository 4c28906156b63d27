"""Long recordings and documents cut into windows a backend can embed, one window at a time.

A backend takes at most a couple of minutes of video or a few PDF pages per item (Gemini
Embedding 2: 120 s, 6 pages), and one vector for a six-hour video could not say *where* the
thing asked for happens anyway. So a long file becomes many short items: time windows with a
little overlap (a phrase cut at a boundary is still whole in one of them) or groups of pages,
each cut out of the file when its turn comes, never the whole file in memory.

Every window is re-encoded as ordinary media (a small MP4 with its sound track, a 16 kHz WAV,
a PDF of its pages), so each backend embeds it by the path it already has for short media:
the local backend samples the frames and transcribes the track, Gemini takes the clip natively.

All functions here block (decoding, encoding, hashing): callers run them in a worker thread.
"""

from __future__ import annotations

import hashlib
import io
import logging
import math
import os
import wave
from fractions import Fraction
from pathlib import Path
from typing import BinaryIO

import numpy as np
from PIL import Image
from pydantic import BaseModel, Field

from .errors import InvalidInput, LimitExceeded, UnsupportedMedia
from .media import MIME_MODALITY, Media, Modality, sniff_mime

log = logging.getLogger(__name__)

SAMPLE_RATE = 16_000
"""Sound is kept at 16 kHz mono: what speech models take, and a quarter of CD-quality bytes."""
THUMB_SIDE = 640


class MediaWindow(BaseModel):
    """One slice of a file: a time range (video, audio) or a page range (PDF), 1-based pages."""

    index: int = Field(ge=0)
    start_s: float | None = None
    end_s: float | None = None
    first_page: int | None = None
    last_page: int | None = None

    @property
    def key(self) -> str:
        """Names the slice independently of its index, so re-indexing with other window sizes never
        mistakes a different slice for one already stored."""
        if self.first_page is not None:
            return f"p{self.first_page}-{self.last_page}"
        return f"t{self.start_s:.3f}-{self.end_s:.3f}"

    def label(self) -> str:
        if self.first_page is not None:
            return f"page {self.first_page}" if self.first_page == self.last_page else f"pages {self.first_page}-{self.last_page}"
        return f"{clock(self.start_s or 0.0)}-{clock(self.end_s or 0.0)}"


def clock(seconds: float) -> str:
    s = int(round(seconds))
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}"


class LongMediaInfo(BaseModel):
    """What is learned about a file before anything is decoded in full."""

    path: str
    modality: Modality
    mime_type: str
    size: int
    sha256: str
    duration_s: float | None = None
    pages: int | None = None
    has_audio: bool = False
    has_video: bool = False


def time_windows(duration_s: float, window_s: float, overlap_s: float) -> list[MediaWindow]:
    """Windows of `window_s` that start every `window_s - overlap_s`; the last one ends at the end."""
    if window_s <= 0 or not 0 <= overlap_s < window_s:
        raise InvalidInput(f"window {window_s:g} s with overlap {overlap_s:g} s: the overlap must be >= 0 and shorter than the window")
    if duration_s <= 0:
        raise UnsupportedMedia("the recording has no duration: it may be empty or corrupt")
    out: list[MediaWindow] = []
    start = 0.0
    while True:
        end = min(start + window_s, duration_s)
        out.append(MediaWindow(index=len(out), start_s=round(start, 3), end_s=round(end, 3)))
        if end >= duration_s:
            return out
        start += window_s - overlap_s


def page_windows(pages: int, per_window: int) -> list[MediaWindow]:
    if per_window < 1:
        raise InvalidInput(f"pages per window must be at least 1, got {per_window}")
    return [
        MediaWindow(index=i, first_page=first, last_page=min(first + per_window - 1, pages))
        for i, first in enumerate(range(1, pages + 1, per_window))
    ]


def file_sha256(fh: BinaryIO, chunk: int = 1 << 20) -> str:
    fh.seek(0)
    h = hashlib.sha256()
    while block := fh.read(chunk):
        h.update(block)
    return h.hexdigest()


def probe_file(fh: BinaryIO, path: Path) -> LongMediaInfo:
    """Kind, length and hash of an open file, from its headers (the hash reads it once, in chunks).

    Everything here reads the one descriptor the caller opened (and checked), never the path
    again: a file swapped for a link after the check is not what gets read."""
    fh.seek(0)
    head = fh.read(64)
    mime = sniff_mime(head)
    if mime is None or mime not in MIME_MODALITY or MIME_MODALITY[mime] in (Modality.IMAGE, Modality.TEXT):
        raise UnsupportedMedia(
            f"{path.name} is {mime or 'not a recognised format'}: index_media takes long video (MP4/MOV/WebM), "
            "audio (WAV/MP3/FLAC/OGG) or PDF; embed images with embed_image"
        )
    modality = MIME_MODALITY[mime]
    size = os.fstat(fh.fileno()).st_size
    info = LongMediaInfo(path=str(path), modality=modality, mime_type=mime, size=size, sha256=file_sha256(fh))
    if modality is Modality.PDF:
        info.pages = _pdf_pages(fh, path)
        return info
    import av

    fh.seek(0)
    try:
        with av.open(fh, mode="r") as container:
            info.has_video = bool(container.streams.video)
            info.has_audio = bool(container.streams.audio)
            info.duration_s = _duration(container)
    except (av.FFmpegError, ValueError, OSError) as exc:
        raise UnsupportedMedia(f"{path.name} does not decode as {mime} ({exc.__class__.__name__}); it may be truncated or corrupt") from exc
    if info.duration_s is None:
        raise UnsupportedMedia(f"cannot tell how long {path.name} is (no duration in its headers): re-encode it (e.g. to MP4 or WAV)")
    if modality is Modality.VIDEO and not info.has_video:
        info.modality = Modality.AUDIO  # an MP4 with only sound is a recording to listen to
    return info


def _duration(container: object) -> float | None:
    import av

    dur = getattr(container, "duration", None)
    if dur is not None and dur > 0:
        return float(dur / av.time_base)
    best = None
    for stream in container.streams:  # type: ignore[attr-defined]
        if stream.duration and stream.time_base:
            d = float(stream.duration * stream.time_base)
            best = d if best is None else max(best, d)
    return best


def _pdf_pages(fh: BinaryIO, path: Path) -> int:
    import pypdfium2 as pdfium

    fh.seek(0)
    try:
        pdf = pdfium.PdfDocument(fh, autoclose=False)
    except pdfium.PdfiumError as exc:
        raise UnsupportedMedia(f"{path.name} does not open as a PDF ({exc}); it may be truncated, corrupt or encrypted") from exc
    try:
        return len(pdf)
    finally:
        pdf.close()


class CutWindow(BaseModel):
    """A window as media a backend embeds, and a picture of its moment (JPEG) when it has one."""

    media: Media
    thumbnail: bytes | None = None


def cut_window(
    fh: BinaryIO, info: LongMediaInfo, window: MediaWindow, *, video_fps: float = 1.0, video_side: int = 1280
) -> CutWindow:
    path = Path(info.path)
    if info.modality is Modality.PDF:
        return _cut_pdf(fh, path, window)
    if info.modality is Modality.AUDIO:
        samples = _decode_span(fh, path, window, want_video=False, fps=video_fps, side=video_side)[1]
        if samples.size == 0:
            raise UnsupportedMedia(f"{window.label()} of {path.name} decoded to no sound: the file may be truncated")
        return CutWindow(media=Media.from_bytes(_wav(samples), source=_source(info, window)))
    frames, samples = _decode_span(fh, path, window, want_video=True, fps=video_fps, side=video_side)
    if not frames:
        raise UnsupportedMedia(f"{window.label()} of {path.name} decoded to no frames: the file may be truncated")
    data = _mp4(frames, samples if info.has_audio else None, fps=video_fps)
    middle = frames[len(frames) // 2][1]
    return CutWindow(media=Media.from_bytes(data, source=_source(info, window)), thumbnail=_jpeg(middle))


def _source(info: LongMediaInfo, window: MediaWindow) -> dict[str, object]:
    return {"kind": "file", "path": info.path, "name": Path(info.path).name, "window": window.key}


def _decode_span(
    fh: BinaryIO, path: Path, window: MediaWindow, *, want_video: bool, fps: float, side: int
) -> tuple[list[tuple[float, Image.Image]], np.ndarray]:
    """Frames at `fps` (scaled to at most `side`) and 16 kHz mono samples between the window's times."""
    import av

    start, end = float(window.start_s or 0.0), float(window.end_s or 0.0)
    frames: list[tuple[float, Image.Image]] = []
    chunks: list[np.ndarray] = []
    fh.seek(0)
    try:
        with av.open(fh, mode="r") as container:
            vstream = container.streams.video[0] if want_video and container.streams.video else None
            astream = container.streams.audio[0] if container.streams.audio else None
            streams = [s for s in (vstream, astream) if s is not None]
            if not streams:
                return frames, np.zeros(0, dtype=np.float32)
            if vstream is not None:
                vstream.thread_type = "AUTO"
            if start > 0:
                container.seek(int(start * av.time_base), backward=True, any_frame=False)
            resampler = av.AudioResampler(format="s16", layout="mono", rate=SAMPLE_RATE) if astream is not None else None
            next_t = start
            audio_first: float | None = None
            video_done = vstream is None
            audio_done = astream is None
            for packet in container.demux(*streams):
                for frame in packet.decode():
                    t = frame.time
                    if t is None:
                        continue
                    if isinstance(frame, av.VideoFrame):
                        if t >= end:
                            video_done = True
                        elif t >= next_t - 1e-3:
                            frames.append((float(t), _scaled(frame.to_image(), side)))
                            next_t = max(next_t + 1.0 / fps, float(t) + 0.5 / fps)
                    elif isinstance(frame, av.AudioFrame) and resampler is not None:
                        length = frame.samples / frame.sample_rate if frame.sample_rate else 0.0
                        if t >= end:
                            audio_done = True
                        elif t + length > start:
                            for out in resampler.resample(frame):
                                if audio_first is None:
                                    audio_first = float(out.time) if out.time is not None else float(t)
                                chunks.append(out.to_ndarray().reshape(-1))
                if video_done and audio_done:
                    break
    except av.FFmpegError as exc:
        if not frames and not chunks:
            raise UnsupportedMedia(f"{window.label()} of {path.name} does not decode ({exc.__class__.__name__}); the file may be corrupt") from exc
        log.warning("decoding %s stopped early in %s: %s", path.name, window.label(), exc)
    if not chunks:
        return frames, np.zeros(0, dtype=np.float32)
    samples = np.concatenate(chunks).astype(np.float32) / 32768.0
    skip = max(0, int(round((start - (audio_first or start)) * SAMPLE_RATE)))
    return frames, samples[skip : skip + int(math.ceil((end - start) * SAMPLE_RATE))]


def _scaled(img: Image.Image, side: int) -> Image.Image:
    img = img.convert("RGB")
    if max(img.size) > side:
        img.thumbnail((side, side))
    return img


def _wav(samples: np.ndarray) -> bytes:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(SAMPLE_RATE)
        w.writeframes((np.clip(samples, -1.0, 1.0) * 32767).astype("<i2").tobytes())
    return buf.getvalue()


def _mp4(frames: list[tuple[float, Image.Image]], samples: np.ndarray | None, *, fps: float) -> bytes:
    """A small H.264 + AAC clip of the window: frames at `fps`, the sound track whole."""
    import av

    buf = io.BytesIO()
    rate = Fraction(fps).limit_denominator(1000)
    with av.open(buf, mode="w", format="mp4") as out:
        w, h = frames[0][1].size
        vs = out.add_stream("libx264", rate=rate)
        vs.width, vs.height = w - w % 2, h - h % 2
        vs.pix_fmt = "yuv420p"
        vs.options = {"preset": "ultrafast", "crf": "23"}
        streams_audio = None
        if samples is not None and samples.size:
            streams_audio = out.add_stream("aac", rate=SAMPLE_RATE)
            streams_audio.layout = "mono"
        for i, (_, img) in enumerate(frames):
            if img.size != (w, h):
                img = img.resize((w, h))
            frame = av.VideoFrame.from_image(img.crop((0, 0, vs.width, vs.height)))
            frame.pts = i
            frame.time_base = 1 / rate
            for packet in vs.encode(frame):
                out.mux(packet)
        for packet in vs.encode(None):
            out.mux(packet)
        if streams_audio is not None and samples is not None:
            pcm = (np.clip(samples, -1.0, 1.0) * 32767).astype(np.int16).reshape(1, -1)
            aframe = av.AudioFrame.from_ndarray(pcm, format="s16", layout="mono")
            aframe.sample_rate = SAMPLE_RATE
            aframe.pts = 0
            for packet in streams_audio.encode(aframe):
                out.mux(packet)
            for packet in streams_audio.encode(None):
                out.mux(packet)
    return buf.getvalue()


def _jpeg(img: Image.Image, side: int = THUMB_SIDE) -> bytes:
    img = img.convert("RGB")
    img.thumbnail((side, side))
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=80)
    return buf.getvalue()


def _cut_pdf(fh: BinaryIO, path: Path, window: MediaWindow) -> CutWindow:
    import pypdfium2 as pdfium

    first, last = int(window.first_page or 1), int(window.last_page or 1)
    fh.seek(0)
    try:
        src = pdfium.PdfDocument(fh, autoclose=False)
    except pdfium.PdfiumError as exc:
        raise UnsupportedMedia(f"{path.name} does not open as a PDF ({exc})") from exc
    try:
        part = pdfium.PdfDocument.new()
        try:
            part.import_pages(src, list(range(first - 1, last)))
            buf = io.BytesIO()
            part.save(buf)
        finally:
            part.close()
        page = src[first - 1]
        try:
            w = page.get_width()
            image = page.render(scale=THUMB_SIDE / max(w, page.get_height(), 1.0)).to_pil()
        finally:
            page.close()
    except pdfium.PdfiumError as exc:
        raise UnsupportedMedia(f"{window.label()} of {path.name} does not render ({exc}); the PDF may be corrupt") from exc
    finally:
        src.close()
    data = buf.getvalue()
    return CutWindow(media=Media.from_bytes(data, source={"kind": "file", "path": str(path), "name": path.name, "window": window.key}), thumbnail=_jpeg(image))


def check_index_limits(info: LongMediaInfo, *, max_bytes: int, max_seconds: float, max_pages: int) -> None:
    from .intake import human_bytes

    if info.size > max_bytes:
        raise LimitExceeded(f"{Path(info.path).name} is {human_bytes(info.size)}, the indexing limit is {human_bytes(max_bytes)} (SENSORIUM_INDEX__MAX_FILE_BYTES)")
    if info.duration_s is not None and info.duration_s > max_seconds:
        raise LimitExceeded(
            f"{Path(info.path).name} lasts {clock(info.duration_s)}, the indexing limit is {clock(max_seconds)} (SENSORIUM_INDEX__MAX_SECONDS): split it"
        )
    if info.pages is not None and info.pages > max_pages:
        raise LimitExceeded(f"{Path(info.path).name} has {info.pages} pages, the indexing limit is {max_pages} (SENSORIUM_INDEX__MAX_PAGES)")

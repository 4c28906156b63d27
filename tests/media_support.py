"""Generators for small real media used by tests: nothing binary is committed.

Everything is produced at test time with the same libraries the product decodes with (PyAV's
bundled FFmpeg encoders, Pillow, a hand-written PDF), so a test exercises real containers and
codecs, not stubs. All functions return bytes; write them to a tmp dir when a path is needed.
"""

from __future__ import annotations

import io
import wave
from fractions import Fraction

import av
import numpy as np
from PIL import Image, ImageDraw, ImageFont

# ---------------------------------------------------------------------- audio


def tone(freq: float = 440.0, seconds: float = 1.0, sample_rate: int = 16000, amplitude: float = 0.5) -> np.ndarray:
    """A float32 sine tone in [-1, 1]."""
    t = np.arange(int(seconds * sample_rate), dtype=np.float64) / sample_rate
    return (amplitude * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def wav_bytes(samples: np.ndarray, sample_rate: int = 16000, channels: int = 1) -> bytes:
    """16-bit PCM WAV of float samples; with channels > 1, samples has shape (n, channels)."""
    pcm = np.clip(np.asarray(samples, dtype=np.float64), -1.0, 1.0)
    pcm16 = (pcm * 32767.0).round().astype("<i2")
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(2)
        w.setframerate(sample_rate)
        w.writeframes(pcm16.tobytes())
    return buf.getvalue()


def wav_tone(freq: float = 440.0, seconds: float = 1.0, sample_rate: int = 16000, amplitude: float = 0.5) -> bytes:
    return wav_bytes(tone(freq, seconds, sample_rate, amplitude), sample_rate)


def read_wav(data: bytes) -> tuple[np.ndarray, int]:
    """Mono float32 samples and the rate of a 16-bit PCM WAV (channels averaged)."""
    with wave.open(io.BytesIO(data), "rb") as w:
        rate, channels, width = w.getframerate(), w.getnchannels(), w.getsampwidth()
        raw = w.readframes(w.getnframes())
    assert width == 2, "only 16-bit PCM test WAVs are supported"
    arr = np.frombuffer(raw, dtype="<i2").astype(np.float32) / 32768.0
    return arr.reshape(-1, channels).mean(axis=1), rate


_AUDIO_FORMATS = {"mp3": ("mp3", "libmp3lame"), "flac": ("flac", "flac"), "ogg": ("ogg", "libopus"), "wav": ("wav", "pcm_s16le")}


def encode_audio(samples: np.ndarray, sample_rate: int = 16000, fmt: str = "mp3") -> bytes:
    """Encode mono float samples into a compressed container (mp3, flac, ogg/opus, wav) with PyAV."""
    container_fmt, codec = _AUDIO_FORMATS[fmt]
    rate = 48000 if codec == "libopus" else sample_rate
    if rate != sample_rate:
        x_old = np.arange(samples.size) / sample_rate
        x_new = np.arange(int(samples.size * rate / sample_rate)) / rate
        samples = np.interp(x_new, x_old, samples).astype(np.float32)
    buf = io.BytesIO()
    with av.open(buf, "w", format=container_fmt) as out:
        stream = out.add_stream(codec, rate=rate, layout="mono")
        _write_audio(out, stream, samples, rate)
    return buf.getvalue()


def _write_audio(out: av.container.OutputContainer, stream: av.AudioStream, samples: np.ndarray, rate: int) -> None:
    fmt = stream.codec_context.format.name
    frame_size = stream.codec_context.frame_size or 1024
    pcm = np.clip(samples.astype(np.float32), -1, 1)
    pts = 0
    for start in range(0, pcm.size, frame_size):
        chunk = pcm[start : start + frame_size]
        if fmt.startswith("s16"):
            arr = (chunk * 32767).astype(np.int16).reshape(1, -1)
        elif fmt.startswith("s32"):
            arr = (chunk * 2147483647).astype(np.int32).reshape(1, -1)
        else:
            arr = chunk.reshape(1, -1)
        frame = av.AudioFrame.from_ndarray(arr, format=fmt, layout="mono")
        frame.sample_rate = rate
        frame.pts = pts
        frame.time_base = Fraction(1, rate)
        pts += chunk.size
        for packet in stream.encode(frame):
            out.mux(packet)
    for packet in stream.encode(None):
        out.mux(packet)


# ---------------------------------------------------------------------- images


def text_image(text: str, size: tuple[int, int] = (640, 360), bg: str = "white", fg: str = "black", font_size: int = 56) -> Image.Image:
    """A picture of big, centred, OCR-friendly text."""
    img = Image.new("RGB", size, bg)
    draw = ImageDraw.Draw(img)
    font = ImageFont.load_default(size=font_size)
    lines = text.split("\n")
    heights = [draw.textbbox((0, 0), ln, font=font)[3] for ln in lines]
    y = (size[1] - sum(heights) - 10 * (len(lines) - 1)) // 2
    for ln, h in zip(lines, heights):
        w = draw.textlength(ln, font=font)
        draw.text(((size[0] - w) / 2, y), ln, fill=fg, font=font)
        y += h + 10
    return img


# ---------------------------------------------------------------------- video


def mp4_with_text(
    slides: list[str],
    *,
    seconds_per_slide: float = 2.0,
    fps: int = 5,
    size: tuple[int, int] = (640, 360),
    audio: np.ndarray | None = None,
    audio_rate: int = 16000,
    with_audio: bool = True,
    colours: list[str] | None = None,
) -> bytes:
    """An H.264 MP4 showing each slide's text for `seconds_per_slide`, with an AAC track.

    The audio track is `audio` (float mono at `audio_rate`) when given, else a quiet tone as
    long as the video; `with_audio=False` makes a silent video (no audio stream at all).
    """
    n_frames_per = max(1, int(round(seconds_per_slide * fps)))
    video_seconds = len(slides) * n_frames_per / fps
    if with_audio and audio is None:
        audio = tone(330.0, video_seconds, audio_rate, 0.2)
    buf = io.BytesIO()
    with av.open(buf, "w", format="mp4") as out:
        vs = out.add_stream("libx264", rate=fps)
        vs.width, vs.height = size
        vs.pix_fmt = "yuv420p"
        vs.options = {"preset": "ultrafast", "crf": "23"}
        aus = out.add_stream("aac", rate=audio_rate, layout="mono") if with_audio else None
        pts = 0
        for i, text in enumerate(slides):
            bg = colours[i % len(colours)] if colours else "white"
            frame = av.VideoFrame.from_image(text_image(text, size, bg=bg))
            for _ in range(n_frames_per):
                frame.pts = pts
                frame.time_base = Fraction(1, fps)
                pts += 1
                for packet in vs.encode(frame):
                    out.mux(packet)
        for packet in vs.encode(None):
            out.mux(packet)
        if aus is not None and audio is not None:
            _write_audio(out, aus, audio, audio_rate)
    return buf.getvalue()


# ---------------------------------------------------------------------- PDF


def _pdf_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")


def _assemble_pdf(objects: list[bytes], trailer_extra: bytes = b"") -> bytes:
    """Serialise numbered objects (1-based, object 1 = catalog) with a correct xref table."""
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for num, body in enumerate(objects, start=1):
        offsets.append(out.tell())
        out.write(f"{num} 0 obj\n".encode() + body + b"\nendobj\n")
    xref = out.tell()
    out.write(f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode())
    for off in offsets:
        out.write(f"{off:010d} 00000 n \n".encode())
    out.write(f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R ".encode() + trailer_extra + b" >>\n")
    out.write(f"startxref\n{xref}\n%%EOF\n".encode())
    return out.getvalue()


def pdf_with_text(pages: list[str], *, trailer_extra: bytes = b"") -> bytes:
    """A Letter-size PDF with one page per string, drawn as real text (a text layer) in Helvetica 24."""
    n = len(pages)
    # objects: 1 catalog, 2 pages, 3 font, then per page: page obj, content stream
    kids = " ".join(f"{4 + 2 * i} 0 R" for i in range(n))
    objects: list[bytes] = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        f"<< /Type /Pages /Kids [{kids}] /Count {n} >>".encode(),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    for i, text in enumerate(pages):
        lines = text.split("\n")
        ops = ["BT", "/F1 24 Tf", "72 700 Td", "30 TL"]
        for ln in lines:
            ops.append(f"({_pdf_escape(ln)}) Tj T*")
        ops.append("ET")
        stream = "\n".join(ops).encode("latin-1")
        objects.append(
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 3 0 R >> >> "
            f"/Contents {5 + 2 * i} 0 R >>".encode()
        )
        objects.append(f"<< /Length {len(stream)} >>\nstream\n".encode() + stream + b"\nendstream")
    return _assemble_pdf(objects, trailer_extra)


def pdf_image_only(pages: list[str], size: tuple[int, int] = (850, 1100)) -> bytes:
    """A PDF whose pages are pictures of text (a scan): no text layer, only OCR can read it."""
    images = [text_image(t, size, font_size=64) for t in pages]
    buf = io.BytesIO()
    images[0].save(buf, "PDF", save_all=True, append_images=images[1:], resolution=100.0)
    return buf.getvalue()


def pdf_encrypted() -> bytes:
    """A PDF protected by a user password (standard security handler), which cannot be opened without it.

    The /U entry is not the one the empty password would produce, so every reader asks for a
    password; no real encryption of the content is needed for that.
    """
    encrypt = b"<< /Filter /Standard /V 1 /R 2 /Length 40 /P -4 /O <" + b"ab" * 32 + b"> /U <" + b"cd" * 32 + b"> >>"
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [4 0 R] /Count 1 >>",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 5 0 R >>",
        b"<< /Length 0 >>\nstream\n\nendstream",
        encrypt,
    ]
    return _assemble_pdf(objects, b"/Encrypt 6 0 R /ID [<" + b"00" * 16 + b"> <" + b"00" * 16 + b">]")


# ---------------------------------------------------------------------- speech


def espeak_wav(text: str, espeak: str = "espeak-ng", voice: str = "en-us", words_per_minute: int = 150) -> bytes:
    """WAV bytes of `text` spoken by espeak-ng (22.05 kHz mono), as the eval set's clean clips were made."""
    import subprocess
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as tmp:  # -w writes a WAV with real sizes in its header (--stdout does not)
        out = Path(tmp) / "speech.wav"
        subprocess.run([espeak, "-v", voice, "-s", str(words_per_minute), "-w", str(out), text], capture_output=True, timeout=60, check=True)
        return out.read_bytes()


# ---------------------------------------------------------------------- screens


def ui_screen(
    title: str = "Sign in to start your session",
    buttons: tuple[str, ...] = ("Login", "Register a new membership", "I forgot my password"),
    fields: tuple[str, ...] = ("Email", "Password"),
    size: tuple[int, int] = (1280, 800),
    bg: str = "white",
    accent: str = "#3c8dbc",
) -> tuple[Image.Image, list[dict]]:
    """A small app screen (title, labelled text fields, buttons) and its elements in the eval-set layout.

    Elements are `{"box": [x1, y1, x2, y2], "name", "role", "text", "icon_only"}` like the
    candidates of ui_grounding items, so tests written for real screenshots read these as well.
    """
    img = Image.new("RGB", size, bg)
    draw = ImageDraw.Draw(img)
    font = ImageFont.load_default(size=28)
    small = ImageFont.load_default(size=24)
    draw.rectangle((0, 0, size[0], 64), fill=accent)
    draw.text((32, 16), title, fill="white", font=font)
    elements: list[dict] = []
    y = 150
    for name in fields:
        draw.text((400, y), name, fill="black", font=small)
        box = [400, y + 36, 880, y + 84]
        draw.rectangle(box, outline="#888888", width=2)
        elements.append({"box": box, "name": name, "role": "textbox", "text": "", "icon_only": False})
        y += 120
    for i, label in enumerate(buttons):
        w = int(draw.textlength(label, font=font)) + 48
        box = [400, y, 400 + w, y + 56]
        draw.rectangle(box, fill=accent if i == 0 else "#eeeeee", outline="#555555")
        draw.text((box[0] + 24, y + 12), label, fill="white" if i == 0 else "black", font=font)
        elements.append({"box": box, "name": label, "role": "button" if i == 0 else "link", "text": label, "icon_only": False})
        y += 90
    return img, elements


def ui_item(instruction: str, target: str, **screen: object) -> dict:
    """A ui_grounding-style item on a generated screen: `image` (PIL), candidates, target index and box."""
    img, elements = ui_screen(**screen)  # type: ignore[arg-type]
    index = next(i for i, e in enumerate(elements) if e["name"] == target)
    return {
        "image": img, "width": img.width, "height": img.height, "instruction": instruction,
        "candidates": elements, "target_index": index, "acceptable_indices": [index], "target_box": elements[index]["box"],
    }


def closest_sentence(heard: str, choices: list[str]) -> str:
    """The choice whose letters best match what a recogniser heard (difflib ratio on normalised text).

    Speech tests assert retrieval with this instead of exact words: Whisper tiny may hear
    "sanding" for "settings" on one machine and not on another, but the sentence stays closest.
    """
    from difflib import SequenceMatcher

    def norm(s: str) -> str:
        return " ".join("".join(ch for ch in s.lower() if ch.isalnum() or ch.isspace()).split())

    return max(choices, key=lambda c: SequenceMatcher(None, norm(c), norm(heard)).ratio())


# ---------------------------------------------------------------------- long media


def timeline_mp4(
    path: str,
    duration_s: float,
    slides: list[tuple[float, float, str]],
    *,
    background: str = "Channel news\nat {minute:02d} minutes",
    speech: list[tuple[float, np.ndarray]] | None = None,
    fps: int = 1,
    size: tuple[int, int] = (640, 360),
    audio_rate: int = 16000,
) -> None:
    """A long H.264 + AAC video written straight to `path` (nothing held whole in memory).

    Each second shows the slide whose [start, end) holds it, else `background` with the current
    minute filled in (so the filler changes, as real footage does). `speech` places mono float
    clips at given times on an otherwise quiet track."""
    n_audio = int(duration_s * audio_rate)
    track = np.zeros(n_audio, dtype=np.float32)
    track += tone(220.0, duration_s, audio_rate, 0.002)[:n_audio]  # not digital silence
    for at, clip in speech or []:
        i = int(at * audio_rate)
        track[i : i + clip.size] += clip[: max(0, n_audio - i)]
    cache: dict[str, av.VideoFrame] = {}
    with av.open(path, "w", format="mp4") as out:
        vs = out.add_stream("libx264", rate=fps)
        vs.width, vs.height = size
        vs.pix_fmt = "yuv420p"
        vs.options = {"preset": "ultrafast", "crf": "28", "g": str(10 * fps)}
        aus = out.add_stream("aac", rate=audio_rate, layout="mono")
        for i in range(int(duration_s * fps)):
            t = i / fps
            text = next((s for a, b, s in slides if a <= t < b), background.format(minute=int(t // 60)))
            if text not in cache:
                cache[text] = av.VideoFrame.from_image(text_image(text, size, font_size=40))
            frame = cache[text]
            frame.pts = i
            frame.time_base = Fraction(1, fps)
            for packet in vs.encode(frame):
                out.mux(packet)
        for packet in vs.encode(None):
            out.mux(packet)
        _write_audio(out, aus, track, audio_rate)


def png_that_does_not_inflate(image: Image.Image) -> bytes:
    """A PNG whose chunks and CRCs are all valid but whose pixel stream is damaged: what intake's
    structural check passes and only decoding the pixels refuses."""
    import struct
    import zlib

    buf = io.BytesIO()
    image.save(buf, "PNG")
    data = bytearray(buf.getvalue())
    at = data.index(b"IDAT") - 4
    length = struct.unpack(">I", data[at : at + 4])[0]
    start = at + 8
    for i in range(start + 2, start + length, 7):  # past the zlib header: scramble the deflate stream
        data[i] ^= 0xA5
    crc = zlib.crc32(bytes(data[at + 4 : start + length])) & 0xFFFFFFFF
    data[start + length : start + length + 4] = struct.pack(">I", crc)
    return bytes(data)

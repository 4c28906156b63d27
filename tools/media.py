"""Media: bytes plus a sniffed MIME type, the one shape every intake path produces.

MIME types are sniffed from the bytes, never trusted from a file name or a caller, because a
wrong MIME sent to a backend fails far from where the mistake was made.
"""

from __future__ import annotations

import hashlib
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from .errors import UnsupportedMedia


class Modality(StrEnum):
    TEXT = "text"
    IMAGE = "image"
    AUDIO = "audio"
    VIDEO = "video"
    PDF = "pdf"


MIME_MODALITY: dict[str, Modality] = {
    "image/png": Modality.IMAGE,
    "image/jpeg": Modality.IMAGE,
    "image/webp": Modality.IMAGE,
    "image/gif": Modality.IMAGE,
    "image/bmp": Modality.IMAGE,
    "audio/wav": Modality.AUDIO,
    "audio/mpeg": Modality.AUDIO,
    "audio/flac": Modality.AUDIO,
    "audio/ogg": Modality.AUDIO,
    "video/mp4": Modality.VIDEO,
    "video/quicktime": Modality.VIDEO,
    "video/webm": Modality.VIDEO,
    "application/pdf": Modality.PDF,
}


def sniff_mime(data: bytes) -> str | None:
    """The MIME type the bytes really are, from their magic numbers; None when unknown."""
    head = data[:64]
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return "audio/wav"
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "image/gif"
    if head.startswith(b"BM") and len(data) > 26:
        return "image/bmp"
    if head.startswith(b"%PDF-"):
        return "application/pdf"
    if head.startswith(b"fLaC"):
        return "audio/flac"
    if head.startswith(b"OggS"):
        return "audio/ogg"
    if head.startswith(b"ID3") or (len(head) > 1 and head[0] == 0xFF and (head[1] & 0xE0) == 0xE0):
        return "audio/mpeg"
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return "video/webm"
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand == b"qt  ":
            return "video/quicktime"
        if brand in (b"M4A ", b"M4B "):
            return "audio/mp4"
        return "video/mp4"
    return None


class Media(BaseModel):
    """Bytes of one piece of media with what was learned about them on intake."""

    model_config = ConfigDict(frozen=True)

    data: bytes = Field(repr=False)
    mime_type: str
    modality: Modality
    source: dict[str, Any] = Field(default_factory=dict)

    @classmethod
    def from_bytes(cls, data: bytes, source: dict[str, Any] | None = None) -> Media:
        """Sniff the bytes; refuse what no path of Sensorium can embed."""
        mime = sniff_mime(data)
        if mime is None or mime not in MIME_MODALITY:
            what = f"'{mime}'" if mime else "not a recognised media format"
            raise UnsupportedMedia(
                f"the data is {what}; send PNG/JPEG/WebP images, WAV/MP3/FLAC/OGG audio, "
                "MP4/MOV/WebM video or PDF documents"
            )
        return cls(data=data, mime_type=mime, modality=MIME_MODALITY[mime], source=source or {})

    @classmethod
    def from_image(cls, image: Any, source: dict[str, Any] | None = None) -> Media:
        """A PIL image (a crop, a region) as lossless PNG media; fast zlib level, crops are re-encoded often."""
        import io

        buf = io.BytesIO()
        image.convert("RGB").save(buf, format="PNG", compress_level=1)
        return cls.from_bytes(buf.getvalue(), source=source)

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()

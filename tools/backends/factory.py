"""The one place that names the concrete backends: callers ask for one by name and get the protocol.

Each backend module is imported only when chosen, so a server on the hashing or local backend never
imports the Gemini SDK, and the other way round.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Literal

from ..config import GeminiSettings, LocalSettings, VertexAccess
from .base import EmbeddingBackend

if TYPE_CHECKING:
    from .local.ocr import OcrEngine

BackendKind = Literal["gemini", "local", "hashing"]


def open_backend(
    kind: BackendKind,
    *,
    gemini_api_key: str | None = None,
    dimension: int = 768,
    gemini: GeminiSettings | None = None,
    local: LocalSettings | None = None,
    cache_dir: Path | None = None,
    ocr: OcrEngine | None = None,
    vertex: VertexAccess | None = None,
) -> EmbeddingBackend:
    """A backend by name. `dimension` is Gemini's output dimension (the others have a fixed one);
    `ocr` is the server's one screen reader, shared with ranking (the local backend reads with it);
    `vertex` sends Gemini's requests to Vertex AI instead of the Gemini API (the key is then unused)."""
    if kind == "gemini":
        from .gemini import GeminiBackend

        return GeminiBackend(gemini_api_key, dimension, gemini or GeminiSettings(), vertex=vertex)
    if kind == "local":
        from .local.backend import LocalBackend

        return LocalBackend(local or LocalSettings(), cache_dir=cache_dir, ocr=ocr)
    from .hashing import HashingBackend

    return HashingBackend()

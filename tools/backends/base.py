"""The embedding backend interface: one vector per item, always, tagged with its space.

Backends are swappable the way httpx transports are: the Gemini backend, the offline local
backend and a deterministic hashing backend for fast tests sit side by side behind this
protocol. Memory stores the `space` of every vector and refuses to mix spaces, so a backend
must change its space id whenever its vectors stop being comparable (model, dimension).
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator

from ..errors import InvalidInput, ModalityNotSupported
from ..media import Media, Modality
from ..regions import RegionItem

if TYPE_CHECKING:
    from PIL import Image

Role = Literal["query", "document"]
"""query: what the agent is looking for; document: what is stored or ranked."""

ProgressCallback = Callable[[float, float | None, str | None], Awaitable[None]]
"""(done, total, message): forwarded to MCP progress notifications by the server."""


class EmbedItem(BaseModel):
    """One thing to embed: a single part, or a group of parts that yields ONE vector."""

    model_config = ConfigDict(frozen=True)

    parts: tuple[str | Media, ...]
    title: str | None = None
    """A document title (window title, file name): Gemini puts it in its document prompt."""

    @field_validator("parts")
    @classmethod
    def _not_empty(cls, parts: tuple[str | Media, ...]) -> tuple[str | Media, ...]:
        if not parts:
            raise ValueError("an item needs at least one part")
        for p in parts:
            if isinstance(p, str) and not p.strip():
                raise ValueError("text parts must not be empty")
        return parts

    @classmethod
    def of(cls, *parts: str | Media, title: str | None = None) -> EmbedItem:
        try:
            return cls(parts=tuple(parts), title=title)
        except ValueError as exc:  # pydantic's ValidationError is a ValueError
            raise InvalidInput(str(exc.errors()[0]["msg"]) if hasattr(exc, "errors") else str(exc)) from exc

    @property
    def modality(self) -> str:
        """'text', 'image', ... for a single part; 'multimodal' for a mixed group."""
        kinds = {Modality.TEXT if isinstance(p, str) else p.modality for p in self.parts}
        return kinds.pop().value if len(kinds) == 1 else "multimodal"

    @property
    def part_modalities(self) -> list[Modality]:
        """The modality of each part, in order (for `require_capabilities`)."""
        return [Modality.TEXT if isinstance(p, str) else p.modality for p in self.parts]

    @property
    def content_hash(self) -> str:
        """sha256 over every part (and the title), so equal inputs share cache entries."""
        h = hashlib.sha256()
        for p in self.parts:
            if isinstance(p, str):
                h.update(b"T" + len(p.encode()).to_bytes(8, "big") + p.encode())
            else:
                h.update(b"M" + p.mime_type.encode() + b"\0" + len(p.data).to_bytes(8, "big") + p.data)
        if self.title:
            h.update(b"title\0" + self.title.encode())
        return h.hexdigest()


class Embedding(BaseModel):
    """A float32, L2-normalised vector, its space, and what the backend saw on the way."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    vector: np.ndarray
    space: str
    extras: dict[str, Any] = Field(default_factory=dict)
    """Backend by-products: OCR words with boxes, a transcript with timestamps, a visual
    descriptor. Ranking and memory reuse them instead of perceiving twice."""

    @property
    def dimension(self) -> int:
        return int(self.vector.shape[0])


class Capabilities(BaseModel):
    """What a backend can embed, said before anything is sent, so a caller can refuse early and say why.

    `speech_only_audio`: audio is understood through speech recognition alone (the local backend);
    music, tones and noise are refused by `embed` with `ModalityNotSupported` after a quick check.
    `online`: `probe()` contacts a remote service (worth a `doctor --online`); offline backends
    answer `probe()` from their local status.
    """

    model_config = ConfigDict(frozen=True)

    modalities: frozenset[Modality]
    speech_only_audio: bool = False
    online: bool = False

    def missing(self, modalities: Iterable[Modality | str]) -> list[Modality]:
        """The given modalities this backend cannot embed, in order, without duplicates."""
        out: list[Modality] = []
        for m in modalities:
            mod = Modality(m)
            if mod not in self.modalities and mod not in out:
                out.append(mod)
        return out

    def describe(self) -> str:
        """`text, image, audio (speech only)`: for error messages and `doctor`."""
        names = [m.value + (" (speech only)" if m is Modality.AUDIO and self.speech_only_audio else "") for m in Modality if m in self.modalities]
        return ", ".join(names) or "nothing"


ALL_MODALITIES = frozenset(Modality)


class BackendStatus(BaseModel):
    """What `sensorium doctor` reports for a backend, without spending an API call."""

    name: str
    space: str
    ready: bool
    detail: str


@runtime_checkable
class EmbeddingBackend(Protocol):
    """The one interface callers use; nothing outside `tools/backends` names a concrete backend.

    `CachedBackend` wraps any backend and forwards every member below.
    """

    name: str

    @property
    def perception_version(self) -> str:
        """Changes when what the backend *reads* from media changes while its space stays (OCR or
        ASR settings): caches key on it so stale extras and vectors are not served. "" = never changes."""
        ...

    @property
    def capabilities(self) -> Capabilities:
        """What it embeds (modalities; audio speech-only or not) and whether `probe` goes online."""
        ...

    @property
    def space(self) -> str:
        """`<backend>/<model>@<dimension>`, e.g. `gemini/gemini-embedding-2@768`."""
        ...

    @property
    def dimension(self) -> int: ...

    async def embed(
        self, items: Sequence[EmbedItem], role: Role, *, progress: ProgressCallback | None = None
    ) -> list[Embedding]:
        """Exactly one Embedding per item, in order. Raises SensoriumError subclasses."""
        ...

    region_embedding: Literal["crops", "native"]
    """How `embed_regions` sees the elements of a screenshot: `crops` = each padded crop is an image
    document through `embed` (so a cache in front serves repeats); `native` = the backend reads
    the screenshot once and embeds every region from that (the local backend: no OCR per crop)."""

    async def embed_regions(
        self, image: Image.Image, regions: Sequence[RegionItem], *, progress: ProgressCallback | None = None,
        icons: bool = True,
    ) -> list[Embedding]:
        """One document Embedding per region of one screenshot, in order, comparable with `embed`'s queries.

        `icons=False`: a region is embedded from its words alone, nothing looks at the pixels of one
        without words (a ranking by words first, screen.rank_read); backends that embed crops see
        pixels either way and ignore it."""
        ...

    async def status(self) -> BackendStatus:
        """Ready or not and why, without spending an API call."""
        ...

    async def probe(self) -> BackendStatus:
        """An online check (one tiny real call) for remote backends; offline ones return `status()`."""
        ...

    async def aclose(self) -> None: ...


def require_capabilities(backend: EmbeddingBackend, modalities: Iterable[Modality | str], what: str) -> None:
    """Refuse, before any work, an input the backend cannot embed: names the backend, what it takes and the way out."""
    missing = backend.capabilities.missing(modalities)
    if missing:
        kinds = ", ".join(m.value for m in missing)
        raise ModalityNotSupported(
            f"{what}: the {backend.name} backend ({backend.space}) cannot embed {kinds}; it embeds "
            f"{backend.capabilities.describe()}. Send another kind of input or choose another backend (SENSORIUM_BACKEND)"
        )


def space_id(backend: str, model: str, dimension: int) -> str:
    return f"{backend}/{model}@{dimension}"


def l2_normalise(matrix: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (zero rows stay zero); float32 out."""
    m = np.asarray(matrix, dtype=np.float32)
    if m.ndim == 1:
        n = float(np.linalg.norm(m))
        return m / n if n > 0 else m
    norms = np.linalg.norm(m, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return (m / norms).astype(np.float32)

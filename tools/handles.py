"""Embedding handles: what an embed tool hands back instead of thousands of floats.

An agent rarely needs the raw vector; it needs something to pass on (to `remember`, to a
ranking call). Handles live in a bounded in-memory LRU owned by the server; evicting an old
handle only means the caller must embed again, since nothing acknowledged lives here.

The store is capped by BYTES, not by count, and keeps what a handle is used for, not the
input: `remember(handle_id=...)` needs the vector, the item's modality, content hash and
text, and (for an image) the picture to make its thumbnail from. Audio, video and PDF bytes
are dropped at `put`: keeping them made 30 embeds of a 50 MB WAV cost 1.4 GB of RAM that was
never given back (issue 18). An image over `KEPT_IMAGE_BYTES` is kept downscaled to
`KEPT_IMAGE_SIDE`, so a 20 MB photo costs a few hundred KB here.
"""

from __future__ import annotations

import io
import secrets
import threading
import time
from collections import OrderedDict, deque
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from .backends.base import EmbedItem, Embedding
from .errors import NotFound, echo
from .media import Media, Modality

KEPT_IMAGE_SIDE = 1280
"""An image handle keeps its picture at most this large: what memory stores as a thumbnail anyway."""
KEPT_IMAGE_BYTES = 1_500_000
"""Images up to this size are kept as they are; larger ones are downscaled to KEPT_IMAGE_SIDE."""
_EVICTED_REMEMBERED = 4096
"""Ids of evicted handles remembered (a few bytes each) so a late caller is told "expired", not "unknown"."""
_OVERHEAD = 1024
"""Bytes charged per entry on top of what is measured (ids, dicts, the pydantic objects themselves)."""


class StoredEmbedding(BaseModel):
    """An embedding and what `remember` needs of its input, so memory can store it without re-embedding."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    id: str
    embedding: Embedding
    modality: str
    """'text', 'image', ... or 'multimodal' (`EmbedItem.modality`)."""
    content_hash: str
    text: str
    """The text parts joined: an instruction, a caption."""
    media: Media | None = None
    """The image a thumbnail is made from (the item's first media part, when it is an image); None otherwise."""
    role: str
    source: dict[str, Any] = Field(default_factory=dict)
    created_at: float = Field(default_factory=time.time)

    @property
    def nbytes(self) -> int:
        """What this entry holds in memory, roughly: vector, kept image, text and extras."""
        extras = self.embedding.extras
        return (
            _OVERHEAD
            + int(getattr(self.embedding.vector, "nbytes", 0))
            + (len(self.media.data) if self.media is not None else 0)
            + len(self.text)
            + _rough_size(extras)
            + _rough_size(self.source)
        )


def kept_media(item: EmbedItem) -> Media | None:
    """The first media part if it is an image (what a memory's thumbnail is made from), downscaled
    to `KEPT_IMAGE_SIDE`; audio, video and PDF bytes are not kept (no memory stores them)."""
    first = next((p for p in item.parts if isinstance(p, Media)), None)
    if first is None or first.modality is not Modality.IMAGE:
        return None
    return _small_image(first)


def _small_image(media: Media) -> Media | None:
    from PIL import Image

    if len(media.data) <= KEPT_IMAGE_BYTES:
        return media  # a screenshot or photo of ordinary size: kept as is, no work per embed
    try:
        with Image.open(io.BytesIO(media.data)) as img:
            if max(img.size) <= KEPT_IMAGE_SIDE:
                return media
            img.draft("RGB", (KEPT_IMAGE_SIDE, KEPT_IMAGE_SIDE))  # JPEG: decode at a fraction of the size
            small = img.convert("RGB")
        small.thumbnail((KEPT_IMAGE_SIDE, KEPT_IMAGE_SIDE))
        buf = io.BytesIO()
        small.save(buf, format="JPEG", quality=90)
    except (OSError, ValueError):  # intake decoded it already; if not, keep no picture rather than fail the embed
        return None
    return Media(data=buf.getvalue(), mime_type="image/jpeg", modality=Modality.IMAGE, source=media.source)


def _rough_size(value: Any, depth: int = 0) -> int:
    """A cheap upper-ish estimate of a JSON-like value's size (OCR words, transcripts)."""
    if depth > 6:
        return 64
    if isinstance(value, str):
        return 50 + len(value)
    if isinstance(value, dict):
        return 64 + sum(_rough_size(k, depth + 1) + _rough_size(v, depth + 1) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return 56 + sum(_rough_size(v, depth + 1) for v in value)
    nbytes = getattr(value, "nbytes", None)
    return int(nbytes) + 100 if isinstance(nbytes, int) else 32


class HandleStore:
    """A thread-safe LRU of StoredEmbedding by id, capped by bytes (and by count)."""

    def __init__(self, max_bytes: int = 256_000_000, capacity: int = 4096) -> None:
        if max_bytes < 1 or capacity < 1:
            raise ValueError("HandleStore needs max_bytes >= 1 and capacity >= 1")
        self._max_bytes = max_bytes
        self._capacity = capacity
        self._items: OrderedDict[str, StoredEmbedding] = OrderedDict()
        self._sizes: dict[str, int] = {}
        self._bytes = 0
        self._evicted: deque[str] = deque(maxlen=_EVICTED_REMEMBERED)
        self._evicted_set: set[str] = set()
        self._lock = threading.Lock()

    @property
    def nbytes(self) -> int:
        """Bytes held now (the figure the cap applies to)."""
        return self._bytes

    def __len__(self) -> int:
        return len(self._items)

    def put(self, embedding: Embedding, item: EmbedItem, role: str, source: dict[str, Any] | None = None) -> StoredEmbedding:
        """Keep a handle; blocking when the item holds a large image (it is downscaled): run it off the loop."""
        stored = StoredEmbedding(
            id="emb_" + secrets.token_hex(6), embedding=embedding, modality=item.modality,
            content_hash=item.content_hash, text=" ".join(p for p in item.parts if isinstance(p, str)),
            media=kept_media(item), role=role, source=source or {},
        )
        size = stored.nbytes
        with self._lock:
            self._items[stored.id] = stored
            self._sizes[stored.id] = size
            self._bytes += size
            # the newest entry stays even when it alone is over the cap: the caller was just given its id
            while len(self._items) > 1 and (self._bytes > self._max_bytes or len(self._items) > self._capacity):
                old_id, _ = self._items.popitem(last=False)
                self._bytes -= self._sizes.pop(old_id)
                self._remember_evicted(old_id)
        return stored

    def _remember_evicted(self, handle_id: str) -> None:
        if len(self._evicted) == self._evicted.maxlen:
            self._evicted_set.discard(self._evicted[0])
        self._evicted.append(handle_id)
        self._evicted_set.add(handle_id)

    def get(self, handle_id: str) -> StoredEmbedding:
        with self._lock:
            stored = self._items.get(handle_id)
            if stored is None:
                shown = echo(handle_id)
                if handle_id in self._evicted_set:
                    raise NotFound(
                        f"embedding handle {shown} expired: the server keeps the most recent handles within "
                        f"{self._max_bytes / 1e6:g} MB (SENSORIUM_INTAKE__HANDLE_CACHE_BYTES); embed the input again"
                    )
                raise NotFound(
                    f"no embedding handle {shown}: handles come from the embed_* tools of this server process "
                    "and are kept for its most recent embeddings; embed the input again"
                )
            self._items.move_to_end(handle_id)
            return stored

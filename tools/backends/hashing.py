"""A deterministic, dependency-free backend for fast tests and for development without models.

It is a real (if weak) embedding: text is feature-hashed word and character-trigram counts,
media are hashed from their bytes, so equal inputs give equal vectors and texts that share
words are closer than texts that do not. It never loads a model and never calls a network,
which is why memory and server tests use it; its space id (`hashing/v1@N`) keeps its vectors
out of any store built by a real backend.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence

import anyio
import numpy as np
from PIL import Image

from ..media import Media
from ..regions import RegionItem, embed_crops
from .base import ALL_MODALITIES, BackendStatus, Capabilities, EmbedItem, Embedding, ProgressCallback, Role, l2_normalise, space_id

_WORD = re.compile(r"\w+", re.UNICODE)


def _bucket(token: str, dimension: int) -> tuple[int, float]:
    d = hashlib.blake2b(token.encode(), digest_size=8).digest()
    idx = int.from_bytes(d[:4], "little") % dimension
    sign = 1.0 if d[4] & 1 else -1.0
    return idx, sign


class HashingBackend:
    name = "hashing"

    def __init__(self, dimension: int = 256) -> None:
        self._dimension = dimension

    @property
    def space(self) -> str:
        return space_id("hashing", "v1", self._dimension)

    @property
    def dimension(self) -> int:
        return self._dimension

    perception_version = ""
    capabilities = Capabilities(modalities=ALL_MODALITIES)

    def _text_vector(self, text: str) -> np.ndarray:
        v = np.zeros(self._dimension, dtype=np.float32)
        lowered = text.lower()
        for word in _WORD.findall(lowered):
            i, s = _bucket("w:" + word, self._dimension)
            v[i] += 2.0 * s
            padded = f"#{word}#"
            for k in range(len(padded) - 2):
                i, s = _bucket("c:" + padded[k : k + 3], self._dimension)
                v[i] += 0.5 * s
        return v

    def _media_vector(self, media: Media) -> np.ndarray:
        seed = int.from_bytes(hashlib.sha256(media.data).digest()[:8], "little")
        return np.random.default_rng(seed).standard_normal(self._dimension).astype(np.float32)

    async def embed(
        self, items: Sequence[EmbedItem], role: Role, *, progress: ProgressCallback | None = None
    ) -> list[Embedding]:
        out: list[Embedding] = []
        for n, item in enumerate(items):
            # in a worker thread: hashing a long text or a large file is CPU work that would stall
            # the event loop (a 10 MB caption left pings unanswered, issue 18)
            vector = await anyio.to_thread.run_sync(self._item_vector, item)
            out.append(Embedding(vector=vector, space=self.space))
            if progress is not None:
                await progress(n + 1, len(items), None)
        return out

    def _item_vector(self, item: EmbedItem) -> np.ndarray:
        v = np.zeros(self._dimension, dtype=np.float32)
        for part in item.parts:
            v += self._text_vector(part) if isinstance(part, str) else self._media_vector(part)
        if item.title:
            v += 0.5 * self._text_vector(item.title)
        return l2_normalise(v)

    region_embedding = "crops"

    async def embed_regions(
        self, image: Image.Image, regions: Sequence[RegionItem], *, progress: ProgressCallback | None = None,
        icons: bool = True,
    ) -> list[Embedding]:
        return await embed_crops(self, image, regions, progress)

    async def status(self) -> BackendStatus:
        return BackendStatus(name=self.name, space=self.space, ready=True, detail="deterministic hashing backend (tests/dev)")

    async def probe(self) -> BackendStatus:
        return await self.status()

    async def aclose(self) -> None:
        return None

"""Embedding handles: what an embed tool hands back instead of thousands of floats.

An agent rarely needs the raw vector; it needs something to pass on (to `remember`, to a
ranking call). Handles live in a bounded in-memory LRU owned by the server; evicting an old
handle only means the caller must embed again, since nothing acknowledged lives here.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections import OrderedDict
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from .backends.base import EmbedItem, Embedding
from .errors import NotFound
from .media import Media


class StoredEmbedding(BaseModel):
    """An embedding together with what produced it, so memory can store it without re-embedding."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    id: str
    embedding: Embedding
    item: EmbedItem
    role: str
    source: dict[str, Any] = Field(default_factory=dict)
    created_at: float = Field(default_factory=time.time)

    @property
    def media(self) -> Media | None:
        """The first media part (the one a thumbnail is made from), if any."""
        return next((p for p in self.item.parts if isinstance(p, Media)), None)

    @property
    def text(self) -> str:
        """The text parts joined: an instruction, a caption."""
        return " ".join(p for p in self.item.parts if isinstance(p, str))


class HandleStore:
    """A bounded, thread-safe LRU of StoredEmbedding by id."""

    def __init__(self, capacity: int = 512) -> None:
        self._capacity = capacity
        self._items: OrderedDict[str, StoredEmbedding] = OrderedDict()
        self._lock = threading.Lock()

    def put(self, embedding: Embedding, item: EmbedItem, role: str, source: dict[str, Any] | None = None) -> StoredEmbedding:
        stored = StoredEmbedding(
            id="emb_" + secrets.token_hex(6), embedding=embedding, item=item, role=role, source=source or {}
        )
        with self._lock:
            self._items[stored.id] = stored
            while len(self._items) > self._capacity:
                self._items.popitem(last=False)
        return stored

    def get(self, handle_id: str) -> StoredEmbedding:
        with self._lock:
            stored = self._items.get(handle_id)
            if stored is None:
                raise NotFound(
                    f"no embedding handle '{handle_id}': handles are kept for the last {self._capacity} "
                    "embeddings of this server process; embed the input again"
                )
            self._items.move_to_end(handle_id)
            return stored

"""Errors of the memory layer. Memory knows nothing of perception or MCP: it has its own base class,
and the server maps `MemoryStoreError` the same way it maps the perception layer's `SensoriumError`.

Every message is written for the caller to read: what was wrong, and the way out.
"""

from __future__ import annotations


class MemoryStoreError(Exception):
    """Base of every anticipated failure of a memory store."""


class InvalidRequest(MemoryStoreError):
    """A malformed record or query: a zero vector, a wrong dimension, k out of range, an empty filter."""


class SpaceMismatch(InvalidRequest):
    """A store built for one embedding space was opened, fed or queried with another.

    Vectors of different spaces are not comparable: mixing them silently would return
    confident nonsense, so it is refused and the message names both spaces and the way out.
    """


class StoreUnavailable(MemoryStoreError):
    """The store cannot be used: closed, held by another process, or an engine that is not implemented."""


class StoreCorrupt(MemoryStoreError):
    """The SQLite database itself (the source of truth) cannot be read; the index can always be rebuilt."""

"""Errors of the memory layer, all SensoriumError subclasses so the server maps them in one place."""

from __future__ import annotations

from ..tools.errors import InvalidInput, SensoriumError


class SpaceMismatch(InvalidInput):
    """A store built for one embedding space was opened, fed or queried with another.

    Vectors of different spaces are not comparable: mixing them silently would return
    confident nonsense, so it is refused and the message names both spaces and the way out.
    """


class StoreCorrupt(SensoriumError):
    """The SQLite database itself (the source of truth) cannot be read; the index can always be rebuilt."""

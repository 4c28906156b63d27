"""Keep the garbage collector's full passes short once the models are in memory.

A loaded local backend holds ~175,000 objects the cyclic garbage collector tracks (the modules,
classes and functions of onnxruntime, RapidOCR, tokenizers, pydantic and MCP, the models' Python
side) and keeps them for the life of the process. CPython's oldest-generation collection walks all
of them: 0.11-0.15 s, and it fell inside half of the "one small change" rank_ui_elements calls on a
busy 1920x1080 desktop (`python bench/rank_breakdown.py`, "gc pauses (gen 2)": 3 of 6 calls, 0.12-0.15 s
of 0.38-0.47 s; none of 6 with the heap frozen, 0.22-0.31 s). `gc.freeze()` moves every object tracked
at that moment into a permanent generation that later collections skip, so a full pass walks only
what requests created since.

WHEN: right after a model loads (`OcrEngine`, `TextEncoder`, `IconReader`, the Whisper recogniser):
that is when the long-lived heap grows, a few times per process. The cost is that
objects frozen there are never examined for reference cycles again: an object that was transient at
that moment (another request's in flight) and later becomes part of unreachable cycle stays in memory.
That is bounded by what was in flight during those few loads; acyclic garbage is still freed at once by
reference counting, frozen or not.
"""

from __future__ import annotations

import gc
import logging

log = logging.getLogger(__name__)


def freeze_long_lived(what: str) -> int:
    """Freeze every object the collector tracks now (call after loading `what`); the frozen count."""
    gc.freeze()
    frozen = gc.get_freeze_count()
    log.debug("after loading %s: %d objects frozen out of the garbage collector's passes", what, frozen)
    return frozen

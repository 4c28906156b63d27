"""Loading a model freezes the long-lived heap out of the garbage collector's passes (tools/heap.py).

WHY it is worth a test: without it a full collection walks ~175,000 objects of a loaded backend
(0.11-0.15 s, inside half the "one small change" rank calls measured); nothing else would notice it
going away but the benchmark.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sensorium.tools.backends.local.models import MINILM, ModelStore
from sensorium.tools.backends.local.ocr import OcrEngine
from sensorium.tools.backends.local.text_encoder import TextEncoder
from sensorium.tools.config import LocalSettings
from sensorium.tools.heap import freeze_long_lived
from sensorium.tools.icons import IconReader


@pytest.fixture
def thawed() -> Iterator[None]:
    """Start from an unfrozen heap (the process may have loaded models before) and leave it frozen."""
    gc.unfreeze()
    yield
    gc.freeze()


def _ocr(tmp: Path) -> Callable[[], object]:
    engine = OcrEngine(cache_size=0)
    return engine.load


def _encoder(tmp: Path) -> Callable[[], object]:
    store = ModelStore(LocalSettings(), cache_dir=tmp / "cache")
    return TextEncoder(lambda: store.path(MINILM), threads=1).load


def _icons(tmp: Path) -> Callable[[], object]:
    return IconReader(threads=1).load


@pytest.mark.parametrize("loader", [_ocr, _encoder, _icons], ids=["ocr", "text-encoder", "icon-reader"])
def test_a_model_load_freezes_what_was_tracked(thawed: None, tmp_path: Path, loader: Callable[[Path], Callable[[], object]]) -> None:
    load = loader(tmp_path)
    assert gc.get_freeze_count() == 0
    marker = [object()]  # a tracked container alive before the load: it must end up frozen
    tracked = len(gc.get_objects())
    load()
    assert gc.get_freeze_count() >= tracked
    assert not any(o is marker for o in gc.get_objects())  # frozen objects are not listed any more
    gc.unfreeze()
    assert any(o is marker for o in gc.get_objects())


def test_freeze_returns_the_frozen_count(thawed: None) -> None:
    assert gc.get_freeze_count() == 0
    assert freeze_long_lived("nothing") == gc.get_freeze_count() > 0

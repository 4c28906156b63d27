"""Recogniser lanes (tools/backends/local/rec_lanes.py): the same text as one session, errors not lost."""

from __future__ import annotations

import sys
import threading
from pathlib import Path

import pytest
from sensorium.tools.backends.local.ocr import OcrEngine
from sensorium.tools.backends.local.rec_lanes import Recognisers, run_in_lanes
from sensorium.tools.errors import InvalidInput

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))

import scenes  # noqa: E402


def test_lanes_read_every_line_as_one_session_does() -> None:
    """A busy desktop read in full (hundreds of lines, fp32 glyph batches and int8 line batches) by two
    lanes and by RapidOCR's session alone: the same lines, texts and boxes."""
    image = scenes.desktop((1280, 800), seed=7).image.convert("RGB")
    lanes, alone = (OcrEngine(cache_size=0, line_cache_size=0, rec_lanes=n) for n in (2, 1))
    got = [(ln.text, ln.box) for ln in lanes.read(image).lines]
    want = [(ln.text, ln.box) for ln in alone.read(image).lines]
    assert len(lanes._lanes) == 2 and alone._lanes == []
    assert got == want
    assert len(got) > 100 and any(t == "sin" for t, _ in got)


def test_lanes_are_at_most_the_threads() -> None:
    engine = OcrEngine(threads=1, rec_lanes=2)
    engine.load()
    assert engine.rec_lanes == 1 and engine._lanes == []
    with pytest.raises(InvalidInput, match="rec_lanes=0"):
        OcrEngine(rec_lanes=0)


def test_every_item_runs_once_across_the_lanes() -> None:
    seen: list[tuple[int, int]] = []
    lanes = [Recognisers(fp32=lambda x: x, int8=None) for _ in range(2)]

    def work(lane: Recognisers, item: int) -> None:
        seen.append((lanes.index(lane), item))

    run_in_lanes(lanes, list(range(50)), work)
    assert sorted(item for _, item in seen) == list(range(50))


def test_a_failure_in_a_helper_lane_reaches_the_caller() -> None:
    lanes = [Recognisers(fp32=lambda x: x, int8=None) for _ in range(2)]
    main = threading.get_ident()
    done: list[int] = []

    def work(lane: Recognisers, item: int) -> None:
        if threading.get_ident() != main:
            raise RuntimeError("lane broke")
        done.append(item)
        threading.Event().wait(0.01)  # give the helper lane a turn

    with pytest.raises(RuntimeError, match="lane broke"):
        run_in_lanes(lanes, list(range(20)), work)
    assert len(done) < 20  # the calling lane stopped after its current item

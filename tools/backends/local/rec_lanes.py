"""Text recognition in lanes: single-threaded copies of the recogniser sessions, one batch each at a time.

WHY: a recogniser batch is small (three 48 px crops, 192-400 columns), and onnxruntime's two intra-op
threads split each of its ~100 operators into two halves that wait for each other (spinning is off for
the OCR sessions, `ort_spin.py`). Two sessions with one thread each, reading alternate batches side by
side, keep both cores busy instead. `python bench/bench_rec_lanes.py` (full reads of 12 dev screenshots
and 4 generated desktops, 2606 lines, interleaved; session 12): 30.3-31.0 s against 39.0-42.5 s for
RapidOCR's two-thread session (0.71-0.79x), the same lines read on every screen; the outputs are
bit-identical batch by batch (568 batches of 13 screens, fp32 and int8 models: onnxruntime's kernels do
not split the sums a thread count could reorder). A read of one batch (a typed character's
line) keeps the two-thread session: a lane alone would be slower.

Each lane holds what a batch may need: RapidOCR's fp32 model, and this project's int8 model when it is
on (`ocr_recogniser.py`). Loading two lanes took 0.41 s and ~100 MB of resident memory (measured once, before
any read: the sessions' initialised weights; arenas grow with use).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from ...ort_options import session_options

T = TypeVar("T")


@dataclass(frozen=True)
class Recognisers:
    """One set of recogniser sessions: fp32 (a batch of lone glyphs always goes there) and int8 or None."""

    fp32: Callable[[np.ndarray], np.ndarray]
    int8: Callable[[np.ndarray], np.ndarray] | None


def runner(session: Any) -> Callable[[np.ndarray], np.ndarray]:
    """An onnxruntime session as a function of its one input tensor, giving its first output."""
    name = session.get_inputs()[0].name
    return lambda x: session.run(None, {name: x})[0]


def make_lanes(
    fp32_path: Path, int8_path: Path | None, *, lanes: int, threads: int, mem_arena: bool, spin_wait: bool
) -> list[Recognisers]:
    """`lanes` sets of sessions with `threads` intra-op threads each (the OCR sessions' other options)."""
    import onnxruntime as ort

    out = []
    for _ in range(lanes):
        opts = session_options(threads, spin_wait=spin_wait)
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        opts.enable_cpu_mem_arena = mem_arena
        fp32 = ort.InferenceSession(str(fp32_path), sess_options=opts, providers=["CPUExecutionProvider"])
        int8 = None if int8_path is None else ort.InferenceSession(str(int8_path), sess_options=opts, providers=["CPUExecutionProvider"])
        out.append(Recognisers(runner(fp32), None if int8 is None else runner(int8)))
    return out


def run_in_lanes(lanes: Sequence[Recognisers], items: Sequence[T], work: Callable[[Recognisers, T], None]) -> None:
    """`work(lane, item)` for every item, each lane taking the next item when it is free (items in the
    order given: put the costliest first). The first lane runs in the calling thread; an exception in
    any lane stops the others after their current item and is raised here."""
    todo = iter(items)
    lock = threading.Lock()
    failed: list[BaseException] = []

    def drain(lane: Recognisers) -> None:
        try:
            while not failed:
                with lock:
                    item = next(todo, None)
                if item is None:
                    return
                work(lane, item)
        except BaseException as exc:  # re-raised in the caller's thread below
            failed.append(exc)

    helpers = [threading.Thread(target=drain, args=(lane,), name="ocr-rec-lane", daemon=True) for lane in lanes[1:]]
    for h in helpers:
        h.start()
    drain(lanes[0])
    for h in helpers:
        h.join()
    if failed:
        raise failed[0]

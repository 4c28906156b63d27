"""Whether onnxruntime's intra-op worker threads spin-wait between parallel sections.

onnxruntime spins its worker threads after each parallel section by default, burning CPU while
they wait for the next one. For the OCR models we turn it off. Measured (session 6, docs/RANKING.md),
`OcrEngine(spin_wait=...)` in fresh processes, the two settings interleaved four times each:
- quiet 2-core machine (load 0.6-1.4), busy 1920x1080 desktop: a one-change re-read 0.083-0.093 s wall
  / 0.12-0.13 CPU-s without spinning against 0.102-0.109 s / 0.17-0.18 with it (-20 % wall, -30 % CPU);
  a cold read 3.17-3.34 s / 5.35-5.57 CPU-s against 3.00-3.12 s / 5.60-5.73 (+5 % wall, -4 % CPU);
  a 1280x800 cold read 1.69-1.90 s against 1.59-1.64 s (+4-15 % wall);
- loaded (load 10-15, the session-6 change helper's run): a change re-read 0.9-1.0 s wall without
  spinning against 2.7 s with it: spinning threads steal the cores the work needs, and this server's
  background OCR worker, a ranking call and the agent's own programs share two cores.
A few percent of a quiet cold read is the price of a cheaper re-read and of not collapsing under load;
`SENSORIUM_LOCAL__OCR_SPIN_WAIT=true` restores onnxruntime's default.

RapidOCR builds its sessions itself and exposes no option for it (rapidocr 3.x), so the option is
added to the SessionOptions its `OrtInferSession._init_sess_opts` returns, only while our engine is
constructed, and the original is put back at once.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from typing import Any

from ...ort_options import SPIN_KEY, spin_value

log = logging.getLogger(__name__)


@contextlib.contextmanager
def rapidocr_spinning(spin: bool) -> Iterator[None]:
    """Sessions RapidOCR creates inside this block get `SPIN_KEY` set to `spin`.

    Not thread-safe across concurrent constructions; callers construct under their engine lock.
    If RapidOCR's internals moved (a future version), the sessions keep onnxruntime's default and
    a warning says so: a slower engine, never a broken one.
    """
    try:
        from rapidocr.inference_engine.onnxruntime import main as ort_main

        cls: Any = ort_main.OrtInferSession
        original = cls.__dict__["_init_sess_opts"]
    except (ImportError, AttributeError, KeyError):
        log.warning("rapidocr's session options could not be reached: onnxruntime spin-waiting left at its default")
        yield
        return
    build = original.__func__ if isinstance(original, staticmethod) else original

    def with_spin(cfg: Any) -> Any:
        opts = build(cfg)
        opts.add_session_config_entry(SPIN_KEY, spin_value(spin))
        return opts

    cls._init_sess_opts = staticmethod(with_spin)
    try:
        yield
    finally:
        cls._init_sess_opts = original

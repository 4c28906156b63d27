"""The onnxruntime SessionOptions every model of this package runs with (text encoder, icon reader,
image-text models; RapidOCR builds its own, see backends/local/ort_spin.py).

WHY one place: each model made its own options, and only the OCR sessions had spin-waiting off.
onnxruntime's intra-op threads spin after each parallel section by default, burning CPU while
the next step (numpy, OpenCV, another model) needs the same two cores. With spinning off for the
text encoder and the icon reader too (session 8, `python bench/rank_breakdown.py`, two runs of three
busy 1920x1080 desktops, interleaved): a cold rank_ui_elements 2-10 % less wall time and 8-15 %
fewer CPU-seconds, a repeat on the same screen 25-45 % fewer CPU-seconds; one small change within
noise. `SENSORIUM_LOCAL__OCR_SPIN_WAIT=true` restores onnxruntime's default for all of them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import onnxruntime

SPIN_KEY = "session.intra_op.allow_spinning"


def spin_value(spin: bool) -> str:
    """onnxruntime's config value for `SPIN_KEY`."""
    return "1" if spin else "0"


def session_options(threads: int, *, spin_wait: bool = False) -> onnxruntime.SessionOptions:
    """Intra-op `threads`, one inter-op thread, errors-only logging, spin-waiting as asked."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.log_severity_level = 3
    opts.add_session_config_entry(SPIN_KEY, spin_value(spin_wait))
    return opts

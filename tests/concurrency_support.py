"""Run one function on several threads at once and collect what each returned or raised."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def run_in_threads(work: Callable[[], T], threads: int) -> tuple[list[T], list[BaseException]]:
    """(results, errors): every thread calls `work` once, all started before any is joined."""
    results: list[T] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def run() -> None:
        try:
            value = work()
        except BaseException as exc:  # reported to the caller, which asserts on it
            with lock:
                errors.append(exc)
            return
        with lock:
            results.append(value)

    pool = [threading.Thread(target=run) for _ in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    return results, errors

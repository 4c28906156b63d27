"""How long recalls answered on the event loop may hold it before they let other tasks run.

Why: the local store answers a cheap recall on the loop itself (no hop to a worker thread), and a
coroutine that never suspends starves the loop's other tasks (a tight recall loop held off writers
and deleters in test_memory_concurrency). Until session 6 every such recall yielded first, which cost
~26 us a recall (an event-loop turn) against a 0.25-0.35 ms graph walk: most of what kept the store
over 1.3x raw hnswlib (issue 16). Yielding once the loop has been held for a budget keeps the promise
that matters, "a run of recalls lets other tasks run within about a budget", at a fraction of the cost.

The store can time only its own recalls, not what its caller does between them without awaiting, so a
count bounds that too: the loop is let go at least once every `max_calls` recalls whatever they cost.
Each store keeps one (recalls on two stores count apart, so a loop alternating between them can be held
for twice the budget); it is read and changed only on the event loop, so it takes no lock.
"""

from __future__ import annotations


class LoopShare:
    """The loop time spent on recalls answered on the loop since they last let it go."""

    __slots__ = ("budget", "max_calls", "_held", "_calls")

    def __init__(self, budget_s: float, max_calls: int) -> None:
        if budget_s <= 0 or max_calls < 1:
            raise ValueError(f"a loop share needs a positive budget and max_calls >= 1, got {budget_s}, {max_calls}")
        self.budget = budget_s
        self.max_calls = max_calls
        self._held = 0.0
        self._calls = 0

    def due(self) -> bool:
        """Whether the next recall should let the loop run other tasks first."""
        return self._held >= self.budget or self._calls >= self.max_calls

    def held(self, seconds: float) -> None:
        """A recall answered on the loop held it this long."""
        self._held += seconds
        self._calls += 1

    def let_go(self) -> None:
        """The loop ran other tasks (a checkpoint, or a hop to a worker thread): start counting afresh."""
        self._held = 0.0
        self._calls = 0

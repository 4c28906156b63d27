"""Candidate line-choice rules for the bounded embed read, compared by bench/bench_revisits.py.

Session 5's rule is `shipped` in the bench (`s5-copy` here, rebuilt by `make()`). The variants change one
thing each; none beat it beyond noise on the generated revisits (docs/RANKING.md, "Session 6"):
- `make`: salience (taller box, then wider) instead of reading order inside each grid cell (`cell`), one
  global salience order instead of the 3x3 grid (`grid=False`), a block's longest line before its first
  (`block`), the rest of the running text by salience (`rest`), another free-standing share (`share`);
- `split`: the same choice embedded as two equally weighted parts (free-standing lines, running text),
  so the chrome's share of the vector stays fixed;
- `make_iso`: each grid cell fills its free-standing lines from its own share of the budget (a change
  in one cell cannot move another cell's picks), lines dearer than `cap` x budget skipped at first;
- `prefixed`: every line cut to its first N recogniser columns, so the budget covers more lines
  (simulated: the same share of the line's characters, whole words);
- `free_only`: free-standing lines alone (no running text), the other end of the trade.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from sensorium.tools.backends.local.ocr import REC_GLYPH_WIDTH, REC_HEIGHT, line_costs, stacked_pairs
from sensorium.tools.backends.local.screen_read import CELLS, _blocks, _turns, spend_in_order

Box = tuple[int, int, int, int]


def make(*, cell: str = "reading", grid: bool = True, block: str = "first", rest: str = "reading", share: float = 0.6,
         bucket: float = 0.0, cells: tuple[int, int] = CELLS) -> Callable[[list[Box], tuple[int, int], int], list[int]]:
    def rule(boxes: list[Box], size: tuple[int, int], budget: int) -> list[int]:
        b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
        n = len(b)
        if n == 0:
            return []
        hgt = np.maximum(b[:, 3] - b[:, 1], 1.0)
        wid = b[:, 2] - b[:, 0]
        hkey = np.floor(np.log(hgt) / math.log(1 + bucket)) if bucket else hgt
        glyph = np.ceil(REC_HEIGHT * wid / hgt) < REC_GLYPH_WIDTH
        stacked = stacked_pairs(b)
        dense = stacked.any(axis=1)
        reading = sorted(range(n), key=lambda i: ((b[i, 1] + b[i, 3]) / 2, b[i, 0]))
        rank = {i: r for r, i in enumerate(reading)}

        def sal(i: int) -> tuple:
            return (-hkey[i], -wid[i], rank[i])

        w, h = max(size[0], 1), max(size[1], 1)
        cols, rows = cells
        cx = np.clip(((b[:, 0] + b[:, 2]) / 2 * cols / w).astype(int), 0, cols - 1)
        cy = np.clip(((b[:, 1] + b[:, 3]) / 2 * rows / h).astype(int), 0, rows - 1)
        free_lines = [i for i in reading if not dense[i] and not glyph[i]]
        if grid:
            groups: dict[int, list[int]] = {}
            for i in free_lines:
                groups.setdefault(int(cy[i] * cols + cx[i]), []).append(i)
            lists = [sorted(groups[c], key=sal) if cell == "salience" else groups[c] for c in sorted(groups)]
            free = _turns(lists)
        else:
            free = sorted(free_lines, key=sal)
        blocks = [sorted((i for i in g if not glyph[i]), key=rank.__getitem__) for g in _blocks(stacked)]
        blocks = sorted((g for g in blocks if g), key=lambda g: (-len(g), rank[g[0]]))
        longest = [max(g, key=lambda i: (wid[i], -rank[i])) for g in blocks]
        firsts = [g[0] for g in blocks]
        sample = longest + firsts if block == "longest" else firsts + longest
        seen: set[int] = set()
        sample = [i for i in sample if not (i in seen or seen.add(i))]
        sampled = set(sample)
        if rest == "salience":
            rest_l = sorted((i for g in blocks for i in g if i not in sampled), key=sal)
        else:
            rest_l = [i for g in blocks for i in g if i not in sampled]
        glyphs = [i for i in reading if glyph[i]]
        return spend_in_order(line_costs(b), budget, free, share, (sample, free, rest_l, glyphs))

    return rule


def split(rule: Callable[[list[Box], tuple[int, int], int], list[int]]) -> Callable[[list[Box], tuple[int, int], int], list[int]]:
    """The same choice, embedded as two equally weighted parts: free-standing lines and running text."""

    def wrapped(boxes: list[Box], size: tuple[int, int], budget: int) -> list[int]:
        return rule(boxes, size, budget)

    wrapped.split = True  # type: ignore[attr-defined]
    return wrapped


def make_iso(*, order: str = "reading", share: float = 0.6, cap: float = 1.0, block: str = "first",
             cells: tuple[int, int] = CELLS, tail: bool = True) -> Callable[[list[Box], tuple[int, int], int], list[int]]:
    """Free-standing lines filled per grid cell, each cell with its own share of the budget (a change in one
    cell cannot change another cell's picks); lines dearer than `cap` x budget skipped in the first phases."""

    def rule(boxes: list[Box], size: tuple[int, int], budget: int) -> list[int]:
        b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
        n = len(b)
        if n == 0:
            return []
        hgt = np.maximum(b[:, 3] - b[:, 1], 1.0)
        wid = b[:, 2] - b[:, 0]
        glyph = np.ceil(REC_HEIGHT * wid / hgt) < REC_GLYPH_WIDTH
        stacked = stacked_pairs(b)
        dense = stacked.any(axis=1)
        reading = sorted(range(n), key=lambda i: ((b[i, 1] + b[i, 3]) / 2, b[i, 0]))
        rank = {i: r for r, i in enumerate(reading)}
        sal = (lambda i: (-hgt[i], -wid[i], rank[i])) if order == "salience" else (lambda i: rank[i])
        cost = line_costs(b)
        w, h = max(size[0], 1), max(size[1], 1)
        cols, rows = cells
        cx = np.clip(((b[:, 0] + b[:, 2]) / 2 * cols / w).astype(int), 0, cols - 1)
        cy = np.clip(((b[:, 1] + b[:, 3]) / 2 * rows / h).astype(int), 0, rows - 1)
        groups: dict[int, list[int]] = {}
        for i in reading:
            if not dense[i] and not glyph[i]:
                groups.setdefault(int(cy[i] * cols + cx[i]), []).append(i)
        chosen: set[int] = set()
        spent = 0.0
        per_cell = share * budget / (cols * rows)
        for c in sorted(groups):
            used = 0.0
            for i in sorted(groups[c], key=sal):
                if cost[i] <= cap * budget and used + cost[i] <= per_cell:
                    chosen.add(i)
                    used += cost[i]
            spent += used
        blocks = [sorted((i for i in g if not glyph[i]), key=rank.__getitem__) for g in _blocks(stacked)]
        blocks = sorted((g for g in blocks if g), key=lambda g: (-len(g), rank[g[0]]))

        def fill(order_: list[int], limit: float, dear: float) -> None:
            nonlocal spent
            for i in order_:
                if i not in chosen and cost[i] <= dear and spent + cost[i] <= limit:
                    chosen.add(i)
                    spent += cost[i]

        firsts = [g[0] for g in blocks]
        longest = [max(g, key=lambda i: (wid[i], -rank[i])) for g in blocks]
        if block == "longest":
            sample = longest + firsts
        elif block == "cheap-sal":  # per block, its lines by salience that are not dear
            sample = _turns([sorted(g, key=sal) for g in blocks])
        else:
            sample = firsts + longest
        fill(sample, budget, cap * budget)
        if tail:
            free_all = _turns([sorted(groups[c], key=sal) for c in sorted(groups)])
            fill(free_all, budget, budget)
            fill([i for g in blocks for i in g], budget, budget)
            fill([i for i in reading if glyph[i]], budget, budget)
        return sorted(chosen)

    return rule


def prefixed(columns: int, **kw) -> Callable[[list[Box], tuple[int, int], int], list[int]]:
    """Session 5's order with every line cut to its first `columns` recogniser columns (a long line costs
    at most that, so the budget covers more lines; simulated in the bench by a prefix of its text)."""

    def rule(boxes: list[Box], size: tuple[int, int], budget: int) -> list[int]:
        import sensorium.tools.backends.local.screen_read as sr
        free, sample, rest, glyphs = sr.priority(boxes, size)
        cost = np.minimum(line_costs(np.asarray(boxes, dtype=np.float64).reshape(-1, 4)), columns + 35)
        return spend_in_order(cost, budget, free, kw.get("share", 0.6), (sample, free, rest, glyphs))

    rule.prefix = columns  # type: ignore[attr-defined]
    return rule


def free_only(budget_share: float | None = None) -> Callable[[list[Box], tuple[int, int], int], list[int]]:
    """Only free-standing lines (no running text): every one when `budget_share` is None, else session 5's
    free-standing order up to the whole budget."""

    def rule(boxes: list[Box], size: tuple[int, int], budget: int) -> list[int]:
        b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
        if not len(b):
            return []
        dense = stacked_pairs(b).any(axis=1)
        if budget_share is None:
            return [i for i in range(len(b)) if not dense[i]]
        import sensorium.tools.backends.local.screen_read as sr
        free, _, _, glyphs = sr.priority(boxes, size)
        cost = line_costs(b)
        chosen, spent = [], 0.0
        for i in free + glyphs:
            if spent + cost[i] <= budget_share * budget:
                chosen.append(i)
                spent += cost[i]
        return sorted(chosen)

    return rule


def per_line(rule: Callable[[list[Box], tuple[int, int], int], list[int]]) -> Callable[[list[Box], tuple[int, int], int], list[int]]:
    """The same choice embedded as a bag of lines (each line encoded alone, the mean of their vectors):
    independent of reading order, which a resize or a scroll changes between rows and columns."""

    def wrapped(boxes: list[Box], size: tuple[int, int], budget: int) -> list[int]:
        return rule(boxes, size, budget)

    wrapped.perline = True  # type: ignore[attr-defined]
    return wrapped


RULES: dict[str, Callable[[list[Box], tuple[int, int], int], list[int]]] = {
    "s5-copy": make(),
    "cell-sal": make(cell="salience"),
    "cell-sal-lng": make(cell="salience", block="longest"),
    "cell-sal-all": make(cell="salience", block="longest", rest="salience"),
    "global-sal": make(grid=False, block="longest", rest="salience"),
    "cell-salb-all": make(cell="salience", block="longest", rest="salience", bucket=0.15),
    "s5-split": split(make()),
    "cell-sal-all-split": split(make(cell="salience", block="longest", rest="salience")),
    "full-split": split(lambda boxes, size, budget: list(range(len(boxes)))),
    "cell-sal-all-s8": make(cell="salience", block="longest", rest="salience", share=0.8),
    "global-sal-split": split(make(grid=False, block="longest", rest="salience")),
    "iso": make_iso(),
    "iso-sal": make_iso(order="salience"),
    "iso-cap15": make_iso(cap=0.15),
    "iso-sal-cap15": make_iso(order="salience", cap=0.15),
    "iso-cap15-notail": make_iso(cap=0.15, tail=False),
    "iso-cap15-s8": make_iso(cap=0.15, share=0.8),
    "iso-cap15-cheap": make_iso(cap=0.15, block="cheap-sal", order="salience"),
    "prefix320": prefixed(320),
    "prefix480": prefixed(480),
    "prefix640": prefixed(640),
    "free-all": free_only(),
    "free-budget": free_only(1.0),
    "s5-lines": per_line(make()),
    "full-lines": per_line(lambda boxes, size, budget: list(range(len(boxes)))),
}


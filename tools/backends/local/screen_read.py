"""Which lines of a screen its vector is made of: a bounded, deterministic read for embedding an image.

The local backend embeds a screenshot as the encoder's vector of the text on it. Reading every line
of a busy 1080p screen (300+ lines: terminals, logs, paragraphs) costs seconds of text recognition,
while a screen is characterised by far fewer: its window titles, menus, tabs, headings, labels and
buttons, and a sample of each block of running text. `choose_lines` picks those from DB detection's
boxes alone, before anything is recognised, up to a recognition budget in recogniser columns (the
cost model of `ocr.cold_plan`: a line costs its padded width at 48 px height plus a call's fixed cost).

WHY geometry only: the vector must be a function of the screen. The rule sees every detected box
(`OcrEngine.read_chosen`), so a cold read, a screen rank_ui_elements half-read first and a screen the
background worker completed later all give the same chosen lines, the same text and the same vector;
reading the rest later (for ranking) never changes the stored vector.

The rule, in priority order (each line once; a line that does not fit the budget is skipped and the
next one tried, so the budget is used up the same way every time):
1. free-standing lines (no neighbour stacked within `ocr.DENSE_PITCH` line heights: labels, buttons,
   menu entries, tabs, titles, headings), taking turns over a `CELLS` grid of the screen so every
   part of it is represented (a scroll or an edit in one pane leaves the other cells' picks alone),
   each cell in reading order; up to `FREE_SHARE` of the budget;
2. a sample of each block of running text (lines stacked within `DENSE_PITCH`, joined transitively):
   its first line, then its longest line, blocks with more lines first, taking turns;
3. whatever budget is left: the rest of the free-standing lines in the same order, then the rest of
   each block in reading order;
4. glyph-sized lines last (a lone key, a symbol, an icon OCR reads as a letter: `ocr.REC_GLYPH_WIDTH`):
   each costs a 320-column canvas and adds a character to the vector.

The constants are chosen from the cost model and the generated desktops (bench/scenes.py), not from
the evaluation sets: see docs/RANKING.md, "Session 5: embed_screenshot's bounded read".
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .ocr import glyph_sized, line_costs, stacked_pairs

Box = tuple[int, int, int, int]

CELLS = (3, 3)
"""Columns x rows of the grid the free-standing lines take turns over (by box centre): a screen's
chrome sits at its edges (title bars, menus, sidebars, status bars) and its content in the middle;
3 x 3 gives each of those a cell without splitting one toolbar into many."""

FREE_SHARE = 0.6
"""Share of the budget the free-standing lines take before running text is sampled: they name the
screen (titles, menus, labels) and are cheap; the rest goes to what the screen is showing."""


def _blocks(stacked: np.ndarray) -> list[list[int]]:
    """Connected groups of stacked lines (each in reading order), lines with no stacked neighbour excluded."""
    n = len(stacked)
    parent = list(range(n))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, j in zip(*np.nonzero(np.triu(stacked, 1)), strict=True):
        a, b = find(int(i)), find(int(j))
        if a != b:
            parent[max(a, b)] = min(a, b)
    groups: dict[int, list[int]] = {}
    for i in range(n):
        if stacked[i].any():
            groups.setdefault(find(i), []).append(i)
    return list(groups.values())


def _turns(groups: Sequence[Sequence[int]]) -> list[int]:
    """Round robin: the first of each group, then the second of each, ..."""
    out: list[int] = []
    depth = max((len(g) for g in groups), default=0)
    for k in range(depth):
        out.extend(g[k] for g in groups if k < len(g))
    return out


def priority(boxes: Sequence[Box], size: tuple[int, int]) -> tuple[list[int], list[int], list[int], list[int]]:
    """The rule's lists of line indices (module docstring): free-standing lines in turns over the grid,
    the running-text sample, the rest of the running text, glyph-sized lines."""
    b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    n = len(b)
    if n == 0:
        return [], [], [], []
    glyph = glyph_sized(b)
    stacked = stacked_pairs(b)
    dense = stacked.any(axis=1)
    reading = sorted(range(n), key=lambda i: ((b[i, 1] + b[i, 3]) / 2, b[i, 0]))
    rank = {i: r for r, i in enumerate(reading)}
    w, h = max(size[0], 1), max(size[1], 1)
    cols, rows = CELLS
    cx = np.clip(((b[:, 0] + b[:, 2]) / 2 * cols / w).astype(int), 0, cols - 1)
    cy = np.clip(((b[:, 1] + b[:, 3]) / 2 * rows / h).astype(int), 0, rows - 1)
    cells: dict[int, list[int]] = {}
    for i in reading:
        if not dense[i] and not glyph[i]:
            cells.setdefault(int(cy[i] * cols + cx[i]), []).append(i)
    free = _turns([cells[c] for c in sorted(cells)])
    blocks = [sorted((i for i in g if not glyph[i]), key=rank.__getitem__) for g in _blocks(stacked)]
    blocks = sorted((g for g in blocks if g), key=lambda g: (-len(g), rank[g[0]]))
    firsts = [g[0] for g in blocks]
    longests = []
    for g in blocks:  # the longest line of each block (ties: the earlier), when it is not its first
        longest = max(g, key=lambda i: (b[i, 2] - b[i, 0], -rank[i]))
        if longest != g[0]:
            longests.append(longest)
    sample = firsts + longests
    sampled = set(sample)
    rest = [i for g in blocks for i in g if i not in sampled]
    glyphs = [i for i in reading if glyph[i]]
    return free, sample, rest, glyphs


def choose_lines(boxes: Sequence[Box], size: tuple[int, int], budget: int) -> list[int]:
    """Indices of the lines an image's vector is made of (module docstring); `budget` in recogniser columns.

    Deterministic: a function of the boxes and the image size only."""
    free, sample, rest, glyphs = priority(boxes, size)
    cost = line_costs(np.asarray(boxes, dtype=np.float64).reshape(-1, 4))
    # 1. free-standing lines up to their share; 2-4 with what is left
    return spend_in_order(cost, budget, free, FREE_SHARE, (sample, free, rest, glyphs))


def spend_in_order(
    cost: np.ndarray, budget: float, first: Sequence[int], first_share: float, then: Sequence[Sequence[int]]
) -> list[int]:
    """Greedy choice under a budget: the lines of `first` up to `first_share` of it, then each order of
    `then` up to all of it; a line that does not fit is skipped and the next one tried (a long line must
    not stop the short ones after it). Sorted indices."""
    chosen: set[int] = set()
    spent = 0.0
    for order, cap in ((first, first_share * budget), *((o, budget) for o in then)):
        for i in order:
            if i not in chosen and spent + cost[i] <= cap:
                chosen.add(i)
                spent += cost[i]
    return sorted(chosen)

"""Proposed candidates ranked from a first read of the screen that reads targets first.

A cold `rank_ui_elements` without candidates was OCR-bound: 80 % of a first read is recognising
every line, and on a busy screen most lines are terminal output or paragraphs an instruction rarely
names. So the first read runs under a recognition budget (`OcrEngine.read(budget=)`,
`ocr.cold_plan`): free-standing lines (labels, buttons, menu entries, keys) first, cheapest first,
and on top of them the few lines that look like the instruction's words (`spotting.py`: the words
rendered in a font and matched against each line's ink); the rest is left unread (`deferred`) and
proposes no element (`proposals.unread_regions`).

The answer from that partial read stands when the winner's own words hold every content word of the
instruction (`needs_full_read`); otherwise the next round of free-standing lines is read
(`OcrEngine.read_more`, `round_budget`) and the screen ranked again, and once none is left (a
paraphrase, an icon, a word in a long line) the deferred running text is read and the ranking is
redone on the whole screen, so a partial read never decides an answer the full read would have
found by its words. The
caller reads whatever stayed deferred after the answer (`OcrEngine.read_later`), so the next call
on the same screen sees everything. The result says how much was read (`ReadInfo`).

Each read is ranked on the elements' words first, and elements without words (icons) are looked at
only when those do not answer (`rank_read`). `rank_ui_elements` and the eval's `proposed` variant
both decide through `rank_read`.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Sequence
from typing import TYPE_CHECKING

import anyio
from PIL import Image
from pydantic import BaseModel, Field

from ..backends.base import Embedding, EmbeddingBackend, ProgressCallback
from .proposals import MAX_PROPOSALS, OcrWord, Proposal, ProposalCache, Proposals, WordList, propose, read_words
from .score import ScoredElement, element_words, lexicon_readings, lexicon_words, rank_elements, shown_readings
from ..regions import RegionItem
from .spotting import LineSpotter
from .labels import asked_label_control, control_kind, label_terms
from .phrases import split_at_phrases
from .text import instruction_terms, normalise, shows_all, spelled_out
from .windows import asked_control, window_request, with_row_buttons

if TYPE_CHECKING:
    from ..backends.local.ocr import FirstLines, OcrEngine

MAX_ROUND_GROWTH = 4
"""Round k (k >= 2) of a progressive read recognises up to min(2^(k-2), this) x the budget: the first
rounds stay budget-sized (a missed label is usually among the next cheapest), later ones grow so a
screen with many free-standing lines is re-ranked a handful of times, not dozens."""


class ReadInfo(BaseModel):
    read: int = Field(description="text lines recognised")
    unread: int = Field(description="lines left for later")
    full: bool = Field(description="the deferred lines were read before answering")
    rounds: int = Field(1, description="reads ranked on (1 = the first budgeted read, or no budget)")


def round_budget(budget: int, round_no: int) -> int:
    """Columns recognised in round `round_no` (2, 3, ...) of a progressive read (MAX_ROUND_GROWTH)."""
    return budget * min(2 ** max(0, round_no - 2), MAX_ROUND_GROWTH)


def needs_full_read(
    scored: Sequence[ScoredElement], candidates: Sequence[Proposal], words: Sequence[OcrWord], instruction: str | None
) -> bool:
    """Whether a ranking made on a partial read must be redone on the whole screen: unless every
    content word of the instruction (its quoted phrase, else its non-command words: `instruction_terms`)
    is among the winner's own words. WHY exact words and not text_match: a trigram match let "AdminLTE 3"
    stand for "Click the 'AdminLTE.io' link" while the link sat in an unread footer line (the one dev item
    the first rule, text_match >= 0.75, lost); an instruction that names its target word for word is the
    case a partial read can answer, anything looser is read in full."""
    if not getattr(words, "deferred", ()):
        return False
    return not holds_instruction(scored, candidates, words, instruction)


def holds_instruction(
    scored: Sequence[ScoredElement], candidates: Sequence[Proposal], words: Sequence[OcrWord], instruction: str | None
) -> bool:
    """Whether the winner's own words hold every content word of the instruction (`needs_full_read`),
    or, for "close the <name> window", whether the winner is the button the verb asks for beside a
    title showing the name (`windows.asked_control`: the button shows no words to hold), or, for "tick
    the 'X' checkbox", the wordless control beside a label showing X (`labels.asked_label_control`)."""
    if instruction is None or not scored:
        return False
    if window_request(instruction):
        texts = [element_words(c, words) for c in candidates]
        return asked_control(instruction, candidates, texts, scored[0].index)
    if control_kind(instruction) and not candidates[scored[0].index].label:
        texts = [element_words(c, words) for c in candidates]
        if asked_label_control(instruction, candidates, texts, scored[0].index, words):
            return True  # "tick the 'X' checkbox": the box beside the label showing X (labels.py)
    return _holds(candidates[scored[0].index], words, instruction_terms(instruction))


def terms_to_hold(instruction: str) -> list[str]:
    """The words a read must show before a ranking of it can answer: the content words of the
    instruction, or a named window's name (its title shows it; the button asked for shows no word),
    or a control's label words ("tick the remember me box": remember, me; `labels.label_terms`)."""
    request = window_request(instruction)
    if request:
        return request[1]
    return label_terms(instruction) if control_kind(instruction) else instruction_terms(instruction)


def any_holds(candidates: Sequence[Proposal], words: Sequence[OcrWord], instruction: str | None) -> bool:
    """Whether some candidate's own words hold every content word of the instruction. WHY: the winner's
    can only if some candidate's do, so a read where none does cannot pass `holds_instruction`, and
    ranking it on words alone only to find that out is skipped (`rank_read`). A paraphrase ("Read the
    docs" for "Documentation") is such an instruction on every read: its ranking of each progressive
    round was 0.1-0.25 s of nothing, 0.66 s of a 3.6 s cold call on a 1920x1080 dev screenshot."""
    if instruction is None:
        return False
    terms = terms_to_hold(instruction)
    return bool(terms) and any(_holds(c, words, terms) for c in candidates)


def words_could_hold(words: WordList, instruction: str | None) -> bool:
    """Whether some element proposed from this read could hold the instruction (`any_holds`): a read
    with lines left unread whose words, all together, lack a content word of the instruction cannot,
    since an element's words are some of them. A complete read (nothing deferred), or an
    instruction without content words, always could. WHY: a paraphrase ("Read the docs") fails
    `any_holds` on every partial round, and proposing each round's elements only to find that out
    (merging edge regions with the words, the cut) was 20-140 ms a round on dev screenshots."""
    if instruction is None or not getattr(words, "deferred", ()):
        return True
    terms = terms_to_hold(instruction)
    if not terms:
        return True
    have = {t for w in words for t in normalise(spelled_out(w.text))}
    return all(t in have for t in terms)


NOTHING_PROPOSED = Proposals(items=[], found=0, truncated=False)
"""What a partial read that no element could answer from proposes (`words_could_hold`): nothing, and
`rank_read` reads on."""


def _holds(candidate: Proposal, words: Sequence[OcrWord], terms: Sequence[str]) -> bool:
    return shows_all(element_words(candidate, words), terms)


async def rank_read(
    backend: EmbeddingBackend, image: Image.Image, query: Embedding, instruction: str | None, words: WordList,
    found: Proposals, past_actions: Sequence[tuple[str, float]] | None = None, progress: ProgressCallback | None = None,
    *, last: bool = False,
) -> tuple[list[ScoredElement], bool]:
    """One read of the screen ranked, and whether that ranking is the answer (False: read more; the
    ranking is then empty when no candidate's words could have held the instruction, `any_holds`).

    Words first, on a backend that embeds elements from their words (local): the elements are
    ranked on their words alone, and that ranking answers when its winner's own words hold the
    instruction (`holds_instruction`, the test a partial read passes). Otherwise a partial read
    leaves the answer to the next read, and a complete one (or the `last` the caller will make) is
    ranked again with what the backend sees in elements without words (the icon reader): an icon
    answers what no words on the screen do. WHY: reading a busy screen's 100+ textless crops and
    encoding their icon words was a quarter of a cold call (0.25 s of 1.0 at 1280x800), spent
    even when the instruction named a key's label; the background warm-up (`warm`) reads them
    after the answer, so the next call on the screen has them. What changes: an element showing
    every word of the instruction now answers without the icons competing (the ranking of
    complete reads before: icons included from the start). A backend that embeds crops (Gemini)
    sees pixels either way: one ranking, `needs_full_read` decides."""
    complete = last or not getattr(words, "deferred", ())
    answerable = any_holds(found.items, words, instruction)
    if not complete and not answerable:  # no ranking of this read can stand: read more first
        return [], False
    if getattr(backend, "region_embedding", None) != "native":
        scored = await _rank(backend, image, query, instruction, words, found, past_actions, progress)
        return scored, last or not needs_full_read(scored, found.items, words, instruction)
    if answerable:
        scored = await _rank(backend, image, query, instruction, words, found, past_actions, progress, icons=False)
        if holds_instruction(scored, found.items, words, instruction):
            return scored, True
        if not complete:
            return scored, False
    return await _rank(backend, image, query, instruction, words, found, past_actions, progress), True


async def read_and_propose(
    engine: OcrEngine, image: Image.Image, key: str | None, budget: int | None, limit: int = MAX_PROPOSALS,
    cache: ProposalCache | None = None, first: FirstLines | None = None, instruction: str | None = None,
) -> tuple[WordList, Proposals]:
    """The screen's words (under `budget`) and the elements proposed from them; with `cache` (and a
    key) a repeat, or another round of the same screen, does not recompute its edge regions, and a
    new screen's edge regions are found while OCR reads it (they need only the pixels). WHY
    concurrently: after a small change the edge regions were the largest step of the call
    (0.05-0.14 s at 1920x1080) and waited for a re-read of the changed lines of about as long.
    `first`: lines to recognise on top of the budget's on a budgeted first read (`spotting.LineSpotter`).
    With `instruction`, a partial read none of whose elements could hold it proposes nothing
    (`words_could_hold`, `NOTHING_PROPOSED`); a quoted phrase inside a longer line is cut out of it
    (`phrases.split_at_phrases`: the words returned are the cut ones); a named window's title-bar
    buttons are looked for (`windows.with_row_buttons`)."""

    def elements(words: WordList) -> tuple[WordList, Proposals]:
        if not words_could_hold(words, instruction):
            return words, NOTHING_PROPOSED
        words = split_at_phrases(image, words, instruction)  # type: ignore[assignment]  # a quoted link inside a line
        found = propose(image, words, limit, cache=cache, key=key)
        if window_request(instruction):  # "close the <name> window": its title bar's buttons, found by their pixels if need be
            found = with_row_buttons(image, instruction, found, [element_words(c, words) for c in found.items])
        return words, found

    def run() -> tuple[WordList, Proposals]:
        return elements(read_words(engine, image, key=key, budget=budget, first=first))

    if cache is None or key is None or cache.has_regions(key):
        return await anyio.to_thread.run_sync(run)
    async with anyio.create_task_group() as tg:
        tg.start_soon(anyio.to_thread.run_sync, functools.partial(_regions_quietly, cache, image, key))
        words = await anyio.to_thread.run_sync(functools.partial(read_words, engine, image, key=key, budget=budget, first=first))
    return await anyio.to_thread.run_sync(elements, words)


def _regions_quietly(cache: ProposalCache, image: Image.Image, key: str) -> None:
    """The screen's edge regions into `cache`. A failure is left to `propose`, which asks for them
    again and reports it as any call does, rather than surfacing from a task group."""
    with contextlib.suppress(Exception):
        cache.regions(image, key)


async def rank_proposed(
    backend: EmbeddingBackend,
    engine: OcrEngine,
    image: Image.Image,
    query: Embedding,
    instruction: str | None,
    *,
    key: str | None = None,
    budget: int | None = None,
    past_actions: Sequence[tuple[str, float]] | None = None,
    progress: ProgressCallback | None = None,
    cache: ProposalCache | None = None,
) -> tuple[list[ScoredElement], Proposals, WordList, ReadInfo]:
    """Rank proposed elements, reading the screen progressively under `budget` (None/0: all of it).

    The first read recognises free-standing lines within `budget`, and the lines that look like the
    instruction's words (`spotting`); while the winner's words do not
    hold the instruction (`rank_read`: words first, icons on the complete read) the next round of
    free-standing lines is read (`OcrEngine.read_more`, `round_budget`) and the screen ranked again;
    once none is left, the rest (running text) is read and the screen ranked on all of it."""
    from ..backends.local.ocr import image_key  # the engine's own key, when the caller has none

    key = key or image_key(image)
    first = LineSpotter(instruction).first if budget and instruction else None
    words, found = await read_and_propose(engine, image, key, budget or None, cache=cache, first=first, instruction=instruction)
    scored, done = await rank_read(backend, image, query, instruction, words, found, past_actions, progress)
    full, rounds = False, 1
    while not done:
        more = await anyio.to_thread.run_sync(engine.read_more, key, round_budget(budget, rounds + 1), first) if budget else None
        full = more is None  # no label-like line left unread: read the running text too
        words, found = await read_and_propose(engine, image, key, None if full else budget, cache=cache, instruction=instruction)
        rounds += 1
        scored, done = await rank_read(backend, image, query, instruction, words, found, past_actions, progress, last=full)
    return scored, found, words, ReadInfo(read=words.lines_read, unread=len(words.deferred), full=full, rounds=rounds)


async def read_rounds(
    engine: OcrEngine, image: Image.Image, budget: int | None, limit: int = MAX_PROPOSALS, cache: ProposalCache | None = None
) -> list[tuple[WordList, Proposals]]:
    """Every read a budgeted ranking can rank on for this screen, in order, without word spotting
    (an instruction's spotted lines come first in `rank_proposed`, so its rounds differ): the
    budgeted first read, each further round of free-standing lines, and last the full read (one
    entry when `budget` is None/0). For benches that study the rounds of a screen independently of
    any instruction (`bench/words_first.py`); the eval replays the tool itself per item
    (`OcrEngine.replaying_cold`)."""
    from ..backends.local.ocr import image_key

    key = image_key(image if image.mode == "RGB" else image.convert("RGB"))
    out = [await read_and_propose(engine, image, key, budget or None, limit, cache)]
    while budget and out[-1][0].deferred:
        more = await anyio.to_thread.run_sync(engine.read_more, key, round_budget(budget, len(out) + 1))
        if more is None:
            break
        out.append(await read_and_propose(engine, image, key, budget, limit, cache))
    if out[-1][0].deferred:
        out.append(await read_and_propose(engine, image, key, None, limit, cache))
    return out


async def warm(
    backend: EmbeddingBackend, engine: OcrEngine, image: Image.Image, key: str | None, cache: ProposalCache | None = None
) -> None:
    """Read the screen in full and embed its proposed elements, so the caches hold them: run after an
    answer made on a partial read (`OcrEngine.read_later(then=...)`), the next call on the same screen
    then costs what a repeat costs instead of encoding a few hundred new elements."""
    words, found = await read_and_propose(engine, image, key, None, cache=cache)
    texts = [element_words(c, words) for c in found.items]
    regions = [RegionItem(box=c.box, text=t) for c, t in zip(found.items, texts, strict=True)]
    if regions:
        await backend.embed_regions(image, regions)
        # and the lexicon readings an unquoted instruction compares (score.rank_elements), so the next
        # call on this screen encodes nothing new (they were most of a repeat's encoding)
        readings = lexicon_readings(texts, lexicon_words(texts))
        _, seen = shown_readings(found.items, words)  # and the words shown beside a label (score.rank_elements)
        second = [RegionItem(box=found.items[i].box, text=r) for i, r in readings.items()]
        second += [RegionItem(box=c.box, text=t) for c, t in zip(found.items, seen, strict=True) if t]
        if second:
            await backend.embed_regions(image, second)


def warm_later(
    backend: EmbeddingBackend, engine: OcrEngine, image: Image.Image, key: str | None, cache: ProposalCache | None = None
) -> None:
    """Queue `warm` behind the engine's deferred lines, in the engine's background worker (its own
    event loop: the worker is a plain thread). Only for a backend that embeds elements from words
    read once (local): one that embeds crops remotely (Gemini) only gets the lines read."""
    if getattr(backend, "region_embedding", None) != "native":  # crops sent to an API: not for a guess
        engine.read_later()
        return
    engine.read_later(then=lambda: anyio.run(warm, backend, engine, image, key, cache))


async def _rank(
    backend: EmbeddingBackend, image: Image.Image, query: Embedding, instruction: str | None, words: WordList,
    found: Proposals, past_actions: Sequence[tuple[str, float]] | None, progress: ProgressCallback | None,
    *, icons: bool = True,
) -> list[ScoredElement]:
    if not found.items:
        return []
    return await rank_elements(
        backend, image, query, instruction, found.items, words=words, past_actions=past_actions, distinct=True,
        progress=progress, icons=icons,
    )

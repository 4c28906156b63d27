"""Run the evaluation sets against embedding backends and the baselines of the same run.

One coroutine per set. Each embeds what it needs in batches (one `backend.embed` call per
batch, so a backend that batches internally gets to), scores every query against its
documents by cosine, and turns the rankings into metrics with `metrics.py` (exact
expectations; the `random` baseline is exact, no seed). Backends are passed in, built by the
caller, so this module neither reads settings nor knows which backend is which beyond its
`name`.

A backend that refuses an item (`ModalityNotSupported`, or `UnsupportedMedia` for this
backend) is not an error here: the refused query ranks nothing (contributes 0), a refused
document never ranks above anything, and the refusals are counted per backend and reported.
"""

from __future__ import annotations

import functools
import logging
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import anyio
import numpy as np
from PIL import Image
from pydantic import BaseModel, Field

from ..backends.base import Embedding, EmbeddingBackend, EmbedItem, Role
from ..ranking.sounds import fused, heard
from ..errors import ModalityNotSupported, UnsupportedMedia
from ..media import Media
from ..backends.local.ocr import OcrEngine, engine_from_settings
from ..config import LocalSettings
from ..ranking.proposals import OcrWord, Proposal, ProposalCache, click_point, read_words
from ..ranking.screen import rank_proposed
from ..ranking.score import rank_elements
from ..regions import Box
from .datasets import (
    SET_NAMES,
    IconsSet,
    ScreenStatesSet,
    SoundEventsSet,
    SpokenSet,
    UICandidate,
    UIGroundingSet,
    load_set,
    resolve_sets,
)
from .metrics import (
    KS,
    Metrics,
    Outcome,
    gap_stats,
    not_found,
    outcome_from_scores,
    point_in_box,
    similarity_matrix,
    string_similarity,
    summarise_by_group,
    text_similarity_matrix,
    word_errors,
)

log = logging.getLogger(__name__)

EvalProgress = Callable[[str, int, int], None]
"""(label, done, total): one label per (set, backend) stage; the CLI draws it as a progress bar."""

RANDOM = "random"
TEXT_ONLY = "text-only"
RANDOM_NOTE = "random: exact expected metrics of a uniformly random ranking (closed form, no seed)"
TIE_NOTE = "ties in a ranking are broken uniformly at random, in expectation (exact), never by list order"



# ---------------------------------------------------------------- report models
class TaskResult(BaseModel):
    """One retrieval task: metrics per group (`all`, then each type) per method (baselines + backends)."""

    description: str
    groups: dict[str, dict[str, Metrics]]
    extras: dict[str, Any] = Field(default_factory=dict)


class BackendRun(BaseModel):
    name: str
    space: str
    embedded: int = 0
    refused: int = 0
    refused_examples: list[str] = Field(default_factory=list)
    seconds: float = 0.0


class SetResult(BaseModel):
    name: str
    folder: str
    counts: dict[str, int]
    tasks: dict[str, TaskResult]
    backends: list[BackendRun]
    extras: dict[str, Any] = Field(default_factory=dict)
    notes: list[str] = Field(default_factory=list)
    seconds: float = 0.0
    created: str = ""
    """When this set's run finished (a docs section refreshed alone keeps its own date)."""


class EvalReport(BaseModel):
    created: str
    data_dir: str
    backends: list[dict[str, str]]
    notes: list[str] = Field(default_factory=lambda: [RANDOM_NOTE, TIE_NOTE])
    sets: dict[str, SetResult]


# ---------------------------------------------------------------- embedding with refusals
class _Tracker:
    def __init__(self, progress: EvalProgress | None, label: str, total: int) -> None:
        self.progress, self.label, self.total, self.done = progress, label, total, 0
        self._tick()

    def advance(self, n: int) -> None:
        self.done = min(self.total, self.done + n)
        self._tick()

    def _tick(self) -> None:
        if self.progress is not None:
            self.progress(self.label, self.done, self.total)


class _Embedder:
    """One backend's embedding calls for one set: batched, refusals counted instead of raised."""

    def __init__(self, backend: EmbeddingBackend, name: str, tracker: _Tracker, batch_size: int) -> None:
        self.backend, self.tracker, self.batch_size = backend, tracker, batch_size
        self.run = BackendRun(name=name, space=backend.space)

    async def embed(self, items: Sequence[EmbedItem], role: Role) -> list[Embedding | None]:
        out: list[Embedding | None] = []
        # Media batches are smaller: one screenshot can take a second to OCR locally, and the
        # progress bar should move more often than every 32 of them.
        size = self.batch_size if all(i.modality == "text" for i in items) else max(1, self.batch_size // 4)
        for start in range(0, len(items), size):
            chunk = list(items[start : start + size])
            try:
                got: list[Embedding | None] = list(await self.backend.embed(chunk, role))
            except (ModalityNotSupported, UnsupportedMedia):
                # Find which items are refused: a batch fails as a whole.
                got = [await self._one(item, role) for item in chunk]
            out.extend(got)
            self.run.embedded += sum(1 for g in got if g is not None)
            self.tracker.advance(len(chunk))
        return out

    async def _one(self, item: EmbedItem, role: Role) -> Embedding | None:
        try:
            return (await self.backend.embed([item], role))[0]
        except (ModalityNotSupported, UnsupportedMedia) as exc:
            self.run.refused += 1
            msg = str(exc)
            if msg not in self.run.refused_examples and len(self.run.refused_examples) < 3:
                self.run.refused_examples.append(msg)
            return None


def _matrix(embs: Sequence[Embedding | None], dimension: int | None = None) -> np.ndarray:
    """Rows of vectors; a refused item's row is NaN so every score against it is -inf."""
    dim = dimension or next((e.dimension for e in embs if e is not None), 1)
    m = np.full((len(embs), dim), np.nan, dtype=np.float64)
    for i, e in enumerate(embs):
        if e is not None:
            m[i] = e.vector
    return m


def _scores(queries: np.ndarray, docs: np.ndarray) -> np.ndarray:
    s = similarity_matrix(queries, docs)
    s[~np.isfinite(s)] = -np.inf
    return s


def _backend_names(backends: Sequence[EmbeddingBackend]) -> list[str]:
    names: list[str] = []
    for b in backends:
        base = getattr(b, "name", type(b).__name__)
        name, n = base, 2
        while name in names:
            name, n = f"{base}#{n}", n + 1
        names.append(name)
    return names


def _media(path: Path) -> Media:
    return Media.from_bytes(path.read_bytes(), source={"path": str(path)})


def _group_outcomes(outcomes: dict[str, list[Outcome]]) -> dict[str, dict[str, Metrics]]:
    """method -> outcomes  ==>  group -> method -> metrics (the JSON's shape)."""
    by_method = {m: summarise_by_group(o) for m, o in outcomes.items()}
    groups: dict[str, dict[str, Metrics]] = {}
    for method, per_group in by_method.items():
        for g, metrics in per_group.items():
            groups.setdefault(g, {})[method] = metrics
    return groups


def _rank_all(
    scores: np.ndarray, correct: Sequence[Sequence[int]], groups: Sequence[str], refused_query: Sequence[bool] | None = None
) -> list[Outcome]:
    out: list[Outcome] = []
    for i, (c, g) in enumerate(zip(correct, groups, strict=True)):
        if refused_query is not None and refused_query[i]:
            out.append(not_found(g))
        else:
            out.append(outcome_from_scores(scores[i], c, g))
    return out


def _random_outcomes(n_docs: int, correct: Sequence[Sequence[int]], groups: Sequence[str]) -> list[Outcome]:
    return [outcome_from_scores(np.zeros(n_docs), c, g) for c, g in zip(correct, groups, strict=True)]


# ---------------------------------------------------------------- ui_grounding
UI_VARIANTS = ("boxes", "boxes+names", "proposed")


def _ui_outcomes_for_proposals(clicks: Sequence[tuple[int, int]], targets: Sequence[Box], group: str) -> Outcome:
    """A proposed element is correct when its click point lies inside an acceptable box; hit@k/MRR over that."""
    rank = next((r for r, pt in enumerate(clicks, start=1) if any(point_in_box(pt, t) for t in targets)), None)
    if rank is None:
        return Outcome(group=group, hits={k: 0.0 for k in KS}, rr=0.0, found=False, point_in_box=0.0)
    return Outcome(
        group=group, hits={k: float(rank <= k) for k in KS}, rr=1.0 / rank, found=True,
        point_in_box=float(rank == 1), best_rank=float(rank),
    )


def given_candidates(candidates: Sequence[UICandidate], variant: str) -> list[Proposal]:
    """The eval's candidates as a caller passes them to `rank_ui_elements`: boxes only, or (variant
    `boxes+names`) boxes with the accessible name as label and the role, as an accessibility tree
    gives them."""
    named = variant == "boxes+names"
    return [
        Proposal(box=c.box, label=((c.name or c.text).strip() or None) if named else None, role=(c.role or None) if named else None, source="given")
        for c in candidates
    ]


async def rank_ui_item(
    backend: EmbeddingBackend,
    image: Image.Image,
    query: Embedding,
    instruction: str,
    candidates: Sequence[UICandidate],
    variant: str,
    words: Sequence[OcrWord],
) -> np.ndarray:
    """Score per candidate for one item, from `rank_elements` exactly as `rank_ui_elements` calls it
    with these boxes (variant `boxes`) or boxes and accessible names (`boxes+names`)."""
    props = given_candidates(candidates, variant)
    scores = np.full(len(props), -np.inf)
    for s in await rank_elements(backend, image, query, instruction, props, words=words):
        scores[s.index] = s.score
    return scores


async def eval_ui_grounding(
    ds: UIGroundingSet,
    backends: Sequence[EmbeddingBackend],
    progress: EvalProgress | None = None,
    *,
    batch_size: int = 32,
    ocr: OcrEngine | None = None,
) -> SetResult:
    """Every item ranked by `rank_elements`, the function behind `rank_ui_elements`, three ways:

    `boxes` = the candidates' boxes only (the element's words come from one OCR read of the
    screenshot, icons from what the backend sees); `boxes+names` = boxes with the accessible names
    as labels and their roles (what a caller with an accessibility tree passes); `proposed` = no candidates: the
    tool's own proposals, correct when the click point lies inside an acceptable box.
    """
    t0 = time.perf_counter()
    reader = ocr if ocr is not None else engine_from_settings(LocalSettings())
    by_image: dict[Path, list[int]] = defaultdict(list)
    for i, item in enumerate(ds.items):
        by_image[item.image].append(i)
    groups = [it.instruction_type for it in ds.items]
    correct = [it.acceptable_indices for it in ds.items]
    boxes = [[c.box for c in it.candidates] for it in ds.items]
    outcomes: dict[str, list[Outcome]] = {
        RANDOM: [outcome_from_scores(np.zeros(len(b)), c, g, boxes=b) for b, c, g in zip(boxes, correct, groups, strict=True)],
        TEXT_ONLY: [
            outcome_from_scores([string_similarity(it.instruction, c.label) for c in it.candidates], it.acceptable_indices, it.instruction_type, boxes=boxes[i])
            for i, it in enumerate(ds.items)
        ],
    }
    runs: list[BackendRun] = []
    for backend, name in zip(backends, _backend_names(backends), strict=True):
        tb = time.perf_counter()
        tracker = _Tracker(progress, f"ui_grounding: {name}", len(ds.items) * len(UI_VARIANTS))
        emb = _Embedder(backend, name, tracker, batch_size)
        q = await emb.embed([EmbedItem.of(it.instruction) for it in ds.items], "query")
        variants: dict[str, list[Outcome | None]] = {v: [None] * len(ds.items) for v in UI_VARIANTS}
        for path, idxs in by_image.items():
            with Image.open(path) as img:
                image = img.convert("RGB")
            words = await anyio.to_thread.run_sync(functools.partial(read_words, reader, image))  # the whole screen
            proposals = ProposalCache(size=1)
            cands = ds.items[idxs[0]].candidates  # identical for every item of one screenshot
            for i in idxs:
                item, query = ds.items[i], q[i]
                if query is None:
                    for v in UI_VARIANTS:
                        variants[v][i] = not_found(groups[i], with_point=True)
                    continue
                for variant in ("boxes", "boxes+names"):
                    scores = await rank_ui_item(backend, image, query, item.instruction, cands, variant, words)
                    variants[variant][i] = outcome_from_scores(scores, correct[i], groups[i], boxes=boxes[i])
                # the tool's own path (tools/ranking/screen.py): a first read under the recognition budget (the
                # instruction's spotted words first), further rounds, the whole screen last, each taken only
                # when the winner's words do not answer; replayed as a cold call, with the lines' texts cached
                with reader.replaying_cold():
                    ranked, use, _, _ = await rank_proposed(
                        backend, reader, image, query, item.instruction, key=f"eval:{path}", budget=reader.cold_budget,
                        cache=proposals,
                    )
                clicks = [click_point(use.items[s.index].box) for s in ranked]
                variants["proposed"][i] = _ui_outcomes_for_proposals(clicks, [boxes[i][j] for j in correct[i]], groups[i])
                tracker.advance(len(UI_VARIANTS))
        for variant, outs in variants.items():
            outcomes[f"{name}:{variant}"] = [o for o in outs if o is not None]
        emb.run.seconds = round(time.perf_counter() - tb, 2)
        runs.append(emb.run)
    task = TaskResult(
        description=(
            "rank_elements (the function behind rank_ui_elements) on each item: boxes = candidate boxes only "
            "(words from one OCR read of the screen), boxes+names = boxes with accessible names as labels and roles, "
            "proposed = no candidates (the tool's proposals; correct when the click point is inside an acceptable "
            "box); text-only = trigram string similarity instruction vs name; point_in_box = the top element's "
            "click point inside an acceptable box"
        ),
        groups=_group_outcomes(outcomes),
    )
    return SetResult(
        name="ui_grounding",
        folder=str(ds.folder),
        counts={"items": len(ds.items), "screenshots": len(by_image), "candidates": sum(len(ds.items[ix[0]].candidates) for ix in by_image.values())},
        tasks={"candidates": task},
        backends=runs,
        seconds=round(time.perf_counter() - t0, 2),
    )


# ---------------------------------------------------------------- icons
async def eval_icons(
    ds: IconsSet, backends: Sequence[EmbeddingBackend], progress: EvalProgress | None = None, *, batch_size: int = 32
) -> SetResult:
    t0 = time.perf_counter()
    items = ds.items
    n = len(items)
    groups = [it.set for it in items]
    correct = [[i] for i in range(n)]
    names = [it.name for it in items]
    descriptions = [it.description for it in items]
    tasks_out: dict[str, dict[str, list[Outcome]]] = {
        "description->image": {
            RANDOM: _random_outcomes(n, correct, groups),
            TEXT_ONLY: _rank_all(text_similarity_matrix(descriptions, names), correct, groups),
        },
        "name->image": {RANDOM: _random_outcomes(n, correct, groups)},
        "image->description": {RANDOM: _random_outcomes(n, correct, groups)},
    }
    runs: list[BackendRun] = []
    for backend, name in zip(backends, _backend_names(backends), strict=True):
        tb = time.perf_counter()
        emb = _Embedder(backend, name, _Tracker(progress, f"icons: {name}", 4 * n), batch_size)
        image_items = [EmbedItem.of(_media(it.image)) for it in items]
        img_doc = _matrix(await emb.embed(image_items, "document"), backend.dimension)
        desc_q = await emb.embed([EmbedItem.of(d) for d in descriptions], "query")
        name_q = await emb.embed([EmbedItem.of(x) for x in names], "query")
        img_q = await emb.embed(image_items, "query")
        desc_doc = _matrix(await emb.embed([EmbedItem.of(d) for d in descriptions], "document"), backend.dimension)
        for task, qs, docs in (
            ("description->image", desc_q, img_doc),
            ("name->image", name_q, img_doc),
            ("image->description", img_q, desc_doc),
        ):
            s = _scores(_matrix(qs, backend.dimension), docs)
            tasks_out[task][name] = _rank_all(s, correct, groups, [e is None for e in qs])
        emb.run.seconds = round(time.perf_counter() - tb, 2)
        runs.append(emb.run)
    desc = {
        "description->image": "rank all icon images for each description (text-only: description vs the icon's file name)",
        "name->image": "rank all icon images for the bare icon name (no synonyms)",
        "image->description": "rank all descriptions for each icon image",
    }
    return SetResult(
        name="icons",
        folder=str(ds.folder),
        counts={"items": n},
        tasks={t: TaskResult(description=desc[t], groups=_group_outcomes(o)) for t, o in tasks_out.items()},
        backends=runs,
        seconds=round(time.perf_counter() - t0, 2),
    )


# ---------------------------------------------------------------- spoken_instructions
async def eval_spoken_instructions(
    ds: SpokenSet, backends: Sequence[EmbeddingBackend], progress: EvalProgress | None = None, *, batch_size: int = 32
) -> SetResult:
    t0 = time.perf_counter()
    items = ds.items
    n = len(items)
    transcripts = [it.transcript for it in items]
    groups = ["noisy" if it.noisy else "clean" for it in items]
    correct = [[j for j, t in enumerate(transcripts) if t == it.transcript] for it in items]
    outcomes: dict[str, list[Outcome]] = {RANDOM: _random_outcomes(n, correct, groups)}
    runs: list[BackendRun] = []
    wer_out: dict[str, Any] = {}
    for backend, name in zip(backends, _backend_names(backends), strict=True):
        tb = time.perf_counter()
        emb = _Embedder(backend, name, _Tracker(progress, f"spoken_instructions: {name}", 2 * n), batch_size)
        docs = _matrix(await emb.embed([EmbedItem.of(t) for t in transcripts], "document"), backend.dimension)
        q = await emb.embed([EmbedItem.of(_media(it.audio)) for it in items], "query")
        cos = _scores(_matrix(q, backend.dimension), docs)
        outcomes[name] = _rank_all(cos, correct, groups, [e is None for e in q])
        if any(heard(e.extras) for e in q if e is not None):
            # what the tools do with a spoken query: cosine + W_SOUND * sound match of the n-best (ranking/sounds.py)
            outcomes[f"{name}+sound"] = _rank_all(_sound_fused(cos, q, transcripts), correct, groups, [e is None for e in q])
        wer_out_b = _wer_report(items, q, groups)
        if wer_out_b:
            wer_out[name] = wer_out_b
        emb.run.seconds = round(time.perf_counter() - tb, 2)
        runs.append(emb.run)
    task = TaskResult(
        description=(
            "rank all transcripts (documents) for each spoken clip (query); groups: noisy / clean; "
            "NAME+sound = cosine + 0.5 * sound match of the recogniser's n-best (what recall/rank_* do with speech)"
        ),
        groups=_group_outcomes(outcomes),
        extras={"wer": wer_out} if wer_out else {},
    )
    return SetResult(
        name="spoken_instructions",
        folder=str(ds.folder),
        counts={"items": n, "noisy": groups.count("noisy")},
        tasks={"audio->transcript": task},
        backends=runs,
        seconds=round(time.perf_counter() - t0, 2),
    )


def _sound_fused(cos: np.ndarray, queries: Sequence[Embedding | None], texts: Sequence[str]) -> np.ndarray:
    out = cos.copy()
    for i, e in enumerate(queries):
        hyps = heard(e.extras) if e is not None else None
        if hyps:
            out[i], _ = fused(cos[i], hyps, texts)
    return out


def _transcript_text(e: Embedding | None) -> str | None:
    if e is None:
        return None
    t = e.extras.get("transcript")
    if isinstance(t, dict) and isinstance(t.get("text"), str):
        return t["text"]
    return None


def _wer_report(items: Sequence[Any], embs: Sequence[Embedding | None], groups: Sequence[str]) -> dict[str, Any]:
    """Corpus WER per group when the backend returned transcripts; a refused clip counts as all deleted."""
    texts = [_transcript_text(e) for e in embs]
    if all(t is None for t in texts):
        return {}
    per: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    worst: list[tuple[float, str, str, str]] = []
    for it, hyp, g in zip(items, texts, groups, strict=True):
        e, w = word_errors(it.transcript, hyp or "")
        for key in ("all", g):
            per[key][0] += e
            per[key][1] += w
        if e:
            worst.append((e / max(w, 1), it.id, it.transcript, hyp or ""))
    worst.sort(key=lambda x: -x[0])
    return {
        "wer": {k: round(v[0] / v[1], 4) if v[1] else 0.0 for k, v in sorted(per.items(), key=lambda kv: kv[0] != "all")},
        "exact": round(sum(1 for it, h in zip(items, texts, strict=True) if h is not None and word_errors(it.transcript, h)[0] == 0) / len(items), 4),
        "worst": [{"id": i, "reference": r, "hypothesis": h, "wer": round(x, 3)} for x, i, r, h in worst[:5]],
    }


# ---------------------------------------------------------------- screen_states
def _visual_scores(queries: Sequence[Embedding | None], docs: Sequence[Embedding | None]) -> np.ndarray | None:
    """Query x state similarity of extras["visual"] descriptors, when the backend gives them."""
    qv = [e.extras.get("visual") if e is not None else None for e in queries]
    dv = [e.extras.get("visual") if e is not None else None for e in docs]
    if not any(v is not None for v in qv) or not any(v is not None for v in dv):
        return None
    try:
        from ..visual import visual_similarity
    except ImportError:
        visual_similarity = None
    out = np.full((len(qv), len(dv)), -np.inf)
    for i, a in enumerate(qv):
        for j, b in enumerate(dv):
            if a is None or b is None:
                continue
            if visual_similarity is not None:
                out[i, j] = float(visual_similarity(a, b))
            else:
                va, vb = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
                den = float(np.linalg.norm(va) * np.linalg.norm(vb))
                out[i, j] = float(va @ vb / den) if den else 0.0
    return out


async def eval_screen_states(
    ds: ScreenStatesSet, backends: Sequence[EmbeddingBackend], progress: EvalProgress | None = None, *, batch_size: int = 32
) -> SetResult:
    t0 = time.perf_counter()
    state_ids = [s.id for s in ds.states]
    descriptions = [s.description or s.state_label or s.id for s in ds.states]
    iq, tq = ds.image_queries, ds.text_queries
    i_correct = [[state_ids.index(q.expected_state_id)] for q in iq]
    t_correct = [[state_ids.index(q.expected_state_id)] for q in tq]
    i_groups = [q.perturbation.kind for q in iq]
    t_groups = ["all" for _ in tq]
    image_task: dict[str, list[Outcome]] = {RANDOM: _random_outcomes(len(state_ids), i_correct, i_groups)}
    text_task: dict[str, list[Outcome]] = {
        RANDOM: _random_outcomes(len(state_ids), t_correct, t_groups),
        TEXT_ONLY: _rank_all(text_similarity_matrix([q.text for q in tq], descriptions), t_correct, t_groups),
    }
    image_gaps: dict[str, Any] = {}
    text_gaps: dict[str, Any] = {}
    runs: list[BackendRun] = []
    for backend, name in zip(backends, _backend_names(backends), strict=True):
        tb = time.perf_counter()
        total = 2 * len(state_ids) + len(iq) + len(tq)
        emb = _Embedder(backend, name, _Tracker(progress, f"screen_states: {name}", total), batch_size)
        state_embs = await emb.embed([EmbedItem.of(_media(s.image)) for s in ds.states], "document")
        desc_embs = await emb.embed([EmbedItem.of(d) for d in descriptions], "document")
        iq_embs = await emb.embed([EmbedItem.of(_media(q.image)) for q in iq], "query")
        tq_embs = await emb.embed([EmbedItem.of(q.text) for q in tq], "query")
        states_m = _matrix(state_embs, backend.dimension)
        desc_m = _matrix(desc_embs, backend.dimension)

        s_img = _scores(_matrix(iq_embs, backend.dimension), states_m)
        image_task[name] = _rank_all(s_img, i_correct, i_groups, [e is None for e in iq_embs])
        image_gaps[name] = gap_stats(s_img, [c[0] for c in i_correct])
        vis = _visual_scores(iq_embs, state_embs)
        if vis is not None:
            image_task[f"{name}:visual"] = _rank_all(vis, i_correct, i_groups, [e is None for e in iq_embs])
            image_gaps[f"{name}:visual"] = gap_stats(vis, [c[0] for c in i_correct])

        tq_m = _matrix(tq_embs, backend.dimension)
        refused_t = [e is None for e in tq_embs]
        s_t_img = _scores(tq_m, states_m)
        s_t_desc = _scores(tq_m, desc_m)
        s_t_fused = np.where(np.isfinite(s_t_img) & np.isfinite(s_t_desc), (s_t_img + s_t_desc) / 2, np.maximum(s_t_img, s_t_desc))
        for variant, s in (("image", s_t_img), ("description", s_t_desc), ("fused", s_t_fused)):
            text_task[f"{name}:{variant}"] = _rank_all(s, t_correct, t_groups, refused_t)
            text_gaps[f"{name}:{variant}"] = gap_stats(s, [c[0] for c in t_correct])
        emb.run.seconds = round(time.perf_counter() - tb, 2)
        runs.append(emb.run)
    tasks = {
        "image->state": TaskResult(
            description=(
                "rank the stored state screenshots for each revisit screenshot; groups: perturbation kind; "
                "`:visual` = the backend's visual descriptor (extras['visual']) instead of the vector"
            ),
            groups=_group_outcomes(image_task),
            extras={"similarity_gap": image_gaps},
        ),
        "text->state": TaskResult(
            description=(
                "rank the stored states for a natural description of the screen: `:image` = vs the state "
                "screenshot, `:description` = vs the recorded title+path, `:fused` = mean of both; "
                "text-only = trigram string similarity vs the recorded description"
            ),
            groups=_group_outcomes(text_task),
            extras={"similarity_gap": text_gaps},
        ),
    }
    return SetResult(
        name="screen_states",
        folder=str(ds.folder),
        counts={"states": len(state_ids), "image_queries": len(iq), "text_queries": len(tq)},
        tasks=tasks,
        backends=runs,
        seconds=round(time.perf_counter() - t0, 2),
        notes=[
            "similarity_gap: per query, cosine(correct state) - max cosine(wrong states); a 'seen before' "
            "threshold between best_wrong_max and correct_min separates them on this set"
        ],
    )


# ---------------------------------------------------------------- sound_events
async def eval_sound_events(
    ds: SoundEventsSet, backends: Sequence[EmbeddingBackend], progress: EvalProgress | None = None, *, batch_size: int = 32
) -> SetResult:
    t0 = time.perf_counter()
    items = ds.items
    n = len(items)
    labels = [it.label for it in items]
    descriptions = [it.description or it.label for it in items]
    l_correct = [[j for j, lab in enumerate(labels) if lab == it.label] for it in items]
    d_correct = [[i] for i in range(n)]
    groups = ["all"] * n
    label_task: dict[str, list[Outcome]] = {RANDOM: _random_outcomes(n, l_correct, groups)}
    desc_task: dict[str, list[Outcome]] = {RANDOM: _random_outcomes(n, d_correct, groups)}
    rejection: dict[str, Any] = {}
    runs: list[BackendRun] = []
    for backend, name in zip(backends, _backend_names(backends), strict=True):
        tb = time.perf_counter()
        emb = _Embedder(backend, name, _Tracker(progress, f"sound_events: {name}", 3 * n), batch_size)
        clips = await emb.embed([EmbedItem.of(_media(it.audio)) for it in items], "query")
        label_m = _matrix(await emb.embed([EmbedItem.of(x) for x in labels], "document"), backend.dimension)
        desc_m = _matrix(await emb.embed([EmbedItem.of(x) for x in descriptions], "document"), backend.dimension)
        clip_m = _matrix(clips, backend.dimension)
        refused = [e is None for e in clips]
        label_task[name] = _rank_all(_scores(clip_m, label_m), l_correct, groups, refused)
        desc_task[name] = _rank_all(_scores(clip_m, desc_m), d_correct, groups, refused)
        transcripts = [_transcript_text(e) for e in clips]
        empty = [t is not None and not t.strip() for t in transcripts]
        hallucinated = [
            {"id": it.id, "label": it.label, "transcript": t}
            for it, t in zip(items, transcripts, strict=True)
            if t is not None and t.strip()
        ]
        rejected = sum(1 for r, e in zip(refused, empty, strict=True) if r or e)
        rejection[name] = {
            "n": n,
            "rejected": rejected,
            "rejection_rate": round(rejected / n, 4) if n else 0.0,
            "refused": sum(refused),
            "empty_transcript": sum(empty),
            "embedded_without_transcript": sum(1 for e, t in zip(clips, transcripts, strict=True) if e is not None and t is None),
            "hallucinated": hallucinated,
        }
        emb.run.seconds = round(time.perf_counter() - tb, 2)
        runs.append(emb.run)
    return SetResult(
        name="sound_events",
        folder=str(ds.folder),
        counts={"items": n},
        tasks={
            "audio->label": TaskResult(description="rank all labels for each clip (refused clips contribute 0)", groups=_group_outcomes(label_task)),
            "audio->description": TaskResult(description="rank all descriptions for each clip", groups=_group_outcomes(desc_task)),
        },
        backends=runs,
        extras={"rejection": rejection},
        notes=[
            "rejection: a clip counts as rejected when the backend refused it (ModalityNotSupported) or returned an "
            "empty transcript; a non-empty transcript of a non-speech clip is listed as hallucinated"
        ],
        seconds=round(time.perf_counter() - t0, 2),
    )


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


RUNNERS = {
    "ui_grounding": eval_ui_grounding,
    "icons": eval_icons,
    "spoken_instructions": eval_spoken_instructions,
    "screen_states": eval_screen_states,
    "sound_events": eval_sound_events,
}


async def run_eval(
    set_name: str,
    data_dir: Path,
    backends: Sequence[EmbeddingBackend],
    progress: EvalProgress | None = None,
    *,
    batch_size: int = 32,
    ocr: OcrEngine | None = None,
) -> EvalReport:
    """Evaluate `set_name` (one set or `all`) found under `data_dir` with every backend given.

    Every set is loaded (and its files checked) before any backend runs, so a broken folder
    fails in a second, not after minutes of OCR."""
    folders = resolve_sets(set_name, Path(data_dir))
    loaded = {name: load_set(name, folder) for name, folder in folders.items()}
    sets: dict[str, SetResult] = {}
    for name in SET_NAMES:
        if name not in loaded:
            continue
        log.info("evaluating %s (%s)", name, folders[name])
        # ui_grounding reads screens like rank_ui_elements does: with the OCR engine the backends share
        extra = {"ocr": ocr} if name == "ui_grounding" else {}
        result = await RUNNERS[name](loaded[name], backends, progress, batch_size=batch_size, **extra)  # type: ignore[operator]
        result.created = _now()
        sets[name] = result
    return EvalReport(
        created=_now(),
        data_dir=str(data_dir),
        backends=[{"name": n, "space": b.space} for b, n in zip(backends, _backend_names(backends), strict=True)],
        sets=sets,
    )


__all__ = ["EvalProgress", "EvalReport", "SetResult", "TaskResult", "BackendRun", "run_eval", "RUNNERS"]

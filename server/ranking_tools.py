"""Ranking tools: rank_ui_elements ("which element should I act on?") and rank_states ("have I been here before?").

Thin like the other tool modules: validate, call tools/ranking and memory, shape the result.
"""

from __future__ import annotations

import io
import math
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

import anyio
from mcp.server.mcpserver import Context, MCPServer
from mcp.types import CallToolResult, TextContent, ToolAnnotations
from PIL import Image, UnidentifiedImageError
from pydantic import BaseModel, Field

from ..memory.records import Filter, Hit
from ..tools import capture as capture_mod
from ..tools.backends.base import EmbedItem
from ..tools.errors import InvalidInput, LimitExceeded, NotFound, UnsupportedMedia
from ..tools.media import Modality
from ..tools.ranking import marks, proposals, score
from ..tools.backends.local.visual import visual_similarity
from .app import Services
from .errors import tool_errors
from .inputs import MemoryFilterArgs, capture_now, filter_from_args, media_from_args, one_input, progress_reporter, snippet
from .perception import Monitor
from .results import image_content, text_seen

RANKS = ToolAnnotations(readOnlyHint=True, destructiveHint=False, idempotentHint=True, openWorldHint=True)
MAX_CANDIDATES = proposals.MAX_PROPOSALS
MAX_K = 100
SEEN_BEFORE_THRESHOLD = 0.9
"""Default seen_before threshold for spaces not tuned yet (Gemini: no key here to measure it)."""
SEEN_BEFORE_BY_BACKEND = {"local": 0.82}
"""Tuned on the screen_states DEV set with `python bench/tune_seen_before.py` (fused cosine + visual):
local 0.82 -> every revisit recognised, 5 of 78 best-wrong states above it (balanced accuracy 0.97)."""


def default_threshold(space: str) -> float:
    return SEEN_BEFORE_BY_BACKEND.get(space.split("/", 1)[0], SEEN_BEFORE_THRESHOLD)
RECENCY_WEIGHT = 0.1
VISUAL_WEIGHT = 0.5
HISTORY_K = 20
HISTORY_MIN_COSINE = 0.5
"""History prior: the 20 nearest 'action' memories with cosine >= 0.5 to the instruction (untuned)."""


# -- rank_ui_elements ------------------------------------------------------------------------


class CandidateArg(BaseModel):
    """A UI element you already know of (from an accessibility tree or the DOM)."""

    box: list[float] = Field(description="[x1, y1, x2, y2] in IMAGE pixels of the screenshot (right/bottom exclusive)")
    label: str | None = Field(None, description="its visible text or accessible name")
    role: str | None = Field(None, description="button, link, textbox, ...")


class RankedElement(BaseModel):
    rank: int = Field(description="1 = best; the number drawn on the Set-of-Mark image")
    index: int | None = Field(description="position in the given candidates list (None for proposed ones)")
    score: float = Field(description="fused score: visual cosine + 0.5 * label text similarity (+ 0.3 * history)")
    visual: float = Field(description="cosine of the instruction with the padded crop")
    text: float = Field(description="label/OCR text similarity with the instruction, 0..1")
    history: float | None = Field(None, description="with use_history: cosine of the closest past action on the same label")
    box: list[int] = Field(description="[x1, y1, x2, y2] in image pixels")
    screen_box: list[int] | None = Field(description="the same box in absolute screen pixels (only for captures)")
    click: list[int] = Field(description="centre point to click: screen pixels for captures, else image pixels")
    label: str | None
    role: str | None
    source: Literal["given", "ocr", "region"]


class RankResult(BaseModel):
    instruction: str | None = Field(description="the instruction text, or the transcript of a spoken one when known")
    candidates: list[RankedElement]
    total_candidates: int
    proposed: bool = Field(description="true when the server proposed the candidates (OCR + edge regions)")
    image_width: int
    image_height: int
    capture_id: str | None = None
    scale: float | None = Field(None, description="screen pixels per image pixel (captures only)")
    marks_bytes: int | None = None
    space: str


def _check_candidates(cands: list[CandidateArg], size: tuple[int, int]) -> list[tuple[float, float, float, float]]:
    if not cands:
        raise InvalidInput(
            "candidates is an empty list: omit 'candidates' to let the server propose elements (OCR + regions), "
            "or pass at least one {box: [x1, y1, x2, y2]}"
        )
    if len(cands) > MAX_CANDIDATES:
        raise LimitExceeded(
            f"{len(cands)} candidates, the limit is {MAX_CANDIDATES}: pre-filter them (visible, interactive, "
            "in the area you care about) or split the screen into regions"
        )
    w, h = size
    boxes = []
    for n, c in enumerate(cands):
        if len(c.box) != 4 or not all(math.isfinite(v) for v in c.box):
            raise InvalidInput(f"candidates[{n}].box must be 4 finite numbers [x1, y1, x2, y2], got {c.box}")
        x1, y1, x2, y2 = c.box
        if x2 <= x1 or y2 <= y1:
            raise InvalidInput(
                f"candidates[{n}].box {c.box} has zero or negative area: x2 must be > x1 and y2 > y1 "
                "(boxes are [x1, y1, x2, y2], not [x, y, width, height])"
            )
        if x1 < 0 or y1 < 0 or x2 > w or y2 > h:
            raise InvalidInput(
                f"candidates[{n}].box {c.box} lies outside the image ({w}x{h} px): boxes are in the screenshot's "
                f"image pixels, within [0, {w}] x [0, {h}]; for a capture, map screen pixels with its scale first"
            )
        boxes.append((x1, y1, x2, y2))
    return boxes


def _open_image(data: bytes) -> Image.Image:
    try:
        with Image.open(io.BytesIO(data)) as img:
            return img.convert("RGB")
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise UnsupportedMedia(f"the screenshot does not decode as an image ({exc}): send a PNG or JPEG") from exc


def _spoken_or_text(
    instruction: str | None, audio_path: str | None, audio_b64: str | None
) -> Literal["text", "audio"]:
    given = [k for k, v in (("instruction", instruction), ("instruction_audio_path", audio_path), ("instruction_audio_base64", audio_b64)) if v is not None]
    if len(given) != 1:
        raise InvalidInput(
            f"give exactly one instruction: 'instruction' (text), 'instruction_audio_path' or 'instruction_audio_base64' (got {given or 'none'})"
        )
    if instruction is not None:
        if not instruction.strip():
            raise InvalidInput("instruction is empty: say what to act on, e.g. 'open the settings'")
        return "text"
    return "audio"


# -- rank_states -----------------------------------------------------------------------------


class StateMatch(BaseModel):
    rank: int
    id: int
    score: float = Field(description="similarity plus the recency prior (when on); the ranking key")
    similarity: float = Field(description="cosine of the query with the memory (fused with the visual descriptor when both have one)")
    cosine: float = Field(description="cosine of the embeddings alone")
    visual_similarity: float | None = Field(None, description="cosine of the local backend's visual descriptors, when both have one")
    recency: float | None = Field(None, description="0.5 ** (age / half_life), when recency_half_life_s is set")
    age_seconds: float = Field(description="seconds since the memory was last seen")
    modality: str
    created_at: datetime
    last_seen: datetime
    seen_count: int
    episode_id: str | None
    text: str | None = Field(description="what was recorded with it (note, instruction, OCR), truncated")
    tags: list[str]
    metadata: dict[str, Any]
    source: dict[str, Any]
    has_thumbnail: bool


class RankStatesResult(BaseModel):
    seen_before: bool = Field(description="best similarity >= threshold")
    threshold: float
    best: StateMatch | None
    matches: list[StateMatch]
    considered: int = Field(description="memories scored (the nearest few hundred of those allowed by the filter)")
    space: str
    query_text: str | None = Field(None, description="the query text, or what the backend read/heard in the query")


def register(server: MCPServer, services: Services) -> None:
    reader = proposals.OcrReader(
        _backend_ocr(services.backend), max_side=services.settings.local.ocr_max_side, threads=services.settings.local.threads
    )

    @server.tool(annotations=RANKS)
    @tool_errors
    async def rank_ui_elements(
        ctx: Context,
        instruction: Annotated[str | None, Field(description="what to act on, e.g. 'open the settings' or Click 'Sign in'")] = None,
        instruction_audio_path: Annotated[str | None, Field(description="the instruction as a spoken audio file (WAV/MP3/...)")] = None,
        instruction_audio_base64: Annotated[str | None, Field(description="the spoken instruction as base64")] = None,
        capture_id: Annotated[str | None, Field(description="rank on this capture (boxes are mapped to screen pixels)")] = None,
        path: Annotated[str | None, Field(description="a screenshot file (inside the allowed roots)")] = None,
        data_base64: Annotated[str | None, Field(description="a screenshot as base64")] = None,
        monitor: Monitor = 1,
        candidates: Annotated[
            list[CandidateArg] | None,
            Field(description="known elements (max 500); omit to let the server propose them from OCR text lines and edge regions"),
        ] = None,
        k: Annotated[int, Field(description="how many ranked candidates to return (1-100)")] = 10,
        include_marks: Annotated[bool, Field(description="attach a Set-of-Mark image: the returned boxes numbered by rank")] = True,
        use_history: Annotated[
            bool,
            Field(description="boost labels you acted on for similar instructions: memories tagged 'action' with metadata.label"),
        ] = False,
    ) -> Annotated[CallToolResult, RankResult]:
        """Rank the UI elements of a screenshot for an instruction: which one should be clicked or typed into?

        Screenshot: capture_id, path or data_base64; none of them = capture the monitor now.
        Instruction: text, or spoken audio (embedded as the query). Candidates: your own boxes
        (image pixels) with optional label/role; without them the server proposes boxes from OCR
        text lines and edge regions (slower: OCR takes seconds). Each candidate's crop (with
        context) is embedded in one batch and scored by cosine with the instruction, fused with
        label/OCR text similarity (and, with use_history, with labels acted on before for
        similar instructions: remember them with tags=['action'], metadata={'label': ...}).
        Returns the top k with score, box in image pixels, box and click point in SCREEN pixels
        for captures, and a Set-of-Mark image (numbers = ranks, under 1 MB)."""
        if not 1 <= k <= MAX_K:
            raise InvalidInput(f"k is {k}: ask for 1 to {MAX_K} candidates")
        kind = _spoken_or_text(instruction, instruction_audio_path, instruction_audio_base64)
        shots = [x for x in (capture_id, path, data_base64) if x is not None]
        if len(shots) > 1:
            raise InvalidInput("give at most one screenshot: capture_id, path or data_base64 (none = capture now)")
        if kind == "text":
            assert instruction is not None
            query = EmbedItem.of(instruction)
        else:
            audio = await media_from_args(services, instruction_audio_path, instruction_audio_base64, {Modality.AUDIO}, "rank_ui_elements")
            query = EmbedItem.of(audio)
        cap: capture_mod.Capture | None = None
        if path is not None or data_base64 is not None:
            media = await media_from_args(services, path, data_base64, {Modality.IMAGE}, "rank_ui_elements")
            image = await anyio.to_thread.run_sync(_open_image, media.data)
        else:
            cap = services.captures.get(capture_id) if capture_id else await capture_now(services, monitor, None)
            image = cap.image.convert("RGB")
        size = image.size
        given = candidates is not None
        if candidates is not None:
            boxes_f = _check_candidates(candidates, size)
            items = [
                proposals.Proposal(box=_pixel_box(b), label=c.label, role=c.role, source="given")
                for b, c in zip(boxes_f, candidates, strict=True)
            ]
        else:
            if ctx is not None:
                await ctx.report_progress(0, None, "reading the screen (OCR) to propose elements")
            items, _ = await anyio.to_thread.run_sync(lambda: proposals.propose(image, reader))
            if not items:
                raise NotFound("no elements were found on this screenshot (no text, no edges): pass candidates yourself")
        cosines, q_emb, crop_extras = await score.crop_similarities(
            services.backend, image, query, [p.box for p in items], progress=progress_reporter(ctx)
        )
        said = instruction if kind == "text" else text_seen(q_emb.extras)
        labels = [p.label or text_seen(ex) for p, ex in zip(items, crop_extras, strict=True)]
        text_sims = [score.text_similarity(said or "", lab) for lab in labels]
        fused = score.fuse(cosines, text_sims)
        history = None
        if use_history:
            past = await _past_actions(services, q_emb)
            history = score.history_boost(labels, past)
            fused = fused + score.W_HISTORY * history
        order = sorted(range(len(items)), key=lambda i: -fused[i])[:k]
        ranked: list[RankedElement] = []
        for r, i in enumerate(order, start=1):
            p = items[i]
            cx, cy = proposals.centre(p.box)
            if cap is not None:
                screen_box: list[int] | None = list(cap.to_screen(p.box))
                click = list(cap.to_screen_point(cx, cy))
            else:
                screen_box, click = None, [int(cx), int(cy)]
            ranked.append(
                RankedElement(
                    rank=r, index=i if given else None, score=round(float(fused[i]), 5), visual=round(float(cosines[i]), 5),
                    text=round(float(text_sims[i]), 4), history=None if history is None else round(float(history[i]), 4),
                    box=list(p.box), screen_box=screen_box, click=click, label=labels[i], role=p.role, source=p.source,
                )
            )
        result = RankResult(
            instruction=said, candidates=ranked, total_candidates=len(items), proposed=not given, image_width=size[0],
            image_height=size[1], capture_id=cap.id if cap else None, scale=cap.scale if cap else None, space=services.backend.space,
        )
        content: list[Any] = []
        if include_marks and ranked:
            budget = services.settings.capture.preview_max_bytes
            data, mime = await anyio.to_thread.run_sync(lambda: marks.marks_image(image, [e.box for e in ranked], budget))
            result.marks_bytes = len(data)
            content.append(image_content(data, mime))
        summary = "; ".join(f"{e.rank}. {e.score:.3f} {e.source} {(e.label or '')[:40]!r} click {e.click}" for e in ranked[:10])
        content.append(TextContent(type="text", text=f"{len(items)} candidates ranked: {summary}"))
        return CallToolResult(content=content, structured_content=result.model_dump(mode="json"))

    @server.tool(annotations=RANKS)
    @tool_errors
    async def rank_states(
        ctx: Context,
        text: Annotated[str | None, Field(description="the current instruction or a description of the screen")] = None,
        capture_id: Annotated[str | None, Field(description="the current screen: 'have I been here before?'")] = None,
        path: Annotated[str | None, Field(description="a screenshot or audio file to match")] = None,
        data_base64: Annotated[str | None, Field(description="a screenshot or audio as base64")] = None,
        ids: Annotated[list[int] | None, Field(description="rank only these memory ids")] = None,
        filter: Annotated[MemoryFilterArgs | None, Field(description="restrict by time, modality, episode, app, tags, metadata")] = None,
        k: Annotated[int, Field(description="how many matches to return (1-100)")] = 5,
        recency_half_life_s: Annotated[
            float | None, Field(description="recency prior: score += 0.1 * 0.5 ** (age / half_life); omit = off", gt=0)
        ] = None,
        threshold: Annotated[
            float | None,
            Field(description="seen_before when the best similarity reaches this; default per backend (local 0.82, tuned on dev data; others 0.9)"),
        ] = None,
        include_thumbnail: Annotated[bool, Field(description="attach the best match's stored screenshot thumbnail")] = False,
    ) -> Annotated[CallToolResult, RankStatesResult]:
        """Rank stored memories (past screens, notes, instructions) against the current screen, instruction or audio.

        Answers "have I been here before?": seen_before, the best matching past state with its
        similarity, time, episode and what was recorded with it (note/text, tags, metadata), and
        the next best matches. Restrict with ids or a filter; optionally favour recent memories
        (recency_half_life_s). Read-only: nothing is stored (use remember for that)."""
        if not 1 <= k <= MAX_K:
            raise InvalidInput(f"k is {k}: ask for 1 to {MAX_K} matches")
        store = await services.memory()
        args = filter.model_copy() if filter is not None else MemoryFilterArgs()
        if ids is not None:
            if not ids:
                raise InvalidInput("ids is an empty list: omit it to rank all memories, or give at least one id")
            args.ids = sorted(set(ids) & set(args.ids)) if args.ids else ids
            if not args.ids:
                raise InvalidInput("ids and filter.ids have no id in common: nothing to rank")
        flt = filter_from_args(args)
        item, _, _ = await one_input(services, "rank_states", text, path, data_base64, capture_id)
        [emb] = await services.backend.embed([item], "query", progress=progress_reporter(ctx))
        pool = min(services.settings.memory.max_k, max(k, 200 if recency_half_life_s else k * 4, 20))
        hits: list[Hit] = await store.search(emb.vector, pool, space=emb.space, filter=flt)
        q_visual = emb.extras.get("visual") if isinstance(emb.extras.get("visual"), list) else None
        visuals: dict[int, list[float] | None] = {}
        if q_visual and hits:
            visuals = {m.id: m.visual for m in await store.get_many([h.memory.id for h in hits], with_vector=True)}
        now = datetime.now(UTC)
        scored: list[StateMatch] = []
        for h in hits:
            m = h.memory
            mv = visuals.get(m.id)
            vis = visual_similarity(q_visual, mv) if q_visual and mv else None
            sim = h.score if vis is None else (1 - VISUAL_WEIGHT) * h.score + VISUAL_WEIGHT * vis
            age = max(0.0, (now - m.last_seen).total_seconds())
            rec = 0.5 ** (age / recency_half_life_s) if recency_half_life_s else None
            scored.append(
                StateMatch(
                    rank=0, id=m.id, score=round(sim + (RECENCY_WEIGHT * rec if rec is not None else 0.0), 6),
                    similarity=round(sim, 6), cosine=round(h.score, 6), visual_similarity=None if vis is None else round(vis, 6),
                    recency=None if rec is None else round(rec, 6), age_seconds=round(age, 3), modality=m.modality,
                    created_at=m.created_at, last_seen=m.last_seen, seen_count=m.seen_count, episode_id=m.episode_id,
                    text=snippet(m.text), tags=m.tags, metadata=m.metadata, source=m.source.model_dump(exclude_none=True),
                    has_thumbnail=m.has_thumbnail,
                )
            )
        scored.sort(key=lambda s: -s.score)
        top = [s.model_copy(update={"rank": r}) for r, s in enumerate(scored[:k], start=1)]
        best = top[0] if top else None
        if threshold is None:
            threshold = default_threshold(store.space)
        result = RankStatesResult(
            seen_before=bool(best and best.similarity >= threshold), threshold=threshold, best=best, matches=top,
            considered=len(hits), space=store.space, query_text=text if text is not None else text_seen(emb.extras),
        )
        content: list[Any] = []
        if include_thumbnail and best is not None and best.has_thumbnail:
            thumb = await store.get_thumbnail(best.id)
            if thumb is not None:
                content.append(image_content(thumb, "image/jpeg"))
        if best is None:
            summary = "no memories to compare with (store empty or nothing matches the filter)"
        else:
            verdict = "seen before" if result.seen_before else "not seen before"
            summary = f"{verdict}: best #{best.id} similarity {best.similarity:.3f} (threshold {threshold:g}), {(best.text or '')[:80]!r}"
        content.append(TextContent(type="text", text=summary))
        return CallToolResult(content=content, structured_content=result.model_dump(mode="json"))


def _backend_ocr(backend: Any) -> Any:
    """The local backend's OCR engine (behind the embedding cache, if any), so both share one session and cache."""
    for b in (backend, getattr(backend, "inner", None)):
        engine = getattr(b, "ocr", None)
        if engine is not None and hasattr(engine, "read"):
            return engine
    return None


async def _past_actions(services: Services, query: Any) -> list[tuple[str, float]]:
    """(label, cosine) of remembered actions close to the instruction: tag 'action', metadata 'label'."""
    store = await services.memory()
    if query.space != store.space:
        return []
    hits = await store.search(query.vector, HISTORY_K, space=query.space, filter=Filter(tags=["action"]), min_score=HISTORY_MIN_COSINE)
    return [(str(h.memory.metadata["label"]), h.score) for h in hits if h.memory.metadata.get("label")]


def _pixel_box(b: tuple[float, float, float, float]) -> tuple[int, int, int, int]:
    """The whole-pixel box covering a (possibly fractional) box; at least one pixel."""
    x1, y1 = math.floor(b[0]), math.floor(b[1])
    return (x1, y1, max(x1 + 1, math.ceil(b[2])), max(y1 + 1, math.ceil(b[3])))

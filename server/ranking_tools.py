"""Ranking tools: rank_ui_elements ("which element should I act on?") and rank_states ("have I been here before?").

Thin like the other tool modules: validate, call tools/ranking and memory, shape the result.
The scoring itself lives in tools/ranking (score.py, states.py), where the eval and the bench
call the same functions.
"""

from __future__ import annotations

import io
import json
import math
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

import anyio
import numpy as np
from mcp.server.mcpserver import Context
from mcp.types import CallToolResult, TextContent, ToolAnnotations
from PIL import Image, UnidentifiedImageError
from pydantic import BaseModel, Field

from ..memory.records import Filter, Hit
from ..tools import capture as capture_mod
from ..tools import intake
from ..tools.backends.base import Embedding, EmbedItem
from ..tools.errors import InvalidInput, LimitExceeded, NotFound, UnsupportedMedia
from ..tools.media import Modality
from ..tools.activewindow import read_active_window
from ..tools.ranking import marks, proposals, score, screen, sounds, states, windows
from ..tools.ranking.sounds import heard
from ..tools.ranking.proposals import OcrWord, Proposal, Proposals
from .app import Services
from .inputs import MemoryFilterArgs, capture_now, filter_from_args, media_from_args, one_input, progress_reporter, snippet
from .perception import Monitor
from .results import MemorySummary, image_content, text_seen
from .toolkit import ToolDef, ToolSet

RANKS = ToolAnnotations(readOnlyHint=True, destructiveHint=False, idempotentHint=True, openWorldHint=True)
MAX_CANDIDATES = proposals.MAX_PROPOSALS
MAX_K = 100
HISTORY_K = 20
HISTORY_MIN_COSINE = 0.5
"""History prior: the 20 nearest 'action' memories with cosine >= 0.5 to the instruction (untuned)."""


# -- rank_ui_elements ------------------------------------------------------------------------


class CandidateArg(BaseModel):
    """A known element (accessibility tree, DOM)."""

    box: list[float] = Field(description="[x1, y1, x2, y2], image pixels")
    label: str | None = Field(None, description="visible text or accessible name")
    role: str | None = Field(None, description="button, link, textbox, ...")


class RankedElement(BaseModel):
    rank: int = Field(description="1 = best; the number drawn on the Set-of-Mark image")
    index: int | None = Field(description="position in the given candidates (null for proposed ones)")
    score: float = Field(description="cosine + 0.5 * text_match (+ 0.3 * history)")
    cosine: float = Field(description="instruction vs the element (its crop, or its words and icon on the local backend)")
    text_match: float = Field(description="instruction words vs the element's words, 0..1")
    history: float | None = None
    box: list[int] = Field(description="[x1, y1, x2, y2] in image pixels")
    screen_box: list[int] | None = Field(description="the box in screen pixels (captures only)")
    click: list[int] = Field(description="point inside the element: screen pixels for captures, else image pixels")
    label: str | None
    words: str | None = Field(description="the words the element was compared with (label, or OCR inside its box)")
    role: str | None
    source: Literal["given", "ocr", "region"]


class ProposalInfo(BaseModel):
    found: int = Field(description="distinct elements found on the screenshot")
    ranked: int = Field(description="how many were ranked")
    truncated: bool
    rule: str | None = Field(None, description="how the cut chose, when truncated")
    ocr_lines: int = Field(0, description="text lines read before answering")
    ocr_unread: int = Field(0, description="lines left unread, read after the answer (docs/RANKING.md)")


class RankResult(BaseModel):
    instruction: str | None = Field(description="the instruction, or what was heard in a spoken one")
    candidates: list[RankedElement]
    total_candidates: int
    proposals: ProposalInfo | None = Field(None, description="set when the server proposed the candidates")
    image_width: int
    image_height: int
    capture_id: str | None = None
    scale: float | None = Field(None, description="screen pixels per image pixel (captures only)")
    marks_bytes: int | None = None
    space: str


def _check_candidates(cands: list[CandidateArg], size: tuple[int, int]) -> list[Proposal]:
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
    out = []
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
        out.append(Proposal(box=_pixel_box((x1, y1, x2, y2)), label=c.label or None, role=c.role, source="given"))
    return out


def _open_image(data: bytes, max_pixels: int) -> tuple[Image.Image, tuple[int, int]]:
    """The screenshot as RGB, downscaled before conversion when it has over `max_pixels` pixels, and
    its full size. Reading and ranking a 7000x7000 PNG at full size peaked at 1.9 GB (issue 18);
    results are mapped back to the full size's pixels, so the caller sees no difference."""
    try:
        with Image.open(io.BytesIO(data)) as img:
            full = img.size
            w, h = full
            if w * h <= max_pixels:
                img.load()  # an RGB PNG is used as decoded: convert() would copy it (5 ms at 1080p)
                return (img if img.mode == "RGB" else img.convert("RGB")), full
            ratio = math.sqrt(max_pixels / (w * h))
            target = (max(1, int(w * ratio)), max(1, int(h * ratio)))
            img.draft("RGB", target)  # JPEG: decode at 1/2, 1/4 or 1/8 of the size
            work = img if img.mode in ("L", "RGB", "RGBA", "LA") else img.convert("RGBA")
            step = min(work.width // target[0], work.height // target[1])
            if step >= 2:
                work = work.reduce(step)  # cheap box filter first, on the decoded mode (1 byte/px for L)
            return work.resize(target, Image.Resampling.LANCZOS).convert("RGB"), full
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise UnsupportedMedia(f"the screenshot does not decode as an image ({exc}): send a PNG or JPEG") from exc


def _scaled_box(
    box: tuple[int, int, int, int] | list[int], frm: tuple[int, int], to: tuple[int, int]
) -> tuple[int, int, int, int]:
    """A box in an image of size `frm` mapped to the same image at size `to`: whole pixels, inside it, at least 1 px."""
    fx, fy = to[0] / frm[0], to[1] / frm[1]
    x1, y1 = min(to[0] - 1, math.floor(box[0] * fx)), min(to[1] - 1, math.floor(box[1] * fy))
    x2, y2 = min(to[0], math.ceil(box[2] * fx)), min(to[1], math.ceil(box[3] * fy))
    return (x1, y1, max(x1 + 1, x2), max(y1 + 1, y2))


def _pixel_box(b: tuple[float, float, float, float]) -> tuple[int, int, int, int]:
    """The whole-pixel box covering a (possibly fractional) box; at least one pixel."""
    x1, y1 = math.floor(b[0]), math.floor(b[1])
    return (x1, y1, max(x1 + 1, math.ceil(b[2])), max(y1 + 1, math.ceil(b[3])))


async def _instruction_query(
    services: Services, instruction: str | None, audio_path: str | None, audio_b64: str | None, ctx: Context | None
) -> tuple[Embedding, str | None]:
    """The instruction's query embedding and the words to compare (a spoken one's transcript)."""
    given = [k for k, v in (("instruction", instruction), ("instruction_audio_path", audio_path), ("instruction_audio_base64", audio_b64)) if v is not None]
    if len(given) != 1:
        raise InvalidInput(
            f"give exactly one instruction: 'instruction' (text), 'instruction_audio_path' or 'instruction_audio_base64' (got {given or 'none'})"
        )
    if instruction is not None:
        if not instruction.strip():
            raise InvalidInput("instruction is empty: say what to act on, e.g. 'open the settings'")
        [q] = await services.backend.embed([EmbedItem.of(instruction)], "query")
        return q, instruction
    audio = await media_from_args(services, audio_path, audio_b64, {Modality.AUDIO}, "rank_ui_elements")
    [q] = await services.backend.embed([EmbedItem.of(audio)], "query", progress=progress_reporter(ctx))
    return q, text_seen(q.extras)


async def _screenshot(
    services: Services, capture_id: str | None, path: str | None, data_base64: str | None, monitor: int
) -> tuple[Image.Image, str, capture_mod.Capture | None, tuple[int, int]]:
    """The screenshot decoded from the same bytes `embed_screenshot`/`embed_image` see, and the OCR
    cache key they use, so embedding a screen and ranking on it read it once; and its full size
    (the image is downscaled when it is over intake.max_work_pixels, the key then names the size)."""
    if sum(x is not None for x in (capture_id, path, data_base64)) > 1:
        raise InvalidInput("give at most one screenshot: capture_id, path or data_base64 (none = capture now)")
    cap: capture_mod.Capture | None = None
    if path is not None or data_base64 is not None:
        media = await media_from_args(services, path, data_base64, {Modality.IMAGE}, "rank_ui_elements")
    else:
        cap = services.captures.get(capture_id) if capture_id else await capture_now(services, monitor, None)
        media = intake.media_from_capture(cap.id, services.captures)

    def decode() -> tuple[Image.Image, tuple[int, int], str]:  # decoding and hashing megabytes: off the loop
        image, full = _open_image(media.data, services.settings.intake.max_work_pixels)
        return image, full, media.sha256

    image, full, sha = await anyio.to_thread.run_sync(decode)
    key = f"media:{sha}" if image.size == full else f"media:{sha}@{image.width}x{image.height}"
    return image, key, cap, full


async def _past_actions(services: Services, query: Embedding) -> list[tuple[str, float]]:
    """(label, cosine) of remembered actions close to the instruction: tag 'action', metadata 'label'."""
    store = await services.memory()
    if query.space != store.space:
        return []
    hits = await store.search(query.vector, HISTORY_K, space=query.space, filter=Filter(tags=["action"]), min_score=HISTORY_MIN_COSINE)
    return [(str(h.memory.metadata["label"]), h.score) for h in hits if h.memory.metadata.get("label")]


async def rank_ui_elements(
    services: Services,
    ctx: Context,
    instruction: Annotated[str | None, Field(description="what to act on, e.g. 'open the settings'")] = None,
    instruction_audio_path: Annotated[str | None, Field(description="spoken instruction file")] = None,
    instruction_audio_base64: Annotated[str | None, Field(description="spoken instruction, base64")] = None,
    capture_id: Annotated[str | None, Field(description="a capture (clicks in screen pixels)")] = None,
    path: Annotated[str | None, Field(description="a screenshot file")] = None,
    data_base64: Annotated[str | None, Field(description="a screenshot as base64")] = None,
    monitor: Monitor = 1,
    candidates: Annotated[
        list[CandidateArg] | None,
        Field(description="known elements (max 500); omit = proposed"),
    ] = None,
    k: Annotated[int, Field(ge=1, le=MAX_K, description="how many to return")] = 10,
    include_marks: Annotated[bool, Field(description="attach a Set-of-Mark image")] = True,
    use_history: Annotated[bool, Field(description="boost labels acted on before (memories tagged 'action')")] = False,
) -> Annotated[CallToolResult, RankResult]:
    """Which element of a screenshot to act on for an instruction (text or speech)?
    Screenshot: capture_id, path or data_base64 (none = capture now). No candidates = distinct
    elements proposed from one read of the screen (cuts reported). Returns the top k:
    score, box, a click point inside it (screen pixels for captures), a Set-of-Mark image."""
    query, said = await _instruction_query(services, instruction, instruction_audio_path, instruction_audio_base64, ctx)
    image, ocr_key, cap, full = await _screenshot(services, capture_id, path, data_base64, monitor)
    said_to_rank = said
    if cap is not None and windows.names_no_window(said):  # a live screen: "close this window" means the one in front
        front = await anyio.to_thread.run_sync(read_active_window)
        named = windows.name_active_window(said, front.title if front else None)
        if named is not None:
            [query] = await services.backend.embed([EmbedItem.of(named)], "query")
            said_to_rank = named
    scaled = image.size != full  # working on a downscaled copy: boxes in, boxes out are mapped
    given = candidates is not None
    items = _check_candidates(candidates, full) if candidates is not None else None
    if items is not None and scaled:
        items = [p.model_copy(update={"box": _scaled_box(p.box, full, image.size)}) for p in items]
    found: Proposals | None = None
    read: screen.ReadInfo | None = None
    past = await _past_actions(services, query) if use_history else None
    if ctx is not None:
        await ctx.report_progress(0, None, "reading the screen (OCR)")
    if items is None:
        scored, found, _, read = await screen.rank_proposed(
            services.backend, services.ocr, image, query, said_to_rank, key=ocr_key,
            budget=services.settings.local.ocr_cold_budget, past_actions=past, progress=progress_reporter(ctx),
            cache=services.proposals,
        )
        items = found.items
        if not items:
            raise NotFound("no elements were found on this screenshot (no text, no edges): pass candidates yourself")
    else:
        words: list[OcrWord] | None = None
        if any(c.label is None for c in items):
            words = await anyio.to_thread.run_sync(lambda: proposals.read_words(services.ocr, image, key=ocr_key))
        scored = await score.rank_elements(
            services.backend, image, query, said_to_rank, items, words=words, past_actions=past, distinct=False,
            progress=progress_reporter(ctx),
        )
    ranked: list[RankedElement] = []
    work_boxes: list[tuple[int, int, int, int]] = []
    for r, s in enumerate(scored[:k], start=1):
        p = items[s.index]
        box = _scaled_box(p.box, image.size, full) if scaled else p.box
        work_boxes.append(p.box)
        cx, cy = proposals.click_point(box)
        screen_box = list(cap.to_screen(box)) if cap is not None else None
        click = list(cap.to_screen_point(cx, cy)) if cap is not None else [cx, cy]
        ranked.append(
            RankedElement(
                rank=r, index=s.index if given else None, score=round(s.score, 5), cosine=round(s.cosine, 5),
                text_match=round(s.text_match, 4), history=None if s.history is None else round(s.history, 4),
                box=list(box), screen_box=screen_box, click=click, label=p.label, words=snippet(s.words, 200),
                role=p.role, source=p.source,
            )
        )
    result = RankResult(
        instruction=said, candidates=ranked, total_candidates=len(items),
        proposals=None if found is None else ProposalInfo(
            found=found.found, ranked=len(found.items), truncated=found.truncated, rule=found.rule,
            ocr_lines=read.read if read else 0, ocr_unread=read.unread if read else 0,
        ),
        image_width=full[0], image_height=full[1], capture_id=cap.id if cap else None,
        scale=cap.scale if cap else None, space=services.backend.space,
    )
    content: list[Any] = []
    if include_marks and ranked:
        budget = services.settings.capture.preview_max_bytes
        data = await anyio.to_thread.run_sync(lambda: marks.marks_image(image, work_boxes, budget))
        result.marks_bytes = len(data)
        content.append(image_content(data, "image/jpeg"))
    cut = f" (cut from {found.found}: {found.rule})" if found is not None and found.truncated else ""
    summary = "; ".join(f"{e.rank}. {e.score:.3f} {(e.label or e.words or e.source)[:40]!r} click {e.click}" for e in ranked[:5])
    unread = ""
    if read is not None and read.unread:
        rounds = f" in {read.rounds} rounds" if read.rounds > 1 else ""
        unread = f"; {read.read} text lines read{rounds}, {read.unread} left for after this answer"
    elif read is not None and read.full:
        unread = "; read in full (the instruction matched nothing read first)"
    payload = result.model_dump(mode="json")
    content.append(TextContent(type="text", text=f"{len(items)} candidates ranked{cut}{unread}: {summary}\n{json.dumps(payload)}"))
    if read is not None and read.unread:  # lines a budgeted first read left: read (and embed) them now
        screen.warm_later(services.backend, services.ocr, image, ocr_key, services.proposals)
    return CallToolResult(content=content, structured_content=payload)


# -- rank_states -----------------------------------------------------------------------------


class StateMatch(MemorySummary):
    rank: int
    score: float = Field(description="similarity + recency prior (+ 0.5 * sound_match for audio); the ranking key")
    similarity: float = Field(description="cosine, fused with the visual cue when both sides have one")
    cosine: float
    visual_similarity: float | None = None
    recency: float | None = None
    sound_match: float | None = Field(None, description="spoken queries: how alike the heard words and the memory's text sound, 0..1")
    age_seconds: float


class RankStatesResult(BaseModel):
    seen_before: bool = Field(description="best similarity >= threshold")
    threshold: float
    best: StateMatch | None
    matches: list[StateMatch]
    considered: int = Field(description="memories scored (the nearest few hundred the filter allows)")
    space: str
    query_text: str | None = Field(None, description="the query text, or what the backend read/heard in the query")


def _state_match(h: Hit, q_visual: list[float] | None, m_visual: list[float] | None, now: datetime, half_life: float | None) -> StateMatch:
    vis = states.visual_cue(q_visual, m_visual)
    sim = states.state_similarity(h.score, vis)
    age = max(0.0, (now - h.memory.last_seen).total_seconds())
    rec = states.recency_prior(age, half_life)
    return StateMatch(
        rank=0, score=round(states.state_score(sim, rec), 6), similarity=round(sim, 6), cosine=round(h.score, 6),
        visual_similarity=None if vis is None else round(vis, 6), recency=None if rec is None else round(rec, 6),
        age_seconds=round(age, 3), **MemorySummary.fields_of(h.memory),
    )


async def rank_states(
    services: Services,
    ctx: Context,
    text: Annotated[str | None, Field(description="an instruction or a description of the screen")] = None,
    capture_id: Annotated[str | None, Field(description="the current screen")] = None,
    path: Annotated[str | None, Field(description="a screenshot or audio file")] = None,
    data_base64: Annotated[str | None, Field(description="a screenshot or audio as base64")] = None,
    filter: MemoryFilterArgs | None = None,
    k: Annotated[int, Field(ge=1, le=MAX_K, description="matches")] = 5,
    recency_half_life_s: Annotated[float | None, Field(description="favour recent: score += 0.1 * 0.5 ** (age / this)", gt=0)] = None,
    threshold: Annotated[
        float | None, Field(description="seen_before threshold; default per backend"),
    ] = None,
    include_thumbnail: Annotated[bool, Field(description="attach the best match's thumbnail")] = False,
) -> Annotated[CallToolResult, RankStatesResult]:
    """Have I been here before? Ranks stored memories (screens, notes, instructions) against the
    current screen, an instruction or audio: seen_before and the best past states."""
    store = await services.memory()
    if filter is not None and filter.ids is not None and not filter.ids:
        raise InvalidInput("filter.ids is an empty list: omit it to rank all memories, or give at least one id")
    flt = filter_from_args(filter)
    item, _, _ = await one_input(services, "rank_states", text, path, data_base64, capture_id)
    [emb] = await services.backend.embed([item], "query", progress=progress_reporter(ctx))
    pool = min(services.settings.memory.max_k, max(k, 200 if recency_half_life_s else k * 4, 20))
    hits: list[Hit] = await store.search(emb.vector, pool, space=emb.space, filter=flt)
    q_visual = emb.extras.get("visual") if isinstance(emb.extras.get("visual"), list) else None
    visuals: dict[int, list[float] | None] = {}
    if q_visual and hits:
        visuals = {m.id: m.visual for m in await store.get_many([h.memory.id for h in hits], with_vector=True)}
    now = datetime.now(UTC)
    matches = [_state_match(h, q_visual, visuals.get(h.memory.id), now, recency_half_life_s) for h in hits]
    spoken = heard(emb.extras)
    if spoken and matches:  # a spoken query: sound alike counts too (seen_before stays on similarity)
        _, sound = sounds.fused(np.zeros(len(hits)), spoken, [h.memory.text for h in hits])
        matches = [
            m.model_copy(update={"sound_match": round(float(x), 4), "score": round(m.score + sounds.W_SOUND * float(x), 6)})
            for m, x in zip(matches, sound, strict=True)
        ]
    scored = sorted(matches, key=lambda s: -s.score)
    top = [s.model_copy(update={"rank": r}) for r, s in enumerate(scored[:k], start=1)]
    best = top[0] if top else None
    if threshold is None:
        threshold = states.seen_before_threshold(store.space)
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
    payload = result.model_dump(mode="json")
    content.append(TextContent(type="text", text=f"{summary}\n{json.dumps(payload)}"))
    return CallToolResult(content=content, structured_content=payload)


TOOLS = (
    ToolDef(
        rank_ui_elements, "Rank UI elements", RANKS,
        one_of=("instruction", "instruction_audio_path", "instruction_audio_base64"),
        at_most_one=("capture_id", "path", "data_base64"),
    ),
    ToolDef(rank_states, "Have I seen this before?", RANKS, one_of=("text", "capture_id", "path", "data_base64")),
)


def register(tools: ToolSet, services: Services) -> None:
    tools.add_all(TOOLS, services)

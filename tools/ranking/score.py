"""The one ranking core: which element of a screenshot answers an instruction.

`rank_elements` is what `rank_ui_elements`, `sensorium eval ui_grounding` and
`bench/bench_ranking.py` all call, so the eval measures exactly what the tool does.

Per candidate:

    score = W_COSINE * cosine(instruction query, element document)
          + W_TEXT   * text_similarity(instruction, element words)
          (+ W_HISTORY * history, only when the caller asks for the history prior)

- The element document comes from `backend.embed_regions`: Gemini embeds each padded crop as
  an image; the local backend embeds the element's words (read once for the whole screen, see
  proposals.py) and what its icon reader sees in a textless crop.
- The element's words are its given label, else the OCR words inside its box; symbols are
  spelled out ("=" -> "= equals", text.py) before they are embedded or compared.
- W_COSINE = 1.0, W_TEXT = 0.5, W_HISTORY = 0.3 are untuned defaults. An element the backend read
  as an icon (extras["icon_words"]) has its cosine scaled by W_ICON and its text match taken
  against the icon's words too (`element_match`). When the user pulled an
  image-text model, its cosine between the instruction and a textless element's crop is added
  (W_IMAGE_TEXT).
- The element's role, when the caller gives one: W_ROLE * role_fit (roles.py: "type your email"
  wants a text field, "submit" a button, "tick" a checkbox).
- A press instruction ("submit the search") whose words name a field: the field's own button (the
  one right beside it, or under its column of fields) takes a share of the field's cosine and text
  match (forms.py), so the button, not the field, answers it. Only candidates with roles.
- "Close (minimise, maximise) the <name> window": the small wordless buttons in the row of the element
  showing the name (the window's title) are lifted above every other element, the one the verb asks
  for first by the platforms' conventions (windows.py): the title matches the words, the button is meant.
- Proposed candidates (no roles): "tick the 'X' checkbox" / "enter text in the 'X' box" lifts the wordless
  box right before the label X (its checkbox, radio or switch), or the wide one under or after it (its
  field), just above the label (labels.py).
- A labelled element whose box shows other words than its label (the accessible name and the
  visible text disagree) is compared with both; the better cosine and text match count.
- A quoted phrase ('Click "Orbit 3"') is a given element's whole visible text: it is compared by token
  F1 (text.py), and with every labelled box's shown words, numbers included (session 7). Proposed
  candidates (OCR lines, edge regions) keep containment: a read line may hold several inline links.
- History: memories tagged 'action' whose metadata has a `label` (what was acted on), found by the
  instruction's query vector; a candidate whose words equal (after normalising) such a label gets
  that memory's cosine as its history value.

For proposed candidates (`distinct=True`) the order is made of distinct, clickable elements:
an element that contains two or more other candidates (a toolbar, a card, two merged buttons)
ranks right below the best element inside it, never above; of two candidates that are the same
element (IoU >= 0.5, or an outline holding only that one element) only the better one is listed.
Given candidates are the caller's own list and are ranked as they are.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from PIL import Image
from pydantic import BaseModel, Field

from ..backends.base import Embedding, EmbeddingBackend, ProgressCallback
from ..regions import RegionItem
from .forms import inherit
from .labels import lift_label_control, whole
from .lexicon import UiLexicon, default_lexicon, stem_overlap
from .phrases import split_at_phrases
from .proposals import MERGE_AREA_RATIO, OcrWord, Proposal, pairwise_overlap, word_boxes, words_in
from .roles import role_fit
from .sounds import heard
from .text import normalise, quoted_phrases, same_label, slip, spelled_out, spoken_similarity, text_similarity
from .windows import lift_controls

W_COSINE = 1.0
W_TEXT = 0.5
W_HISTORY = 0.3
W_IMAGE_TEXT = 1.0
"""Weight of an image-text model's cosine (extras["clip"] of the query and of a crop, same
`clip_space`): only present when a user pulled such a model (`sensorium models pull`). Untuned."""
W_ICON = 1.25
"""Scale of the cosine of an element the backend read as an icon (extras["icon_words"]). WHY: an
instruction meets an icon reading at lower cosines than it meets words (0.2-0.4 for the right icon
where a loosely related text link scores 0.3-0.45), so unscaled an icon rarely beats any text.
Chosen on held-out generated screens (bench/heldout_grounding.py, iconoir + heroicons icons the
reader never saw, hand-written functional and paraphrase instructions): among 1.0 / 1.25 / 1.5,
1.25 raised icon hit@1 (0.635 -> 0.708 there, with the words vector and icon-word matching) for one
of 96 text items; 1.5 cost four. Not tuned on dev data (docs/RANKING.md)."""
W_ROLE = 0.15
"""Weight of `role_fit` (roles.py: +1 the candidate's role is the kind of element the instruction's
verbs ask for, -1 a kind they rule out): only candidates whose role the caller gave. Chosen on
held-out generated screens (bench/heldout_grounding.py: form cards with fields, dropdowns,
checkboxes, buttons and same-named links, rule-made instructions), not on dev data (docs/RANKING.md)."""
SEEN_MAX_WORDS = 8
"""A given label's element also answers with the words OCR read inside its box when those add a
word the label lacks, up to this many words (a link named by the next chapter's title that shows
"next"; a logo named "AdminLTE Logo" that shows "AdminLTE 3"). A box holding more text is a card
or a panel: its words would match anything."""
SHOWN_INSIDE = 0.7
"""Share of an OCR word's width that must lie inside an element's box (its centre row inside too) for the
element to show all of it: OCR boxes stick out of tight DOM boxes by a few pixels. A line read as one
piece ("modules | index | next | previous") is wider: the "next" link inside it shows only the tokens
whose estimated place falls in its box (`_tokens_inside`)."""
LEXICON_TOP = 4
"""Related words per label word from the UI lexicon (lexicon.py) a short label is also compared with."""
LEXICON_DISCOUNT = 0.85
"""Scale of the cosine and text match of a label's lexicon reading ("Calendar (date, event, ...)"): below 1
so an element showing the instruction's own word beats one that only relates to it."""
W_PIECE = 0.9
"""Scale of the evidence of a piece of a read line (an edge region holding no whole word, given the
tokens it covers: `line_pieces_in`). WHY below 1: a piece strips its line's context, so the last
crumb of 'Home / Buttons' matched "See the button examples" exactly as the sidebar's 'Buttons' link
did and won; a whole element showing the same words is the better answer, while a piece still beats
a line that only holds its words ('next' at the end of a chapter's title line). Chosen among 0.8 /
0.9 / 1.0 on the dev set's literal and paraphrase items (110 / 109 / 103 of 125 on the proposed path)
and on the held-out generated screens (bench/heldout_grounding.py --proposed: general 0.764 / 0.760 /
0.760, forms 0.429 / 0.464 / 0.494, measured when it was chosen): at 1.0 six dev items went to pieces
(breadcrumb crumbs over sidebar links, quoted links) (docs/RANKING.md)."""
CONTAINS = 0.9
"""A box contains another when it covers 90 % of it and is at least 1.5x its area."""


class ScoredElement(BaseModel):
    index: int = Field(description="position in the candidates passed in")
    score: float
    cosine: float
    text_match: float
    history: float | None = None
    words: str | None = Field(None, description="the words the element was embedded and compared with")
    extras: dict[str, Any] = Field(default_factory=dict)


def element_words(candidate: Proposal, words: Sequence[OcrWord] | None) -> str | None:
    """A candidate's label, else its OCR text, else the words read inside its box (whole words, else
    the pieces of a read line it covers: `line_pieces_in`); symbols spelled out."""
    text = candidate.label or candidate.text or (words_in(candidate.box, words) or line_pieces_in(candidate.box, words) if words else None)
    return spelled_out(text) if text else None


def line_pieces_in(box: Sequence[float], words: Sequence[OcrWord]) -> str | None:
    """The tokens of read lines whose estimated place lies in `box` (`_tokens_inside`), for a box that
    holds no whole word: a region around '68% full' inside the read line 'Storage is 68% full'.

    WHY: edge regions cut text lines into pieces (a gap between words, a coloured number) and such a
    piece held no word centre, so it counted as wordless and the icon reader read its letters as an
    icon; letters make it name generic terms ('plugin backend web3 hosting') that beat the labels a
    paraphrase asks for (held-out generated screens: 'who belongs to this workspace' won by the
    '68% full' of a paragraph, read as 'plugin line style backend'). A box whose centre row lies in a
    line and which covers some of its tokens shows those words; an icon beside a label (the line's box
    often takes it in, its reading skipping it) covers no token's centre and stays wordless."""
    if not words:
        return None
    x1, y1, x2, y2 = box
    cy = (y1 + y2) / 2
    b = word_boxes(words)
    near = np.flatnonzero((b[:, 1] <= cy) & (cy < b[:, 3]) & (b[:, 0] < x2) & (b[:, 2] > x1))
    pieces = [t for k in near for t in _tokens_inside(words[int(k)], x1, x2)]
    return " ".join(pieces) or None


def seen_words(candidate: Proposal, words: Sequence[OcrWord] | None, boxes: np.ndarray | None = None) -> str | None:
    """The words shown inside a labelled candidate's box when they add a word its label lacks
    (the accessible name and the visible text disagree), else None. OCR slips of the label's own
    words ('Leam more' for 'Learn more') and numbers (badge counters) add nothing. See SEEN_MAX_WORDS."""
    return adds_words(candidate, shown_words(candidate, words, boxes))


def adds_words(candidate: Proposal, shown: str | None, *, numbers: bool = False) -> str | None:
    """`shown` (symbols spelled out) when it is at most SEEN_MAX_WORDS words and adds a word the
    candidate's label lacks, else None. OCR slips of the label's words never add one (nor do the
    label's own words: a proposal's shown words are pieces of its label); numbers only with
    `numbers` (a quoted "Orbit 3"; unquoted, a badge counter's "2" says nothing)."""
    if not shown or not candidate.label:
        return None
    tokens = normalise(shown)
    label = set(normalise(spelled_out(candidate.label)))
    new = [
        t for t in tokens
        if (t.isdigit() and numbers and t not in label) or (len(t) > 1 and not t.isdigit() and not any(slip(t, lab) for lab in label))
    ]
    return spelled_out(shown) if new and len(tokens) <= SEEN_MAX_WORDS else None


def shown_words(candidate: Proposal, words: Sequence[OcrWord] | None, boxes: np.ndarray | None = None) -> str | None:
    """The OCR words shown inside a labelled candidate's box (see SHOWN_INSIDE), as read, else None."""
    if not candidate.label or not words:
        return None
    x1, y1, x2, y2 = candidate.box
    b = boxes if boxes is not None else word_boxes(words)
    cy = (b[:, 1] + b[:, 3]) / 2
    near = np.flatnonzero((cy >= y1) & (cy < y2) & (b[:, 0] < x2) & (b[:, 2] > x1))  # hundreds of words: filter first
    inside = []
    for k in near:
        w = words[int(k)]
        wx1, wy1, wx2, wy2 = w.box
        across = max(0, min(x2, wx2) - max(x1, wx1))
        if not y1 <= (wy1 + wy2) / 2 < y2 or across <= 0:
            continue
        if across >= SHOWN_INSIDE * max(1, wx2 - wx1):
            inside.append(w.text)
        else:  # a line OCR read as one piece ("modules | index | next"): only its words that fall inside
            inside.extend(_tokens_inside(w, x1, x2))
    return " ".join(inside) or None


def _tokens_inside(word: OcrWord, x1: float, x2: float) -> list[str]:
    """The space-separated tokens of an OCR piece whose estimated centre lies in [x1, x2): each
    character is given an equal share of the piece's width (proportional fonts make this rough,
    enough to tell "next" from "modules" four words away)."""
    text = word.text
    if not text:
        return []
    per = (word.box[2] - word.box[0]) / len(text)
    out, pos = [], 0
    for tok in text.split(" "):
        centre = word.box[0] + (pos + len(tok) / 2) * per
        if tok and x1 <= centre < x2:
            out.append(tok)
        pos += len(tok) + 1
    return out


async def _second_reading(
    backend: EmbeddingBackend, image: Image.Image, query: Embedding, candidates: Sequence[Proposal],
    readings: dict[int, str], cosines: np.ndarray, *, scale: float = 1.0, icons: bool = True,
) -> None:
    """Raise `cosines[i]` to scale * cos(query, candidate i's region embedded with `readings[i]`) where
    that is higher: one batched call for every other reading of an element (its shown words, its
    lexicon words). Only for backends that embed a region from its text (`region_embedding` native);
    others see pixels, where another text changes nothing."""
    if backend.region_embedding != "native" or not readings:
        return
    idx = list(readings)
    docs = await backend.embed_regions(image, [RegionItem(box=candidates[i].box, text=readings[i]) for i in idx], icons=icons)
    cos = np.stack([d.vector for d in docs]).astype(np.float32) @ query.vector.astype(np.float32)
    cosines[idx] = np.maximum(cosines[idx], scale * cos)


def shown_readings(
    candidates: Sequence[Proposal], words: Sequence[OcrWord] | None
) -> tuple[list[str | None], list[str | None]]:
    """Per candidate, the words shown inside its box (`shown_words`) and, where they add a word to its
    label, the second reading an unquoted instruction compares (`adds_words`). One place, so the
    background warm-up (screen.warm) encodes exactly what ranking will ask for: without them a repeat
    on a terminal screen still encoded 70 texts ('48016 Sep 43856 Sep'), 0.3 s."""
    boxes = word_boxes(words) if words and any(c.label for c in candidates) else None
    shown = [shown_words(c, words, boxes) for c in candidates]
    return shown, [adds_words(c, t) for c, t in zip(candidates, shown, strict=True)]


def lexicon_words(texts: Sequence[str | None], lexicon: UiLexicon | None = None) -> list[list[str]]:
    """Each element text's related words from the UI lexicon (LEXICON_TOP per word; [] for none)."""
    lex = lexicon if lexicon is not None else default_lexicon()
    return [lex.related(t, LEXICON_TOP) for t in texts]


def lexicon_readings(texts: Sequence[str | None], related: Sequence[Sequence[str]]) -> dict[int, str]:
    """{i: "label (related, words)"}: the second reading an element with lexicon words is embedded as.
    One place, so the background warm-up (screen.warm) encodes exactly what ranking will ask for."""
    return {i: f"{texts[i]} ({', '.join(r)})" for i, r in enumerate(related) if r}


def image_text_cosines(query: Embedding, docs: Sequence[Embedding]) -> np.ndarray:
    """cos(query, element) in an image-text model's own space, where both sides carry one (else 0)."""
    out = np.zeros(len(docs), dtype=np.float64)
    q, space = query.extras.get("clip"), query.extras.get("clip_space")
    if not q or not space:
        return out
    qv = np.asarray(q, dtype=np.float64)
    for i, d in enumerate(docs):
        if d.extras.get("clip_space") == space and d.extras.get("clip"):
            out[i] = float(np.asarray(d.extras["clip"], dtype=np.float64) @ qv)
    return out


def _icon_words(extras: dict[str, Any]) -> str | None:
    """What a backend's icon reader saw in a textless element, for display ('icon: gear settings')."""
    words = extras.get("icon_words")
    return "icon: " + " ".join(words) if words else None


def element_match(
    instruction: str, text: str | None, extras: dict[str, Any], spoken: Sequence[str] | None = None, *, exact_quotes: bool = True
) -> float:
    """`text_similarity` of the instruction with the element's words, or with the words the icon
    reader saw in it when those match better: an icon's words are its only words ("magnifying glass
    search" answers "search the site" as a "Search" label would). A spoken instruction (`spoken`: the
    recogniser's hypotheses) is compared by spelling and by sound (`spoken_similarity`).
    `exact_quotes`: a quoted phrase must be the element's whole text (text.py), off only to measure."""

    def similar(words: str | None) -> float:
        return spoken_similarity(spoken, words) if spoken else text_similarity(instruction, words, exact_quotes=exact_quotes)

    match = similar(text)
    if extras.get("icon_words"):
        match = max(match, similar(" ".join(extras["icon_words"])))
    return match


def history_boost(labels: Sequence[str | None], past: Sequence[tuple[str, float]]) -> np.ndarray:
    """Per candidate, the best cosine of a past action on the same label (0 when none)."""
    out = np.zeros(len(labels), dtype=np.float64)
    for i, lab in enumerate(labels):
        for past_label, sim in past:
            if same_label(lab, past_label):
                out[i] = max(out[i], float(sim))
    return out


def _overlaps(boxes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(contains[i, j]: box i contains box j, iou[i, j]) for every pair, vectorised (hundreds of boxes)."""
    inter, iou = pairwise_overlap(boxes, boxes)
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    contains = (areas[:, None] >= 1.5 * areas[None, :]) & (inter >= CONTAINS * areas[None, :])
    np.fill_diagonal(contains, False)
    return contains, iou


def distinct_order(scores: Sequence[float], candidates: Sequence[Proposal]) -> list[int]:
    """Indices best first, containers below their best inner element, one entry per element."""
    n = len(candidates)
    boxes = np.array([c.box for c in candidates], dtype=np.float64).reshape(n, 4)
    contains, overlap = _overlaps(boxes)
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    raw = np.asarray(scores, dtype=np.float64)
    adjusted = raw.copy()
    container = np.zeros(n, dtype=bool)
    for i in range(n):
        inner = np.flatnonzero(contains[i])
        one_big = inner.size == 1 and areas[i] > MERGE_AREA_RATIO * areas[inner[0]]
        container[i] = candidates[i].container or inner.size >= 2 or one_big
        if container[i] and inner.size:
            adjusted[i] = min(adjusted[i], float(raw[inner].max()) - 1e-6)
    kept: list[int] = []
    for i in np.argsort(-adjusted, kind="stable"):
        k = np.asarray(kept, dtype=np.intp)
        # the same element as one already listed: a near-copy, or an outline and its content
        same = (overlap[i, k] >= 0.5) | (contains[k, i] & ~container[k]) | (contains[i, k] & ~container[i])
        if not same.any():
            kept.append(int(i))
    return kept


async def rank_elements(
    backend: EmbeddingBackend,
    image: Image.Image,
    query: Embedding,
    instruction: str | None,
    candidates: Sequence[Proposal],
    *,
    words: Sequence[OcrWord] | None = None,
    past_actions: Sequence[tuple[str, float]] | None = None,
    distinct: bool = False,
    progress: ProgressCallback | None = None,
    exact_quotes: bool = True,
    lexicon: UiLexicon | None = None,
    icons: bool = True,
) -> list[ScoredElement]:
    """Candidates ranked for the instruction, best first (see the module docstring).

    `query` is the instruction's query embedding (its space must be the backend's); `instruction`
    the text compared word by word (a spoken one's transcript; None disables the text term);
    `words` the OCR words of the screenshot, for candidates without a label; `lexicon` the UI
    lexicon (default: the packaged one); `icons=False` ranks by words alone (nothing looks at the
    pixels of an element without words: `EmbeddingBackend.embed_regions`). `exact_quotes=False`
    turns off session 7's quoted-phrase rule (token F1, shown words with their numbers), for
    before/after measurements only.
    """
    if not candidates:
        return []
    if words is not None:
        # a quoted link inside a longer read line is its own word, so the box of that link holds it
        # (phrases.py; proposals made by screen.read_and_propose come from such words already)
        words = split_at_phrases(image, words, instruction)
    texts = [element_words(c, words) for c in candidates]
    regions = [RegionItem(box=c.box, text=t) for c, t in zip(candidates, texts, strict=True)]
    docs = await backend.embed_regions(image, regions, progress=progress, icons=icons)
    if len(docs) != len(candidates):
        raise RuntimeError(f"backend returned {len(docs)} vectors for {len(candidates)} elements")
    matrix = np.stack([d.vector for d in docs]).astype(np.float32)
    cosines = matrix @ query.vector.astype(np.float32)
    spoken = heard(query.extras) if instruction is not None else None  # a spoken instruction: its n-best, by sound too
    icon_read = np.array([bool(d.extras.get("icon_words")) for d in docs])
    # A given candidate's words are one element's own (its accessible name, or the OCR words inside its
    # DOM box), so a quoted phrase must be all of them; a proposal's are an OCR line, which may hold
    # several inline links ("Copyright 2014-2021 Orbit.io. All rights reserved"): containment, as before.
    exact = [exact_quotes and c.source == "given" for c in candidates]
    matches = np.array(
        [element_match(instruction or "", t, d.extras, spoken, exact_quotes=e) for t, d, e in zip(texts, docs, exact, strict=True)],
        dtype=np.float64,
    )
    shown, seen = shown_readings(candidates, words)
    quoted = bool(instruction and quoted_phrases(instruction))
    if exact_quotes and not spoken and quoted:
        # A quoted phrase is what the user reads on screen, numbers included ('Click "Orbit 3"' for a
        # logo named "Orbit Logo" showing "Orbit 3"): every labelled box's shown words that differ from
        # its label are a second reading, not only those adding a non-number word (seen_words leaves
        # out badge counters, right for an unquoted ask, where "2" says nothing).
        seen = [s or (adds_words(c, t, numbers=True) if e else None) for s, t, c, e in zip(seen, shown, candidates, exact, strict=True)]
    alt = [i for i, t in enumerate(seen) if t]
    if alt:  # the visible words answer too: the better of the two readings counts
        await _second_reading(backend, image, query, candidates, {i: seen[i] for i in alt}, cosines, icons=icons)
        for i in alt:
            matches[i] = max(matches[i], element_match(instruction or "", seen[i], {}, spoken, exact_quotes=exact[i]))
    related: list[list[str]] = [[] for _ in candidates]
    # A quoted phrase names the words shown on the element (text.quoted_phrases): a related word of
    # another label is no answer to it ('Login' quoted must not find a password field tagged 'login').
    if instruction and spoken is None and LEXICON_DISCOUNT > 0 and not quoted:
        related = lexicon_words(texts, lexicon)
    lexed = [i for i, r in enumerate(related) if r]
    if lexed:  # the label in the icon sets' words answers too, discounted: the better reading counts
        readings = lexicon_readings(texts, related)
        await _second_reading(backend, image, query, candidates, readings, cosines, scale=LEXICON_DISCOUNT, icons=icons)
        for i in lexed:
            lex_match = max(text_similarity(instruction or "", " ".join(related[i])), stem_overlap(instruction or "", related[i]))
            matches[i] = max(matches[i], LEXICON_DISCOUNT * lex_match)
    scaled = np.where(icon_read, W_ICON, 1.0) * cosines.astype(np.float64)
    roles = np.array([role_fit(instruction, c.role) for c in candidates], dtype=np.float64)
    evidence = W_COSINE * scaled + W_TEXT * matches + W_IMAGE_TEXT * image_text_cosines(query, docs)
    if words:  # a piece of a read line is a guess at where its words lie: a whole element showing them comes first
        pieces = np.array([t is not None and not whole(c, words) for c, t in zip(candidates, texts, strict=True)])
        evidence = np.where(pieces, W_PIECE, 1.0) * evidence
    scores = inherit(instruction, candidates, evidence) + W_ROLE * roles  # a press on a field: its own button (forms.py)
    scores = lift_controls(instruction, candidates, texts, scores)  # "close the X window": its title bar's button (windows.py)
    scores = lift_label_control(instruction, candidates, texts, scores, words or ())  # "tick the 'X' checkbox": the box beside X (labels.py)
    history = None
    if past_actions is not None:
        history = history_boost([c.label or t for c, t in zip(candidates, texts, strict=True)], past_actions)
        scores = scores + W_HISTORY * history
    order = distinct_order(scores, candidates) if distinct else sorted(range(len(candidates)), key=lambda i: -scores[i])
    return [
        ScoredElement(
            index=i,
            score=float(scores[i]),
            cosine=float(cosines[i]),
            text_match=float(matches[i]),
            history=None if history is None else float(history[i]),
            words=" | ".join(
                w for w in (texts[i], seen[i] and f"shown: {seen[i]}", _icon_words(docs[i].extras),
                            related[i] and "lexicon: " + ", ".join(related[i])) if w
            ) or None,
            extras=docs[i].extras,
        )
        for i in order
    ]

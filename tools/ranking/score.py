"""Score candidate boxes against an instruction: crop embedding cosine fused with label text similarity.

Why a fusion: the crop embedding sees icons and layout but (depending on the backend) reads
text poorly; the label (given by the caller's accessibility tree, or read by OCR) is exact
text but missing for icons. Fused score, per candidate:

    score = W_VISUAL * cosine(instruction query, crop document) + W_TEXT * text_similarity(instruction, label)

    (+ W_HISTORY * history, only when the caller asks for the history prior)

with W_VISUAL = 1.0, W_TEXT = 0.5, W_HISTORY = 0.3 (untuned defaults: nothing was tuned on dev data yet).
History: memories tagged 'action' whose metadata has a `label` (what was acted on), found by
the instruction's query vector; a candidate whose label equals (after normalising) the label
of such a memory gets that memory's cosine as its history value (the best one if several).
`text_similarity` is in [0, 1]: a quoted phrase in the instruction ('Click "Sign in"') is
compared alone; otherwise the instruction minus common command words ("click", "the", ...).
It is the max of token overlap (share of the instruction's content words present in the label)
and the Dice coefficient of character trigrams (robust to OCR slips and word forms).
A candidate without a label gets 0 text similarity; an empty instruction text (spoken
instruction without a transcript) disables the text term.

Crops are the box padded by 10 % of its side plus 4 px of context on each side, because a
bare icon or a 1-word label says little without its neighbourhood.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np
from PIL import Image

from ..backends.base import Embedding, EmbeddingBackend, EmbedItem, ProgressCallback
from ..media import Media

W_VISUAL = 1.0
W_TEXT = 0.5
W_HISTORY = 0.3
PAD_PX = 4
PAD_FRAC = 0.10
"""Context around a candidate crop, per axis: 10 % of the box side plus 4 px. Enough to keep a border or
an icon's surroundings, too little to pull in the next row of a menu (sidebar entries are ~40 px tall and
~3 px apart). Chosen between two rules on the ui_grounding DEV set: image-only hit@1 0.753 with this one,
0.717 with max(12 px, 15 %) (`sensorium eval ui_grounding --backend local`)."""

_WORD = re.compile(r"\w+", re.UNICODE)
_QUOTED = re.compile(r"[\"'“‘«]([^\"'”’»]{1,200})[\"'”’»]")
_STOP = frozenset(
    "a an the to on in of for and or my me your this that it is be please click tap press select choose open "
    "go button link icon field menu item page tab type enter into with from at by up".split()
)


def padded_box(box: Sequence[float], size: tuple[int, int], pad_px: int = PAD_PX, pad_frac: float = PAD_FRAC) -> tuple[int, int, int, int]:
    w, h = size
    x1, y1, x2, y2 = box
    px = pad_px + pad_frac * (x2 - x1)
    py = pad_px + pad_frac * (y2 - y1)
    return (max(0, int(x1 - px)), max(0, int(y1 - py)), min(w, int(np.ceil(x2 + px))), min(h, int(np.ceil(y2 + py))))


def crop_media(image: Image.Image, box: Sequence[float]) -> Media:
    crop = image.crop(padded_box(box, image.size))
    return Media.from_image(crop, source={"kind": "crop", "box": [int(v) for v in box]})


def _normalise(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def instruction_terms(instruction: str) -> list[str]:
    """The words of the instruction worth matching: a quoted phrase if any, else the non-command words."""
    quoted = _QUOTED.findall(instruction)
    if quoted:
        return _normalise(" ".join(quoted))
    words = _normalise(instruction)
    content = [w for w in words if w not in _STOP]
    return content or words


def _trigrams(words: Sequence[str]) -> Counter[str]:
    grams: Counter[str] = Counter()
    for w in words:
        padded = f"#{w}#"
        grams.update(padded[i : i + 3] for i in range(len(padded) - 2))
    return grams


def text_similarity(instruction: str, label: str | None) -> float:
    if not label or not instruction.strip():
        return 0.0
    q = instruction_terms(instruction)
    lab = _normalise(label)
    if not q or not lab:
        return 0.0
    lab_set = set(lab)
    overlap = sum(w in lab_set for w in q) / len(q)
    a, b = _trigrams(q), _trigrams(lab)
    inter = sum((a & b).values())
    dice = 2 * inter / (sum(a.values()) + sum(b.values()))
    return float(max(overlap, dice))


async def crop_similarities(
    backend: EmbeddingBackend,
    image: Image.Image,
    query: EmbedItem,
    boxes: Sequence[Sequence[float]],
    progress: ProgressCallback | None = None,
) -> tuple[np.ndarray, Embedding, list[dict[str, Any]]]:
    """Cosine of each padded crop with the query; two batched calls (the protocol takes one role per call).

    Returns the cosines, the query embedding (its extras hold a transcript for spoken
    instructions; its vector searches the action history) and each crop's extras (OCR the
    backend did on the crop, used as a label fallback).
    """
    [q] = await backend.embed([query], "query")
    docs = [EmbedItem.of(crop_media(image, b)) for b in boxes]
    embs = await backend.embed(docs, "document", progress=progress)
    if len(embs) != len(docs):
        raise RuntimeError(f"backend returned {len(embs)} vectors for {len(docs)} crops")
    matrix = np.stack([e.vector for e in embs]).astype(np.float32)
    return matrix @ q.vector.astype(np.float32), q, [e.extras for e in embs]


def fuse(cosines: Sequence[float], text_sims: Sequence[float], w_visual: float = W_VISUAL, w_text: float = W_TEXT) -> np.ndarray:
    return w_visual * np.asarray(cosines, dtype=np.float64) + w_text * np.asarray(text_sims, dtype=np.float64)


def same_label(a: str | None, b: str | None) -> bool:
    return bool(a and b and _normalise(a) == _normalise(b))


def history_boost(labels: Sequence[str | None], past: Sequence[tuple[str, float]]) -> np.ndarray:
    """Per candidate, the best cosine of a past action on the same label (0 when none)."""
    out = np.zeros(len(labels), dtype=np.float64)
    for i, lab in enumerate(labels):
        for past_label, sim in past:
            if same_label(lab, past_label):
                out[i] = max(out[i], float(sim))
    return out

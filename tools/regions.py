"""Rectangles of a screenshot to embed: one box type, one crop rule, one generic crop embedder.

Ranking asks a backend for one document vector per element of a screenshot. A backend that
sees pixels natively (Gemini) is best served a crop of each element with a little context;
the local backend reads the whole screen once and embeds each element's words instead (see
`EmbeddingBackend.embed_regions`). Both use the boxes and the crop rule defined here, so the
eval, the tool and the bench crop exactly alike.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
from pydantic import BaseModel, ConfigDict

from .media import Media

if TYPE_CHECKING:
    from PIL import Image

    from .backends.base import Embedding, EmbeddingBackend, ProgressCallback

Box = tuple[int, int, int, int]
"""x1, y1, x2, y2 in image pixels; x2/y2 exclusive."""

PAD_PX = 4
PAD_FRAC = 0.10
"""Context around a crop, per axis: 10 % of the box side plus 4 px. Enough to keep a border or an
icon's surroundings, too little to pull in the next row of a menu (sidebar entries are ~40 px tall
and ~3 px apart). Chosen between two rules on the ui_grounding DEV set: image-only hit@1 0.753
with this one, 0.717 with max(12 px, 15 %)."""


class RegionItem(BaseModel):
    """One element of a screenshot to embed as a document: where it is, and the words known to be in it."""

    model_config = ConfigDict(frozen=True)

    box: Box
    text: str | None = None
    """Its label or the OCR words inside it, when known; None or "" for a textless element (an icon)."""


def padded_box(box: Sequence[float], size: tuple[int, int], pad_px: int = PAD_PX, pad_frac: float = PAD_FRAC) -> Box:
    w, h = size
    x1, y1, x2, y2 = box
    px = pad_px + pad_frac * (x2 - x1)
    py = pad_px + pad_frac * (y2 - y1)
    return (max(0, int(x1 - px)), max(0, int(y1 - py)), min(w, int(np.ceil(x2 + px))), min(h, int(np.ceil(y2 + py))))


def crop(image: Image.Image, box: Sequence[float]) -> Image.Image:
    """The element with its context padding (the crop every backend and the eval see)."""
    return image.crop(padded_box(box, image.size))


ICON_PAD_PX = 2
"""Margin of the crop the icon reader sees: the element's own box plus 2 px, not the context padding
of `crop`. The reader trims a crop to its ink, so a neighbour's edge or text inside the context
padding becomes part of "the icon" (a toolbar's next button, a link's first letters). 2 px keep a
border for the background estimate when a box hugs its glyph. Chosen on held-out generated screens
(bench/heldout_grounding.py), not on dev data."""


def icon_crop(image: Image.Image, box: Sequence[float]) -> Image.Image:
    """The element as the icon reader should see it: its box plus ICON_PAD_PX (see above)."""
    return image.crop(padded_box(box, image.size, pad_px=ICON_PAD_PX, pad_frac=0.0))


def crop_media(image: Image.Image, box: Sequence[float]) -> Media:
    return Media.from_image(crop(image, box), source={"kind": "crop", "box": [int(v) for v in box]})


async def embed_crops(
    backend: EmbeddingBackend,
    image: Image.Image,
    regions: Sequence[RegionItem],
    progress: ProgressCallback | None = None,
) -> list[Embedding]:
    """Each region's padded crop embedded as an image document, in one batched call.

    For backends that see pixels (Gemini); the call goes through `backend.embed`, so a cache
    wrapper in front of it serves repeated crops.
    """
    import anyio

    from .backends.base import EmbedItem

    media = await anyio.to_thread.run_sync(lambda: [crop_media(image, r.box) for r in regions])
    embs = await backend.embed([EmbedItem.of(m) for m in media], "document", progress=progress)
    if len(embs) != len(regions):
        raise RuntimeError(f"backend returned {len(embs)} vectors for {len(regions)} crops")
    return embs

"""One call to Google's real Gemini API, only when GEMINI_API_KEY is set (pytest -m live).

It checks what the fake cannot: that the real service accepts the requests this backend
builds (prompts, inline PNG, outputDimensionality) and that the answers come back as one
unit-length vector of the asked dimension per item.
"""

from __future__ import annotations

import io
import os

import numpy as np
import pytest
from PIL import Image, ImageDraw
from sensorium.tools.backends.base import EmbedItem
from sensorium.tools.backends.gemini import GeminiBackend
from sensorium.tools.config import GeminiSettings
from sensorium.tools.media import Media

KEY = os.environ.get("GEMINI_API_KEY") or os.environ.get("GOOGLE_API_KEY")

pytestmark = [
    pytest.mark.live,
    pytest.mark.skipif(not KEY, reason="set GEMINI_API_KEY to run the live Gemini test"),
]


def tiny_png() -> Media:
    img = Image.new("RGB", (64, 64), "white")
    ImageDraw.Draw(img).rectangle((16, 16, 48, 48), fill=(220, 20, 20))
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return Media.from_bytes(buf.getvalue())


async def test_live_text_and_png() -> None:
    backend = GeminiBackend(KEY, 768, GeminiSettings(retry_attempts=3, retry_initial_delay=2.0))
    try:
        probe = await backend.probe()
        assert probe.ready, probe.detail
        text, image, other = await backend.embed(
            [
                EmbedItem.of("a red square on a white background"),
                EmbedItem.of(tiny_png()),
                EmbedItem.of("quarterly tax report for the fiscal year"),
            ],
            "document",
        )
        [query] = await backend.embed([EmbedItem.of("red square")], "query")
    finally:
        await backend.aclose()
    for emb in (text, image, other, query):
        assert emb.space == "gemini/gemini-embedding-2@768"
        assert emb.vector.shape == (768,) and emb.vector.dtype == np.float32
        assert abs(float(np.linalg.norm(emb.vector)) - 1.0) < 1e-4
    assert not np.allclose(text.vector, image.vector)
    assert float(query.vector @ text.vector) > float(query.vector @ other.vector)

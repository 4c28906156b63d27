"""Images that fit what an MCP client accepts, counted the way they are sent.

Clients such as Claude Desktop reject a tool result over 1 MB, and an ImageContent carries
base64 text, 4/3 of the bytes. Every image the server attaches (capture previews, Set-of-Mark
images, thumbnails) is sized here against its base64 length, so no path counts differently.
"""

from __future__ import annotations

import io

from PIL import Image

QUALITIES = (85, 70, 55, 40)
SHRINK = 0.75


def base64_size(n_bytes: int) -> int:
    """Length of the base64 text for n bytes (with padding)."""
    return 4 * ((n_bytes + 2) // 3)


def encode_jpeg(image: Image.Image, quality: int) -> bytes:
    buf = io.BytesIO()
    image.convert("RGB").save(buf, format="JPEG", quality=quality)
    return buf.getvalue()


def fit_jpeg(image: Image.Image, max_base64: int, *, qualities: tuple[int, ...] = QUALITIES, min_side: int = 32) -> bytes:
    """A JPEG whose base64 text is at most `max_base64` characters: lower quality first, then smaller sizes.

    Legibility degrades step by step instead of the result failing. Raises ValueError when even
    a `min_side` image does not fit (a budget of a few hundred bytes).
    """
    img = image.convert("RGB")
    while True:
        for quality in qualities:
            data = encode_jpeg(img, quality)
            if base64_size(len(data)) <= max_base64:
                return data
        if max(img.size) <= min_side:
            raise ValueError(f"an image cannot fit into {max_base64} base64 characters")
        img = img.resize((max(1, int(img.width * SHRINK)), max(1, int(img.height * SHRINK))), Image.Resampling.BILINEAR)

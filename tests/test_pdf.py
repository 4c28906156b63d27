"""tools/pdf.py against PDFs generated at test time: a real text layer, scanned pages, broken and encrypted files."""

from __future__ import annotations

import numpy as np
import pytest
from concurrency_support import run_in_threads
from media_support import pdf_encrypted, pdf_image_only, pdf_with_text
from sensorium.tools.errors import InvalidInput, UnsupportedMedia
from sensorium.tools.pdf import pdf_page_count, pdf_page_texts, render_pdf_page

PAGES = ["Quarterly report\nRevenue grew", "Second page (draft)", "Third page: totals"]


@pytest.fixture(scope="module")
def text_pdf() -> bytes:
    return pdf_with_text(PAGES)


def test_page_count(text_pdf: bytes) -> None:
    assert pdf_page_count(text_pdf) == 3
    assert pdf_page_count(pdf_image_only(["a", "b"])) == 2


def test_page_texts_reads_text_layer_per_page(text_pdf: bytes) -> None:
    texts = pdf_page_texts(text_pdf)
    assert texts == ["Quarterly report\nRevenue grew", "Second page (draft)", "Third page: totals"]
    assert pdf_page_texts(text_pdf, max_pages=2) == texts[:2]
    assert pdf_page_texts(text_pdf, max_pages=0) == []


def test_scanned_pdf_has_no_text_layer() -> None:
    assert pdf_page_texts(pdf_image_only(["Scanned page one", "two"])) == ["", ""]


def test_render_page_at_dpi(text_pdf: bytes) -> None:
    img = render_pdf_page(text_pdf, 0, dpi=72)
    assert img.mode == "RGB"
    assert img.size == (612, 792)  # Letter at 72 dpi
    big = render_pdf_page(text_pdf, 0, dpi=144)
    assert big.size == (1224, 1584)
    arr = np.asarray(img.convert("L"))
    # mostly white paper with some dark glyphs near the top-left where the text was drawn (y=700pt -> ~92 px)
    assert arr.mean() > 240
    assert arr[60:110, 60:400].min() < 80
    assert arr[400:, :].min() > 200  # nothing drawn in the lower half


def test_render_scanned_page_shows_the_picture() -> None:
    data = pdf_image_only(["BIG TEXT"])
    img = render_pdf_page(data, 0, dpi=100)
    arr = np.asarray(img.convert("L"))
    assert arr.min() < 60 and arr.mean() > 200


def test_render_caps_pixels(text_pdf: bytes) -> None:
    img = render_pdf_page(text_pdf, 0, dpi=600, max_pixels=1_000_000)
    w, h = img.size
    assert w * h <= 1_000_000 * 1.01
    assert abs(w / h - 612 / 792) < 0.01


def test_render_index_out_of_range(text_pdf: bytes) -> None:
    with pytest.raises(InvalidInput, match="3 page"):
        render_pdf_page(text_pdf, 3)
    with pytest.raises(InvalidInput):
        render_pdf_page(text_pdf, -1)


@pytest.mark.parametrize(
    "data, match",
    [
        (b"", "empty"),
        (b"hello, not a pdf", "not a PDF"),
        (b"%PDF-1.4\n garbage garbage", "broken"),
        (pdf_with_text(["x"])[:150], "broken"),
    ],
)
def test_broken_pdf_is_unsupported(data: bytes, match: str) -> None:
    for fn in (pdf_page_count, pdf_page_texts, lambda d: render_pdf_page(d, 0)):
        with pytest.raises(UnsupportedMedia, match=match):
            fn(data)


def test_encrypted_pdf_says_password() -> None:
    with pytest.raises(UnsupportedMedia, match="password"):
        pdf_page_count(pdf_encrypted())


def test_concurrent_use_is_safe(text_pdf: bytes) -> None:
    """PDFium is not thread-safe; the module lock must make parallel callers correct."""
    def work() -> list[list[str]]:
        texts = []
        for _ in range(10):
            texts.append(pdf_page_texts(text_pdf))
            render_pdf_page(text_pdf, 1, dpi=36)
        return texts

    batches, errors = run_in_threads(work, 4)
    results = [texts for batch in batches for texts in batch]
    assert not errors
    assert len(results) == 40 and all(r == results[0] for r in results)

"""PDF pages: count, text layer, rendering, with pypdfium2.

PDFium is not thread-safe, not even across different documents: the library keeps global
state. Every call here therefore holds one process-wide lock for as long as PDFium runs. It
is the only module-level state in the perception layer and exists because the library's own
state is process-wide, not because of configuration. Functions are blocking; async callers
use `anyio.to_thread.run_sync`.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import pypdfium2 as pdfium
from PIL import Image

from .errors import InvalidInput, LimitExceeded, UnsupportedMedia

log = logging.getLogger(__name__)

_PDFIUM_LOCK = threading.RLock()

#: PDFium's load error codes (fpdfview.h) that mean "protected", as opposed to "broken".
_ERR_PASSWORD = 4
_ERR_SECURITY = 6


@contextmanager
def _document(data: bytes) -> Iterator[pdfium.PdfDocument]:
    """Open PDF bytes under the PDFium lock, mapping load failures to an actionable error."""
    if not data:
        raise UnsupportedMedia("the PDF is empty (0 bytes)")
    if not data.lstrip()[:5] == b"%PDF-":
        raise UnsupportedMedia("the data is not a PDF (no '%PDF-' header); send a PDF document")
    with _PDFIUM_LOCK:
        try:
            doc = pdfium.PdfDocument(data)
        except pdfium.PdfiumError as exc:
            code = getattr(exc, "err_code", None)
            if code in (_ERR_PASSWORD, _ERR_SECURITY):
                raise UnsupportedMedia(
                    "the PDF is password-protected (encrypted); remove the password "
                    "(e.g. print or export it to an unprotected PDF) and send it again"
                ) from exc
            raise UnsupportedMedia(
                f"the PDF is broken and cannot be opened ({exc}); the file may be truncated or corrupt"
            ) from exc
        try:
            yield doc
        except pdfium.PdfiumError as exc:
            # a page that will not load (a bit-flipped object, a page tree that loops back on itself)
            raise UnsupportedMedia(
                f"the PDF is broken ({exc}): a page cannot be loaded; the file may be truncated or corrupt, "
                "re-save or print it to a new PDF"
            ) from exc
        finally:
            doc.close()


def pdf_page_count(data: bytes) -> int:
    """Number of pages, the figure that page limits (e.g. Gemini's 6 pages) are checked against."""
    with _document(data) as doc:
        return len(doc)


def check_pdf_pages(data: bytes, max_pages: int) -> int:
    """The page count, after loading each page (up to `max_pages + 1`): a PDF whose page tree is
    broken or loops is refused at intake with UnsupportedMedia, not deep inside a backend."""
    with _document(data) as doc:
        n = len(doc)
        for i in range(min(n, max_pages + 1)):
            doc[i].close()
        return n


def _page_text(doc: pdfium.PdfDocument, index: int) -> str:
    page = doc[index]
    try:
        textpage = page.get_textpage()
        try:
            text = textpage.get_text_range()
        finally:
            textpage.close()
    finally:
        page.close()
    # PDFium separates lines with CRLF; callers compare and embed text, so normalise it.
    return text.replace("\r\n", "\n").replace("\r", "\n").strip()


def pdf_page_texts(data: bytes, max_pages: int | None = None) -> list[str]:
    """The text layer of each page ('' for a scanned page: those need rendering + OCR)."""
    if max_pages is not None and max_pages < 0:
        raise InvalidInput(f"max_pages must be >= 0, got {max_pages}")
    with _document(data) as doc:
        n = len(doc) if max_pages is None else min(len(doc), max_pages)
        return [_page_text(doc, i) for i in range(n)]


def render_pdf_page(data: bytes, index: int, dpi: int = 150, *, max_pixels: int = 40_000_000) -> Image.Image:
    """One page as an RGB image at `dpi`, for OCR of pages without a text layer or for image backends.

    A PDF page can declare an enormous size; `max_pixels` lowers the scale rather than let one
    page allocate gigabytes.
    """
    if dpi <= 0 or dpi > 1200:
        raise InvalidInput(f"dpi must be in 1..1200, got {dpi}")
    with _document(data) as doc:
        n = len(doc)
        if not 0 <= index < n:
            raise InvalidInput(f"page index {index} is out of range: the PDF has {n} page(s) (0-based indices 0..{n - 1})")
        page = doc[index]
        try:
            width_pt, height_pt = page.get_size()
            scale = dpi / 72.0
            pixels = width_pt * scale * height_pt * scale
            if pixels > max_pixels:
                scale *= (max_pixels / pixels) ** 0.5
                log.info("page %d is %.0fx%.0f pt: rendering at %.0f dpi instead of %d", index, width_pt, height_pt, scale * 72, dpi)
            if width_pt * scale < 1 or height_pt * scale < 1:
                raise LimitExceeded(f"page {index} has no drawable area ({width_pt:.1f}x{height_pt:.1f} pt)")
            bitmap = page.render(scale=scale)
            try:
                return bitmap.to_pil().convert("RGB")
            finally:
                bitmap.close()
        finally:
            page.close()

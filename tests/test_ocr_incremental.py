"""Re-reading a screen after a small change: only regions around the change are re-detected, and
the result is the same as reading the new screen from scratch (RapidOCR, real models)."""

from __future__ import annotations

import pytest
from PIL import Image, ImageDraw
from sensorium.tools.backends.local.ocr import OcrEngine, OcrResult

WORDS = "build passed failed socket window cursor region store index queue capture proposal".split()


def _screen(changed_word: str | None = None) -> Image.Image:
    """A terminal-like 960x544 screen: dense rows of text in two columns (the case where line
    boxes overlap their neighbours), one word replaceable in the middle of the left column."""
    img = Image.new("RGB", (960, 544), (250, 250, 250))
    draw = ImageDraw.Draw(img)
    for row in range(26):
        y = 8 + row * 20
        words = [WORDS[(row * 3 + i) % len(WORDS)] for i in range(4)]
        if row == 13 and changed_word:
            words[1] = changed_word
        draw.text((12, y), f"{row:02d} " + " ".join(words), fill=(20, 20, 20), font_size=15)
        draw.text((500, y + 6), f"[{row * 7 % 100:3d}%] " + " ".join(reversed(words)), fill=(20, 20, 120), font_size=15)
    return img


def _lines(res: OcrResult) -> list[tuple[str, tuple[int, int, int, int]]]:
    return [(ln.text, ln.box) for ln in res.lines]


def _agree(a: OcrResult, b: OcrResult, tol: int = 3) -> int:
    """Lines of `a` with the same text (spaces aside) as a line of `b` whose box is within `tol` px.

    Not exact equality: the detector has global-pooling (squeeze-excite) blocks, so changing one
    word moves boxes by 1-3 px all over the screen even in two full reads, and a box a pixel
    wider can turn "[56%]" into "[ 56%]".
    """
    def same(x: str, y: str) -> bool:
        return x.replace(" ", "") == y.replace(" ", "")

    return sum(
        any(same(x.text, y.text) and all(abs(p - q) <= tol for p, q in zip(x.box, y.box)) for y in b.lines) for x in a.lines
    )


@pytest.fixture(scope="module")
def reads() -> dict[str, object]:
    inc = OcrEngine(max_side=1600, threads=2, cache_size=0)  # no whole-image cache: the band path must do the work
    fresh = OcrEngine(max_side=1600, threads=2, cache_size=0, history=0)  # every read from scratch: the reference
    before, after = _screen(), _screen("zebra42")
    first = inc.read(before)
    full_reads = inc.reads_full
    same = inc.read(before.copy())
    unchanged_reads = inc.reads_unchanged
    recognised = inc.lines_recognised
    changed = inc.read(after)
    return {
        "inc": inc, "first": first, "same": same, "changed": changed, "full_reads": full_reads,
        "unchanged_reads": unchanged_reads, "recognised_for_change": inc.lines_recognised - recognised,
        "reference": fresh.read(after), "reference_before": fresh.read(before),
    }


def test_first_read_sees_the_whole_screen(reads: dict) -> None:
    first: OcrResult = reads["first"]
    assert reads["full_reads"] == 1
    assert len(first.lines) >= 40
    assert any("socket" in ln.text for ln in first.lines if ln.box[1] > 400)  # bottom rows read too
    assert _agree(first, reads["reference_before"], tol=0) == len(first.lines) == len(reads["reference_before"].lines)


def test_unchanged_reread_returns_the_same_lines(reads: dict) -> None:
    assert reads["unchanged_reads"] == 1
    assert _lines(reads["same"]) == _lines(reads["first"])


def test_one_changed_word_rereads_a_band_and_equals_a_full_read(reads: dict) -> None:
    inc: OcrEngine = reads["inc"]
    changed: OcrResult = reads["changed"]
    reference: OcrResult = reads["reference"]
    assert inc.reads_banded == 1 and inc.reads_full == 1
    assert 0 < inc.pixels_redetected <= 960 * 544 // 3  # regions around the change, not the screen
    assert 1 <= reads["recognised_for_change"] <= 8  # the changed line and a few neighbours, not the screen
    assert any("zebra42" in ln.text for ln in changed.lines)
    assert not any("zebra42" in ln.text for ln in reads["first"].lines)
    assert len(changed.lines) == len(reference.lines)
    assert _agree(changed, reference) >= len(reference.lines) - 1, sorted(set(_lines(changed)) ^ set(_lines(reference)))
    rows = [ln.row for ln in changed.lines]
    assert rows == sorted(rows)


def test_a_different_screen_is_read_in_full() -> None:
    inc = OcrEngine(max_side=1600, threads=2, cache_size=0)
    inc.read(_screen())
    other = Image.new("RGB", (960, 544), (30, 30, 30))
    ImageDraw.Draw(other).text((40, 40), "Settings", fill="white", font_size=28)
    res = inc.read(other)
    assert inc.reads_full == 2 and inc.reads_banded == 0
    assert [ln.text for ln in res.lines] == ["Settings"]


def test_bad_settings_are_refused() -> None:
    from sensorium.tools.errors import InvalidInput

    with pytest.raises(InvalidInput, match="rec_batch"):
        OcrEngine(rec_batch=0)
    with pytest.raises(InvalidInput, match="max_changed"):
        OcrEngine(max_changed=1.5)

"""A cold read in rounds (real RapidOCR models): free-standing lines in budget-sized rounds, the
screen ranked after each, running text only when the label-like lines are exhausted.

What is checked: `read_more` reads free-standing lines a first read left and never the running
text, and says when none is left; `read_rounds` (the eval's view) ends with the complete read;
rank_ui_elements answers a literal instruction whose label did not fit the first budget without
reading everything, and still reads everything for a paraphrase.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

import pytest
from mcp import Client
from PIL import Image, ImageDraw
from sensorium.server.app import build_server, build_services
from sensorium.tools.backends.local.ocr import OcrEngine
from sensorium.tools.config import LocalSettings
from sensorium.tools.ranking import screen
from server_support import make_settings

LABELS = ("Save", "Open", "Help", "Print", "Close", "Share", "Rename", "Archive", "Duplicate", "Synchronize")
TARGET = "Synchronize"  # the widest label: the last free-standing line a budgeted read gets to
BUDGET = 700  # about three short labels a round
LOG_WORDS = "build passed failed socket window cursor region store index queue capture proposal".split()


def _screen() -> Image.Image:
    """960x544: two rows of outlined buttons, a terminal-like block of 14 dense lines below."""
    img = Image.new("RGB", (960, 544), (248, 248, 248))
    d = ImageDraw.Draw(img)
    for i, label in enumerate(LABELS):
        x, y = 20 + (i % 5) * 185, 20 + (i // 5) * 70
        d.rounded_rectangle((x, y, x + 165, y + 44), radius=6, outline=(90, 90, 90), width=2, fill=(235, 235, 240))
        d.text((x + 14, y + 11), label, fill=(20, 20, 20), font_size=18)
    d.rectangle((20, 180, 940, 530), fill=(25, 25, 25))
    for row in range(14):
        words = [LOG_WORDS[(row * 5 + k) % len(LOG_WORDS)] for k in range(6)]
        d.text((32, 190 + row * 22), f"$ {row:02d} " + " ".join(words) + f" --step {row * 7}", fill=(220, 220, 220), font_size=16)
    return img


def _read_texts(result) -> str:
    return " ".join(ln.text for ln in result.lines).lower()


@pytest.fixture(scope="module")
def engine() -> OcrEngine:
    return OcrEngine(max_side=1600, threads=2)


def test_read_more_reads_label_like_lines_in_rounds_and_never_the_running_text(engine: OcrEngine) -> None:
    img = _screen()
    engine.clear()
    first = engine.read(img, key="rounds-a", budget=BUDGET)
    assert first.deferred and TARGET.lower() not in _read_texts(first)
    seen = [first]
    while (more := engine.read_more("rounds-a", BUDGET)) is not None:
        assert len(more.lines) > len(seen[-1].lines)  # every round reads something
        assert engine.read(img, key="rounds-a", budget=BUDGET) is more  # published under the key
        seen.append(more)
    assert len(seen) >= 2
    last = _read_texts(seen[-1])
    assert all(label.lower() in last for label in LABELS)
    assert "socket" not in last and "--step" not in last  # the terminal waits for a read in full
    assert seen[-1].deferred  # ... which is still to come
    full = engine.read(img, key="rounds-a")
    assert "socket" in _read_texts(full) and not full.deferred


async def test_read_rounds_end_with_the_complete_read(engine: OcrEngine) -> None:
    engine.clear()
    reads = await screen.read_rounds(engine, _screen(), BUDGET)
    assert len(reads) >= 3  # a first read, at least one more round, the full read
    assert [bool(w.deferred) for w, _ in reads] == [True] * (len(reads) - 1) + [False]
    counts = [w.lines_read for w, _ in reads]
    assert counts == sorted(counts) and counts[0] < counts[-1]
    engine.clear()
    assert len(await screen.read_rounds(engine, _screen(), None)) == 1


@pytest.mark.slow
async def test_rank_answers_a_literal_label_early_and_reads_all_for_a_paraphrase(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, local=LocalSettings(ocr_cold_budget=BUDGET))
    services = build_services(settings)
    async with Client(build_server(settings, services=services)) as client:
        shot = tmp_path / "screen.png"
        _screen().save(shot)
        r = await client.call_tool("rank_ui_elements", {"instruction": f"click '{TARGET}'", "path": str(shot), "k": 3})
        assert not r.is_error, r.content
        res = r.structured_content
        assert TARGET.lower() in (res["candidates"][0]["label"] or "").lower()
        assert res["proposals"]["ocr_unread"] > 0  # the terminal was not read before answering
        assert "read in full" not in r.content[-1].text  # its words spotted, the label was read first
        assert services.ocr.wait_idle(timeout=600)

        shot2 = tmp_path / "screen2.png"
        _screen().resize((1000, 567)).save(shot2)  # another size: read cold, not as a band of the first
        r2 = await client.call_tool("rank_ui_elements", {"instruction": "keep my edits on disk", "path": str(shot2), "k": 3})
        assert not r2.is_error, r2.content
        assert r2.structured_content["proposals"]["ocr_unread"] == 0
        assert "read in full" in r2.content[-1].text


def _listing() -> Image.Image:
    """A terminal listing a directory: columns of short tokens in rows 13 px apart, so an OCR token's
    clickable box shows its neighbours' words (a second reading, `score.shown_readings`)."""
    img = Image.new("RGB", (900, 440), (250, 250, 250))
    d = ImageDraw.Draw(img)
    months, names = ("Sep", "Apr", "Mar", "Jun", "Feb", "May"), ("bash", "bzip2", "cat", "chmod", "cut", "date", "df")
    for row in range(18):  # xterm's columns: wide gaps, so each token is a line of its own for the detector
        cols = ("-rwxr-xr-x", "1", "root", str(48016 + 977 * row), months[row % 6], str(10 + row), str(2018 + row % 6), names[row % 7])
        for k, tok in enumerate(cols):
            d.text((16 + k * 80, 12 + row * 13), tok, fill=(20, 20, 20), font_size=11)
    return img


@pytest.mark.parametrize(
    ("make", "instruction", "compared"),
    [
        (_screen, "store the file", "lexicon:"),  # element texts and their lexicon readings
        # the words shown beside a label: on the xcalc + xterm screen a repeat still encoded 70 such
        # texts ('48016 Sep 43856 Sep'), 0.35-0.45 s instead of 0.07, before screen.warm encoded them
        (_listing, "open the bzip2 entry", "shown:"),
    ],
)
async def test_after_the_background_warm_up_a_repeat_encodes_no_new_text(
    engine: OcrEngine, make: Callable[[], Image.Image], instruction: str, compared: str
) -> None:
    """`screen.warm` embeds every element and each second reading ranking compares, so the agent's next
    call on the same screen (any unquoted instruction) finds all its vectors cached: no encoder call."""
    from sensorium.tools.backends.base import EmbedItem
    from sensorium.tools.backends.local.backend import LocalBackend

    backend = LocalBackend(LocalSettings(threads=2), ocr=engine)
    img, key = make(), f"warm-{make.__name__}"
    engine.clear()
    await screen.warm(backend, engine, img, key)
    [q] = await backend.embed([EmbedItem.of(instruction)], "query")
    calls: list[int] = []
    encode = backend.encoder.encode
    backend.encoder.encode = lambda texts, *a, **k: (calls.append(len(texts)), encode(texts, *a, **k))[1]  # type: ignore[method-assign]
    try:
        scored, found, _, _ = await screen.rank_proposed(backend, engine, img, q, instruction, key=key)
    finally:
        backend.encoder.encode = encode  # type: ignore[method-assign]
    assert scored and found.items
    assert any(compared in (s.words or "") for s in scored)  # the second readings were compared ...
    assert calls == []  # ... and neither they nor the elements were encoded again


async def test_reads_no_candidate_could_answer_are_not_ranked(engine: OcrEngine, monkeypatch: pytest.MonkeyPatch) -> None:
    """A paraphrase's words are on no element of any partial read, so none of those reads is ranked, nor
    are its elements proposed (`words_could_hold`): the complete read is proposed and ranked once (with
    the icons), and that is the answer ranking it directly gives. A literal label is ranked on the first
    read holding it, and answered from it."""
    from sensorium.tools.backends.base import EmbedItem
    from sensorium.tools.backends.local.backend import LocalBackend

    backend = LocalBackend(LocalSettings(threads=2), ocr=engine)
    ranked: list[int] = []
    rank_elements = screen.rank_elements

    async def counted(*a, **k):  # type: ignore[no-untyped-def]
        ranked.append(len(a[4]))
        return await rank_elements(*a, **k)

    monkeypatch.setattr(screen, "rank_elements", counted)
    proposed: list[int] = []
    propose = screen.propose

    def propose_counted(*a, **k):  # type: ignore[no-untyped-def]
        proposed.append(len(a[1]))
        return propose(*a, **k)

    monkeypatch.setattr(screen, "propose", propose_counted)
    img = _screen()
    spotter = screen.LineSpotter
    for instruction, spotting in (("keep my edits on disk", True), (f"click '{TARGET}'", False), (f"click '{TARGET}'", True)):
        # without word spotting the label comes in a later round; with it (its words drawn and matched
        # against the lines' ink: tests/test_spotting.py), in the first
        monkeypatch.setattr(screen, "LineSpotter", spotter if spotting else lambda _i: SimpleNamespace(first=None))
        [q] = await backend.embed([EmbedItem.of(instruction)], "query")
        engine.clear()
        ranked.clear()
        proposed.clear()
        scored, found, words, info = await screen.rank_proposed(backend, engine, img, q, instruction, key="skip-a", budget=BUDGET)
        assert scored and (info.rounds == 1 if instruction.startswith("click") and spotting else info.rounds >= 2), (instruction, spotting, info)
        if instruction.startswith("click"):
            assert not info.full and len(ranked) == 1 and len(proposed) == 1  # the round that read the label answered
            assert TARGET.lower() in (found.items[scored[0].index].text or "").lower()
            continue
        assert info.full and len(ranked) == 1 and len(proposed) == 1  # only the complete read, icons included
        direct, _ = await screen.rank_read(backend, img, q, instruction, words, found, last=True)
        assert [(s.index, round(s.score, 6)) for s in scored] == [(s.index, round(s.score, 6)) for s in direct]


def test_a_partial_read_lacking_an_instruction_word_could_not_hold_it() -> None:
    from sensorium.tools.ranking.proposals import OcrWord, WordList

    words = WordList([OcrWord(text="Save", box=(0, 0, 40, 20)), OcrWord(text="=", box=(50, 0, 60, 20))])
    words.deferred = ((0, 40, 100, 60),)
    assert screen.words_could_hold(words, "click 'Save'") and screen.words_could_hold(words, "press the equals key")
    assert not screen.words_could_hold(words, "keep my edits on disk")
    assert screen.words_could_hold(words, None)
    words.deferred = ()
    assert screen.words_could_hold(words, "keep my edits on disk")  # nothing left to read: propose it all

"""`sensorium memory report OUT.html`: the page of a store, checked in a real headless Chromium.

A store with several episodes, real screen-like thumbnails and hostile text (window titles, text,
tags, metadata and an episode id holding `<script>` and `onerror=`) is written to a report and
opened in Debian's Chromium over the DevTools protocol (tests/browser_support.py). The page must
load with no console error, warning or exception, make no request but its own file and its data:
images, show every episode and every memory's text in the DOM after its script ran, never run the
injected script, and filter client-side.

Chromium is required like Xvfb is (tests/conftest.py): without a `chromium` binary these tests skip,
unless CI is set, where they fail (`.ci/run` installs Debian's `chromium`).

`SENSORIUM_UPDATE_SCREENSHOT=1` rewrites docs/images/memory-report.png (referenced from docs/MEMORY.md).
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from browser_support import Chromium, Page, find_chromium
from PIL import Image, ImageDraw, ImageFont
from sensorium.memory.config import MemorySettings
from sensorium.memory.report import PER_MEMORY_MAX_BYTES, ReportOptions, _thumbnail_uri, render, write_report
from sensorium.memory.store import MemoryStore, NewMemory, Source, open_store

REPO = Path(__file__).resolve().parents[1]
SCREENSHOT = REPO / "docs" / "images" / "memory-report.png"
SPACE = "test/report@32"
DIM = 32
T0 = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)

EVIL_EPISODE = "\"><svg onload=\"window.__pwned='episode'\">"
EVIL_APP = "Evil</title><script>window.__pwned='app'</script>"
EVIL_TITLE = "<script>window.__pwned='title'</script> & <b>bold</b>"
EVIL_TEXT = "</p><img src=x onerror=\"window.__pwned='text'\"> & &amp; \"quotes\" 'single' naïve 日本語 🙂\nsecond line"
EVIL_TAGS = ["<i>tag</i>", "a&b"]
EVIL_META = {"note": "</script><script>window.__pwned='meta'</script>"}


# ---- a store that looks like real use ---------------------------------------------------------


def _screen(title: str, lines: list[str], accent: tuple[int, int, int], size: tuple[int, int] = (1280, 800)) -> bytes:
    """A screen-like picture (title bar, text lines), as a PNG file and then stored as the JPEG
    thumbnail `remember` would keep (the store keeps JPEG only)."""
    img = Image.new("RGB", size, (246, 247, 249))
    d = ImageDraw.Draw(img)
    d.rectangle([0, 0, size[0], 56], fill=accent)
    big, small = ImageFont.load_default(size=30), ImageFont.load_default(size=24)
    d.text((24, 12), title, fill=(255, 255, 255), font=big)
    for i, line in enumerate(lines):
        d.text((48, 100 + i * 48), line, fill=(30, 34, 40), font=small)
    d.rectangle([48, size[1] - 130, 300, size[1] - 70], fill=accent)
    png = io.BytesIO()
    img.save(png, "PNG")
    with Image.open(io.BytesIO(png.getvalue())) as decoded:
        jpeg = io.BytesIO()
        decoded.convert("RGB").save(jpeg, "JPEG", quality=85)
    return jpeg.getvalue()


def _memories(*, tricky: bool) -> list[NewMemory]:
    rng = np.random.default_rng(0)
    blue, green, grey = (39, 100, 197), (47, 158, 107), (70, 76, 84)
    items: list[dict] = [
        dict(minutes=0, episode="invoice-review", modality="image", app="Firefox",
             title="Invoice #4471 - Acme Corp - Mozilla Firefox", tags=["billing"],
             text="Invoice #4471\nAcme Corp\nTotal due: $1,280.00\nDue date: 2026-12-15",
             thumb=_screen("Invoice #4471 - Acme Corp", ["Acme Corp", "Total due: $1,280.00", "Due date: 2026-12-15"], blue)),
        dict(minutes=4, episode="invoice-review", modality="image", app="Firefox",
             title="Pay invoice #4471 - Mozilla Firefox", tags=["billing", "payment"],
             text="Pay invoice #4471\nCard ending 4242\nPay now",
             thumb=_screen("Pay invoice #4471", ["Card ending 4242", "Amount: $1,280.00", "[ Pay now ]"], blue)),
        dict(minutes=9, episode="invoice-review", modality="text", app="Firefox", title=None, tags=["billing"],
             text="remembered: invoice #4471 was paid on 2026-11-30", thumb=None),
        dict(minutes=21, episode="fix-flaky-test", modality="image", app="Code",
             title="test_watch.py - sensorium - Visual Studio Code", tags=["tests"],
             text="def test_watch_keeps_running():\n    assert watcher.frames > 3",
             thumb=_screen("test_watch.py - Visual Studio Code", ["def test_watch_keeps_running():", "    assert watcher.frames > 3"], grey)),
        dict(minutes=27, episode="fix-flaky-test", modality="image", app="Terminal", title="pytest -q tests/test_watch.py",
             tags=["tests", "green"], text="12 passed in 4.31s",
             thumb=_screen("Terminal - pytest", ["$ pytest -q tests/test_watch.py", "............", "12 passed in 4.31s"], green)),
        dict(minutes=38, episode="standup-call", modality="audio", app=None, title=None, tags=["meeting"],
             text="the release moves to Thursday; Dana reviews the memory report", thumb=None),
        dict(minutes=52, episode=None, modality="text", app=None, title=None, tags=[],
             text="the VPN settings are under Network > Advanced", thumb=None),
    ]
    if tricky:
        items.append(dict(minutes=60, episode=EVIL_EPISODE, modality="image", app=EVIL_APP, title=EVIL_TITLE,
                          tags=EVIL_TAGS, text=EVIL_TEXT, meta=EVIL_META,
                          thumb=b"\xff\xd8\xff\xe0" + b"not really a jpeg" * 10))
    out = []
    for item in items:
        created = T0 + timedelta(minutes=item["minutes"])
        out.append(NewMemory(
            vector=rng.standard_normal(DIM), space=SPACE, modality=item["modality"], episode_id=item["episode"],
            source=Source(app=item["app"], window_title=item["title"]), text=item["text"], tags=item["tags"],
            metadata=item.get("meta", {}), thumbnail=item["thumb"], created_at=created,
            last_seen=created + timedelta(minutes=2) if item["modality"] == "image" else None,
            seen_count=3 if item["modality"] == "image" else 1,
        ))
    return out


async def _seed(settings: MemorySettings, data_dir: Path, records: list[NewMemory]) -> MemoryStore:
    store = await open_store(settings, data_dir, SPACE, DIM)
    results = await store.add(records, merge_duplicates=False)
    assert all(r.status == "stored" for r in results)
    return store


def _write(data_dir: Path, out: Path, *, tricky: bool = True, options: ReportOptions | None = None):
    async def go():
        store = await _seed(MemorySettings(), data_dir, _memories(tricky=tricky))
        try:
            return await write_report(store, out, options, now=datetime(2026, 12, 1, 3, 0, tzinfo=UTC))
        finally:
            await store.close()

    return asyncio.run(go())


# ---- the browser ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def chromium(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Chromium]:
    """One headless Chromium for the module; skip without it, fail in CI (like Xvfb in conftest.py)."""
    binary = find_chromium()
    if binary is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed but CI is set: install the Debian package `chromium`")
        pytest.skip("chromium is not installed (apt-get install chromium); the report's browser tests need it")
    browser = Chromium(binary, tmp_path_factory.mktemp("chromium"))
    try:
        yield browser
    finally:
        browser.close()


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[NewMemory]]:
    folder = tmp_path_factory.mktemp("report")
    out = folder / "memory report.html"  # a space in the name: the file URL must be quoted
    _write(folder / "data", out)
    return out, _memories(tricky=True)


@pytest.fixture(scope="module")
def page(chromium: Chromium, report: tuple[Path, list[NewMemory]]) -> Page:
    return chromium.open(report[0].as_uri())


def _cards(page: Page) -> list[dict]:
    return page.eval(
        "[...document.querySelectorAll('li.card')].map(c => ({id: c.id, text: c.textContent, hidden: c.hidden,"
        " img: c.querySelector('img') && {alt: c.querySelector('img').alt, w: c.querySelector('img').naturalWidth,"
        " done: c.querySelector('img').complete}}))"
    )


def test_the_page_loads_with_no_console_error_and_no_request(page: Page) -> None:
    assert page.eval("document.documentElement.dataset.ready") == "1", "the page's script did not run"
    assert page.console_problems() == []
    requests = page.requests()
    assert requests and requests[0].startswith("file://")  # the monitor saw the document itself
    assert all(url.startswith(("file://", "data:")) for url in requests), requests
    assert page.eval("performance.getEntriesByType('resource').filter(e => !e.name.startsWith('data:')).length") == 0


def test_every_episode_and_every_text_is_in_the_rendered_page(page: Page, report) -> None:
    _, memories = report
    headings = page.eval("[...document.querySelectorAll('section.episode h2')].map(h => h.textContent)")
    assert headings == [
        "Episode invoice-review", "Episode fix-flaky-test", "Episode standup-call", "Episode (no episode)",
        f"Episode {EVIL_EPISODE}",
    ]
    lanes = page.eval("[...document.querySelectorAll('li.lane a.name')].map(a => a.textContent)")
    assert lanes == ["invoice-review", "fix-flaky-test", "standup-call", "(no episode)", EVIL_EPISODE]
    assert page.eval("document.querySelectorAll('a.mark').length") == len(memories)
    cards = _cards(page)
    assert len(cards) == len(memories)
    for card, memory in zip(cards, memories, strict=True):  # oldest first, like the timeline
        assert memory.text in card["text"]
        for value in (memory.source.app, memory.source.window_title, *memory.tags):
            if value:
                assert value in card["text"]
    assert "Showing all 8 memories." == page.eval("document.getElementById('count').textContent")


def test_hostile_text_is_shown_and_never_runs(page: Page) -> None:
    assert page.eval("typeof window.__pwned") == "undefined"
    assert page.eval("document.scripts.length") == 1  # the page's own
    handlers = page.eval(
        "[...document.querySelectorAll('*')].flatMap(e => [...e.attributes].map(a => a.name)"
        ".filter(n => n.startsWith('on')))"
    )
    assert handlers == []
    assert page.eval("document.querySelectorAll('svg, b, i, img[src=x]').length") == 0
    evil = _cards(page)[-1]
    for value in (EVIL_APP, EVIL_TITLE, EVIL_TEXT, *EVIL_TAGS):
        assert value in evil["text"]
    assert "the stored thumbnail could not be decoded" in evil["text"] and evil["img"] is None
    assert page.eval("document.title") == f"Sensorium memory — {SPACE}"


def test_thumbnails_load_and_have_alt_text(page: Page) -> None:
    imgs = [c["img"] for c in _cards(page) if c["img"]]
    assert len(imgs) == 4
    for img in imgs:
        assert img["done"] and img["w"] > 0
        assert img["alt"].startswith("Thumbnail of memory ")
    assert "Invoice #4471 - Acme Corp - Mozilla Firefox" in imgs[0]["alt"]
    assert page.eval("document.querySelectorAll('h1').length") == 1
    assert page.eval("document.documentElement.lang") == "en"
    assert page.eval("document.querySelector('label[for=q]').textContent") == "Filter memories"


def test_the_filter_box_filters_cards_episodes_and_marks(page: Page, report) -> None:
    def type_(query: str) -> dict:
        return page.eval(
            "(() => { const q = document.getElementById('q'); q.value = " + json.dumps(query) + ";"
            " q.dispatchEvent(new Event('input'));"
            " return {cards: [...document.querySelectorAll('li.card:not([hidden])')].map(c => c.id),"
            " sections: [...document.querySelectorAll('section.episode:not([hidden]) h2')].map(h => h.textContent),"
            " dim: document.querySelectorAll('a.mark.dim').length,"
            " count: document.getElementById('count').textContent}; })()"
        )

    assert page.eval("document.getElementById('filter').hidden") is False
    got = type_("4471")
    assert got["cards"] == ["m-1", "m-2", "m-3"] and got["sections"] == ["Episode invoice-review"]
    assert got["dim"] == 5 and got["count"] == "Showing 3 of 8 memories matching “4471”."
    assert type_("PAY 4471")["cards"] == ["m-2"] and type_("Paid #4471")["cards"] == ["m-3"]  # every word, any case
    assert type_("tests")["cards"] == ["m-4", "m-5"]  # tags are searched
    assert type_("pytest -q")["cards"] == ["m-5"]  # window titles too
    assert type_("<script>")["cards"] == ["m-8"]  # the hostile text is text
    assert type_("nothing like this")["cards"] == [] and type_("")["count"] == "Showing all 8 memories."
    assert page.console_problems() == []


def test_the_browser_checks_catch_errors_requests_and_scripts(chromium: Chromium, tmp_path: Path) -> None:
    """The checks above would see a broken page: a console error, an exception, a fetch, a script that ran."""
    bad = tmp_path / "bad.html"
    bad.write_text(
        "<html><body><script>console.error('boom'); window.__pwned = 1; throw new Error('thrown')</script>"
        "<img src='http://127.0.0.1:9/x.png'></body></html>"
    )
    page = chromium.open(bad.as_uri())
    problems = page.console_problems()
    assert any("boom" in p for p in problems) and any("thrown" in p for p in problems)
    assert "http://127.0.0.1:9/x.png" in page.requests()
    assert page.eval("window.__pwned") == 1


def test_an_empty_store_is_a_valid_page_that_says_so(chromium: Chromium, tmp_path: Path) -> None:
    async def go() -> None:
        store = await open_store(MemorySettings(), tmp_path / "data", SPACE, DIM)
        try:
            summary = await write_report(store, tmp_path / "empty.html")
        finally:
            await store.close()
        assert summary.shown == 0 and summary.memories_in_store == 0
        await write_report(None, tmp_path / "none.html", empty_reason="There is no memory store in /x yet.")

    asyncio.run(go())
    for name, says in (("empty.html", "This store holds no memories yet."), ("none.html", "There is no memory store in /x yet.")):
        page = chromium.open((tmp_path / name).as_uri())
        assert page.console_problems() == []
        assert page.eval("document.getElementById('empty').textContent") == says
        assert page.eval("document.documentElement.dataset.ready") == "1"


def test_screenshot_for_the_docs(chromium: Chromium, tmp_path: Path) -> None:
    """A screenshot of a report of a plain store; SENSORIUM_UPDATE_SCREENSHOT=1 keeps it in docs/images/."""
    out = tmp_path / "report.html"
    _write(tmp_path / "data", out, tricky=False)
    page = chromium.open(out.as_uri(), width=1200, height=900)
    assert page.console_problems() == []
    shot = tmp_path / "shot.png"
    page.screenshot(shot)
    with Image.open(shot) as img:
        assert img.size == (1200, 900)
        assert len(img.convert("L").getcolors(1 << 16) or []) > 20  # not a blank page
        if os.environ.get("SENSORIUM_UPDATE_SCREENSHOT") == "1":
            SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
            img.convert("RGB").quantize(colors=128, method=Image.Quantize.MEDIANCUT).save(SCREENSHOT, optimize=True)
    assert SCREENSHOT.is_file(), "run with SENSORIUM_UPDATE_SCREENSHOT=1 once to keep the docs screenshot"
    assert "images/memory-report.png" in (REPO / "docs" / "MEMORY.md").read_text(encoding="utf-8")


# ---- without a browser --------------------------------------------------------------------------


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.handlers: list[str] = []
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.handlers += [k for k, _ in attrs if k.startswith("on")]
        self.urls += [v or "" for k, v in attrs if k in ("src", "href")]


def test_the_page_is_self_contained_and_escaped(report) -> None:
    text = report[0].read_text(encoding="utf-8")
    parsed = _Tags()
    parsed.feed(text)
    assert parsed.tags.count("script") == 1 and parsed.handlers == []
    assert "svg" not in parsed.tags and "b" not in parsed.tags
    assert all(u.startswith(("data:", "#")) for u in parsed.urls), [u for u in parsed.urls if not u.startswith(("data:", "#"))]
    csp = re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', text)
    assert csp and "default-src 'none'" in csp.group(1) and "'sha256-" in csp.group(1)
    assert "http://" not in text and "https://" not in text


def test_size_is_bounded_whatever_the_store_holds(tmp_path: Path) -> None:
    """Noisy full-size thumbnails (hard to compress), long texts, many tags, every character one that escapes
    longest (`"` -> `&quot;`): the page stays within PER_MEMORY_MAX_BYTES a memory."""
    rng = np.random.default_rng(1)
    noise = Image.fromarray(rng.integers(0, 256, (800, 1280, 3), dtype=np.uint8))
    buf = io.BytesIO()
    noise.save(buf, "JPEG", quality=85)
    thumb = buf.getvalue()
    assert len(thumb) > 500_000
    records = [
        NewMemory(vector=rng.standard_normal(DIM), space=SPACE, modality="image", episode_id=f'"{i % 4}' * 60,
                  source=Source(app='"' * 1000, window_title='"' * 2000), text='"' * 30_000,
                  tags=[f'{k}{"&" * 98}' for k in range(10, 74)], metadata={"k": '"' * 5000},
                  thumbnail=thumb, created_at=T0 + timedelta(seconds=i))
        for i in range(40)
    ]

    async def go():
        store = await _seed(MemorySettings(), tmp_path / "data", records)
        try:
            return await write_report(store, tmp_path / "big.html", ReportOptions(limit=30))
        finally:
            await store.close()

    summary = asyncio.run(go())
    assert summary.shown == 30 and summary.matching == 40 and summary.thumbnails == 30
    assert summary.bytes <= 30 * PER_MEMORY_MAX_BYTES + 30_000  # the page's own CSS/JS
    page = (tmp_path / "big.html").read_text(encoding="utf-8")
    for uri in re.findall(r'src="data:image/jpeg;base64,([^"]+)"', page):
        assert len(uri) * 3 // 4 <= ReportOptions().thumb_max_bytes
    assert "28,000 more characters not shown" in page
    assert "the newest 30 of 40" in page and 'id="m-10"' not in page and 'id="m-11"' in page


def test_thumbnails_of_any_image_format_are_reencoded_small() -> None:
    img = Image.new("RGB", (2000, 1000), (200, 30, 30))
    buf = io.BytesIO()
    img.save(buf, "PNG")
    made = _thumbnail_uri(buf.getvalue(), 240, 12_000)
    assert made is not None and made[1] == (240, 120) and made[0].startswith("data:image/jpeg;base64,")
    assert _thumbnail_uri(b"\xff\xd8\xff garbage", 240, 12_000) is None


def test_render_of_nothing_is_a_valid_page() -> None:
    from sensorium.memory.report import ReportData

    text = render(ReportData(generated_at=T0, empty_reason="<b>nothing</b>"))
    assert "&lt;b&gt;nothing&lt;/b&gt;" in text and text.startswith("<!DOCTYPE html>")


# ---- the command line --------------------------------------------------------------------------


def test_cli_writes_the_report_with_episode_and_limit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    from sensorium.server.cli import main

    async def seed() -> None:
        await (await _seed(MemorySettings(), tmp_path / "data", _memories(tricky=False))).close()

    asyncio.run(seed())
    monkeypatch.setenv("SENSORIUM_DATA_DIR", str(tmp_path / "data"))
    out = tmp_path / "r.html"
    assert main(["memory", "report", str(out), "--episode", "invoice-review", "--episode", "standup-call",
                 "--limit", "3", "--no-progress"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["space"] == SPACE and summary["matching"] == 4 and summary["shown"] == 3
    text = out.read_text(encoding="utf-8")
    assert "the newest 3 of 4" in text and "Episode standup-call" in text and "Episode fix-flaky-test" not in text
    assert "invoice-review, standup-call" in text

    assert main(["memory", "report", str(tmp_path / "no" / "such" / "r.html")]) == 2
    assert "the folder" in capsys.readouterr().err
    assert main(["memory", "report", str(tmp_path)]) == 2
    assert "is a directory" in capsys.readouterr().err
    assert main(["memory", "report", str(out), "--space", "other@3"]) == 2
    assert "no memory store of space 'other@3'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["memory", "report", str(out), "--limit", "0"])
    assert "give 1 to 100000" in capsys.readouterr().err


def test_cli_with_no_store_writes_a_page_that_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    from sensorium.server.cli import main

    monkeypatch.setenv("SENSORIUM_DATA_DIR", str(tmp_path / "empty"))
    out = tmp_path / "r.html"
    assert main(["memory", "report", str(out)]) == 0
    assert json.loads(capsys.readouterr().out)["shown"] == 0
    assert "There is no memory store in" in out.read_text(encoding="utf-8")


def test_cli_asks_which_store_when_there_are_several(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    from sensorium.server.cli import main

    async def seed() -> None:
        for space, dim in ((SPACE, DIM), ("other/space@8", 8)):
            await (await open_store(MemorySettings(), tmp_path / "data", space, dim)).close()

    asyncio.run(seed())
    monkeypatch.setenv("SENSORIUM_DATA_DIR", str(tmp_path / "data"))
    assert main(["memory", "report", str(tmp_path / "r.html")]) == 2
    err = capsys.readouterr().err
    assert "choose one with --space" in err and SPACE in err and "other/space@8" in err
    assert main(["memory", "report", str(tmp_path / "r.html"), "--space", "other/space@8", "--no-progress"]) == 0


def test_cli_takes_the_configured_backends_store_among_several(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    """The rule `memory export` uses too (memory.store.choose_space): the configured backend's store first."""
    from sensorium.server.cli import main

    async def seed() -> None:
        for space, dim in ((SPACE, DIM), ("hashing/v1@256", 256)):
            await (await open_store(MemorySettings(), tmp_path / "data", space, dim)).close()

    asyncio.run(seed())
    monkeypatch.setenv("SENSORIUM_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("SENSORIUM_BACKEND", "hashing")
    assert main(["memory", "report", str(tmp_path / "r.html"), "--no-progress"]) == 0
    assert json.loads(capsys.readouterr().out)["space"] == "hashing/v1@256"


# ---- both engines ---------------------------------------------------------------------------------


async def test_both_engines_give_the_same_cards(memory_settings, tmp_path: Path) -> None:
    """The report reads through the MemoryStore protocol only: the Milvus engine's page holds the same cards."""
    store = await _seed(memory_settings(), tmp_path / "data", _memories(tricky=True))
    try:
        summary = await write_report(store, tmp_path / "r.html", now=T0)
    finally:
        await store.close()
    assert summary.shown == 8 and summary.thumbnails == 4 and summary.unreadable_thumbnails == 1
    page = (tmp_path / "r.html").read_text(encoding="utf-8")
    for memory in _memories(tricky=True):
        assert (memory.text or "").split("\n")[0].replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace(
            '"', "&quot;").replace("'", "&#x27;") in page

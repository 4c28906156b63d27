"""index_media: long recordings and PDFs searchable to the window and the page (issue 19, part 1).

The media are generated here (PyAV, espeak-ng, a hand-written PDF); the tools are called through
a real in-process MCP client, on the local backend where what is found matters and on the hashing
backend where only the bookkeeping (windows, resume, cancel, errors) does.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp.client import Client
from media_support import pdf_with_text, read_wav, timeline_mp4, wav_bytes
from server_support import make_settings, subprocess_env

from sensorium.memory.records import Filter
from sensorium.server.app import build_server, build_services
from sensorium.server.indexing import group_media_hits, index_file, open_media_file
from sensorium.tools.longmedia import page_windows, time_windows

pytestmark = pytest.mark.anyio

TOPICS = [
    "Grocery list: apples, bread, cheese and olive oil", "Bicycle maintenance: chain lubrication and brake pads",
    "Tax return checklist for small businesses", "Garden planning: tomatoes need full sun",
    "Team offsite agenda and travel bookings", "History of the printing press in Europe",
    "Introduction to linear algebra: vectors and matrices", "Recipe: lentil soup with cumin",
    "Marathon training plan, week three", "Office move: boxes, labels and keys",
]
DISTINCT_PAGE = 27
DISTINCT_TEXT = "Volcanic eruptions of Mount Etna\nlava flows and ash clouds over Sicily"


def forty_page_pdf(tmp: Path) -> Path:
    pages = [f"Chapter {i + 1}\n{TOPICS[i % len(TOPICS)]}\nnotes and details" for i in range(40)]
    pages[DISTINCT_PAGE - 1] = DISTINCT_TEXT
    path = tmp / "report.pdf"
    path.write_bytes(pdf_with_text(pages))
    return path


async def call(client: Client, tool: str, **args: Any) -> dict[str, Any]:
    res = await client.call_tool(tool, args)
    assert not res.is_error, res.content[0].text
    return res.structured_content


# -- windows --------------------------------------------------------------------------------


def test_time_windows_cover_the_recording_with_overlap() -> None:
    ws = time_windows(600.0, 30.0, 5.0)
    assert ws[0].start_s == 0.0 and ws[-1].end_s == 600.0
    for a, b in zip(ws, ws[1:]):
        assert b.start_s == pytest.approx(a.end_s - 5.0)  # every cut lies inside a window
    assert all(w.end_s - w.start_s <= 30.0 + 1e-6 for w in ws)
    short = time_windows(12.0, 30.0, 5.0)
    assert [(w.start_s, w.end_s) for w in short] == [(0.0, 12.0)]
    tail = time_windows(57.0, 30.0, 5.0)
    assert [(w.start_s, w.end_s) for w in tail] == [(0.0, 30.0), (25.0, 55.0), (50.0, 57.0)]


def test_page_windows_name_every_page_once() -> None:
    ws = page_windows(40, 6)
    assert [(w.first_page, w.last_page) for w in ws][:2] == [(1, 6), (7, 12)]
    assert ws[-1].last_page == 40
    assert sum(w.last_page - w.first_page + 1 for w in ws) == 40


def test_neighbouring_windows_of_one_file_are_one_hit() -> None:
    def meta(sha: str, a: float, b: float) -> dict[str, Any]:
        return {"media_sha256": sha, "media_window": f"t{a}-{b}", "media_start_s": a, "media_end_s": b}

    hits = [
        (1, meta("f", 400, 430), "/v.mp4"),
        (2, meta("f", 375, 405), "/v.mp4"),  # overlaps 1: folded
        (3, {"note": "a plain memory"}, None),
        (4, meta("f", 100, 130), "/v.mp4"),  # far away in the same file: its own hit
        (5, meta("g", 400, 430), "/w.mp4"),  # same times, another file: its own hit
        (6, meta("f", 350, 380), "/v.mp4"),  # overlaps 2, which widened hit 1's span: folded
    ]
    kept, moments = group_media_hits(hits)
    assert kept == [1, 3, 4, 5]
    assert moments[1].grouped_ids == [2, 6] and moments[1].span == [350.0, 430.0]
    assert moments[1].start == 400 and moments[1].unit == "s" and moments[1].path == "/v.mp4"
    assert 3 not in moments


# -- PDF: the page --------------------------------------------------------------------------


async def test_forty_page_pdf_recall_names_the_page(tmp_path: Path) -> None:
    pdf = forty_page_pdf(tmp_path)
    settings = make_settings(tmp_path, backend="local")
    async with Client(build_server(settings)) as client:
        progress: list[float] = []

        async def on_progress(done: float, total: float | None, message: str | None) -> None:
            progress.append(done)

        res = await client.call_tool("index_media", {"path": str(pdf)}, progress_callback=on_progress)
        assert not res.is_error, res.content[0].text
        report = res.structured_content
        assert report["windows"] == 40 and report["stored"] == 40 and report["pages"] == 40
        assert progress and progress[-1] == 40
        found = await call(client, "recall", text="lava and ash from the Etna volcano in Sicily", k=3)
        top = found["hits"][0]
        assert top["media"]["unit"] == "page" and top["media"]["start"] == DISTINCT_PAGE, found["hits"]
        assert top["media"]["path"] == str(pdf.resolve()) and top["has_thumbnail"]
        again = await call(client, "index_media", path=str(pdf))
        assert again["stored"] == 0 and again["already_stored"] == 40  # the same file twice: nothing twice
        stats = await call(client, "memory_stats")
        assert stats["memories"] == 40 and stats["by_modality"] == {"pdf": 40}


# -- video: the window ----------------------------------------------------------------------


@pytest.mark.slow
async def test_ten_minute_video_recall_lands_in_the_window(tmp_path: Path, say: Any) -> None:
    spoken, rate = read_wav(say("the purple elephant dances at midnight in the harbour"))
    assert rate == 16000 or rate > 0
    if rate != 16000:
        import numpy as np

        spoken = np.interp(np.arange(int(spoken.size * 16000 / rate)) * rate / 16000, np.arange(spoken.size), spoken).astype("float32")
    video = tmp_path / "lecture.mp4"
    timeline_mp4(
        str(video), 600.0, [(400.0, 430.0, "QUARTERLY BUDGET REVIEW\nrevenue up twelve percent")], speech=[(250.0, spoken)]
    )
    settings = make_settings(tmp_path, backend="local")
    async with Client(build_server(settings)) as client:
        report = await call(client, "index_media", path=str(video))
        assert report["windows"] == 24 and report["stored"] == 24 and report["duration_s"] == pytest.approx(600, abs=1)
        window = 30.0
        seen = await call(client, "recall", text="quarterly budget review", k=3)
        top = seen["hits"][0]["media"]
        assert top["unit"] == "s" and top["start"] <= 400.0 + window and top["end"] >= 400.0, seen["hits"][0]
        assert abs(top["start"] - 400.0) <= window
        heard = await call(client, "recall", text="a purple elephant dancing at midnight", k=3)
        top = heard["hits"][0]["media"]
        assert top["start"] <= 252.0 and top["end"] >= 250.0, heard["hits"][0]


# -- resume, cancel, limits, bad files (hashing backend: only the bookkeeping matters) ------


def audio_file(tmp: Path, seconds: float = 300.0) -> Path:
    import numpy as np

    t = np.arange(int(seconds * 16000), dtype=np.float32) / 16000
    path = tmp / "long.wav"
    path.write_bytes(wav_bytes((0.3 * np.sin(2 * np.pi * (200 + t) * t)).astype(np.float32)))
    return path


async def test_cancelled_indexing_keeps_what_was_stored_and_resumes(tmp_path: Path) -> None:
    audio = audio_file(tmp_path)
    settings = make_settings(tmp_path)
    services = build_services(settings)
    try:
        store = await services.memory()
        fh, real = open_media_file(str(audio), settings.intake)
        with anyio.CancelScope() as scope:

            async def stop_after_four(done: float, total: float | None, message: str | None) -> None:
                if done >= 4:
                    scope.cancel()

            await index_file(services.backend, store, fh, real, settings.index, progress=stop_after_four)
        assert scope.cancelled_caught
        first = await store.list_ids(Filter(metadata={"media_sha256": (await store.get_many(await store.list_ids()))[0].metadata["media_sha256"]}))
        assert len(first) == 4  # acknowledged windows stay, nothing half-written
        report = await index_file(services.backend, store, fh, real, settings.index)
        fh.close()
        assert report.windows == 12 and report.already_stored == 4 and report.stored == 8
        memories = await store.get_many(await store.list_ids())
        assert len(memories) == 12
        assert len({m.metadata["media_window"] for m in memories}) == 12  # no window twice
        assert all(m.modality == "audio" and m.metadata["media_end_s"] > m.metadata["media_start_s"] for m in memories)
    finally:
        await services.aclose()


async def test_bad_files_and_limits_are_clear_errors(tmp_path: Path) -> None:
    pdf = forty_page_pdf(tmp_path)
    truncated = tmp_path / "cut.mp4"
    timeline_mp4(str(tmp_path / "whole.mp4"), 20.0, [])
    truncated.write_bytes((tmp_path / "whole.mp4").read_bytes()[:3000])
    text = tmp_path / "notes.txt"
    text.write_text("not media")
    fifo = tmp_path / "pipe.mp4"
    os.mkfifo(fifo)
    outside = Path("/etc/hostname")
    settings = make_settings(tmp_path)
    settings.index.max_pages = 10
    async with Client(build_server(settings)) as client:
        cases = {
            str(pdf): "10",  # 40 pages, limit 10
            str(truncated): "corrupt",
            str(text): "index_media takes",
            str(fifo): "not a regular file",
            str(outside): "outside the allowed folders",
            "relative.mp4": "absolute",
        }
        for path, words in cases.items():
            with anyio.fail_after(60):  # a FIFO must never hang the call
                res = await client.call_tool("index_media", {"path": path})
            assert res.is_error, path
            assert words in res.content[0].text, (path, res.content[0].text)
        assert not (await client.call_tool("memory_stats", {})).is_error  # still serving


def test_cli_index_prints_the_report(tmp_path: Path) -> None:
    pdf = tmp_path / "short.pdf"
    pdf.write_bytes(pdf_with_text(["one", "two", "three"]))
    proc = subprocess.run(
        [sys.executable, "-m", "sensorium.server.cli", "index", str(pdf)],
        env=subprocess_env(tmp_path), capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["windows"] == 3 and report["stored"] == 3 and report["modality"] == "pdf"

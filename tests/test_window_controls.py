"""A named window's controls: "close the calculator window" clicks that window's close button.

Unit level: a row of title-bar buttons that OCR read as one line of look-alike characters is cut
into one element per button (`proposals.split_glyph_run`), words never are; the window request is
parsed, and the controls beside the named title are lifted, the one the verb asks for first
(`windows.lift_controls`). End to end: a real X display with openbox (a real window manager drawing
real title bars) and two Tk windows; rank_ui_elements through an MCP client, the returned point
clicked with xdotool, and the named window must be gone while the other stays.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from mcp.client import Client
from server_support import make_settings
from wm_support import openbox_desktop

from sensorium.server.app import build_server
from sensorium.tools.ranking import screen
from sensorium.tools.ranking.proposals import OcrWord, Proposal, Proposals, WordList, split_line, text_proposals
from sensorium.tools.ranking.score import ScoredElement
from sensorium.tools.ranking.windows import (
    lift_controls, name_active_window, names_no_window, row_buttons, run_continued, title_controls, window_request,
    with_row_buttons,
)


def title_bar(buttons: int = 3) -> np.ndarray:
    """A 21 px high crop like openbox's: a desktop row on top, a vertical grey gradient, `buttons`
    13 px outlined square buttons 3 px apart, the middle one holding a small dark mark."""
    grey = np.zeros((21, 53), dtype=np.uint8)
    grey[1:] = np.linspace(233, 208, 20, dtype=np.uint8)[:, None]
    for b in range(buttons):
        x = 4 + 16 * b
        grey[4:17, x : x + 13] = 245
        grey[4, x : x + 13] = grey[16, x : x + 13] = 140
        grey[4:17, x] = grey[4:17, x + 12] = 140
        grey[9:12, x + 4 : x + 9] = 90
    return grey


def test_a_row_of_window_buttons_read_as_one_line_becomes_one_element_per_button() -> None:
    grey = np.zeros((100, 200), dtype=np.uint8)
    grey[40:61, 100:153] = title_bar()
    pieces = split_line(grey, "□回网", (100, 40, 153, 61), 0.52)
    assert [p.text for p in pieces] == ["□", "回", "网"]
    assert [p.box for p in pieces] == [(104, 44, 117, 57), (120, 44, 133, 57), (136, 44, 149, 57)]  # each button's outline
    assert all(p.glyph for p in pieces)
    # proposed as they are: a label's padding would take in the neighbouring buttons
    assert [p.box for p in text_proposals(pieces, (200, 100))] == [p.box for p in pieces]


def test_words_and_single_shapes_are_not_cut_as_glyph_rows() -> None:
    grey = np.full((100, 200), 230, dtype=np.uint8)
    grey[40:61, 100:153] = title_bar()
    # the same pixels read as a word: a word is split only at wide gaps (split_line's own rule)
    assert len(split_line(grey, "Mail", (100, 40, 153, 61), 0.9)) == 1
    # one button: nothing to cut
    one = np.zeros((100, 200), dtype=np.uint8)
    one[40:61, 100:153] = title_bar(buttons=1)
    assert len(split_line(one, "□", (100, 40, 153, 61), 0.5)) == 1
    # the same pixels read with confidence as CJK characters: a word, never cut into its characters
    assert len(split_line(grey, "文件编", (100, 40, 153, 61), 0.95)) == 1
    # a rule wider than a glyph ('—' under a heading) stays whole
    rule = np.full((30, 200), 255, dtype=np.uint8)
    rule[14:16, 10:190] = 0
    assert len(split_line(rule, "——", (0, 0, 200, 30), 0.5)) == 1


def test_a_window_request_names_its_window() -> None:
    assert window_request("close the calculator window") == ("close", ["calculator"])
    assert window_request("Minimize the 'Settings' dialog") == ("minimise", ["settings"])
    assert window_request("please maximise the Online Bank window") == ("maximise", ["online", "bank"])
    assert window_request("close the window") is None  # no name: nothing to find it by
    assert window_request("close this window") is None
    assert window_request("close the current window") is None  # which window, not its name
    assert window_request("click the close button") is None
    assert window_request("open the settings") is None


def test_an_unnamed_window_is_named_by_the_title_of_the_window_in_front() -> None:
    assert names_no_window("close this window") and names_no_window("Minimise the current window")
    assert name_active_window("close this window", "Notes") == "close the notes window"
    assert name_active_window("please close the dialog now", "Save changes?") == "please close the save changes window now"
    assert name_active_window("close the active window", "root@box: ~/src") == "close the root box src window"
    # named, not about a window, or no title: nothing to name
    for instruction, title in [("close the calculator window", "Notes"), ("open the window menu", "Notes"), ("close this window", None), ("close this window", "  ")]:
        assert name_active_window(instruction, title) is None


def _props(*boxes: tuple[int, int, int, int]) -> list[Proposal]:
    return [Proposal(box=b, source="ocr") for b in boxes]


def test_the_named_windows_close_button_is_lifted_above_its_title() -> None:
    cands = _props(
        (932, 55, 1016, 83),  # 0 "Calculator": the title
        (1048, 64, 1060, 76), (1064, 64, 1076, 76), (1080, 64, 1092, 76),  # 1-3 its minimise, maximise, close
        (0, 0, 50, 46),  # 4 an 'x' logo elsewhere, which spells "close"
        (284, 1, 342, 37),  # 5 "bash": another window's title, one row up
        (567, 14, 579, 26), (583, 14, 595, 26), (599, 14, 611, 26),  # 6-8 its buttons
        (1100, 60, 1300, 80),  # 9 a wide element in the title's row, not a button
    )
    texts = ["Calculator", "□", "回", "网", "x close times multiply", "bash", "□", "□", "□", "Some text"]
    scores = np.array([0.95, 0.2, 0.1, 0.3, 0.6, 0.3, 0.2, 0.2, 0.2, 0.4])
    assert title_controls(0, cands, texts) == ([1, 2, 3], "right")

    def order(instruction: str) -> list[int]:
        return list(np.argsort(-lift_controls(instruction, cands, texts, scores), kind="stable"))

    assert order("close the calculator window")[:4] == [3, 1, 2, 0]  # the rightmost button, the others, the title
    assert order("minimise the calculator window")[0] == 1
    assert order("maximize the calculator window")[0] == 2
    assert order("close the bash window")[0] == 8
    # nothing named, or a name no element shows: the scores as they were
    for unchanged in ("close the window", "close the spreadsheet window", "press the sin key"):
        assert np.array_equal(lift_controls(unchanged, cands, texts, scores), scores)


def test_controls_left_of_the_title_are_found_and_close_is_the_outermost() -> None:
    cands = _props((400, 10, 520, 30), (12, 14, 24, 26), (30, 14, 42, 26), (48, 14, 60, 26), (300, 14, 312, 26))
    texts = ["Preferences", None, None, None, None]  # macOS: close, minimise, zoom at the left; 4 is far away
    assert title_controls(0, cands, texts) == ([4], "left")  # the nearest run only: 4 stands apart
    cands[4] = Proposal(box=(66, 14, 78, 26), source="region")  # now a fourth button of the same run
    controls, side = title_controls(0, cands, texts)
    assert (controls, side) == ([1, 2, 3, 4], "left")
    lifted = lift_controls("close the preferences window", cands, texts, np.array([0.9, 0.1, 0.1, 0.1, 0.1]))
    assert int(np.argmax(lifted)) == 1


def test_a_partial_read_showing_the_title_and_its_buttons_can_answer() -> None:
    """The button asked for shows no word, so "every content word among the winner's" never held for
    a window request, and the call read the whole screen (a terminal's 250 lines: 3.4 s on the issue's
    screen); the title's words and the buttons' places are what the answer needs."""
    words = WordList([
        OcrWord(text="Calculator", box=(940, 62, 1005, 76)),
        OcrWord(text="□", box=(1048, 64, 1060, 76), glyph=True),
        OcrWord(text="回", box=(1064, 64, 1076, 76), glyph=True),
        OcrWord(text="网", box=(1080, 64, 1092, 76), glyph=True),
    ])
    words.deferred = ((10, 100, 600, 116),)  # a terminal line left unread
    cands = text_proposals(words, (1280, 800))
    ask = "close the calculator window"
    assert screen.words_could_hold(words, ask) and screen.any_holds(cands, words, ask)

    def winner(i: int) -> list[ScoredElement]:
        return [ScoredElement(index=i, score=1.0, cosine=0.0, text_match=0.0)]

    assert screen.holds_instruction(winner(3), cands, words, ask)  # the close button: the answer
    assert not screen.holds_instruction(winner(1), cands, words, ask)  # minimise is not what was asked
    assert not screen.holds_instruction(winner(0), cands, words, ask)  # nor the title
    assert not screen.holds_instruction(winner(3), cands, words, "close the notes window")
    untitled = WordList(words[1:])
    untitled.deferred = words.deferred
    assert not screen.words_could_hold(untitled, ask)  # the title not read yet: read on


def focused_bar() -> np.ndarray:
    """A focused title bar like openbox's on the issue's screen: blue, a 'tk' title at x 60-74, three
    14 px buttons with dark outlines touching the bar's lower edge, the frame and the black desktop
    after it, the window's content under it."""
    grey = np.zeros((60, 200), dtype=np.uint8)
    grey[10:26, 0:170] = 165  # the bar
    grey[26:27, 0:170] = 90  # its lower edge (the buttons' outlines end on it)
    grey[27:60, 0:170] = 220  # the window's content
    grey[14:22, 62:72] = 20  # the title's ink
    for x in (110, 126, 142):
        grey[12:27, x : x + 14] = 90  # outline down to the bar's edge
        grey[14:25, x + 2 : x + 12] = 170
        grey[18:21, x + 4 : x + 10] = 250  # the white glyph
    grey[10:27, 170:173] = 60  # the frame; the desktop (0) beyond
    return grey


def test_buttons_no_proposal_found_are_looked_for_in_the_title_row() -> None:
    grey = focused_bar()
    title = (58, 11, 76, 25)
    assert row_buttons(grey, title, "right") == [(110, 12, 124, 26), (126, 12, 140, 26), (142, 12, 156, 26)]
    assert row_buttons(grey, title, "left") == []
    image = Image.fromarray(grey).convert("RGB")
    found = Proposals(items=[
        Proposal(box=title, label="tk", source="ocr"),
        Proposal(box=(40, 12, 52, 24), source="region"),  # the window's own icon, left of the title
        Proposal(box=(0, 30, 160, 50), label="This is Tcl/Tk", source="ocr"),
    ], found=3, truncated=False)
    texts = ["tk", None, "This is Tcl/Tk"]
    more = with_row_buttons(image, "close the tk window", found, texts)
    assert [p.box for p in more.items[3:]] == [(110, 12, 124, 26), (126, 12, 140, 26), (142, 12, 156, 26)]
    assert more.found == 6
    lifted = lift_controls("close the tk window", more.items, [*texts, None, None, None], np.zeros(6))
    assert int(np.argmax(lifted)) == 5  # the rightmost: close, not the window's icon
    assert with_row_buttons(image, "press the QUIT button", found, texts) is found  # not a window request


TK_WINDOW = """
import sys, tkinter as tk
root = tk.Tk(className=sys.argv[2])
root.title(sys.argv[1])
root.geometry(sys.argv[3])
tk.Label(root, text=sys.argv[4], font=("Helvetica", 24), bg="white").pack(expand=True, fill="both")
tk.Button(root, text="Clear").pack()
root.update(); print("ready", flush=True)
root.mainloop()
"""


@pytest.fixture
def two_windows() -> Iterator[dict[str, subprocess.Popen[str]]]:
    """A 1280x800 display with openbox and two Tk windows ("Calculator", "Notes"); DISPLAY points at it."""
    with openbox_desktop((1280, 800)) as desk:
        procs: dict[str, subprocess.Popen[str]] = {}
        try:
            for title, cls, geometry, text in [
                ("Calculator", "calcapp", "420x300+700+120", "0.5 + 0.25 = 0.75"),
                ("Notes", "notesapp", "520x360+60+120", "apples bread cheese"),
            ]:
                p = subprocess.Popen([sys.executable, "-c", TK_WINDOW, title, cls, geometry, text], env=desk.env,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                assert p.stdout is not None and p.stdout.readline().strip() == "ready"
                procs[title] = p
            deadline = time.monotonic() + 20
            while True:  # openbox may not have framed the windows yet: wait until both are managed
                frames = subprocess.run(["xprop", "-root", "_NET_CLIENT_LIST"], env=desk.env, capture_output=True, text=True)
                if frames.stdout.count("0x") >= 2:
                    break
                assert time.monotonic() < deadline, f"openbox did not manage the windows: {frames.stdout} {frames.stderr}"
                time.sleep(0.2)
            time.sleep(0.5)  # the frames drawn
            yield procs
        finally:
            for p in procs.values():
                p.kill()
                p.wait(timeout=10)


async def _close(client: Client, instruction: str, closes: subprocess.Popen[str], stays: subprocess.Popen[str] | None) -> None:
    out = await client.call_tool("rank_ui_elements", {"instruction": instruction, "k": 3})
    assert not out.is_error, out.content
    top = out.structured_content["candidates"][0]
    x, y = top["click"]
    subprocess.run(["xdotool", "mousemove", "--sync", str(x), str(y), "click", "1"], check=True, timeout=20)
    try:
        closes.wait(timeout=15)  # WM_DELETE_WINDOW: Tk's default is to close
    except subprocess.TimeoutExpired:
        pytest.fail(f"{instruction!r}: the window is still open after clicking {top}")
    assert stays is None or stays.poll() is None, f"{instruction!r} closed the other window"


@pytest.mark.anyio
async def test_close_the_named_window_on_a_real_display(tmp_path: Path, two_windows: dict[str, subprocess.Popen[str]]) -> None:
    """Notes, opened last, has the focused title bar (openbox draws it in another colour), Calculator the
    other kind: both kinds of bar are met. Fails without the lift: rank 1 was the window's title."""
    async with Client(build_server(make_settings(tmp_path))) as client:
        await _close(client, "close the calculator window", two_windows["Calculator"], two_windows["Notes"])
        await _close(client, "close the Notes window", two_windows["Notes"], None)


@pytest.mark.anyio
async def test_close_this_window_closes_the_window_in_front(tmp_path: Path, two_windows: dict[str, subprocess.Popen[str]]) -> None:
    """No name: the window in front (the window manager's active window) is the one meant. Each window is
    brought to the front in turn and the answer must be in its own title bar's right end (both show an
    'x' close button, so the words alone cannot tell them apart); the last one is clicked and must close.
    Fails without naming the window in front."""
    env = {**os.environ}
    frames = {"Calculator": (700, 1122), "Notes": (60, 582)}  # the frames' columns (geometry +700 / +60, openbox borders)
    async with Client(build_server(make_settings(tmp_path))) as client:
        for title in ("Calculator", "Notes"):
            subprocess.run(["xdotool", "search", "--name", f"^{title}$", "windowactivate", "--sync"], env=env, check=True, timeout=20)
            time.sleep(0.5)  # the focused frame drawn
            out = await client.call_tool("rank_ui_elements", {"instruction": "close this window", "k": 3, "include_marks": False})
            assert not out.is_error, out.content
            x, y = out.structured_content["candidates"][0]["click"]
            left, right = frames[title]
            assert right - 60 <= x < right and 115 <= y < 145, (title, out.structured_content["candidates"][0])
        await _close(client, "close this window", two_windows["Notes"], two_windows["Calculator"])


def test_a_run_of_two_proposed_buttons_is_continued_to_the_close_button_on_the_bar_only() -> None:
    # a bar (grey 170) at rows 120-140 ending at column 1120 (frame, then the black desktop); three
    # 12 px buttons (dark outlines) at 1073, 1089, 1105: the edge regions gave only the first two
    grey = np.zeros((200, 1280), dtype=np.uint8)
    grey[120:140, 600:1120] = 170
    grey[120:140, 1120:1122] = 90  # the frame's edge
    for x in (1073, 1089, 1105):
        grey[124:136, x : x + 12] = 90
        grey[126:134, x + 2 : x + 10] = 200
    assert run_continued(grey, [(1073, 124, 1085, 136), (1089, 124, 1101, 136)], "right") == [(1105, 124, 1117, 136)]
    assert run_continued(grey, [(1089, 124, 1101, 136), (1105, 124, 1117, 136)], "right") == []  # the frame is no button
    assert run_continued(grey, [(1073, 124, 1085, 136)], "right") == []  # one button gives no pitch
    # a close button OCR read as 'X' is still a control: judged on the reading, not its spelled-out words
    cands = _props((865, 112, 956, 145), (1073, 124, 1085, 136), (1089, 124, 1101, 136), (1105, 124, 1117, 136))
    controls, side = title_controls(0, cands, ["Calculator", None, None, "X close times multiply"])
    assert side == "right" and controls == [1, 2, 3]

"""The ranking core on generated screens: one OCR read, distinct clickable candidates, announced cuts,
symbols spelled out, and the eval scoring exactly what the tool scores."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import numpy as np
import pytest
from mcp import Client
from PIL import Image
from sensorium.server.app import build_server
from sensorium.tools.backends.base import EmbedItem
from sensorium.tools.backends.hashing import HashingBackend
from sensorium.tools.backends.local.ocr import OcrEngine
from sensorium.tools.evaluation.datasets import load_set
from sensorium.tools.evaluation.runner import rank_ui_item
from sensorium.tools.ranking import marks, proposals, score, text
from sensorium.tools.ranking.proposals import Proposal
from server_support import eval_dir, make_settings
from ui_support import busy_screen, calculator_screen

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture(scope="module")
def calculator(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list]:
    img, keys = calculator_screen()
    path = tmp_path_factory.mktemp("screens") / "calculator.png"
    img.save(path)
    return path, keys


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, calculator: tuple[Path, list]):
    tmp = tmp_path_factory.mktemp("server")
    settings = make_settings(tmp)
    settings.intake.allowed_roots.append(calculator[0].parent)
    return build_server(settings)


def _inside(point: list[int], box: tuple[int, int, int, int]) -> bool:
    return box[0] <= point[0] < box[2] and box[1] <= point[1] < box[3]


def _same_element(a: list[int], b: list[int]) -> bool:
    return proposals.iou(a, b) >= 0.5


# -- symbols and words ---------------------------------------------------------------------------


def test_symbols_are_spelled_out_and_match_their_words() -> None:
    assert text.spelled_out("=") == "= equals"
    assert "backspace" in text.spelled_out("⌫") and "close" in text.spelled_out("×")
    assert text.spelled_out("Save file") == "Save file"  # words are left alone
    assert text.text_similarity("press the equals key", "=") == 1.0
    assert text.text_similarity("press the equals key", "+") < 0.3
    assert text.text_similarity("Click '='", "=") == 1.0
    assert text.text_similarity("go to the next page", "›") == 1.0


def test_a_line_over_several_controls_is_cut_at_its_gaps() -> None:
    img = Image.new("L", (400, 30), 255)
    arr = np.asarray(img).copy()
    for x0, x1 in ((10, 60), (150, 210), (300, 380)):  # three words of ink, wide gaps between
        arr[8:22, x0:x1] = 0
    pieces = proposals.split_line(arr, "File Edit View", (5, 5, 390, 25), 0.9)
    assert [p.text for p in pieces] == ["File", "Edit", "View"]
    assert pieces[0].box[2] <= 150 and pieces[1].box[0] >= 60 and pieces[2].box[0] >= 210
    solid = proposals.split_line(arr, "File", (5, 5, 390, 25), 0.9)  # one token: never cut
    assert len(solid) == 1


def test_a_nav_bar_read_without_spaces_around_its_bars_is_still_cut_into_its_links() -> None:
    """OCR sometimes drops the spaces around '|' ("previous |next|modules"): each link keeps its own word."""
    arr = np.full((30, 400), 255, dtype=np.uint8)
    for x0, x1 in ((10, 80), (100, 102), (120, 170), (190, 192), (210, 290)):  # word | word | word
        arr[8:22, x0:x1] = 0
    for read in ("previous |next|modules", "previous | next | modules"):
        pieces = proposals.split_line(arr, read, (5, 5, 390, 25), 0.9)
        words = [w for p in pieces for w in p.text.split() if w != "|"]
        assert words == ["previous", "next", "modules"], pieces
        nxt = next(p for p in pieces if "next" in p.text.split())
        assert nxt.box[0] >= 80 and nxt.box[2] <= 210, nxt


def test_links_between_bars_a_space_apart_each_get_their_own_word() -> None:
    """A Sphinx navigation line as browsers draw it: a space, a bar, a space between links, far narrower
    than the 0.8-line-height gap the line is otherwise cut at. Each link's word must lie in its own
    place (before, the line stayed one element and the box of 'modules' held no word)."""
    from PIL import ImageDraw, ImageFont

    font = ImageFont.load_default(size=18)
    img = Image.new("L", (460, 30), 255)
    draw = ImageDraw.Draw(img)
    x, spans = 10.0, {}
    for i, word in enumerate(["previous", "next", "modules", "index"]):
        if i:
            draw.text((x, 4), " | ", font=font, fill=0)
            x += draw.textlength(" | ", font=font)
        draw.text((x, 4), word, font=font, fill=0)
        spans[word] = (x, x + draw.textlength(word, font=font))
        x += draw.textlength(word, font=font)
    arr = np.asarray(img)
    for read in ("previous | next | modules | index", "previous |next |modules |index"):
        pieces = proposals.split_line(arr, read, (5, 2, int(x) + 5, 28), 0.95)
        assert [p.text for p in pieces] == ["previous", "next", "modules", "index"], pieces
        for p in pieces:
            a, b = spans[p.text]
            assert a - 2 <= p.box[0] and p.box[2] <= b + 2, (p, spans[p.text])  # the word's own columns, no bar
    # a bar read but not drawn (an 'l' or an 'I' is no bar): the line is not cut at a letter
    assert len(proposals.split_at_bars(arr, ["previous", "|", "next", "|", "modules", "|", "index", "|", "more"])) == 0


# -- distinct candidates -----------------------------------------------------------------------


def test_a_box_spanning_two_elements_never_wins_and_copies_are_listed_once() -> None:
    save = Proposal(box=(100, 100, 160, 130), label="Save", source="region")
    cancel = Proposal(box=(163, 100, 223, 130), label="Cancel", source="region")
    both = Proposal(box=(98, 98, 225, 132), source="region")  # one edge region over the two buttons
    save_text = Proposal(box=(110, 105, 150, 125), label="Save", source="ocr")  # the label inside Save's outline
    order = score.distinct_order([0.9, 0.5, 0.95, 0.85], [save, cancel, both, save_text])
    assert order[0] == 0, order  # the element itself, not the box over both
    assert order.index(2) > order.index(0)
    assert 3 not in order  # Save's label is Save's outline again: listed once


async def test_equals_and_sin_keys_are_found_and_clicked_on_a_calculator(server, calculator) -> None:
    path, keys = calculator
    box = {k.label: k.box for k in keys}
    async with Client(server) as client:
        for instruction, label in (("press the sin key", "sin"), ("press the 7 key", "7"), ("press the plus key", "+")):
            r = await client.call_tool("rank_ui_elements", {"instruction": instruction, "path": str(path), "k": 8})
            assert not r.is_error, r.content
            res = r.structured_content
            top = res["candidates"][0]
            assert _inside(top["click"], box[label]), (instruction, res["candidates"][:3])
            assert res["proposals"] and res["proposals"]["found"] >= res["proposals"]["ranked"]
            # duplicates never fill the top k: no two listed boxes are the same element
            listed = [c["box"] for c in res["candidates"]]
            assert not any(_same_element(a, b) for i, a in enumerate(listed) for b in listed[i + 1 :]), listed
            # the text content carries the whole result as JSON too
            assert json.loads(r.content[-1].text.split("\n", 1)[1]) == res


def test_a_busy_screen_is_covered_everywhere_and_a_cut_is_announced() -> None:
    img, keys = busy_screen()
    words = proposals.read_words(OcrEngine(), img)
    full = proposals.propose(img, words)
    cut = proposals.propose(img, words, limit=60)
    assert full.found == cut.found > 60
    assert cut.truncated and len(cut.items) == 60 and cut.rule and "grid" in cut.rule
    # every grid cell that had candidates keeps at least one
    gx, gy = proposals.GRID

    def cells(items: list[Proposal]) -> set[tuple[int, int]]:
        out = set()
        for p in items:
            x, y = proposals.centre(p.box)
            out.add((min(gx - 1, int(x * gx / img.width)), min(gy - 1, int(y * gy / img.height))))
        return out

    assert cells(cut.items) == cells(full.items)
    # the keypad, far from the text, is still among the kept candidates
    keypad = (min(k.box[0] for k in keys[:20]), min(k.box[1] for k in keys[:20]), max(k.box[2] for k in keys[:20]), max(k.box[3] for k in keys[:20]))
    assert any(_inside(list(map(int, proposals.centre(p.box))), keypad) for p in cut.items)
    # no kept candidate is a near-copy of another
    assert not any(proposals.iou(a.box, b.box) >= 0.7 for i, a in enumerate(full.items) for b in full.items[i + 1 :])


# -- the eval scores what the tool scores ---------------------------------------------------------


@pytest.mark.evalsets
async def test_the_eval_and_the_tool_rank_an_item_identically(server, tmp_path: Path) -> None:
    ds = load_set("ui_grounding", eval_dir() / "ui_grounding")
    item = next(it for it in ds.items if it.id == "ui_dev_13_2")
    image = Image.open(item.image).convert("RGB")
    backend = HashingBackend()
    [query] = await backend.embed([EmbedItem.of(item.instruction)], "query")
    words = proposals.read_words(OcrEngine(), image)
    for variant in ("boxes", "boxes+names"):
        eval_scores = await rank_ui_item(backend, image, query, item.instruction, item.candidates, variant, words)
        cands = [
            {"box": list(c.box), **({"label": (c.name or c.text).strip()} if variant == "boxes+names" and (c.name or c.text).strip() else {})}
            for c in item.candidates
        ]
        async with Client(server) as client:
            r = await client.call_tool(
                "rank_ui_elements",
                {"instruction": item.instruction, "path": str(item.image), "candidates": cands, "k": 100, "include_marks": False},
            )
        assert not r.is_error, r.content
        tool_scores = np.full(len(cands), -np.inf)
        for e in r.structured_content["candidates"]:
            tool_scores[e["index"]] = e["score"]
        assert np.allclose(tool_scores, eval_scores, atol=1e-4), variant


# -- images within budget ----------------------------------------------------------------------


def test_the_marks_image_fits_the_budget_counted_in_base64() -> None:
    rng = np.random.default_rng(0)
    busy = Image.fromarray(rng.integers(0, 255, (1440, 2560, 3), dtype=np.uint8))
    boxes = [(x, y, x + 80, y + 40) for x in range(0, 2400, 200) for y in range(0, 1400, 100)]
    for budget in (1_000_000, 200_000):
        data = marks.marks_image(busy, boxes, budget)
        assert len(base64.b64encode(data)) <= budget


@pytest.mark.slow
async def test_embedding_a_capture_and_ranking_on_it_read_the_screen_once(tmp_path: Path) -> None:
    from sensorium.server.app import build_services
    from sensorium.tools import capture

    settings = make_settings(tmp_path, backend="local")
    services = build_services(settings)
    server = build_server(settings, services=services)
    img, keys = calculator_screen()
    cap = capture.from_image(img, settings.capture)
    services.captures.put(cap)
    async with Client(server) as client:
        e = await client.call_tool("embed_screenshot", {"capture_id": cap.id})
        assert not e.is_error, e.content
        r = await client.call_tool("rank_ui_elements", {"instruction": "press the sin key", "capture_id": cap.id, "include_marks": False})
        assert not r.is_error, r.content
    assert services.ocr.misses == 1 and services.ocr.hits >= 1
    top = r.structured_content["candidates"][0]
    assert "sin" in (top["words"] or "").lower(), r.structured_content["candidates"][:3]


def test_weak_ocr_text_goes_to_the_icon_reader() -> None:
    from sensorium.tools.backends.local.backend import weak_text

    assert weak_text("B") and weak_text("丼") and weak_text("+") and weak_text("9:")
    assert not weak_text("AD") and not weak_text("Save") and not weak_text("") and not weak_text("sin")


@pytest.mark.slow
async def test_textless_icons_on_a_toolbar_are_found_by_what_they_do(tmp_path: Path) -> None:
    """Icons from a set the icon reader never saw (tests/fixtures/icons), on a toolbar with no words."""
    fixtures = Path(__file__).parent / "fixtures" / "icons"
    names = ["trash", "search", "settings", "printer", "home", "bell", "lock", "camera"]
    screen = Image.new("RGB", (900, 300), (245, 246, 248))
    boxes = {}
    for n, name in enumerate(names):
        icon = Image.open(fixtures / f"{name}.png").convert("RGB").resize((32, 32))
        x, y = 40 + n * 100, 120
        screen.paste(icon, (x, y))
        boxes[name] = (x - 6, y - 6, x + 38, y + 38)
    path = tmp_path / "toolbar.png"
    screen.save(path)
    server = build_server(make_settings(tmp_path, backend="local"))
    found = 0
    async with Client(server) as client:
        for name, instruction in (("trash", "delete it"), ("search", "search for a file"), ("settings", "open the settings"), ("printer", "print this page")):
            r = await client.call_tool("rank_ui_elements", {"instruction": instruction, "path": str(path), "k": 3, "include_marks": False})
            assert not r.is_error, r.content
            top = r.structured_content["candidates"][0]
            found += _inside(top["click"], boxes[name])
            print(instruction, "->", top["click"], top["words"], top["score"])
            assert top["words"] and "icon:" in top["words"], top  # what the reader saw is shown
    assert found >= 3, found

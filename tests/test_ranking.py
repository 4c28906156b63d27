"""rank_ui_elements and rank_states end to end through mcp.Client (hashing backend, generated screens,
real OCR, real Xvfb; the region-proposal floor is checked on a real screenshot of the eval sets)."""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path
from typing import Any

import pytest
from mcp import Client
from mcp.types import ImageContent
from PIL import Image
from sensorium.server.app import build_server
from sensorium.tools.ranking import proposals, score, text
from media_support import png_that_does_not_inflate, ui_item, ui_screen, wav_tone
from server_support import error_text, eval_dir, make_settings

UI = eval_dir() / "ui_grounding"

# ui_grounding-style items on generated screens (same fields as the eval set's items)
ITEMS = {
    "login": ui_item("Click 'Login'", "Login"),  # literal: quotes the label
    "signup": ui_item("Sign up for a new account", "Register a new membership"),  # paraphrase
    "login_fullhd": ui_item("Click 'Login'", "Login", size=(1920, 1080)),  # fills the 1920x1080 Xvfb screen
}


def _eval_items() -> dict[str, dict[str, Any]]:
    return {d["id"]: d for d in (json.loads(x) for x in (UI / "items.jsonl").read_text().splitlines() if x.strip())}


@pytest.fixture
def server(tmp_path: Path):
    return build_server(make_settings(tmp_path))


def _copy(tmp_path: Path, item: dict[str, Any]) -> Path:
    dst = tmp_path / "screen.png"
    item["image"].save(dst)
    return dst


def _cands(item: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"box": c["box"], "label": c["name"] or None, "role": c["role"]} for c in item["candidates"]]


def _marks(result: Any) -> Image.Image:
    [img] = [c for c in result.content if isinstance(c, ImageContent)]
    raw = base64.b64decode(img.data)
    assert len(raw) < 1_000_000 and img.mime_type == "image/jpeg"
    return Image.open(io.BytesIO(raw))


# -- rank_ui_elements ------------------------------------------------------------------------


async def test_given_candidates_are_all_ranked_with_boxes_and_marks(server, tmp_path: Path) -> None:
    item = ITEMS["login"]
    shot = _copy(tmp_path, item)
    n = len(item["candidates"])
    async with Client(server) as client:
        r = await client.call_tool(
            "rank_ui_elements",
            {"instruction": item["instruction"], "path": str(shot), "candidates": _cands(item), "k": 100},
        )
        assert not r.is_error, r.content
        res = r.structured_content
    ranked = res["candidates"]
    assert res["total_candidates"] == n and len(ranked) == n and res["proposals"] is None
    assert sorted(e["index"] for e in ranked) == list(range(n))
    assert [e["rank"] for e in ranked] == list(range(1, n + 1))
    assert [e["score"] for e in ranked] == sorted((e["score"] for e in ranked), reverse=True)
    for e in ranked:
        given = item["candidates"][e["index"]]
        assert e["box"] == given["box"] and e["source"] == "given" and e["screen_box"] is None
        x1, y1, x2, y2 = given["box"]
        assert x1 <= e["click"][0] < x2 and y1 <= e["click"][1] < y2
        assert e["score"] == pytest.approx(e["cosine"] + score.W_TEXT * e["text_match"], abs=1e-3)
    # the quoted label matches exactly one candidate: the text term must put it first
    assert ranked[0]["index"] in item["acceptable_indices"], ranked[:3]
    marks = _marks(r)
    assert marks.size[0] <= item["width"] and res["marks_bytes"] > 0


async def test_spoken_instruction_is_embedded_as_the_query(server, tmp_path: Path) -> None:
    item = ITEMS["login"]
    shot = _copy(tmp_path, item)
    wav = tmp_path / "instruction.wav"
    wav.write_bytes(wav_tone(440.0, 1.5))  # the hashing backend embeds bytes: any clip is a query
    async with Client(server) as client:
        r = await client.call_tool(
            "rank_ui_elements",
            {"instruction_audio_path": str(wav), "path": str(shot), "candidates": _cands(item), "include_marks": False},
        )
        assert not r.is_error, r.content
    res = r.structured_content
    assert len(res["candidates"]) == len(item["candidates"])
    assert not any(isinstance(c, ImageContent) for c in r.content) and res["marks_bytes"] is None


@pytest.mark.slow
async def test_proposals_from_real_ocr_find_the_quoted_label(server, tmp_path: Path) -> None:
    item = ITEMS["login"]  # "Click 'Login'" on a small login page
    shot = _copy(tmp_path, item)
    async with Client(server) as client:
        r = await client.call_tool("rank_ui_elements", {"instruction": item["instruction"], "path": str(shot), "k": 5})
        assert not r.is_error, r.content
    res = r.structured_content
    assert res["proposals"] and res["total_candidates"] >= 5
    top = res["candidates"][0]
    assert top["source"] in {"ocr", "region"} and "login" in (top["label"] or "").lower(), res["candidates"]
    assert res["proposals"]["found"] >= res["proposals"]["ranked"] == res["total_candidates"]
    x1, y1, x2, y2 = item["target_box"]
    assert x1 <= top["click"][0] < x2 and y1 <= top["click"][1] < y2
    assert {e["source"] for e in res["candidates"]} <= {"ocr", "region"}
    _marks(r)


@pytest.mark.evalsets
def test_region_proposals_cover_most_targets_on_a_real_screen() -> None:
    """Sanity floor only: the coverage numbers are measured with tools/ranking/coverage.py (see report)."""
    group = [d for d in _eval_items().values() if d["image"] == "images/ui_dev_00.jpg"]
    image = Image.open(UI / "images/ui_dev_00.jpg").convert("RGB")
    regions = proposals.region_proposals(image)
    merged = proposals.merge([], regions, [])
    assert 10 <= len(merged) <= proposals.MAX_PROPOSALS
    boxes = [c["box"] for c in group[0]["candidates"]]
    cov = proposals.coverage(boxes, merged)
    print(f"region-only coverage of all {len(boxes)} candidates of ui_dev_00: {cov:.2f}")
    assert cov >= 0.5


def test_text_similarity_prefers_the_quoted_label() -> None:
    assert text.text_similarity("Click 'Sign In'", "Sign In") == 1.0
    assert text.text_similarity("Click 'Sign In'", "Register") < 0.3
    assert text.text_similarity("open the calendar", "Calendar") == 1.0
    assert text.text_similarity("open the calendar", None) == 0.0


async def test_bad_input_is_refused_with_specific_messages(server, tmp_path: Path) -> None:
    item = ITEMS["login"]
    shot = str(_copy(tmp_path, item))
    garbage = tmp_path / "broken.png"
    garbage.write_bytes(Path(shot).read_bytes()[:400])  # a truncated image
    uninflatable = tmp_path / "damaged_pixels.png"  # chunks intact (intake passes it), pixel stream damaged
    uninflatable.write_bytes(png_that_does_not_inflate(Image.open(shot)))
    base = {"instruction": "Click 'Login'", "path": shot}
    cases: list[tuple[dict[str, Any], str]] = [
        ({**base, "candidates": [{"box": [10, 10, 2000, 50]}]}, "outside the image (1280x800"),
        ({**base, "candidates": [{"box": [-5, 10, 20, 50]}]}, "outside the image"),
        ({**base, "candidates": [{"box": [10, 10, 10, 50]}]}, "zero or negative area"),
        ({**base, "candidates": [{"box": [30, 10, 20, 50]}]}, "zero or negative area"),
        ({**base, "candidates": [{"box": [1, 2, 3]}]}, "must be 4 finite numbers"),
        ({**base, "candidates": []}, "candidates is an empty list"),
        ({**base, "candidates": [{"box": [0, 0, 10, 10]}] * 501}, "501 candidates, the limit is 500"),
        ({"instruction": "x", "path": str(garbage), "candidates": [{"box": [0, 0, 10, 10]}]}, "does not decode"),
        ({"instruction": "x", "path": str(uninflatable), "candidates": [{"box": [0, 0, 10, 10]}]}, "does not decode"),
        ({"instruction": "x", "path": str(uninflatable)}, "does not decode"),
        ({"instruction": "x", "data_base64": base64.b64encode(b"hello, not an image").decode()}, "UnsupportedMedia"),
        ({"path": shot, "candidates": [{"box": [0, 0, 10, 10]}]}, "give exactly one instruction"),
        ({**base, "k": 0}, "greater than or equal to 1"),
    ]
    async with Client(server) as client:
        for args, expected in cases:
            r = await client.call_tool("rank_ui_elements", args)
            assert expected in error_text(r), (args.get("candidates", [])[:1], error_text(r))
        ok = await client.call_tool("rank_ui_elements", {**base, "candidates": [{"box": [480, 497, 519, 514], "label": "Login"}]})
        assert not ok.is_error and ok.structured_content["candidates"][0]["label"] == "Login"


async def test_capture_id_maps_boxes_to_screen_pixels(tmp_path: Path, show_image) -> None:
    item = ITEMS["login_fullhd"]  # a 1920x1080 screen fills the 1920x1080 Xvfb screen
    show_image(item["image"], 0, 0)
    server = build_server(make_settings(tmp_path))
    async with Client(server) as client:
        cap = await client.call_tool("capture_screen", {"monitor": 1})
        assert not cap.is_error, cap.content
        c = cap.structured_content
        assert c["width"] == 1568 and c["scale"] == pytest.approx(1920 / 1568)
        s = c["scale"]
        cands = [{"box": [b[0] / s, b[1] / s, b[2] / s, b[3] / s], "label": cc["name"] or None} for cc in item["candidates"] for b in [cc["box"]]]
        r = await client.call_tool(
            "rank_ui_elements", {"instruction": item["instruction"], "capture_id": c["capture_id"], "candidates": cands, "k": 100}
        )
        assert not r.is_error, r.content
    res = r.structured_content
    assert res["capture_id"] == c["capture_id"] and res["scale"] == pytest.approx(s)
    for e in res["candidates"]:
        real = item["candidates"][e["index"]]["box"]
        # the image box covers the fractional one, so the screen box may be up to ~1 image px (1.2 screen px) larger
        assert all(abs(a - b) <= 3 for a, b in zip(e["screen_box"], real)), (e["screen_box"], real)
        assert real[0] <= e["click"][0] < real[2] and real[1] <= e["click"][1] < real[3]
    top = res["candidates"][0]
    assert top["index"] in item["acceptable_indices"]


# -- rank_states -----------------------------------------------------------------------------


async def _remember_three(client: Client, tmp_path: Path) -> list[tuple[int, Path]]:
    out = []
    titles = ("Dashboard - AdminLTE", "Inbox (3 unread)", "Project settings")
    for n, title in enumerate(titles):
        p = tmp_path / f"screen_{n}.jpg"
        ui_screen(title=title, accent=("#3c8dbc", "#00a65a", "#dd4b39")[n])[0].save(p, "JPEG", quality=85)
        r = await client.call_tool(
            "remember",
            {"path": str(p), "note": f"screen {n}: clicked something", "tags": ["screen", f"s{n}"], "metadata": {"step": n}, "episode_id": f"ep{n % 2}"},
        )
        assert not r.is_error and r.structured_content["status"] == "stored", r.content
        out.append((r.structured_content["id"], p))
    return out


async def test_rank_states_finds_the_same_screen_and_honours_ids_and_filters(server, tmp_path: Path) -> None:
    async with Client(server) as client:
        empty = await client.call_tool("rank_states", {"text": "login page"})
        assert not empty.is_error and empty.structured_content["best"] is None and not empty.structured_content["seen_before"]
        mem = await _remember_three(client, tmp_path)
        for (mid, p), n in zip(mem, range(3)):
            r = await client.call_tool("rank_states", {"path": str(p), "k": 3, "include_thumbnail": True})
            assert not r.is_error, r.content
            res = r.structured_content
            assert res["best"]["id"] == mid and res["seen_before"] and res["best"]["similarity"] > 0.99
            assert res["best"]["metadata"] == {"step": n} and f"screen {n}" in res["best"]["text"]
            assert [m["rank"] for m in res["matches"]] == [1, 2, 3]
            assert any(isinstance(c, ImageContent) for c in r.content)
        (id0, p0), (id1, _), (id2, _) = mem
        r = await client.call_tool("rank_states", {"path": str(p0), "filter": {"ids": [id1, id2]}})
        res = r.structured_content
        assert {m["id"] for m in res["matches"]} == {id1, id2} and not res["seen_before"]
        r = await client.call_tool("rank_states", {"path": str(p0), "filter": {"tags": ["s2"]}})
        assert [m["id"] for m in r.structured_content["matches"]] == [id2]
        r = await client.call_tool("rank_states", {"path": str(p0), "filter": {"episode_id": "ep0"}, "recency_half_life_s": 3600})
        res = r.structured_content
        assert {m["id"] for m in res["matches"]} == {id0, id2} and res["best"]["id"] == id0
        assert 0.9 < res["best"]["recency"] <= 1.0 and res["best"]["score"] == pytest.approx(res["best"]["similarity"] + 0.1 * res["best"]["recency"], abs=1e-5)
        r = await client.call_tool("rank_states", {"path": str(p0), "threshold": 1.5})
        assert not r.structured_content["seen_before"] and r.structured_content["best"]["id"] == id0
        bad = await client.call_tool("rank_states", {"path": str(p0), "filter": {"ids": []}})
        assert "ids is an empty list" in error_text(bad)
        bad = await client.call_tool("rank_states", {})
        assert "needs exactly one input" in error_text(bad)


async def test_history_prior_boosts_the_label_acted_on_before(server, tmp_path: Path) -> None:
    item = ITEMS["signup"]  # "Sign up for a new account" -> "Register a new membership"
    shot = str(_copy(tmp_path, item))
    args = {"instruction": "take me to the signup form", "path": shot, "candidates": _cands(item), "k": 10, "include_marks": False}
    async with Client(server) as client:
        before = await client.call_tool("rank_ui_elements", {**args, "use_history": True})
        assert not before.is_error, before.content
        assert all(e["history"] == 0.0 for e in before.structured_content["candidates"])
        r = await client.call_tool(
            "remember",
            {"text": "take me to the signup form", "tags": ["action"], "metadata": {"label": "Register a new membership"}},
        )
        assert not r.is_error, r.content
        after = await client.call_tool("rank_ui_elements", {**args, "use_history": True})
        off = await client.call_tool("rank_ui_elements", args)
    top = after.structured_content["candidates"][0]
    assert top["index"] == item["target_index"] and top["history"] == pytest.approx(1.0, abs=1e-3)
    assert all(e["history"] is None for e in off.structured_content["candidates"])

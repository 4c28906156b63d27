"""The benchmark's generated screens are reproducible and truthful, and the ranking bench still runs.

Nothing here measures speed (that is the bench's job); these tests keep the bench from rotting:
same seed -> same pixels, ground truth on the image, a "small change" that is small, and
bench_ranking.main end to end on one tiny screen with the hashing backend.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from PIL import Image, ImageChops

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench"))

import bench_ranking  # noqa: E402
import scenes  # noqa: E402


def _diff_box(a: Image.Image, b: Image.Image) -> tuple[int, int, int, int] | None:
    return ImageChops.difference(a.convert("RGB"), b.convert("RGB")).getbbox()


def _inside(inner: tuple[int, int, int, int], outer: tuple[int, int, int, int]) -> bool:
    return outer[0] <= inner[0] and outer[1] <= inner[1] and inner[2] <= outer[2] and inner[3] <= outer[3]


def test_same_seed_same_pixels_and_ground_truth_other_seed_other_text() -> None:
    a, b = scenes.desktop((800, 500), seed=3), scenes.desktop((800, 500), seed=3)
    assert a.image.tobytes() == b.image.tobytes()
    assert a.elements == b.elements
    c = scenes.desktop((800, 500), seed=4)
    assert c.image.tobytes() != a.image.tobytes()
    assert [e.text for e in c.elements if e.kind == "line"] != [e.text for e in a.elements if e.kind == "line"]


@pytest.mark.parametrize("size", [(1920, 1080), (1280, 800), (640, 400)])
def test_every_element_lies_inside_the_image_and_the_checked_targets_exist(size: tuple[int, int]) -> None:
    scene = scenes.desktop(size)
    assert scene.image.size == size
    w, h = size
    for e in scene.elements:
        x1, y1, x2, y2 = e.box
        assert 0 <= x1 < x2 <= w and 0 <= y1 < y2 <= h, e
    kinds = {e.kind for e in scene.elements}
    assert kinds == {"key", "icon", "menu", "line"}
    for _, label in bench_ranking.DESKTOP_CHECKS:
        scene.find(label)
    assert [e.text for e in scene.elements if e.kind == "key"][:5] == ["sin", "cos", "tan", "C", "⌫"]
    with pytest.raises(KeyError, match="equals"):
        scene.find("no such thing")


def test_a_busy_1080p_desktop_is_busy() -> None:
    scene = scenes.desktop((1920, 1080))
    lines = [e for e in scene.elements if e.kind == "line"]
    assert len(lines) >= 80  # two terminals of ~45 lines each
    assert sum(e.kind == "key" for e in scene.elements) == 25
    assert sum(e.kind == "icon" for e in scene.elements) >= 9


@pytest.mark.parametrize("kind", ["type", "display"])
def test_one_small_change_touches_only_its_small_region(kind: str) -> None:
    scene = scenes.desktop((1920, 1080))
    changed = scenes.small_change(scene, kind)  # type: ignore[arg-type]
    box = _diff_box(scene.image, changed)
    assert box is not None, "the change changed nothing"
    area = (box[2] - box[0]) * (box[3] - box[1])
    assert area <= 0.005 * 1920 * 1080, (box, area)
    assert _inside(box, scene.changes[kind]), (box, scene.changes[kind])


def test_typing_twice_stays_on_the_prompt_line() -> None:
    once = scenes.desktop((1280, 800), typed="l")
    twice = scenes.small_change(once, "type")
    box = _diff_box(once.image, twice)
    assert box is not None and _inside(box, once.changes["type"])


def test_badge_is_a_small_change_for_any_screenshot() -> None:
    img = scenes.desktop((1280, 800)).image
    box = _diff_box(img, scenes.badge(img, seed=1))
    assert box is not None
    assert (box[2] - box[0]) <= 30 and (box[3] - box[1]) <= 22
    assert scenes.badge(img, seed=1).tobytes() == scenes.badge(img, seed=1).tobytes()


def test_too_small_a_desktop_is_refused_with_the_minimum() -> None:
    with pytest.raises(ValueError, match="640x400"):
        scenes.desktop((600, 400))


def test_bench_ranking_runs_end_to_end_on_one_tiny_screen(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Hashing backend (real OCR for proposals, no encoder): the tool through MCP, the old per-crop path,
    embed_screenshot and the desktop checks all run, and the JSON has every figure."""
    monkeypatch.setenv("SENSORIUM_BACKEND", "hashing")
    out = tmp_path / "ranking.json"
    code = bench_ranking.main(
        ["--screens", "0", "--sizes", "640x400", "--baseline-screens", "1", "--cache-dir", str(tmp_path / "cache"), "--json", str(out)]
    )
    assert code == 0
    data = json.loads(out.read_text())
    assert data["settings"]["backend"] == "hashing"
    assert data["machine"]["cpus"] >= 1 and len(data["machine"]["load_avg_start"]) == 3
    [row] = data["screens"]
    assert row["name"] == "desktop_640x400" and row["size"] == "640x400"
    for side in ("tool", "baseline"):
        figures = row[side]
        for key in ("cold_s", "same_capture_s", "one_change_s"):
            assert isinstance(figures[key], float) and figures[key] >= 0, (side, key)
        assert figures["total_candidates"] > 0
        assert [c["instruction"] for c in figures["checks"]] == [i for i, _ in bench_ranking.DESKTOP_CHECKS]
    assert set(row["baseline"]) >= {"cold_propose_s", "cold_embed_crops_s", "at_cap"}
    emb = data["embed_screenshot"]
    assert emb["screen"] == "desktop_640x400" and all(emb[k] >= 0 for k in ("cold_s", "revisit_s", "one_change_s"))
    assert data["summary"]["desktop 640x400"]["tool"]["screens"] == 1

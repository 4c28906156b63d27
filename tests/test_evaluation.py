"""The evaluation harness: exact metrics, real manifests, small real subsets end to end via the CLI."""

from __future__ import annotations

import json
import math
import shutil
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
from sensorium.server.cli import main
from sensorium.tools.backends.base import Embedding, EmbedItem, ProgressCallback, Role
from sensorium.tools.backends.hashing import HashingBackend
from sensorium.tools.errors import InvalidInput, ModalityNotSupported, NotFound
from sensorium.tools.evaluation import datasets as ds
from sensorium.tools.evaluation.metrics import (
    first_correct_distribution,
    not_found,
    outcome_from_scores,
    string_similarity,
    summarise,
    summarise_by_group,
    wer,
    word_errors,
)
from sensorium.tools.evaluation.report import MARK_END, MARK_START
from sensorium.tools.evaluation.runner import run_eval
from sensorium.tools.regions import padded_box
from server_support import eval_dir

EVAL_DIR = eval_dir()


# ---------------------------------------------------------------- metrics on hand-made rankings
def test_single_correct_at_rank_two() -> None:
    o = outcome_from_scores([0.9, 0.5, 0.1], [1])
    assert o.hits == {1: 0.0, 5: 1.0}
    assert o.rr == pytest.approx(0.5)
    assert o.found and o.best_rank == pytest.approx(2)


def test_rank_beyond_five_misses_hit_at_5() -> None:
    scores = [0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3]
    o = outcome_from_scores(scores, [6])
    assert o.hits == {1: 0.0, 5: 0.0}
    assert o.rr == pytest.approx(1 / 7)


def test_ties_are_expected_values_not_list_order() -> None:
    # correct candidate tied with one wrong one for first place: rank 1 or 2, each with p=1/2
    o = outcome_from_scores([0.9, 0.9, 0.1], [0])
    assert o.hits[1] == pytest.approx(0.5)
    assert o.rr == pytest.approx(0.75)
    # the same ranking with the candidates listed the other way round gives the same numbers
    assert outcome_from_scores([0.9, 0.9, 0.1], [1]).rr == pytest.approx(0.75)


def test_several_acceptable_answers_take_the_first_one() -> None:
    # two wrong 0.9s ahead, then correct index 2 (0.5); the other correct one (0.1) is last
    o = outcome_from_scores([0.1, 0.9, 0.5, 0.9], [0, 2])
    assert o.hits == {1: 0.0, 5: 1.0}
    assert o.rr == pytest.approx(1 / 3)
    # two correct among four tied: P(first correct at 1)=1/2, at 2 = 1/3, at 3 = 1/6
    assert first_correct_distribution([0, 0, 0, 0], [1, 2]) == pytest.approx({1: 0.5, 2: 1 / 3, 3: 1 / 6})


def test_uniform_random_ranking_is_exact() -> None:
    n = 10
    o = outcome_from_scores(np.zeros(n), [3])
    assert o.hits[1] == pytest.approx(1 / n)
    assert o.hits[5] == pytest.approx(5 / n)
    assert o.rr == pytest.approx(sum(1 / r for r in range(1, n + 1)) / n)


def test_refused_document_and_query_count_as_not_found() -> None:
    o = outcome_from_scores([-math.inf, 0.5, 0.2], [0])
    assert not o.found and o.rr == 0.0 and o.hits == {1: 0.0, 5: 0.0}
    # a refused wrong document never outranks the correct one
    assert outcome_from_scores([-math.inf, 0.1], [1]).hits[1] == 1.0
    m = summarise([o, outcome_from_scores([1.0, 0.0], [0]), not_found()])
    assert m.n == 3 and m.not_found == 2
    assert m.hit_at_1 == pytest.approx(1 / 3, abs=1e-4) and m.mrr == pytest.approx(1 / 3, abs=1e-4)


def test_point_in_box_uses_the_centre_of_the_top_box() -> None:
    boxes = [(0, 0, 100, 100), (40, 40, 60, 60), (200, 0, 300, 100)]
    # the top-ranked box is nested inside the target: a wrong rank, a right click
    o = outcome_from_scores([0.1, 0.9, 0.5], [0], boxes=boxes)
    assert o.hits[1] == 0.0 and o.point_in_box == 1.0
    # a box beside the target: wrong click
    assert outcome_from_scores([0.1, 0.2, 0.9], [0], boxes=boxes).point_in_box == 0.0
    # x2/y2 are exclusive: box (0,0,10,10) has centre (5,5); a 1-px-wide box at x=10 has centre 10.5
    edge = [(0, 0, 10, 10), (10, 0, 11, 10)]
    assert outcome_from_scores([0.0, 1.0], [0], boxes=edge).point_in_box == 0.0
    # tie at the top between the target and a far box: half a click
    assert outcome_from_scores([0.9, 0.1, 0.9], [0], boxes=boxes).point_in_box == pytest.approx(0.5)


def test_grouping_keeps_all_first_and_each_type() -> None:
    outs = [outcome_from_scores([1, 0], [0], "literal"), outcome_from_scores([0, 1], [0], "icon"), outcome_from_scores([1, 0], [0], "literal")]
    g = summarise_by_group(outs)
    assert list(g) == ["all", "icon", "literal"]
    assert g["all"].hit_at_1 == pytest.approx(2 / 3, abs=1e-4)
    assert g["literal"].hit_at_1 == 1.0 and g["icon"].hit_at_1 == 0.0
    assert g["icon"].model_dump()["hit@1"] == 0.0  # JSON keys are hit@1 / hit@5 / mrr


def test_wer_and_string_similarity() -> None:
    assert word_errors("open the settings menu", " Open the settings menu.") == (0, 4)
    assert word_errors("a b c d", "a x c") == (2, 4)  # one substitution, one deletion
    assert wer([("a b c d", "a x c"), ("e f", "e f")]) == pytest.approx(2 / 6)
    assert string_similarity("Ribbons", "ribbons") == 1.0
    assert string_similarity("Click 'Ribbons'", "Ribbons") > string_similarity("Click 'Ribbons'", "Calendar")
    assert string_similarity("", "x") == 0.0


def test_crop_box_pads_and_clips() -> None:
    from PIL import Image

    img = Image.new("RGB", (200, 100))
    assert padded_box((0, 0, 10, 10), img.size) == (0, 0, 15, 15)  # 10 % + 4 px, clipped at the origin
    assert padded_box((100, 40, 200, 60), img.size) == (86, 34, 200, 66)


# ---------------------------------------------------------------- loaders on the real manifests
@pytest.mark.evalsets
def test_loaders_read_every_real_manifest() -> None:
    ui = ds.load_ui_grounding(EVAL_DIR / "ui_grounding")
    assert len(ui.items) == 166 and len({i.image for i in ui.items}) == 42
    assert {t: sum(1 for i in ui.items if i.instruction_type == t) for t in ("paraphrase", "literal", "icon", "form")} == {
        "paraphrase": 63, "literal": 62, "icon": 23, "form": 18}
    for item in ui.items:
        assert item.image.is_absolute() and item.image.is_file()
        assert item.candidates[item.target_index].box == item.target_box
        assert item.target_index in item.acceptable_indices
        assert all(c.label for c in item.candidates)
    icons = ds.load_icons(EVAL_DIR / "icons")
    assert len(icons.items) == 200 and {i.set for i in icons.items} == {"lucide-static", "bootstrap-icons"}
    sp = ds.load_spoken_instructions(EVAL_DIR / "spoken_instructions")
    assert len(sp.items) == 121 and sum(i.noisy for i in sp.items) == 40
    st = ds.load_screen_states(EVAL_DIR / "screen_states")
    assert (len(st.states), len(st.image_queries), len(st.text_queries)) == (26, 78, 26)
    assert {q.perturbation.kind for q in st.image_queries} == {"scrolled", "resized", "interacted"}
    snd = ds.load_sound_events(EVAL_DIR / "sound_events")
    assert len(snd.items) == 20 and not any(i.is_speech for i in snd.items)
    assert all(i.audio.is_file() for i in [*sp.items, *snd.items])


@pytest.mark.evalsets
def test_set_folders_are_detected_and_resolved() -> None:
    for name in ds.SET_NAMES:
        assert ds.detect_set(EVAL_DIR / name) == name
    assert list(ds.resolve_sets("all", EVAL_DIR)) == list(ds.SET_NAMES)
    assert ds.resolve_sets("icons", EVAL_DIR / "icons") == {"icons": EVAL_DIR / "icons"}
    with pytest.raises(InvalidInput, match="holds the 'icons' set"):
        ds.resolve_sets("ui_grounding", EVAL_DIR / "icons")
    with pytest.raises(InvalidInput, match="unknown evaluation set"):
        ds.resolve_sets("faces", EVAL_DIR)


# ---------------------------------------------------------------- small real subsets
def _copy_rows(src: Path, dst: Path, manifest: str, rows: Sequence[dict]) -> None:
    """Write `rows` as dst/manifest and copy every file they reference, keeping relative paths."""
    dst.mkdir(parents=True, exist_ok=True)
    with (dst / manifest).open("w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row) + "\n")
            for key in ("image", "audio"):
                if key in row:
                    (dst / row[key]).parent.mkdir(parents=True, exist_ok=True)
                    shutil.copyfile(src / row[key], dst / row[key])


def _rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def make_subset(parent: Path, sets: Sequence[str] = ds.SET_NAMES, *, with_meta: bool = True) -> Path:
    """A few real items of each set under parent/<set>/, same format (relative paths) as the source."""
    for name in sets:
        src, dst = EVAL_DIR / name, parent / name
        if name == "ui_grounding":
            rows = _rows(src / "items.jsonl")
            shots = list(dict.fromkeys(r["image"] for r in rows))[:2]
            _copy_rows(src, dst, "items.jsonl", [r for r in rows if r["image"] in shots])
        elif name == "screen_states":
            states = _rows(src / "states.jsonl")[:4]
            ids = {s["id"] for s in states}
            _copy_rows(src, dst, "states.jsonl", states)
            _copy_rows(src, dst, "image_queries.jsonl", [q for q in _rows(src / "image_queries.jsonl") if q["expected_state_id"] in ids])
            _copy_rows(src, dst, "text_queries.jsonl", [q for q in _rows(src / "text_queries.jsonl") if q["expected_state_id"] in ids])
        else:
            rows = _rows(src / "items.jsonl")
            if name == "icons":  # both icon sets
                rows = rows[:4] + [r for r in rows if r["set"] == "bootstrap-icons"][:3]
            elif name == "spoken_instructions":  # clean and noisy clips
                rows = [r for r in rows if not r["noisy"]][:4] + [r for r in rows if r["noisy"]][:2]
            else:
                rows = rows[:5]
            _copy_rows(src, dst, "items.jsonl", rows)
        if with_meta:
            shutil.copyfile(src / "meta.json", dst / "meta.json")
    return parent


@pytest.mark.evalsets
def test_a_copied_subset_loads_with_relative_paths_and_a_missing_file_is_named(tmp_path: Path) -> None:
    make_subset(tmp_path, ["ui_grounding", "icons"], with_meta=False)
    # no meta.json: the format is recognised from the manifest itself
    assert ds.detect_set(tmp_path / "ui_grounding") == "ui_grounding"
    ui = ds.load_ui_grounding(tmp_path / "ui_grounding")
    assert len({i.image for i in ui.items}) == 2
    assert all(i.image.is_relative_to(tmp_path) for i in ui.items)
    missing = ds.load_icons(tmp_path / "icons").items[0].image
    missing.unlink()
    with pytest.raises(NotFound, match=missing.name):
        ds.load_icons(tmp_path / "icons")


class _NoAudioBackend(HashingBackend):
    """A backend that, like a vision-and-text model, refuses audio outright."""

    name = "no-audio"

    async def embed(self, items: Sequence[EmbedItem], role: Role, *, progress: ProgressCallback | None = None) -> list[Embedding]:
        if any(i.modality == "audio" for i in items):
            raise ModalityNotSupported("this backend does not embed audio; use the Gemini backend")
        return await super().embed(items, role, progress=progress)


@pytest.mark.evalsets
async def test_refusals_count_as_not_found_and_as_rejections(tmp_path: Path) -> None:
    make_subset(tmp_path, ["sound_events", "spoken_instructions"])
    calls: list[tuple[str, int, int]] = []
    report = await run_eval("all", tmp_path, [_NoAudioBackend(), HashingBackend()], lambda *a: calls.append(a))
    snd = report.sets["sound_events"]
    assert snd.extras["rejection"]["no-audio"]["rejection_rate"] == 1.0
    assert snd.extras["rejection"]["hashing"]["rejection_rate"] == 0.0
    assert snd.extras["rejection"]["hashing"]["embedded_without_transcript"] == 5
    label = snd.tasks["audio->label"].groups["all"]
    assert label["no-audio"].not_found == 5 and label["no-audio"].mrr == 0.0
    assert label["random"].hit_at_1 == pytest.approx(1 / 5)
    assert [r.refused for r in snd.backends] == [5, 0]
    sp = report.sets["spoken_instructions"].tasks["audio->transcript"].groups
    assert set(sp) == {"all", "clean", "noisy"}
    assert sp["noisy"]["no-audio"].not_found == 2
    # progress: one stage per (set, backend), ending complete
    finals = {label: (done, total) for label, done, total in calls}
    assert finals["sound_events: no-audio"][0] == finals["sound_events: no-audio"][1] == 15


@pytest.mark.evalsets
def test_cli_eval_all_on_a_small_folder_writes_the_json(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    data = make_subset(tmp_path / "eval")
    monkeypatch.setenv("SENSORIUM_DATA_DIR", str(tmp_path / "state"))  # the embedding cache lands here
    out = tmp_path / "results.json"
    doc = tmp_path / "EVAL.md"
    doc.write_text(f"# Eval\nprose before\n{MARK_START}\nold table\n{MARK_END}\nprose after\n", encoding="utf-8")
    rc = main(["eval", "all", "--data", str(data), "--backend", "hashing", "--json", str(out), "--markdown", str(doc)])
    assert rc == 0
    printed = capsys.readouterr().out
    assert "ui_grounding · candidates" in printed and "hashing:boxes" in printed

    r = json.loads(out.read_text(encoding="utf-8"))
    assert list(r["sets"]) == list(ds.SET_NAMES)
    assert r["backends"][0]["name"] == "hashing" and r["backends"][0]["space"].startswith("hashing/")

    ui = r["sets"]["ui_grounding"]["tasks"]["candidates"]["groups"]
    types = {row["instruction_type"] for row in _rows(data / "ui_grounding" / "items.jsonl")}
    assert set(ui) == {"all", *types}
    for group in ui.values():
        assert list(group) == ["random", "text-only", "hashing:boxes", "hashing:boxes+names", "hashing:proposed"]
        for m in group.values():
            assert set(m) >= {"n", "hit@1", "hit@5", "mrr", "point_in_box", "not_found"}
            assert 0.0 <= m["hit@1"] <= m["hit@5"] <= 1.0 and 0.0 <= m["point_in_box"] <= 1.0
    # names make literal instructions easy for a string match; a random ranking cannot do that
    if "literal" in ui:
        assert ui["literal"]["text-only"]["hit@1"] > ui["literal"]["random"]["hit@1"]

    icons = r["sets"]["icons"]["tasks"]
    assert set(icons) == {"description->image", "name->image", "image->description"}
    assert set(icons["description->image"]["groups"]) == {"all", "lucide-static", "bootstrap-icons"}
    assert icons["description->image"]["groups"]["all"]["random"]["hit@1"] == pytest.approx(1 / 7, abs=1e-4)
    assert "point_in_box" not in icons["name->image"]["groups"]["all"]["hashing"] or icons["name->image"]["groups"]["all"]["hashing"]["point_in_box"] is None

    st = r["sets"]["screen_states"]["tasks"]
    assert set(st["image->state"]["groups"]) == {"all", "scrolled", "resized", "interacted"}
    assert set(st["text->state"]["groups"]["all"]) == {"random", "text-only", "hashing:image", "hashing:description", "hashing:fused"}
    assert st["image->state"]["extras"]["similarity_gap"]["hashing"]["n"] == 12
    assert r["sets"]["sound_events"]["extras"]["rejection"]["hashing"]["n"] == 5

    text = doc.read_text(encoding="utf-8")
    assert text.startswith("# Eval\nprose before\n") and text.endswith("prose after\n")
    assert "old table" not in text and "| all | random |" in text


@pytest.mark.evalsets
def test_cli_eval_single_set_folder_and_bad_data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = make_subset(tmp_path / "eval", ["icons"])
    monkeypatch.setenv("SENSORIUM_DATA_DIR", str(tmp_path / "state"))
    out = tmp_path / "r.json"
    doc = tmp_path / "EVAL.md"
    assert main(["eval", "icons", "--data", str(data / "icons"), "--backend", "hashing", "--json", str(out), "--markdown", str(doc)]) == 0
    assert list(json.loads(out.read_text())["sets"]) == ["icons"]
    # a later single-set run replaces only its own section of the Markdown block
    make_subset(tmp_path / "eval", ["sound_events"])
    assert main(["eval", "sound_events", "--data", str(data), "--backend", "hashing", "--markdown", str(doc)]) == 0
    text = doc.read_text(encoding="utf-8")
    assert text.count("### icons") == 1 and text.count("### sound_events") == 1
    assert text.index("### icons") < text.index("### sound_events") < text.index(MARK_END)
    # asking a set folder for another set is a clear error, not a crash
    assert main(["eval", "sound_events", "--data", str(data / "icons"), "--backend", "hashing"]) == 2
    assert main(["eval", "all", "--data", str(tmp_path / "nowhere"), "--backend", "hashing"]) == 2


@pytest.mark.evalsets
@pytest.mark.slow
async def test_local_backend_rejects_sounds_and_hears_speech(tmp_path: Path) -> None:
    """The real offline backend (Whisper + VAD + MiniLM) on a few real clips."""
    from sensorium.tools.backends.local.backend import LocalBackend

    make_subset(tmp_path, ["sound_events", "spoken_instructions"])
    backend = LocalBackend(cache_dir=tmp_path / "cache")
    try:
        report = await run_eval("all", tmp_path, [backend])
    finally:
        await backend.aclose()
    rej = report.sets["sound_events"].extras["rejection"]["local"]
    assert rej["rejection_rate"] == 1.0 and rej["hallucinated"] == []
    sp = report.sets["spoken_instructions"].tasks["audio->transcript"]
    assert sp.groups["clean"]["local"].hit_at_1 > sp.groups["clean"]["random"].hit_at_1
    w = sp.extras["wer"]["local"]
    assert set(w["wer"]) == {"all", "clean", "noisy"} and 0.0 <= w["wer"]["clean"] < 0.5

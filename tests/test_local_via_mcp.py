"""The default, offline path: no API key -> the local backend, through a real MCP client."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
from mcp import Client, StdioServerParameters
from media_support import pdf_with_text, png_that_does_not_inflate, text_image, wav_tone
from sensorium.server.app import build_server
from server_support import error_text, eval_dir, make_settings, subprocess_env

SPACE = "local/minilm-l6@384"


def _jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


@pytest.fixture(scope="module")
def local_server(tmp_path_factory: pytest.TempPathFactory):
    tmp = tmp_path_factory.mktemp("local")
    return build_server(make_settings(tmp, backend="local")), tmp


@pytest.mark.evalsets
@pytest.mark.slow
async def test_embed_tools_give_local_vectors_and_text_finds_its_screen(local_server) -> None:
    server, tmp = local_server
    states = {s["id"]: s for s in _jsonl(eval_dir() / "screen_states" / "states.jsonl")}
    queries = {q["expected_state_id"]: q for q in _jsonl(eval_dir() / "screen_states" / "text_queries.jsonl")}
    chosen = ["st_dev_09", "st_dev_03", "st_dev_23"]
    async with Client(server) as client:
        vectors = {}
        for sid in chosen:
            r = await client.call_tool(
                "embed_image", {"path": str(eval_dir() / "screen_states" / states[sid]["image"]), "include_vector": True}
            )
            assert not r.is_error, r.content
            assert r.structured_content["space"] == SPACE and r.structured_content["text_seen"]
            vectors[sid] = np.array(r.structured_content["vector"])
        for sid in chosen:
            q = await client.call_tool("embed_text", {"text": queries[sid]["text"], "include_vector": True})
            qv = np.array(q.structured_content["vector"])
            best = max(vectors, key=lambda k: float(vectors[k] @ qv))
            assert best == sid, (queries[sid]["text"], best)


async def test_spoken_instruction_matches_its_transcript_and_a_tone_is_refused(local_server, say) -> None:
    server, tmp = local_server
    # Whisper tiny.en's WER on espeak-ng speech is ~0.4 (docs/EVAL.md): this checks the path on two
    # short sentences and asserts retrieval, not exact words; quality is measured by `sensorium eval`.
    items = []
    for n, sentence in enumerate(["open the settings menu", "close this tab"]):
        (tmp / f"spoken_{n}.wav").write_bytes(say(sentence))
        items.append({"transcript": sentence, "audio": tmp / f"spoken_{n}.wav"})
    tone = tmp / "tone.wav"
    tone.write_bytes(wav_tone(440.0, 1.5))
    async with Client(server) as client:
        texts = []
        for it in items:
            t = await client.call_tool("embed_text", {"text": it["transcript"], "role": "document", "include_vector": True})
            texts.append(np.array(t.structured_content["vector"]))
        for n, it in enumerate(items):
            a = await client.call_tool(
                "embed_audio", {"path": str(it["audio"]), "role": "query", "include_vector": True}
            )
            assert not a.is_error, a.content
            assert a.structured_content["space"] == SPACE
            av = np.array(a.structured_content["vector"])
            assert int(np.argmax([float(v @ av) for v in texts])) == n, a.structured_content["text_seen"]
        refused = await client.call_tool("embed_audio", {"path": str(tone)})
        text = error_text(refused)
        assert "ModalityNotSupported" in text and "no speech" in text and "Gemini" in text


async def test_pdf_through_embed_media(local_server) -> None:
    server, tmp = local_server
    pdf = tmp / "invoice.pdf"
    pdf.write_bytes(pdf_with_text(["Invoice 1042: total due 99 euros"]))
    async with Client(server) as client:
        r = await client.call_tool("embed_media", {"path": str(pdf)})
    assert not r.is_error, r.content
    assert r.structured_content["modality"] == "pdf" and "Invoice" in (r.structured_content["text_seen"] or "")


async def test_a_png_whose_pixels_do_not_inflate_is_a_tool_error(local_server) -> None:
    """Intake checks a PNG's structure only (tools/intake.py); the local backend's one decode of the
    pixels refuses a damaged stream with a specific error, and the server keeps serving."""
    server, tmp = local_server
    bad = tmp / "damaged_pixels.png"
    bad.write_bytes(png_that_does_not_inflate(text_image("Quarterly report")))
    good = tmp / "report.png"
    text_image("Quarterly report").save(good)
    async with Client(server) as client:
        r = await client.call_tool("embed_image", {"path": str(bad)})
        assert r.is_error and "does not decode" in error_text(r), error_text(r)
        ok = await client.call_tool("embed_image", {"path": str(good)})
        assert not ok.is_error and "Quarterly" in json.dumps(ok.structured_content), error_text(ok)


async def test_corrupt_model_file_is_a_tool_error_naming_it(tmp_path: Path) -> None:
    from sensorium.tools.backends.local.models import MINILM, installed_package_dir

    src = installed_package_dir(MINILM.package)
    assert src is not None
    data = bytearray((src / MINILM.filename).read_bytes())
    data[1000:1010] = bytes(10)
    folder = tmp_path / "models" / MINILM.folder
    folder.mkdir(parents=True)
    (folder / MINILM.filename).write_bytes(bytes(data))
    settings = make_settings(tmp_path, backend="local")
    settings.local.model_dir = tmp_path / "models"
    async with Client(build_server(settings)) as client:
        text = error_text(await client.call_tool("embed_text", {"text": "hello"}))
        assert (await client.call_tool("list_monitors", {})) is not None
    assert "BackendUnavailable" in text and str(folder / MINILM.filename) in text and "SENSORIUM_LOCAL__MODEL_DIR" in text


def test_no_key_stdio_server_runs_on_the_local_backend(tmp_path: Path) -> None:
    """The README's main command on a fresh machine: no key, `sensorium serve`, the local space."""
    import anyio

    async def run() -> None:
        env = subprocess_env(tmp_path, backend="auto")
        params = StdioServerParameters(command=sys.executable, args=["-m", "sensorium.server.cli", "serve"], env=env)
        async with Client(params) as client:
            r = await client.call_tool("embed_text", {"text": "open the file menu"})
            assert not r.is_error, r.content
            assert r.structured_content["space"] == SPACE

    anyio.run(run)


@pytest.mark.evalsets
@pytest.mark.slow
async def test_rank_states_recognises_a_revisit_with_the_tuned_threshold(local_server) -> None:
    server, tmp = local_server
    folder = eval_dir() / "screen_states"
    states = {s["id"]: s for s in _jsonl(folder / "states.jsonl")}
    query = next(q for q in _jsonl(folder / "image_queries.jsonl") if q["perturbation"]["kind"] == "scrolled")
    other = next(sid for sid in states if sid != query["expected_state_id"])
    async with Client(server) as client:
        ids = {}
        for sid in (query["expected_state_id"], other):
            r = await client.call_tool("remember", {"path": str(folder / states[sid]["image"]), "episode_id": f"ep-{sid}"})
            assert not r.is_error, r.content
            ids[sid] = r.structured_content["id"]
        r = await client.call_tool("rank_states", {"path": str(folder / query["image"])})
    assert not r.is_error, r.content
    res = r.structured_content
    assert res["threshold"] == 0.82 and res["seen_before"] is True
    assert res["best"]["id"] == ids[query["expected_state_id"]]
    assert res["best"]["visual_similarity"] is not None and res["best"]["visual_similarity"] > 0.5

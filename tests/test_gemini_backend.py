"""The Gemini backend against a fake of the REST API injected as the SDK's httpx2 transport.

Only Google's servers are faked (tests/gemini_fake.py); the SDK, the media decoding (Pillow,
PyAV, pypdfium2) and the backend run for real. Retry delays are zero so retries cost nothing.
"""

from __future__ import annotations

import io
import json
import math

import httpx2
import numpy as np
import pytest
from gemini_fake import (
    NATIVE_DIM,
    TEST_KEY,
    Error,
    FakeGemini,
    Raw,
    Slow,
    WrongCount,
    content_vector,
    decode_inline,
)
from google import genai
from google.genai import types
from media_support import encode_audio, mp4_with_text, pdf_with_text, tone, wav_tone
from PIL import Image
from sensorium.tools.backends.base import EmbeddingBackend, EmbedItem
from sensorium.tools.backends.gemini import (
    QUERY_PREFIX,
    GeminiBackend,
    estimate_tokens,
    plan_chunks,
)
from sensorium.tools.config import GeminiSettings
from sensorium.tools.errors import (
    BackendError,
    BackendUnavailable,
    InvalidInput,
    LimitExceeded,
    UnsupportedMedia,
)
from sensorium.tools.media import Media, Modality


def fast_settings(**overrides: object) -> GeminiSettings:
    base: dict[str, object] = dict(retry_attempts=3, retry_initial_delay=0.0, retry_max_delay=0.0, timeout_seconds=5.0)
    base.update(overrides)
    return GeminiSettings(**base)  # type: ignore[arg-type]


@pytest.fixture
def fake() -> FakeGemini:
    return FakeGemini()


@pytest.fixture
async def backend(fake: FakeGemini):
    b = GeminiBackend(TEST_KEY, 768, fast_settings(), transport=fake.transport(), sync_transport=fake.sync_transport())
    yield b
    await b.aclose()
    assert fake.shape_errors == [], "the backend sent a request the real API would reject"


def png(colour: tuple[int, int, int] = (200, 30, 30), size: tuple[int, int] = (32, 24), noise: bool = False) -> Media:
    if noise:
        rng = np.random.default_rng(sum(colour) + size[0])
        img = Image.fromarray(rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8))
    else:
        img = Image.new("RGB", size, colour)
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return Media.from_bytes(buf.getvalue())


def expected_vector(parts: list[dict[str, object]], dim: int = 768) -> np.ndarray:
    v = content_vector(parts)[:dim]
    return (v / np.linalg.norm(v)).astype(np.float32)


def sent_parts(fake: FakeGemini, request: int = 0) -> list[list[dict[str, object]]]:
    return [r["content"]["parts"] for r in fake.requests[request].requests]


# --------------------------------------------------------------------------- the SDK itself


async def test_sdk_bare_list_is_one_vector_and_contents_are_n(fake: FakeGemini) -> None:
    """The SDK behaviour the backend is built around, shown at the SDK level through the fake."""
    client = genai.Client(
        api_key=TEST_KEY,
        http_options=types.HttpOptions(
            async_client_args={"transport": fake.transport()}, client_args={"transport": fake.sync_transport()}
        ),
    )
    merged = await client.aio.models.embed_content(model="gemini-embedding-2", contents=["red", "green", "blue"])
    assert len(merged.embeddings or []) == 1
    assert len(fake.requests[-1].requests) == 1
    assert [p["text"] for p in fake.requests[-1].requests[0]["content"]["parts"]] == ["red", "green", "blue"]

    parts = await client.aio.models.embed_content(
        model="gemini-embedding-2",
        contents=[types.Part(text="red"), types.Part.from_bytes(data=png().data, mime_type="image/png")],
    )
    assert len(parts.embeddings or []) == 1

    separate = await client.aio.models.embed_content(
        model="gemini-embedding-2",
        contents=[types.Content(parts=[types.Part(text=t)]) for t in ("red", "green", "blue")],
    )
    assert len(separate.embeddings or []) == 3
    assert len(fake.requests[-1].requests) == 3

    sync = client.models.embed_content(
        model="gemini-embedding-2", contents=[types.Content(parts=[types.Part(text=t)]) for t in ("a", "b")]
    )
    assert len(sync.embeddings or []) == 2
    rec = fake.requests[-1]
    assert (rec.method, rec.path) == ("POST", "/v1/models/gemini-embedding-2:batchEmbedContents")
    assert fake.shape_errors == []
    await client.aio.aclose()
    client.close()


# --------------------------------------------------------------------------- basics


async def test_protocol_and_space(backend: GeminiBackend) -> None:
    assert isinstance(backend, EmbeddingBackend)
    assert backend.space == "gemini/gemini-embedding-2@768"
    assert backend.dimension == 768
    assert backend.capabilities.missing(["text", "image", "audio", "video", "pdf"]) == []
    assert backend.capabilities.online and not backend.capabilities.speech_only_audio


async def test_n_items_give_n_vectors_in_order(backend: GeminiBackend, fake: FakeGemini) -> None:
    texts = ["the quick brown fox", "a lazy dog", "invoice total due", "open the settings menu", "zebra"]
    out = await backend.embed([EmbedItem.of(t) for t in texts], "document")
    assert len(out) == 5 and len(fake.requests) == 1
    rec = fake.requests[0]
    assert rec.headers["x-goog-api-key"] == TEST_KEY
    assert [r["outputDimensionality"] for r in rec.requests] == [768] * 5
    assert all(r["model"] == "models/gemini-embedding-2" for r in rec.requests)
    for emb, parts in zip(out, sent_parts(fake), strict=True):
        assert emb.space == "gemini/gemini-embedding-2@768"
        assert emb.vector.dtype == np.float32 and emb.vector.shape == (768,)
        np.testing.assert_allclose(emb.vector, expected_vector(parts), atol=1e-6)
    assert [p[0]["text"] for p in sent_parts(fake)] == [f"title: none | text: {t}" for t in texts]


async def test_vectors_are_renormalised_after_truncation(fake: FakeGemini) -> None:
    for dim in (128, 768, 3072):
        b = GeminiBackend(TEST_KEY, dim, fast_settings(), transport=fake.transport())
        [emb] = await b.embed([EmbedItem.of("screenshots of a login form")], "query")
        raw = content_vector(fake.requests[-1].requests[0]["content"]["parts"])[:dim]
        if dim < NATIVE_DIM:
            assert abs(np.linalg.norm(raw) - 1.0) > 0.05, "the fake must answer non-normalised truncated vectors"
        assert emb.vector.shape == (dim,)
        assert math.isclose(float(np.linalg.norm(emb.vector)), 1.0, rel_tol=1e-5)
        np.testing.assert_allclose(emb.vector, raw / np.linalg.norm(raw), atol=1e-6)
        await b.aclose()


async def test_longer_answer_is_truncated_shorter_is_refused(fake: FakeGemini) -> None:
    b = GeminiBackend(TEST_KEY, 128, fast_settings(), transport=fake.transport())
    long = list(np.linspace(1.0, 2.0, 256))
    fake.script(Raw(200, json.dumps({"embeddings": [{"values": long}]}).encode()))
    [emb] = await b.embed([EmbedItem.of("x")], "query")
    expected = np.asarray(long[:128], dtype=np.float32)
    np.testing.assert_allclose(emb.vector, expected / np.linalg.norm(expected), atol=1e-6)
    fake.script(Raw(200, json.dumps({"embeddings": [{"values": long[:100]}]}).encode()))
    with pytest.raises(BackendError, match="100 values, 128 were asked for"):
        await b.embed([EmbedItem.of("x")], "query")
    await b.aclose()


async def test_equal_content_equal_vector_shared_words_closer(backend: GeminiBackend) -> None:
    a, a2, near, far = await backend.embed(
        [EmbedItem.of("save the file"), EmbedItem.of("save the file"), EmbedItem.of("save the document"), EmbedItem.of("zebra crossing")],
        "document",
    )
    np.testing.assert_array_equal(a.vector, a2.vector)
    assert float(a.vector @ near.vector) > float(a.vector @ far.vector)


async def test_empty_batch_costs_nothing(backend: GeminiBackend, fake: FakeGemini) -> None:
    assert await backend.embed([], "query") == []
    assert fake.requests == []


async def test_bad_role_and_dimension_are_refused(backend: GeminiBackend) -> None:
    with pytest.raises(InvalidInput, match="role"):
        await backend.embed([EmbedItem.of("x")], "passage")  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="128-3072"):
        GeminiBackend(TEST_KEY, 64, fast_settings())


# --------------------------------------------------------------------------- roles / prompts


async def test_roles_produce_documented_prompts(backend: GeminiBackend, fake: FakeGemini) -> None:
    img = png()
    await backend.embed(
        [EmbedItem.of("find the save button"), EmbedItem.of(img), EmbedItem.of(img, "a red square")], "query"
    )
    q = sent_parts(fake, 0)
    assert q[0] == [{"text": "task: search result | query: find the save button"}]
    assert q[1][0] == {"text": QUERY_PREFIX.rstrip()} and "inline_data" in q[1][1]
    assert [("text" in p) for p in q[2]] == [True, False, True]
    assert q[2][0]["text"] == "task: search result | query:" and q[2][2]["text"] == "a red square"

    await backend.embed(
        [
            EmbedItem.of("Total due: 42 EUR"),
            EmbedItem.of("Total due: 42 EUR", title="Invoice\n2024.pdf"),
            EmbedItem.of(img),
            EmbedItem.of(img, title="Settings window"),
            EmbedItem.of("a caption", img),
        ],
        "document",
    )
    d = sent_parts(fake, 1)
    assert d[0] == [{"text": "title: none | text: Total due: 42 EUR"}]
    assert d[1] == [{"text": "title: Invoice 2024.pdf | text: Total due: 42 EUR"}]
    assert len(d[2]) == 1 and "inline_data" in d[2][0], "a pure media document without title gets no text"
    assert d[3][0] == {"text": "title: Settings window | text:"} and "inline_data" in d[3][1]
    assert d[4][0] == {"text": "title: none | text: a caption"}


async def test_query_and_document_of_the_same_text_differ(backend: GeminiBackend) -> None:
    [q] = await backend.embed([EmbedItem.of("login page")], "query")
    [d] = await backend.embed([EmbedItem.of("login page")], "document")
    assert not np.allclose(q.vector, d.vector)


# --------------------------------------------------------------------------- batching


async def test_250_items_make_3_requests_with_bounded_concurrency(fake: FakeGemini) -> None:
    fake.delay = 0.05
    b = GeminiBackend(TEST_KEY, 768, fast_settings(concurrency=2), transport=fake.transport())
    texts = [f"item number {i} about topic {i % 7}" for i in range(250)]
    seen: list[tuple[float, float | None]] = []

    async def progress(done: float, total: float | None, message: str | None) -> None:
        seen.append((done, total))

    out = await b.embed([EmbedItem.of(t) for t in texts], "document", progress=progress)
    await b.aclose()
    assert sorted(len(r.requests) for r in fake.requests) == [50, 100, 100]
    assert fake.max_in_flight == 2, "chunks must run concurrently, but never more than settings.concurrency"
    assert len(seen) == 3 and sorted(d for d, _ in seen) == [d for d, _ in seen] and seen[-1] == (250.0, 250.0)
    sent = {r["content"]["parts"][0]["text"]: r["content"]["parts"] for rec in fake.requests for r in rec.requests}
    for text, emb in zip(texts, out, strict=True):
        np.testing.assert_allclose(emb.vector, expected_vector(sent[f"title: none | text: {text}"]), atol=1e-6)
    assert fake.shape_errors == []


async def test_batches_split_to_stay_under_request_size(fake: FakeGemini) -> None:
    cap = 150_000
    b = GeminiBackend(TEST_KEY, 768, fast_settings(max_request_bytes=cap), transport=fake.transport())
    images = [png((i * 40, 10, 10), size=(120, 120), noise=True) for i in range(6)]
    assert all(40_000 < len(m.data) < 60_000 for m in images)
    out = await b.embed([EmbedItem.of(m) for m in images], "document")
    await b.aclose()
    assert len(out) == 6
    assert len(fake.requests) >= 3
    assert all(len(json.dumps(r.body)) <= cap for r in fake.requests)
    assert sum(len(r.requests) for r in fake.requests) == 6


async def test_one_item_over_the_request_size_is_refused(fake: FakeGemini) -> None:
    b = GeminiBackend(TEST_KEY, 768, fast_settings(max_request_bytes=100_000), transport=fake.transport())
    big = png(size=(200, 200), noise=True)
    with pytest.raises(LimitExceeded, match=r"item 0 is .* MB as sent .* request limit"):
        await b.embed([EmbedItem.of(big)], "document")
    assert fake.requests == []


def test_plan_chunks_keeps_order_and_both_limits() -> None:
    assert plan_chunks([1] * 5, 2, 100) == [[0, 1], [2, 3], [4]]
    assert plan_chunks([60, 50, 40, 70], 10, 100) == [[0], [1, 2], [3]]
    assert plan_chunks([], 10, 100) == []


# --------------------------------------------------------------------------- limits


async def test_seven_images_in_one_item_are_refused_six_pass(backend: GeminiBackend, fake: FakeGemini) -> None:
    imgs = [png((i * 30, 0, 0)) for i in range(7)]
    with pytest.raises(LimitExceeded, match="item 0 has 7 images.*at most 6"):
        await backend.embed([EmbedItem.of(*imgs)], "document")
    assert fake.requests == []
    [emb] = await backend.embed([EmbedItem.of(*imgs[:6])], "document")
    assert emb.vector.shape == (768,)
    assert len(sent_parts(fake)[0]) == 6


async def test_long_video_is_refused_short_video_passes(backend: GeminiBackend, fake: FakeGemini) -> None:
    long = Media.from_bytes(mp4_with_text(["x"], seconds_per_slide=130, fps=1, size=(64, 64), with_audio=False))
    assert long.mime_type == "video/mp4"
    with pytest.raises(LimitExceeded, match=r"video is 130 s long.*at most 120 s"):
        await backend.embed([EmbedItem.of("what happens", long)], "document")
    assert fake.requests == []
    short = Media.from_bytes(mp4_with_text(["x"], seconds_per_slide=3, fps=1, size=(64, 64), with_audio=False))
    await backend.embed([EmbedItem.of(short)], "document")
    [[part]] = sent_parts(fake)
    assert part["inline_data"]["mime_type"] == "video/mp4"
    assert decode_inline(part["inline_data"]["data"]) == short.data


async def test_seven_page_pdf_is_refused_six_pass(backend: GeminiBackend, fake: FakeGemini) -> None:
    seven = Media.from_bytes(pdf_with_text([f"page {i}" for i in range(7)]))
    with pytest.raises(LimitExceeded, match="PDF has 7 pages.*at most 6"):
        await backend.embed([EmbedItem.of(seven)], "document")
    six = Media.from_bytes(pdf_with_text([f"page {i}" for i in range(6)]))
    await backend.embed([EmbedItem.of(six)], "document")
    assert sent_parts(fake)[0][0]["inline_data"]["mime_type"] == "application/pdf"
    broken = Media(data=b"%PDF-1.4 this is not really a pdf", mime_type="application/pdf", modality=Modality.PDF)
    with pytest.raises(UnsupportedMedia, match="item 0"):
        await backend.embed([EmbedItem.of(broken)], "document")


async def test_too_much_text_is_refused(backend: GeminiBackend, fake: FakeGemini) -> None:
    ok = "word " * 4_800  # 24,000 bytes -> ~8,000 estimated tokens with the prompt
    await backend.embed([EmbedItem.of(ok)], "document")
    with pytest.raises(LimitExceeded, match=r"about 8,3\d\d tokens .*UTF-8 bytes / 3.*at most 8,192"):
        await backend.embed([EmbedItem.of("word " * 5_000)], "document")
    with pytest.raises(LimitExceeded, match="at most 8,192"):
        await backend.embed([EmbedItem.of("漢" * 8_200)], "query")  # 3 bytes a character: 1 token each
    assert len(fake.requests) == 1
    assert estimate_tokens("abc") == 1 and estimate_tokens("漢") == 1


async def test_webp_gif_bmp_are_sent_as_png(backend: GeminiBackend, fake: FakeGemini) -> None:
    src = Image.fromarray(np.random.default_rng(1).integers(0, 255, (16, 20, 3), dtype=np.uint8))
    media = []
    for fmt, kw in (("WEBP", {"lossless": True}), ("GIF", {}), ("BMP", {})):
        buf = io.BytesIO()
        src.save(buf, fmt, **kw)
        media.append(Media.from_bytes(buf.getvalue()))
    assert [m.mime_type for m in media] == ["image/webp", "image/gif", "image/bmp"]
    await backend.embed([EmbedItem.of(m) for m in media], "document")
    for fmt, [part] in zip(("WEBP", "GIF", "BMP"), sent_parts(fake), strict=True):
        assert part["inline_data"]["mime_type"] == "image/png"
        got = Image.open(io.BytesIO(decode_inline(part["inline_data"]["data"])))
        assert got.format == "PNG" and got.size == (20, 16)
        if fmt != "GIF":  # GIF is palette-quantised; WebP lossless and BMP keep every pixel
            np.testing.assert_array_equal(np.asarray(got.convert("RGB")), np.asarray(src))


async def test_undecodable_image_is_refused(backend: GeminiBackend) -> None:
    bad = Media(data=b"RIFF\x00\x00\x00\x00WEBPVP8 garbage", mime_type="image/webp", modality=Modality.IMAGE)
    with pytest.raises(UnsupportedMedia, match="item 0: the image could not be decoded"):
        await backend.embed([EmbedItem.of(bad)], "document")


async def test_audio_mp3_wav_pass_flac_converted_long_refused(backend: GeminiBackend, fake: FakeGemini) -> None:
    wav = Media.from_bytes(wav_tone(seconds=1.0))
    mp3 = Media.from_bytes(encode_audio(tone(seconds=1.0), fmt="mp3"))
    flac = Media.from_bytes(encode_audio(tone(seconds=1.0), fmt="flac"))
    assert (wav.mime_type, mp3.mime_type, flac.mime_type) == ("audio/wav", "audio/mpeg", "audio/flac")
    await backend.embed([EmbedItem.of(wav), EmbedItem.of(mp3), EmbedItem.of(flac)], "document")
    sent = [p[0]["inline_data"] for p in sent_parts(fake)]
    assert [s["mime_type"] for s in sent] == ["audio/wav", "audio/mpeg", "audio/wav"]
    assert decode_inline(sent[0]["data"]) == wav.data
    converted = Media.from_bytes(decode_inline(sent[2]["data"]))
    assert converted.mime_type == "audio/wav"
    long = Media.from_bytes(wav_tone(seconds=181.0, sample_rate=8000))
    with pytest.raises(LimitExceeded, match=r"audio is 181 s long.*at most 180 s"):
        await backend.embed([EmbedItem.of(long)], "document")


async def test_webm_and_unknown_media_are_refused(backend: GeminiBackend, fake: FakeGemini) -> None:
    webm = Media(data=b"\x1a\x45\xdf\xa3" + b"\0" * 32, mime_type="video/webm", modality=Modality.VIDEO)
    with pytest.raises(UnsupportedMedia, match="WebM.*MP4 or MOV"):
        await backend.embed([EmbedItem.of(webm)], "document")
    odd = Media(data=b"\0" * 8, mime_type="image/tiff", modality=Modality.IMAGE)
    with pytest.raises(UnsupportedMedia, match="image/tiff"):
        await backend.embed([EmbedItem.of(odd)], "document")
    garbage_video = Media(data=b"\0\0\0\x18ftypisom" + b"\0" * 64, mime_type="video/mp4", modality=Modality.VIDEO)
    with pytest.raises(UnsupportedMedia, match="item 0"):
        await backend.embed([EmbedItem.of(garbage_video)], "document")
    assert fake.requests == []


# --------------------------------------------------------------------------- failures


async def test_503_503_200_succeeds(backend: GeminiBackend, fake: FakeGemini) -> None:
    fake.script(503, 503)
    [emb] = await backend.embed([EmbedItem.of("retry me")], "query")
    assert len(fake.requests) == 3
    assert math.isclose(float(np.linalg.norm(emb.vector)), 1.0, rel_tol=1e-5)


@pytest.mark.parametrize("status", [408, 500, 502, 504])
async def test_other_retryable_statuses_are_retried(backend: GeminiBackend, fake: FakeGemini, status: int) -> None:
    fake.script(status)
    await backend.embed([EmbedItem.of("x")], "query")
    assert len(fake.requests) == 2


async def test_429_forever_names_the_status(backend: GeminiBackend, fake: FakeGemini) -> None:
    fake.always = 429
    with pytest.raises(BackendError, match=r"Gemini API answered 429 RESOURCE_EXHAUSTED after 3 attempt\(s\).*quota") as exc:
        await backend.embed([EmbedItem.of("x")], "query")
    assert "CONCURRENCY" in str(exc.value)
    assert len(fake.requests) == 3


async def test_503_forever_says_what_to_do(backend: GeminiBackend, fake: FakeGemini) -> None:
    fake.always = 503
    with pytest.raises(BackendError, match=r"503 UNAVAILABLE after 3 attempt\(s\).*SENSORIUM_BACKEND=local"):
        await backend.embed([EmbedItem.of("x")], "query")


async def test_400_carries_googles_message_without_retry(backend: GeminiBackend, fake: FakeGemini) -> None:
    fake.script(Error(400, "Request contains an invalid argument: inline_data too large."))
    with pytest.raises(InvalidInput, match=r"refused the input \(400 INVALID_ARGUMENT\): Request contains an invalid argument"):
        await backend.embed([EmbedItem.of("x")], "query")
    assert len(fake.requests) == 1


async def test_rejected_key_and_unknown_model(fake: FakeGemini) -> None:
    b = GeminiBackend("not-the-key", 768, fast_settings(), transport=fake.transport())
    with pytest.raises(BackendUnavailable, match="refused the API key.*API key not valid.*GEMINI_API_KEY"):
        await b.embed([EmbedItem.of("x")], "query")
    await b.aclose()
    fake.script(Error(403, "Permission denied on this project.", "PERMISSION_DENIED"))
    b = GeminiBackend(TEST_KEY, 768, fast_settings(), transport=fake.transport())
    with pytest.raises(BackendUnavailable, match="403 PERMISSION_DENIED"):
        await b.embed([EmbedItem.of("x")], "query")
    await b.aclose()
    b = GeminiBackend(TEST_KEY, 768, fast_settings(model="gemini-embedding-9"), transport=fake.transport())
    with pytest.raises(BackendError, match="does not know model 'gemini-embedding-9'.*SENSORIUM_GEMINI__MODEL"):
        await b.embed([EmbedItem.of("x")], "query")
    await b.aclose()
    fake.shape_errors.clear()  # the unknown model's path was the point of that request
    fake.script(Error(409, "Conflict.", "ABORTED"))
    b = GeminiBackend(TEST_KEY, 768, fast_settings(), transport=fake.transport())
    with pytest.raises(BackendError, match="answered 409 ABORTED: Conflict"):
        await b.embed([EmbedItem.of("x")], "query")
    await b.aclose()


@pytest.mark.parametrize(
    "answer, match",
    [
        ("malformed", "malformed answer"),
        (Raw(200, b'{"embeddings": "not a list"}'), "malformed answer"),
        ("no-values", "embedding 0 has no values"),
        (WrongCount(-1), "returned 1 embeddings for 2 items"),
        (WrongCount(+1), "returned 3 embeddings for 2 items"),
        (Raw(200, b'{"embeddings": [{"values": [NaN, 1.0]}, {"values": [1.0]}]}'), "non-finite|128 were asked"),
        (Raw(200, b"{}"), "returned 0 embeddings for 2 items"),
    ],
)
async def test_malformed_answers_are_backend_errors(fake: FakeGemini, answer: object, match: str) -> None:
    b = GeminiBackend(TEST_KEY, 128, fast_settings(), transport=fake.transport())
    fake.script(answer)  # type: ignore[arg-type]
    with pytest.raises(BackendError, match=match):
        await b.embed([EmbedItem.of("a"), EmbedItem.of("b")], "document")
    await b.aclose()


async def test_non_finite_and_zero_vectors_are_refused(fake: FakeGemini) -> None:
    b = GeminiBackend(TEST_KEY, 128, fast_settings(), transport=fake.transport())
    nan = "[" + ", ".join(["NaN"] + ["1.0"] * 127) + "]"
    fake.script(Raw(200, b'{"embeddings": [{"values": ' + nan.encode() + b"}]}"))
    with pytest.raises(BackendError, match="non-finite"):
        await b.embed([EmbedItem.of("a")], "document")
    fake.script(Raw(200, json.dumps({"embeddings": [{"values": [0.0] * 128}]}).encode()))
    with pytest.raises(BackendError, match="zero vector"):
        await b.embed([EmbedItem.of("a")], "document")
    await b.aclose()


async def test_html_error_page_from_a_proxy(backend: GeminiBackend, fake: FakeGemini) -> None:
    fake.always = Raw(502, b"<html><body>Bad Gateway</body></html>", "text/html")
    with pytest.raises(BackendError, match="502.*after 3 attempt"):
        await backend.embed([EmbedItem.of("x")], "query")


async def test_slow_answers_time_out_after_retries(fake: FakeGemini) -> None:
    b = GeminiBackend(TEST_KEY, 768, fast_settings(timeout_seconds=0.2, retry_attempts=2), transport=fake.transport())
    fake.script(Slow(30), Slow(30))
    with pytest.raises(BackendError, match=r"timed out \(0.2 s per attempt, 2 attempt"):
        await b.embed([EmbedItem.of("x")], "query")
    assert len(fake.requests) == 2
    assert fake.requests[0].timeout == {"connect": 0.2, "read": 0.2, "write": 0.2, "pool": 0.2}
    fake.script(Slow(0.5))  # one slow answer, then a fast one: the retry saves the call
    [emb] = await b.embed([EmbedItem.of("x")], "query")
    assert emb.vector.shape == (768,)
    await b.aclose()


async def test_a_transport_that_never_answers_hits_the_outer_deadline() -> None:
    async def hang(request: httpx2.Request) -> httpx2.Response:
        import anyio

        await anyio.sleep(60)  # ignores the timeout extension, as a stuck proxy might
        raise AssertionError("unreachable")

    b = GeminiBackend(
        TEST_KEY,
        768,
        fast_settings(timeout_seconds=0.1, retry_attempts=1),
        transport=httpx2.MockTransport(hang),
    )
    with pytest.raises(BackendError, match="did not answer within .* s \\(timed out\\)"):
        await b.embed([EmbedItem.of("x")], "query")
    await b.aclose()


async def test_connection_errors_are_clear() -> None:
    calls = 0

    async def refuse(request: httpx2.Request) -> httpx2.Response:
        nonlocal calls
        calls += 1
        raise httpx2.ConnectError("[Errno 111] Connection refused", request=request)

    b = GeminiBackend(TEST_KEY, 768, fast_settings(), transport=httpx2.MockTransport(refuse))
    with pytest.raises(BackendError, match="could not reach the Gemini API.*Connection refused.*SENSORIUM_BACKEND=local"):
        await b.embed([EmbedItem.of("x")], "query")
    assert calls == 3, "connection errors are transient: the SDK retries them"
    status = await b.probe()
    assert not status.ready and "not reachable" in status.detail and "Connection refused" in status.detail
    assert calls == 4, "the probe tries once"
    await b.aclose()


async def test_a_failing_chunk_fails_the_batch(fake: FakeGemini) -> None:
    b = GeminiBackend(TEST_KEY, 768, fast_settings(concurrency=1), transport=fake.transport())
    fake.script("ok", Error(400, "Bad part in this chunk."))
    with pytest.raises(InvalidInput, match="Bad part in this chunk"):
        await b.embed([EmbedItem.of(f"t{i}") for i in range(250)], "document")
    assert len(fake.requests) == 2, "the third chunk is not sent once the batch has failed"
    await b.aclose()


async def test_unexpected_sdk_failure_is_a_backend_error(fake: FakeGemini) -> None:
    async def broken(request: httpx2.Request) -> httpx2.Response:
        raise RuntimeError("something odd in the transport")

    b = GeminiBackend(TEST_KEY, 768, fast_settings(), transport=httpx2.MockTransport(broken))
    with pytest.raises(BackendError, match="unexpected failure.*RuntimeError: something odd"):
        await b.embed([EmbedItem.of("x")], "query")
    await b.aclose()


async def test_a_failing_progress_callback_does_not_lose_the_result(backend: GeminiBackend) -> None:
    async def progress(done: float, total: float | None, message: str | None) -> None:
        raise ConnectionResetError("client went away")

    out = await backend.embed([EmbedItem.of("x")], "query", progress=progress)
    assert len(out) == 1


# --------------------------------------------------------------------------- key, status, probe


async def test_no_key(fake: FakeGemini) -> None:
    b = GeminiBackend(None, 768, fast_settings(), transport=fake.transport())
    with pytest.raises(BackendUnavailable, match="no Gemini API key: set GEMINI_API_KEY.*SENSORIUM_BACKEND=local"):
        await b.embed([EmbedItem.of("x")], "query")
    status = await b.status()
    assert not status.ready and "GEMINI_API_KEY" in status.detail
    probe = await b.probe()
    assert not probe.ready and "GEMINI_API_KEY" in probe.detail
    assert fake.requests == []
    await b.aclose()


async def test_status_spends_no_call_probe_spends_one(backend: GeminiBackend, fake: FakeGemini) -> None:
    status = await backend.status()
    assert status.ready and status.space == "gemini/gemini-embedding-2@768" and "key present" in status.detail
    assert fake.requests == []
    probe = await backend.probe()
    assert probe.ready and "reachable" in probe.detail and "768" in probe.detail
    assert len(fake.requests) == 1
    fake.always = 429
    probe = await backend.probe()
    assert not probe.ready and "429" in probe.detail
    assert len(fake.requests) == 2, "the probe does not retry"


async def test_base_url_override_is_used(fake: FakeGemini) -> None:
    b = GeminiBackend(TEST_KEY, 768, fast_settings(base_url="https://proxy.internal.example/"), transport=fake.transport())
    await b.embed([EmbedItem.of("x")], "query")
    assert fake.requests[0].url.startswith("https://proxy.internal.example/v1/models/")
    await b.aclose()
    await b.aclose()  # closing twice is harmless


async def test_decompression_bomb_and_undecodable_audio(backend: GeminiBackend, monkeypatch: pytest.MonkeyPatch) -> None:
    buf = io.BytesIO()
    Image.new("RGB", (64, 64), (1, 2, 3)).save(buf, "GIF")
    gif = Media.from_bytes(buf.getvalue())
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1_000)  # 4,096 pixels > 2 x 1,000: Pillow refuses
    with pytest.raises(LimitExceeded, match="item 0: the image has too many pixels"):
        await backend.embed([EmbedItem.of(gif)], "document")
    monkeypatch.undo()
    flac = encode_audio(tone(seconds=2.0), fmt="flac")
    broken = Media.from_bytes(flac[:200] + bytes(range(256)) * 40)
    assert broken.mime_type == "audio/flac"
    with pytest.raises(UnsupportedMedia, match="item 0: the audio"):
        await backend.embed([EmbedItem.of(broken)], "document")

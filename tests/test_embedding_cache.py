"""The content-hash cache: the same bytes + role + model + dimension never cost a second call.

Calls are counted where they would cost money: requests reaching the fake Gemini REST API.
"""

from __future__ import annotations

import io
import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
from gemini_fake import TEST_KEY, FakeGemini
from PIL import Image
from sensorium.tools.backends.base import (
    Embedding,
    EmbeddingBackend,
    EmbedItem,
    ProgressCallback,
    Role,
)
from sensorium.tools.backends.gemini import GeminiBackend
from sensorium.tools.backends.hashing import HashingBackend
from sensorium.tools.cache import CachedBackend, EmbeddingCache, encode_extras
from sensorium.tools.config import GeminiSettings
from sensorium.tools.errors import BackendError
from sensorium.tools.media import Media


def png() -> Media:
    buf = io.BytesIO()
    Image.new("RGB", (24, 16), (200, 30, 30)).save(buf, "PNG")
    return Media.from_bytes(buf.getvalue())


def settings(**kw: object) -> GeminiSettings:
    return GeminiSettings(retry_attempts=2, retry_initial_delay=0.0, retry_max_delay=0.0, **kw)  # type: ignore[arg-type]


def gemini(fake: FakeGemini, dimension: int = 768, **kw: object) -> GeminiBackend:
    return GeminiBackend(TEST_KEY, dimension, settings(**kw), transport=fake.transport())


@pytest.fixture
def fake() -> FakeGemini:
    return FakeGemini()


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "data" / "nested" / "embedding-cache.sqlite3"


async def test_same_bytes_role_model_dimension_cost_one_call(fake: FakeGemini, db: Path) -> None:
    backend = CachedBackend(gemini(fake), EmbeddingCache(db))
    assert isinstance(backend, EmbeddingBackend)
    items = [EmbedItem.of("open the settings"), EmbedItem.of(png(), "a red square", title="shot")]
    first = await backend.embed(items, "document")
    assert len(fake.requests) == 1
    again = await backend.embed(
        [EmbedItem.of("open the settings"), EmbedItem.of(Media.from_bytes(png().data), "a red square", title="shot")],
        "document",
    )
    assert len(fake.requests) == 1, "equal bytes must come from the cache"
    for a, b in zip(first, again, strict=True):
        np.testing.assert_array_equal(a.vector, b.vector)
        assert b.vector.dtype == np.float32 and b.space == "gemini/gemini-embedding-2@768"
    assert (backend.hits, backend.misses) == (2, 2)

    await backend.embed([EmbedItem.of("open the settings")], "query")
    assert len(fake.requests) == 2, "another role is another vector"
    await backend.aclose()

    wider = CachedBackend(gemini(fake, 1536), EmbeddingCache(db))
    await wider.embed([EmbedItem.of("open the settings")], "document")
    assert len(fake.requests) == 3, "another dimension is another space"
    await wider.aclose()

    other_fake = FakeGemini(model="gemini-embedding-2-exp")
    other = CachedBackend(gemini(other_fake, model="gemini-embedding-2-exp"), EmbeddingCache(db))
    await other.embed([EmbedItem.of("open the settings")], "document")
    assert len(other_fake.requests) == 1, "another model is another space"
    await other.aclose()
    assert fake.shape_errors == [] and other_fake.shape_errors == []


async def test_the_cache_survives_a_restart(fake: FakeGemini, db: Path) -> None:
    backend = CachedBackend(gemini(fake), EmbeddingCache(db))
    [before] = await backend.embed([EmbedItem.of("persist me")], "document")
    await backend.aclose()
    assert db.is_file()
    reopened = CachedBackend(gemini(fake), EmbeddingCache(db))
    [after] = await reopened.embed([EmbedItem.of("persist me")], "document")
    assert len(fake.requests) == 1
    np.testing.assert_array_equal(before.vector, after.vector)
    assert abs(float(np.linalg.norm(after.vector)) - 1.0) < 1e-5
    await reopened.aclose()


async def test_only_misses_go_out_in_one_batched_call(fake: FakeGemini, db: Path) -> None:
    backend = CachedBackend(gemini(fake), EmbeddingCache(db))
    await backend.embed([EmbedItem.of("alpha"), EmbedItem.of("beta")], "document")
    progress: list[tuple[float, float | None]] = []

    async def cb(done: float, total: float | None, message: str | None) -> None:
        progress.append((done, total))

    out = await backend.embed(
        [EmbedItem.of("beta"), EmbedItem.of("gamma"), EmbedItem.of("alpha"), EmbedItem.of("gamma"), EmbedItem.of("delta")],
        "document",
        progress=cb,
    )
    assert len(fake.requests) == 2
    sent = [parts[0] for parts in fake.requests[1].texts()]
    assert sent == ["title: none | text: gamma", "title: none | text: delta"], "each miss once, hits never"
    np.testing.assert_array_equal(out[1].vector, out[3].vector)
    out[1].vector[:] = 0  # results are independent copies
    assert np.linalg.norm(out[3].vector) > 0.99
    assert progress and progress[-1] == (2.0, 2.0)

    progress.clear()
    await backend.embed([EmbedItem.of("alpha")], "document", progress=cb)
    assert progress == [(1.0, 1.0)], "an all-hit batch still reports completion"
    assert await backend.embed([], "document") == []
    await backend.aclose()


async def test_wal_mode_and_lazy_creation(db: Path) -> None:
    cache = EmbeddingCache(db)
    assert not db.parent.exists(), "constructing the cache does no I/O"
    assert await cache.count() == 0
    assert db.is_file()
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    await cache.aclose()


class ExtrasBackend(HashingBackend):
    """The deterministic hashing backend plus extras of the kinds real local backends produce."""

    name = "extras"

    def __init__(self, extras: dict[str, object]) -> None:
        super().__init__(64)
        self.extras = extras
        self.calls = 0

    async def embed(
        self, items: Sequence[EmbedItem], role: Role, *, progress: ProgressCallback | None = None
    ) -> list[Embedding]:
        self.calls += 1
        out = await super().embed(items, role, progress=progress)
        return [Embedding(vector=e.vector, space=e.space, extras=dict(self.extras)) for e in out]


async def test_numpy_and_tuple_extras_round_trip(db: Path) -> None:
    extras = {
        "ocr": [{"text": "Total", "box": (1, 2, 30, 40), "score": np.float32(0.5)}],
        "transcript": {"text": "hello", "language": None, "segments": [{"start": 0.0, "end": 1.25, "text": "hello"}]},
        "visual": np.arange(4, dtype=np.float32) / 4,
        "frames": np.int64(3),
        "nan": float("nan"),
    }
    inner = ExtrasBackend(extras)
    backend = CachedBackend(inner, EmbeddingCache(db))
    [miss] = await backend.embed([EmbedItem.of("receipt")], "document")
    [hit] = await backend.embed([EmbedItem.of("receipt")], "document")
    assert inner.calls == 1
    expected_ocr = [{"text": "Total", "box": [1, 2, 30, 40], "score": 0.5}]
    for emb in (miss, hit):
        assert emb.extras["ocr"] == expected_ocr
        assert emb.extras["visual"] == [0.0, 0.25, 0.5, 0.75]
        assert emb.extras["frames"] == 3 and emb.extras["transcript"]["segments"][0]["end"] == 1.25
        assert np.isnan(emb.extras["nan"])
    hit.extras["ocr"][0]["text"] = "changed"
    [again] = await backend.embed([EmbedItem.of("receipt")], "document")
    assert again.extras["ocr"][0]["text"] == "Total"
    await backend.aclose()


async def test_extras_that_are_not_json_are_not_cached(db: Path) -> None:
    marker = object()
    inner = ExtrasBackend({"handle": marker})
    backend = CachedBackend(inner, EmbeddingCache(db))
    [a] = await backend.embed([EmbedItem.of("x")], "document")
    [b] = await backend.embed([EmbedItem.of("x")], "document")
    assert inner.calls == 2, "an entry that cannot keep its extras is recomputed, not returned without them"
    assert a.extras["handle"] is marker and b.extras["handle"] is marker
    assert await backend.cache.count() == 0
    assert encode_extras({1: "x"}) is None and encode_extras({"a": (1, 2)}) == '{"a":[1,2]}'
    await backend.aclose()


async def test_sqlite_runs_off_the_event_loop(db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    threads: list[threading.Thread] = []
    original_get, original_put = EmbeddingCache.get_many_sync, EmbeddingCache.put_many_sync

    def get(self: EmbeddingCache, keys):  # type: ignore[no-untyped-def]
        threads.append(threading.current_thread())
        return original_get(self, keys)

    def put(self: EmbeddingCache, entries):  # type: ignore[no-untyped-def]
        threads.append(threading.current_thread())
        return original_put(self, entries)

    monkeypatch.setattr(EmbeddingCache, "get_many_sync", get)
    monkeypatch.setattr(EmbeddingCache, "put_many_sync", put)
    backend = CachedBackend(HashingBackend(), EmbeddingCache(db))
    await backend.embed([EmbedItem.of("x")], "query")
    await backend.aclose()
    assert len(threads) == 2 and threading.main_thread() not in threads


async def test_a_corrupt_cache_file_does_not_break_embedding(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "cache.sqlite3"
    path.write_bytes(b"this is not a database" * 100)
    inner = ExtrasBackend({})
    backend = CachedBackend(inner, EmbeddingCache(path))
    [emb] = await backend.embed([EmbedItem.of("still works")], "query")
    assert emb.vector.shape == (64,)
    assert "embedding cache unreadable" in caplog.text
    await backend.aclose()


async def test_a_backend_that_miscounts_is_caught(db: Path) -> None:
    class Short(HashingBackend):
        async def embed(self, items, role, *, progress=None):  # type: ignore[no-untyped-def]
            return (await super().embed(items, role))[:-1]

    backend = CachedBackend(Short(), EmbeddingCache(db))
    with pytest.raises(BackendError, match="returned 1 embeddings for 2 items"):
        await backend.embed([EmbedItem.of("a"), EmbedItem.of("b")], "query")
    await backend.aclose()


async def test_closed_cache_says_so(db: Path) -> None:
    cache = EmbeddingCache(db)
    await cache.aclose()
    with pytest.raises(BackendError, match="closed"):
        await cache.count()


async def test_clear_and_delegation(fake: FakeGemini, db: Path) -> None:
    backend = CachedBackend(gemini(fake), EmbeddingCache(db))
    assert backend.name == "gemini" and backend.space == "gemini/gemini-embedding-2@768" and backend.dimension == 768
    assert backend.capabilities.online and backend.perception_version == ""
    assert backend.capabilities.describe() == "text, image, audio, video, pdf"
    await backend.embed([EmbedItem.of("a"), EmbedItem.of("b")], "query")
    assert await backend.cache.count() == 2
    assert await backend.cache.clear("hashing/v1@64") == 0
    assert await backend.cache.clear("gemini/gemini-embedding-2@768") == 2
    await backend.embed([EmbedItem.of("a")], "query")
    assert await backend.cache.clear() == 1
    assert (await backend.status()).ready and len(fake.requests) == 2
    assert (await backend.probe()).ready and len(fake.requests) == 3
    await backend.aclose()
    hashing = CachedBackend(HashingBackend(), EmbeddingCache(db))
    assert (await hashing.probe()).ready  # an offline backend's probe is its status
    await hashing.aclose()


async def test_low_level_guards(db: Path) -> None:
    cache = EmbeddingCache(db)
    assert await cache.get_many([]) == {}
    with pytest.raises(BackendError, match="shape"):
        await cache.put_many([(("h", "query", "s@4"), Embedding(vector=np.ones((2, 2), np.float32), space="s@4"))])
    await cache.put_many([(("h", "query", "s@4"), Embedding(vector=np.ones(4, np.float32) / 2, space="s@4"))])
    assert set(await cache.get_many([("h", "query", "s@4")])) == {("h", "query", "s@4")}
    await cache.aclose()
    with sqlite3.connect(db) as conn:  # a row whose blob does not match its dimension
        conn.execute("UPDATE embeddings SET dimension = 5")
    cache = EmbeddingCache(db)
    assert await cache.get_many([("h", "query", "s@4")]) == {}, "a corrupt entry is a miss, not a crash"
    await cache.aclose()


async def test_a_new_perception_version_is_a_cache_miss(tmp_path) -> None:
    """A backend that reads media differently (same vector space) must not be served old readings."""
    from sensorium.tools.backends.base import EmbedItem
    from sensorium.tools.backends.hashing import HashingBackend
    from sensorium.tools.cache import CachedBackend, EmbeddingCache

    class Reader(HashingBackend):
        perception_version = "1"

    inner = Reader()
    cached = CachedBackend(inner, EmbeddingCache(tmp_path / "c.sqlite3"))
    await cached.embed([EmbedItem.of("hello")], "document")
    await cached.embed([EmbedItem.of("hello")], "document")
    assert (cached.hits, cached.misses) == (1, 1)
    inner.perception_version = "2"
    await cached.embed([EmbedItem.of("hello")], "document")
    assert cached.misses == 2

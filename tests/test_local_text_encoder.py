"""The local text encoder against sentence-transformers' own vectors, on the packaged int8 model."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from sensorium.tools.backends.local.models import MINILM, ModelStore
from sensorium.tools.backends.local.text_encoder import DIMENSION, SPACE, TextEncoder
from sensorium.tools.config import LocalSettings
from sensorium.tools.errors import InvalidInput
from server_support import shared_models_dir

# sentence-transformers' own vectors, kept beside the eval sets (../shared/models): only the test
# that compares against them needs them
REFERENCE = shared_models_dir() / "all-MiniLM-L6-v2" / "reference_vectors.json"


@pytest.fixture(scope="module")
def encoder(tmp_path_factory: pytest.TempPathFactory) -> TextEncoder:
    store = ModelStore(LocalSettings(), cache_dir=tmp_path_factory.mktemp("cache"))
    return TextEncoder(lambda: store.path(MINILM), threads=2, batch_size=4)


@pytest.fixture(scope="module")
def reference() -> dict[str, list[float]]:
    return json.loads(REFERENCE.read_text())["vectors"]


def test_lazy_until_first_encode(tmp_path: Path) -> None:
    enc = TextEncoder(tmp_path / "does-not-exist.onnx")
    assert not enc.loaded  # constructing reads nothing
    assert enc.space == SPACE == "local/minilm-l6@384"


@pytest.mark.evalsets
def test_matches_sentence_transformers_reference(encoder: TextEncoder, reference: dict[str, list[float]]) -> None:
    sentences = list(reference)
    assert len(sentences) >= 5
    got = encoder.encode(sentences)
    assert got.shape == (len(sentences), DIMENSION) and got.dtype == np.float32
    for i, s in enumerate(sentences):
        ref = np.asarray(reference[s], dtype=np.float32)
        ref /= np.linalg.norm(ref)
        cos = float(got[i] @ ref)
        assert cos >= 0.999, f"{s!r}: cosine {cos:.5f} to the sentence-transformers vector"
        assert abs(float(np.linalg.norm(got[i])) - 1.0) < 1e-5


def test_batched_equals_single_and_keeps_order(encoder: TextEncoder) -> None:
    texts = ["open the settings menu", "go to preferences", "Click 'Sign In'", "a recipe for banana bread", "x"] + ["a much longer sentence " * 20, "ok", "the quick brown fox jumps over the lazy dog"]
    batched = encoder.encode(texts)  # batch_size 4: several batches of mixed lengths
    for i, t in enumerate(texts):
        single = encoder.encode([t], batch_size=1)[0]
        assert float(single @ batched[i]) > 0.9999, t


def test_long_text_is_truncated_not_rejected(encoder: TextEncoder) -> None:
    long = "settings " * 2000
    v = encoder.encode([long])
    assert v.shape == (1, DIMENSION) and np.isfinite(v).all()


def test_semantics_related_texts_are_closer(encoder: TextEncoder) -> None:
    a, b, c = encoder.encode(["open the settings menu", "go to preferences", "a recipe for banana bread"])
    assert float(a @ b) > float(a @ c) + 0.1


def test_empty_and_bad_input(encoder: TextEncoder) -> None:
    assert encoder.encode([]).shape == (0, DIMENSION)
    with pytest.raises(InvalidInput):
        encoder.encode("one string")  # type: ignore[arg-type]

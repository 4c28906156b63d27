"""The optional image-text (CLIP/SigLIP layout) path, run on a tiny ONNX model generated here.

The model (tests/clip_support.py) has the real I/O signature and arithmetic simple enough to
recompute with numpy, so preprocessing, tokenising, masking and batching are checked exactly.
No claim about retrieval quality is made.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from clip_support import (  # skips the module without `onnx`
    E_TXT,
    VOCAB,
    W_IMG,
    D,
    write_tiny_clip,
)
from PIL import Image
from sensorium.tools.backends.local.clip import (
    ClipConfig,
    ClipEncoder,
    preprocess_images,
)
from sensorium.tools.errors import BackendUnavailable


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tiny_clip(tmp_path_factory.mktemp("tinyclip"))


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def _text_expected(words: list[str]) -> np.ndarray:
    ids = [VOCAB.index(w) if w in VOCAB else 1 for w in words]
    return _unit(E_TXT[ids].mean(axis=0))


def test_space_is_its_own(model_dir: Path) -> None:
    enc = ClipEncoder(model_dir, threads=1, batch_size=2)
    assert enc.space == "local/clip-tiny@8" and enc.dimension == D


def test_images_preprocessed_and_batched(model_dir: Path) -> None:
    enc = ClipEncoder(model_dir, threads=1, batch_size=2)
    colours = [(255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 255), (10, 200, 30)]
    images = [Image.new("RGB", (40 + 7 * i, 30), c) for i, c in enumerate(colours)]  # 3 batches, odd sizes
    got = enc.encode_images(images)
    assert got.shape == (5, D) and got.dtype == np.float32
    for c, v in zip(colours, got):
        norm = (np.asarray(c, dtype=np.float32) / 255.0 - 0.5) / 0.25
        np.testing.assert_allclose(v, _unit(norm @ W_IMG), atol=1e-4)


def test_center_crop_versus_squash() -> None:
    strip = Image.new("RGB", (300, 100), (255, 0, 0))
    strip.paste((0, 255, 0), (100, 0, 200, 100))
    strip.paste((0, 0, 255), (200, 0, 300, 100))
    cfg = ClipConfig(name="t", embed_dim=D, image_size=32, image_mean=(0, 0, 0), image_std=(1, 1, 1))
    crop = preprocess_images([strip], cfg)[0]
    assert crop.shape == (3, 32, 32)
    assert crop[1].mean() > 0.95 and crop[0].mean() < 0.05  # only the green middle survives the centre crop
    squash = preprocess_images([strip], cfg.model_copy(update={"resize": "squash"}))[0]
    assert 0.25 < squash[0].mean() < 0.42 and 0.25 < squash[2].mean() < 0.42  # all three thirds remain


def test_texts_tokenised_masked_and_batched(model_dir: Path) -> None:
    enc = ClipEncoder(model_dir, threads=1, batch_size=3)
    texts = ["a red square", "Photo of the blue square", "green", "unknownword red", "a photo of the red green blue square"]
    got = enc.encode_texts(texts)
    assert got.shape == (5, D)
    expected = [
        _text_expected(["a", "red", "square"]),
        _text_expected(["photo", "of", "the", "blue", "square"]),
        _text_expected(["green"]),
        _text_expected(["[UNK]", "red"]),
        _text_expected(["a", "photo", "of", "the", "red", "green"]),  # truncated at max_length 6
    ]
    for g, e in zip(got, expected):
        np.testing.assert_allclose(g, e, atol=1e-5)
    # padding inside a batch does not change a short text's vector
    alone = enc.encode_texts(["green"])[0]
    np.testing.assert_allclose(alone, got[2], atol=1e-6)


def test_missing_pieces_are_named(tmp_path: Path, model_dir: Path) -> None:
    with pytest.raises(BackendUnavailable, match="clip_config.json"):
        ClipEncoder(tmp_path)
    (tmp_path / "clip_config.json").write_text((model_dir / "clip_config.json").read_text())
    enc = ClipEncoder(tmp_path)
    with pytest.raises(BackendUnavailable, match="image_encoder.onnx"):
        enc.encode_images([Image.new("RGB", (8, 8))])
    bad = tmp_path / "wrongdim"
    bad.mkdir()
    for f in ("image_encoder.onnx", "text_encoder.onnx", "tokenizer.json"):
        (bad / f).write_bytes((model_dir / f).read_bytes())
    (bad / "clip_config.json").write_text(json.dumps({"name": "bad", "embed_dim": 16}))
    with pytest.raises(BackendUnavailable, match=r"expected \[batch, 16\]"):
        ClipEncoder(bad).encode_texts(["red"])


def test_pooled_output_found_among_several(tmp_path: Path, model_dir: Path) -> None:
    """Real exports put `last_hidden_state` [B, N, D] first; with no output named in the config the
    encoder takes `image_embeds`/`pooler_output` (SigLIP's name), else the first [batch, D] output."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    g = helper.make_graph(
        [
            helper.make_node("GlobalAveragePool", ["pixel_values"], ["pooled"]),
            helper.make_node("Flatten", ["pooled"], ["flat"], axis=1),
            helper.make_node("MatMul", ["flat", "W"], ["pooler_output"]),
            helper.make_node("Unsqueeze", ["pooler_output", "axis1"], ["last_hidden_state"]),
        ],
        "two_outputs",
        [helper.make_tensor_value_info("pixel_values", TensorProto.FLOAT, ["batch", 3, "h", "w"])],
        [
            helper.make_tensor_value_info("last_hidden_state", TensorProto.FLOAT, ["batch", 1, D]),
            helper.make_tensor_value_info("pooler_output", TensorProto.FLOAT, ["batch", D]),
        ],
        [numpy_helper.from_array(W_IMG, "W"), numpy_helper.from_array(np.array([1], dtype=np.int64), "axis1")],
    )
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    m.ir_version = 8
    d = tmp_path / "siglip-like"
    d.mkdir()
    onnx.save(m, d / "image_encoder.onnx")
    (d / "clip_config.json").write_text((model_dir / "clip_config.json").read_text())
    got = ClipEncoder(d, threads=1).encode_images([Image.new("RGB", (16, 16), (0, 0, 255))])[0]
    norm = (np.array([0.0, 0.0, 1.0], dtype=np.float32) - 0.5) / 0.25
    np.testing.assert_allclose(got, _unit(norm @ W_IMG), atol=1e-5)

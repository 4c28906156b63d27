"""The optional image-text (CLIP/SigLIP layout) path, run on a tiny ONNX model generated here.

The model has the real I/O signature (pixel_values [B,3,H,W] -> image_embeds [B,D];
input_ids + attention_mask [B,L] -> text_embeds [B,D]) and arithmetic simple enough to
recompute with numpy, so preprocessing, tokenising, masking and batching are checked exactly.
No claim about retrieval quality is made.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from sensorium.tools.backends.local.clip import (
    ClipConfig,
    ClipEncoder,
    preprocess_images,
)
from sensorium.tools.errors import BackendUnavailable

onnx = pytest.importorskip("onnx", reason="the `onnx` package builds the tiny test model (test extra)")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

D = 8
VOCAB = ["[PAD]", "[UNK]", "a", "red", "green", "blue", "square", "photo", "of", "the"]
RNG = np.random.default_rng(0)
W_IMG = RNG.standard_normal((3, D)).astype(np.float32)
E_TXT = RNG.standard_normal((len(VOCAB), D)).astype(np.float32)


def _image_model(path: Path) -> None:
    """pixel_values -> GlobalAveragePool -> Flatten -> MatMul W: the mean normalised colour, projected."""
    g = helper.make_graph(
        [
            helper.make_node("GlobalAveragePool", ["pixel_values"], ["pooled"]),
            helper.make_node("Flatten", ["pooled"], ["flat"], axis=1),
            helper.make_node("MatMul", ["flat", "W"], ["image_embeds"]),
        ],
        "tiny_image",
        [helper.make_tensor_value_info("pixel_values", TensorProto.FLOAT, ["batch", 3, "h", "w"])],
        [helper.make_tensor_value_info("image_embeds", TensorProto.FLOAT, ["batch", D])],
        [numpy_helper.from_array(W_IMG, "W")],
    )
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    m.ir_version = 8
    onnx.checker.check_model(m)
    onnx.save(m, path)


def _text_model(path: Path) -> None:
    """input_ids, attention_mask -> masked mean of embedding rows."""
    g = helper.make_graph(
        [
            helper.make_node("Gather", ["E", "input_ids"], ["tok"], axis=0),
            helper.make_node("Cast", ["attention_mask"], ["maskf"], to=TensorProto.FLOAT),
            helper.make_node("Unsqueeze", ["maskf", "axis2"], ["mask3"]),
            helper.make_node("Mul", ["tok", "mask3"], ["masked"]),
            helper.make_node("ReduceSum", ["masked", "axis1"], ["summed"], keepdims=0),
            helper.make_node("ReduceSum", ["maskf", "axis1"], ["count"], keepdims=1),
            helper.make_node("Div", ["summed", "count"], ["text_embeds"]),
        ],
        "tiny_text",
        [
            helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "seq"]),
            helper.make_tensor_value_info("attention_mask", TensorProto.INT64, ["batch", "seq"]),
        ],
        [helper.make_tensor_value_info("text_embeds", TensorProto.FLOAT, ["batch", D])],
        [
            numpy_helper.from_array(E_TXT, "E"),
            numpy_helper.from_array(np.array([2], dtype=np.int64), "axis2"),
            numpy_helper.from_array(np.array([1], dtype=np.int64), "axis1"),
        ],
    )
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    m.ir_version = 8
    onnx.checker.check_model(m)
    onnx.save(m, path)


def _tokenizer(path: Path) -> None:
    from tokenizers import Tokenizer, models, pre_tokenizers

    tok = Tokenizer(models.WordLevel({w: i for i, w in enumerate(VOCAB)}, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.save(str(path))


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("tinyclip")
    _image_model(d / "image_encoder.onnx")
    _text_model(d / "text_encoder.onnx")
    _tokenizer(d / "tokenizer.json")
    (d / "clip_config.json").write_text(
        json.dumps({"name": "tiny", "embed_dim": D, "image_size": 32, "image_mean": [0.5, 0.5, 0.5],
                    "image_std": [0.25, 0.25, 0.25], "max_length": 6, "lowercase": True})
    )
    return d


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

"""A tiny image-text model in the CLIP/SigLIP folder layout, generated with the `onnx` package.

It has the real I/O signature (pixel_values [B,3,H,W] -> image_embeds [B,D];
input_ids + attention_mask [B,L] -> text_embeds [B,D]) and arithmetic simple enough to
recompute with numpy, so the encoder tests check preprocessing exactly, and the download
tests have real model files to serve from a loopback server. No retrieval quality is claimed.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

onnx = pytest.importorskip("onnx", reason="the `onnx` package builds the tiny test model (test extra)")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

D = 8
VOCAB = ["[PAD]", "[UNK]", "a", "red", "green", "blue", "square", "photo", "of", "the"]
RNG = np.random.default_rng(0)
W_IMG = RNG.standard_normal((3, D)).astype(np.float32)
E_TXT = RNG.standard_normal((len(VOCAB), D)).astype(np.float32)


def image_model(path: Path) -> None:
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


def text_model(path: Path) -> None:
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


def tokenizer_file(path: Path) -> None:
    from tokenizers import Tokenizer, models, pre_tokenizers

    tok = Tokenizer(models.WordLevel({w: i for i, w in enumerate(VOCAB)}, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.save(str(path))


TINY_CONFIG = {"name": "tiny", "embed_dim": D, "image_size": 32, "image_mean": [0.5, 0.5, 0.5],
               "image_std": [0.25, 0.25, 0.25], "max_length": 6, "lowercase": True}


def write_tiny_clip(d: Path, *, config: bool = True) -> Path:
    """The four files of the folder layout (clip_config.json only when `config`)."""
    d.mkdir(parents=True, exist_ok=True)
    image_model(d / "image_encoder.onnx")
    text_model(d / "text_encoder.onnx")
    tokenizer_file(d / "tokenizer.json")
    if config:
        (d / "clip_config.json").write_text(json.dumps(TINY_CONFIG))
    return d

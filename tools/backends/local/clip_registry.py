"""The image-text models `sensorium models pull NAME` can fetch: pinned URLs and sha256 per file.

Each entry names real ONNX exports on the Hugging Face hub, pinned to a commit (a URL with a
commit hash never changes content), and the sha256 of every file as published on the hub's
own "Git LFS Details" pages. Where no published sha256 could be found (small JSON files are
plain git blobs, for which the hub shows no sha256), the entry says so: `sha256` is None and
`pull` refuses the entry unless the user passes `--allow-unpinned`, in which case the hub's
own LFS checksum header is checked when it sends one and the hash of what arrived is
recorded, so every later start verifies against it (trust on first use, stated as such).

No hash below was computed here: this machine reaches no model hub. Each `note` says where
the hash was read. Nothing here has been run against the real files; see docs/LOCAL.md.

`LocalSettings.clip_registry_file` replaces this list with a JSON file of the same shape
(`{"models": [ClipModelEntry, ...]}`): the tests point it at a loopback server; it is not
meant for users (who would be trusting whatever hashes that file names).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from ...config import LocalSettings
from ...errors import BackendUnavailable, InvalidInput
from .clip import CONFIG_FILE, ClipConfig

_HEX64 = re.compile(r"^[0-9a-f]{64}$")
LAYOUT_FILES = ("image_encoder.onnx", "text_encoder.onnx", "tokenizer.json")
"""The files a pulled model folder holds besides clip_config.json (written from the entry)."""


class RemoteFile(BaseModel):
    """One file of a model: where it comes from and the bytes it must hash to."""

    model_config = ConfigDict(frozen=True)

    name: str = Field(description="file name in the model folder, e.g. image_encoder.onnx")
    url: str = Field(pattern=r"^https?://")
    sha256: str | None = Field(None, description="None: not pinned (no published hash was found); see the module docs")
    size: int | None = Field(None, ge=0, description="exact size in bytes when published; checked when set")
    size_hint: str = Field("", description="approximate size for `models list` (the hub shows MB, not bytes)")
    note: str = Field("", description="where the sha256 was read")

    @field_validator("sha256")
    @classmethod
    def _hex(cls, v: str | None) -> str | None:
        if v is not None and not _HEX64.match(v):
            raise ValueError("sha256 must be 64 lowercase hex digits (or null when not pinned)")
        return v

    @field_validator("name")
    @classmethod
    def _layout(cls, v: str) -> str:
        if v not in LAYOUT_FILES:
            raise ValueError(f"file name must be one of {', '.join(LAYOUT_FILES)}")
        return v


class ClipModelEntry(BaseModel):
    """A pullable model: the files, the clip_config.json to write beside them, and its licence."""

    model_config = ConfigDict(frozen=True)

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9._-]{0,63}$")
    title: str
    license: str
    source: str = Field(description="the model's home page")
    config: ClipConfig
    files: tuple[RemoteFile, ...]
    note: str = ""

    @field_validator("files")
    @classmethod
    def _complete(cls, files: tuple[RemoteFile, ...]) -> tuple[RemoteFile, ...]:
        names = sorted(f.name for f in files)
        if names != sorted(LAYOUT_FILES):
            raise ValueError(f"files must be exactly {', '.join(LAYOUT_FILES)} (got {', '.join(names)})")
        return files

    @property
    def unpinned(self) -> list[str]:
        return [f.name for f in self.files if f.sha256 is None]

    def config_json(self) -> str:
        return json.dumps(self.config.model_dump(mode="json"), indent=2) + "\n"


_HF = "https://huggingface.co"
_CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
_CLIP_STD = (0.26862954, 0.26130258, 0.27577711)

BUILTIN: tuple[ClipModelEntry, ...] = (
    ClipModelEntry(
        name="clip-vit-b32",
        title="OpenAI CLIP ViT-B/32, ONNX export by Xenova (text tower int8, image tower fp32)",
        license="MIT",
        source=f"{_HF}/Xenova/clip-vit-base-patch32",
        config=ClipConfig(
            name="vit-b32", embed_dim=512, image_size=224, image_mean=_CLIP_MEAN, image_std=_CLIP_STD,
            resize="shortest_center_crop", max_length=77, pad_id=49407,
            image_output="image_embeds", text_output="text_embeds",
        ),
        files=(
            RemoteFile(
                name="image_encoder.onnx",
                url=f"{_HF}/Xenova/clip-vit-base-patch32/resolve/4c1807b705b1d015fb032789cc4d221b23025a6f/onnx/vision_model.onnx",
                sha256="fd6e1402a588279d1723c7534d4bcba5bc0b14b47dfab0e46f8c47b8270d7d40",
                size_hint="352 MB",
                note="hub page 'Git LFS Details' of onnx/vision_model.onnx at that commit (last changed in 6ef1ebc)",
            ),
            RemoteFile(
                name="text_encoder.onnx",
                url=f"{_HF}/Xenova/clip-vit-base-patch32/resolve/b8b103f67eef16b29539311ff78dde6c4a754370/onnx/text_model_quantized.onnx",
                sha256="73baab855d406190da9faa498cfedf65f15cf309f4cc7385b7b032e6d08e5c3a",
                size_hint="64.5 MB",
                note="hub page 'Git LFS Details' of onnx/text_model_quantized.onnx at that commit (last changed in 6ef1ebc)",
            ),
            RemoteFile(
                name="tokenizer.json",
                url=f"{_HF}/Xenova/clip-vit-base-patch32/resolve/b8b103f67eef16b29539311ff78dde6c4a754370/tokenizer.json",
                sha256=None,
                size_hint="2.2 MB",
                note="TO BE FILLED: a plain git file on the hub, which publishes no sha256 for it",
            ),
        ),
        note="512-d; the text tower is the hub's dynamic-int8 export, the image tower fp32. Licence: OpenAI's CLIP "
        "release is MIT; the Xenova repo itself declares none",
    ),
    ClipModelEntry(
        name="siglip-b16-224",
        title="Google SigLIP base patch16 224, ONNX export by Xenova (fp32)",
        license="Apache-2.0",
        source=f"{_HF}/Xenova/siglip-base-patch16-224",
        config=ClipConfig(
            name="siglip-b16-224", embed_dim=768, image_size=224, image_mean=(0.5, 0.5, 0.5), image_std=(0.5, 0.5, 0.5),
            resize="squash", max_length=64, pad_to_max_length=True, pad_id=1,
            image_output="pooler_output", text_output="pooler_output",
        ),
        files=(
            RemoteFile(
                name="image_encoder.onnx",
                url=f"{_HF}/Xenova/siglip-base-patch16-224/resolve/65a4a3071a821054207f0a80eaa35fb2ed6d46f0/onnx/vision_model.onnx",
                sha256=None,
                size_hint="372 MB",
                note="TO BE FILLED: no published sha256 for this file was found",
            ),
            RemoteFile(
                name="text_encoder.onnx",
                url=f"{_HF}/Xenova/siglip-base-patch16-224/resolve/65a4a3071a821054207f0a80eaa35fb2ed6d46f0/onnx/text_model.onnx",
                sha256="3aa7fdbd20eaa8740cce17bf82913de641fcb632a768fed59f661cdcd0c32553",
                size_hint="441 MB",
                note="hub page 'Large File Pointer Details' of onnx/text_model.onnx at that commit",
            ),
            RemoteFile(
                name="tokenizer.json",
                url=f"{_HF}/Xenova/siglip-base-patch16-224/resolve/65a4a3071a821054207f0a80eaa35fb2ed6d46f0/tokenizer.json",
                sha256=None,
                size_hint="2.4 MB",
                note="TO BE FILLED: a plain git file on the hub, which publishes no sha256 for it",
            ),
        ),
        note="768-d; `pooler_output` and max-length padding as the repo's model card shows for SiglipTextModel "
        "(the image tower's output name is assumed to match; not run here)",
    ),
)


class _RegistryFile(BaseModel):
    models: list[ClipModelEntry]


def load_registry(settings: LocalSettings) -> dict[str, ClipModelEntry]:
    """Name -> entry, in registry order: the built-in list, or the (test-only) override file."""
    path = settings.clip_registry_file
    if path is None:
        return {e.name: e for e in BUILTIN}
    path = Path(path).expanduser()
    try:
        parsed = _RegistryFile.model_validate(json.loads(path.read_text()))
    except OSError as exc:
        raise BackendUnavailable(
            f"SENSORIUM_LOCAL__CLIP_REGISTRY_FILE points at {path}, which cannot be read ({exc.strerror}); unset it"
        ) from exc
    except (ValueError, ValidationError) as exc:
        raise BackendUnavailable(f"{path} is not a valid model registry ({exc}); unset SENSORIUM_LOCAL__CLIP_REGISTRY_FILE") from exc
    return {e.name: e for e in parsed.models}


def get_entry(registry: dict[str, ClipModelEntry], name: str) -> ClipModelEntry:
    entry = registry.get(name)
    if entry is None:
        raise InvalidInput(
            f"no image-text model named {name!r}; the registry has: {', '.join(registry) or '(none)'} "
            "(`sensorium models list` shows them)"
        )
    return entry


__all__ = ["BUILTIN", "CONFIG_FILE", "ClipModelEntry", "LAYOUT_FILES", "RemoteFile", "get_entry", "load_registry"]

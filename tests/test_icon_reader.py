"""The icon reader on its shipped model: integrity check, shapes, and behaviour on icons of a
set that was held out of training (iconoir, tests/fixtures/icons/README.md)."""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from sensorium.tools.backends.local.models import MINILM, ModelStore
from sensorium.tools.backends.local.text_encoder import TextEncoder
from sensorium.tools.config import LocalSettings
from sensorium.tools.errors import BackendUnavailable, InvalidInput
from sensorium.tools.icons import IconReader, IconReading, preprocess
from sensorium.tools.icons.reader import ASSETS

FIXTURES = Path(__file__).parent / "fixtures" / "icons"
NAMES = ("trash", "search", "settings", "home", "bell", "calendar", "camera", "lock", "printer", "download", "heart", "folder")
DESCRIPTIONS = {
    "trash": "trash (delete, bin)",
    "search": "search (magnifier, find)",
    "settings": "settings (gear, cog, preferences)",
    "home": "home (house, start page)",
    "bell": "bell (notification, alarm)",
    "calendar": "calendar (date, schedule)",
    "camera": "camera (photo, picture)",
    "lock": "lock (secure, padlock)",
    "printer": "printer (print, paper)",
    "download": "download (save, arrow down)",
    "heart": "heart (like, love, favourite)",
    "folder": "folder (directory, files)",
}


def _open(name: str) -> Image.Image:
    with Image.open(FIXTURES / f"{name}.png") as im:
        return im.copy()


@pytest.fixture(scope="module")
def reader() -> IconReader:
    return IconReader(threads=2)


@pytest.fixture(scope="module")
def encoder(tmp_path_factory: pytest.TempPathFactory) -> TextEncoder:
    store = ModelStore(LocalSettings(), cache_dir=tmp_path_factory.mktemp("cache"))
    return TextEncoder(lambda: store.path(MINILM), threads=2)


def test_lazy_until_first_read(tmp_path: Path) -> None:
    r = IconReader(model_dir=tmp_path / "nowhere")
    assert not r.loaded  # constructing reads nothing
    with pytest.raises(BackendUnavailable, match="manifest.json is missing"):
        r.read([_open("trash")])


def test_corrupted_model_copy_is_refused(tmp_path: Path) -> None:
    copy = tmp_path / "assets"
    shutil.copytree(ASSETS, copy)
    model = copy / "icon_reader.onnx"
    data = bytearray(model.read_bytes())
    data[len(data) // 2] ^= 0xFF
    model.write_bytes(bytes(data))
    with pytest.raises(BackendUnavailable, match=r"icon_reader\.onnx is corrupt \(sha256 [0-9a-f]{64}, expected [0-9a-f]{64}\)"):
        IconReader(model_dir=copy).read([_open("trash")])


def test_missing_vocabulary_is_named(tmp_path: Path) -> None:
    copy = tmp_path / "assets"
    shutil.copytree(ASSETS, copy)
    (copy / "vocab.npy").unlink()
    with pytest.raises(BackendUnavailable, match=r"vocab\.npy is missing"):
        IconReader(model_dir=copy).read([_open("trash")])


def test_batch_gives_one_unit_vector_per_crop(reader: IconReader) -> None:
    crops = [_open(n) for n in NAMES] + [_open("trash-on-blue"), Image.new("RGB", (20, 20), "white")]
    readings = reader.read(crops)
    assert len(readings) == len(crops)
    for r in readings:
        assert isinstance(r, IconReading)
        assert r.vector.shape == (384,) and r.vector.dtype == np.float32
        assert abs(float(np.linalg.norm(r.vector)) - 1.0) < 1e-4
        assert 1 <= len(r.words) <= 5 and all(isinstance(w, str) and w for w in r.words)
        assert 0.0 <= r.confidence <= 1.0
    assert reader.read([]) == []


def test_bad_input_is_named(reader: IconReader) -> None:
    with pytest.raises(InvalidInput, match="sequence of images"):
        reader.read(_open("trash"))  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="item 1"):
        reader.read([_open("trash"), "trash.png"])  # type: ignore[list-item]


def test_words_for_held_out_icons_are_sensible(reader: IconReader) -> None:
    trash, search, trash_blue, search_blue = reader.read([_open("trash"), _open("search"), _open("trash-on-blue"), _open("search-on-blue")])
    trash_words = {"trash", "delete", "bin", "remove", "garbage", "trash can", "recycle bin", "rubbish", "waste"}
    search_words = {"search", "magnifier", "find", "zoom", "magnifying glass", "magnify", "lookup", "look up"}
    assert trash_words & set(trash.words), trash.words
    assert search_words & set(search.words), search.words
    assert trash_words & set(trash_blue.words), trash_blue.words  # white on a blue button reads the same
    assert search_words & set(search_blue.words), search_blue.words


def test_polarity_and_colour_do_not_matter(reader: IconReader) -> None:
    """The same glyph dark-on-white and white-on-blue normalises to the same picture and vector."""
    dark = _open("trash")
    ink = 1.0 - np.asarray(dark.convert("L"), dtype=np.float32) / 255.0  # 0 background .. 0.8 glyph
    blue, white = np.array([26, 115, 232], np.float32), np.array([255, 255, 255], np.float32)
    recoloured = Image.fromarray((blue * (1 - ink[..., None] / ink.max()) + white * (ink[..., None] / ink.max())).round().astype(np.uint8), "RGB")
    a, b = preprocess(dark), preprocess(recoloured)
    assert a.shape == b.shape == (32, 32) and a.dtype == np.float32
    assert float(np.abs(a - b).max()) < 0.1
    va, vb = (r.vector for r in reader.read([dark, recoloured]))
    assert float(va @ vb) > 0.95


def test_blank_and_noise_are_not_confident(reader: IconReader) -> None:
    rng = np.random.default_rng(0)
    blank = Image.new("RGB", (24, 24), (240, 240, 240))
    photo = Image.fromarray(rng.integers(0, 255, (40, 40, 3), dtype=np.uint8), "RGB").resize((40, 40))
    icons = reader.read([_open(n) for n in NAMES])
    others = reader.read([blank, photo])
    assert others[0].confidence == 0.0  # nothing inked at all
    assert others[1].confidence < min(r.confidence for r in icons)


def test_description_ranks_its_own_icon_first(reader: IconReader, encoder: TextEncoder) -> None:
    """Text through the MiniLM TextEncoder, icons through the reader: one shared space."""
    images = reader.read([_open(n) for n in NAMES])
    img = np.stack([r.vector for r in images])
    txt = encoder.encode([DESCRIPTIONS[n] for n in NAMES])
    sims = txt @ img.T
    ranks = [int((sims[i] > sims[i, i]).sum()) + 1 for i in range(len(NAMES))]
    for must in ("trash", "search", "settings"):
        assert ranks[NAMES.index(must)] == 1, dict(zip(NAMES, ranks))
    assert sum(r == 1 for r in ranks) >= 9, dict(zip(NAMES, ranks))


def test_words_vector_stands_for_the_encoded_words(reader: IconReader, encoder: TextEncoder) -> None:
    """The words' vector (a sum of shipped term vectors, no encoder run) points where the sentence
    encoder's vector of the same words joined does (cosine 0.61-0.79 here, 0.0-0.2 to another icon's):
    the ranking uses it in place of encoding 100+ word lists per screen."""
    readings = reader.read([_open(n) for n in NAMES])
    said = np.stack([r.words_vector for r in readings])
    assert said.dtype == np.float32 and said.shape == (len(NAMES), 384)
    assert np.allclose(np.linalg.norm(said, axis=1), 1.0, atol=1e-4)
    encoded = encoder.encode([" ".join(r.words) for r in readings])
    sims = said @ encoded.T
    assert float(np.diag(sims).min()) > 0.5, np.diag(sims).round(3)
    assert all(int(np.argmax(sims[i])) == i for i in range(len(NAMES))), sims.round(2)


def test_concurrent_reads_agree(reader: IconReader) -> None:
    crops = [_open(n) for n in NAMES]
    expected = np.stack([r.vector for r in reader.read(crops)])
    results: list[np.ndarray] = []
    errors: list[BaseException] = []

    def work() -> None:
        try:
            results.append(np.stack([r.vector for r in reader.read(crops)]))
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    for got in results:
        np.testing.assert_allclose(got, expected, atol=1e-5)


def test_version_names_the_pinned_model_without_loading_it(tmp_path: Path) -> None:
    shipped = IconReader()
    assert len(shipped.version) == 12 and not shipped.loaded
    assert IconReader(model_dir=tmp_path).version == "missing"  # no manifest: a version that matches nothing

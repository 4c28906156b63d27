"""The OCR engine's onnxruntime sessions get the spin-wait option the settings ask for, and RapidOCR's
own session builder is left as it was (tools/backends/local/ort_spin.py)."""

from __future__ import annotations

import pytest
from rapidocr.inference_engine.onnxruntime import main as ort_main
from sensorium.tools.backends.local.ocr import OcrEngine, engine_from_settings
from sensorium.tools.backends.local.ort_spin import SPIN_KEY
from sensorium.tools.config import LocalSettings


def _spin_entries(engine: OcrEngine) -> list[str]:
    engine.load()
    rapid = engine._engine
    assert rapid is not None
    return [m.session.session.get_session_options().get_session_config_entry(SPIN_KEY) for m in (rapid.text_det, rapid.text_rec)]


@pytest.mark.parametrize("spin", [False, True])
def test_both_ocr_sessions_get_the_spin_option(spin: bool) -> None:
    before = ort_main.OrtInferSession.__dict__["_init_sess_opts"]
    engine = OcrEngine(threads=1, spin_wait=spin)
    try:
        assert _spin_entries(engine) == ["1" if spin else "0"] * 2
    finally:
        engine.close()
    assert ort_main.OrtInferSession.__dict__["_init_sess_opts"] is before  # put back: other RapidOCR users unaffected


def test_settings_default_to_no_spinning_and_the_engine_reads_lines() -> None:
    from PIL import Image, ImageDraw

    engine = engine_from_settings(LocalSettings(threads=1))
    try:
        assert _spin_entries(engine) == ["0", "0"]
        img = Image.new("RGB", (360, 60), "white")
        ImageDraw.Draw(img).text((10, 14), "Spin wait off", fill="black", font_size=24)
        assert "Spin" in " ".join(line.text for line in engine.read(img).lines)
    finally:
        engine.close()


@pytest.mark.parametrize("spin", [False, True])
def test_the_text_encoder_and_the_icon_reader_follow_the_same_setting(spin: bool, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """tools/ort_options.py: every model of the local backend runs with spin-waiting as configured."""
    from sensorium.tools.backends.local.backend import LocalBackend

    backend = LocalBackend(LocalSettings(threads=1, ocr_spin_wait=spin), cache_dir=tmp_path)
    backend.encoder.encode(["spin"])
    backend.icons.load()
    sessions = [backend.encoder._session, backend.icons._ensure_loaded().session]  # noqa: SLF001
    assert [s.get_session_options().get_session_config_entry(SPIN_KEY) for s in sessions] == ["1" if spin else "0"] * 2

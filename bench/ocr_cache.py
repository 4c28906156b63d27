"""OCR words of generated bench screens, cached on disk per screen.

WHY: the grounding benches (heldout_grounding, lexical_probe, icon_rank_features) rank many variants of
the same screens; reading a screen is most of a run's time and does not change with the ranking code,
so each screen is read once per work folder, and the OCR engine is only built when a read is needed.
"""

from __future__ import annotations

import pickle
from pathlib import Path

from PIL import Image


class WordsCache:
    """`words(image, key)`: the screen's OCR words from `<work>/words-<key>.pkl`, read and stored on a miss."""

    def __init__(self, work: Path, detector: str = "auto", recogniser: str = "auto") -> None:
        self.work = work
        self.detector = detector  # LocalSettings.ocr_detector; screens read with another one are other files
        self.recogniser = recogniser  # LocalSettings.ocr_recogniser, likewise
        self._engine = None

    def words(self, image: Image.Image, key: str) -> list:
        from sensorium.server.settings import LocalSettings
        from sensorium.tools.backends.local.ocr import engine_from_settings
        from sensorium.tools.ranking.proposals import read_words

        tag = "".join(f"-{name}-{v}" for name, v in (("det", self.detector), ("rec", self.recogniser)) if v != "auto")
        path = self.work / f"words-{key}{tag}.pkl"
        if path.exists():
            return pickle.loads(path.read_bytes())
        self._engine = self._engine or engine_from_settings(LocalSettings(ocr_detector=self.detector, ocr_recogniser=self.recogniser))
        words = read_words(self._engine, image)
        path.write_bytes(pickle.dumps(words))
        return words

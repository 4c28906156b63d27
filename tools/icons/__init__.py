"""Icon reader: textless screen crops -> MiniLM-space vectors and words (see reader.py)."""

from .preprocess import preprocess
from .reader import IconReader, IconReading

__all__ = ["IconReader", "IconReading", "preprocess"]

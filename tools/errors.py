"""Domain errors of the perception layer.

Every failure a caller can cause or fix has its own class and a message that names the
limit or the missing piece *and the way out*. The MCP adapter (`sensorium.server.errors`)
turns these into tool results with ``isError``; nothing here knows about MCP.
"""

from __future__ import annotations


class SensoriumError(Exception):
    """Base of every anticipated failure: its message is written for the caller to read."""


class InvalidInput(SensoriumError):
    """The caller sent something malformed (empty text, bad base64, a box outside the image)."""


class LimitExceeded(InvalidInput):
    """The input is well-formed but over a named limit (size, duration, pages, count)."""


class UnsupportedMedia(InvalidInput):
    """The bytes are not a media type this path (or this backend) accepts."""


class NotFound(SensoriumError):
    """A handle, capture id, file or record that does not exist (or no longer does)."""


class Forbidden(SensoriumError):
    """A file outside the allowed roots, or an action the settings exclude."""


class CaptureUnavailable(SensoriumError):
    """No display to capture from (headless, Wayland without X, no DISPLAY)."""


class BackendUnavailable(SensoriumError):
    """The embedding backend cannot run at all: no API key, a missing or corrupt model file."""


class BackendError(SensoriumError):
    """The backend ran and failed: an HTTP status after retries, a malformed answer."""


class ModalityNotSupported(SensoriumError):
    """This backend cannot embed this kind of input (e.g. non-speech audio on the local backend)."""


def echo(value: object, limit: int = 60) -> str:
    """A caller's value quoted for an error message, cut to `limit` characters: an error must not
    repeat a 10 MB id back (issue 18), and the start is enough to recognise it."""
    text = value if isinstance(value, str) else repr(value)
    if len(text) <= limit:
        return repr(text) if isinstance(value, str) else text
    cut = text[:limit]
    return (repr(cut) if isinstance(value, str) else cut) + f"… ({len(text):,} characters)"

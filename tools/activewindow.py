"""Which window is in front: its application and title, read from the window manager.

Watch mode labels every frame with the app and title, and the privacy settings
(`memory.excluded_apps`, `memory.excluded_titles`) are judged on them *before* a frame is
embedded, so they must come from the real active window, not from what a caller says.

On X11 the window manager publishes the active window on the root window (EWMH
`_NET_ACTIVE_WINDOW`); its `_NET_WM_NAME` (UTF-8) or `WM_NAME` is the title and the class part
of `WM_CLASS` the application. python-xlib speaks the X protocol in pure Python (no C library
to build). Without a window manager that publishes EWMH there is no active window to read:
`read_active_window` then returns None and the watcher treats the frame as unknown (stored
only when no exclusion is configured). macOS and Windows are not implemented (nothing here
could test them): there too the result is None.
"""

from __future__ import annotations

import logging
import os
import sys

from pydantic import BaseModel

log = logging.getLogger(__name__)


class ActiveWindow(BaseModel):
    app: str | None = None
    title: str | None = None
    pid: int | None = None


def read_active_window(display_name: str | None = None) -> ActiveWindow | None:
    """The window in front, or None when it cannot be known (no X display, no EWMH window manager)."""
    if not sys.platform.startswith("linux") and not os.environ.get("DISPLAY"):
        return None
    try:
        from Xlib import X, display, error
    except ImportError:  # pragma: no cover - python-xlib is a dependency
        return None
    try:
        d = display.Display(display_name)
    except Exception as exc:  # Xlib raises its own DisplayError / ConnectionClosedError types
        log.debug("no X display for the active window: %s", exc)
        return None
    try:
        root = d.screen().root
        prop = root.get_full_property(d.intern_atom("_NET_ACTIVE_WINDOW"), X.AnyPropertyType)
        if prop is None or not len(prop.value) or not prop.value[0]:
            return None
        win = d.create_resource_object("window", int(prop.value[0]))
        title_prop = win.get_full_property(d.intern_atom("_NET_WM_NAME"), d.intern_atom("UTF8_STRING"))
        title = _text(title_prop.value) if title_prop is not None else None
        if not title:
            name = win.get_wm_name()
            title = _text(name) if name else None
        wm_class = win.get_wm_class()
        pid_prop = win.get_full_property(d.intern_atom("_NET_WM_PID"), X.AnyPropertyType)
        pid = int(pid_prop.value[0]) if pid_prop is not None and len(pid_prop.value) else None
        return ActiveWindow(app=wm_class[1] if wm_class else None, title=title or None, pid=pid)
    except error.XError as exc:  # the window closed between the two reads
        log.debug("active window vanished: %s", exc)
        return None
    finally:
        d.close()


def _text(value: object) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)

"""A settings error as one line that names the variable to fix (never a traceback).

pydantic reports field paths (`('intake', 'allowed_roots', 0)`) and pydantic-settings reports
a section (`error parsing value for field "intake"`); a person sets environment variables, so
both are turned back into the env names they typed.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from pydantic import ValidationError
from pydantic_settings import SettingsError

PREFIX = "SENSORIUM_"
DELIMITER = "__"
_ALIASES = {"gemini_api_key": "GEMINI_API_KEY"}
_SECRETS = ("token", "api_key")
"""Fields whose value is never echoed in an error (a too-weak token is still someone's token)."""


def env_name(loc: tuple[int | str, ...]) -> str:
    """('intake', 'allowed_roots', 0) -> SENSORIUM_INTAKE__ALLOWED_ROOTS (list indices dropped)."""
    parts = [str(p) for p in loc if isinstance(p, str)]
    if parts and parts[0] in _ALIASES:
        return _ALIASES[parts[0]]
    if parts and parts[0].upper() == parts[0]:  # already an alias such as GEMINI_API_KEY
        return parts[0]
    return PREFIX + DELIMITER.join(parts).upper()


def _variables_of_section(section: str, environ: Mapping[str, str]) -> list[str]:
    head = (PREFIX + section + DELIMITER).upper()
    exact = (PREFIX + section).upper()
    return sorted(k for k in environ if k.upper().startswith(head) or k.upper() == exact)


def describe_settings_error(exc: Exception, environ: Mapping[str, str] | None = None) -> str:
    """One line: which variable is wrong, what was wrong, and the accepted form where it helps."""
    environ = os.environ if environ is None else environ
    if isinstance(exc, ValidationError):
        problems = []
        for err in exc.errors(include_url=False):
            msg = err["msg"].removeprefix("Value error, ")
            value = err.get("input")
            secret = any(str(p).endswith(_SECRETS) for p in err["loc"])
            shown = f"={value!r}" if isinstance(value, str | int | float) and not secret else ""
            problems.append(f"{env_name(tuple(err['loc']))}{shown}: {msg}")
        return "invalid settings: " + "; ".join(problems)
    if isinstance(exc, SettingsError):
        text = str(exc)
        section = text.split('"')[1] if text.count('"') >= 2 else ""
        names = _variables_of_section(section, environ) if section else []
        cause = f" ({exc.__cause__})" if exc.__cause__ else ""
        where = ", ".join(names) if names else f"{PREFIX}{section.upper()}{DELIMITER}*"
        return (
            f"invalid settings: {where} could not be read{cause}; lists take JSON (e.g. [\"~\", \"/data\"]) "
            "or comma-separated values, sections are set one field at a time (e.g. SENSORIUM_HTTP__PORT=8765)"
        )
    return f"invalid settings: {exc}"

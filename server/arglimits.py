"""Bounds on every tool argument, checked before a tool runs (issue 18, defects 2, 8 and 9).

A tool's own checks come too late for some inputs: a 1 MB `recall(text=...)` cost minutes of
CPU before anything looked at its length, a 10 MB `note` was stored as-is, NaN slipped through
`min_score`, and a list of 100,000 bad candidates produced a 21 MB validation message. So every
string argument, at any depth (parts, candidates, filters, metadata), has a length cap taken from
the settings, every number must be finite and fit in 64 bits, nesting is bounded, and a
validation error reports a few problems, not one line per bad item.

`ArgLimits` says which cap applies to an argument by its name; `check` walks raw arguments (the
strict argument model calls it first); `annotate_schema` writes the same caps into the published
input schema as `maxLength`, so a client can see them; `short_validation_error` cuts a pydantic
error down to what a caller can act on.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError
from pydantic_core import PydanticCustomError

from ..tools.config import IntakeSettings

TEXT_ARGS = frozenset({"text", "instruction", "note", "caption"})
PATH_ARGS = frozenset({"path", "instruction_audio_path"})
BASE64_ARGS = frozenset({"data_base64", "instruction_audio_base64"})
SCHEMA_ARGS = TEXT_ARGS
"""Arguments whose cap is published as `maxLength`: the texts, the one long input a model writes
itself. Every other string is capped too (docs/SETTINGS.md), but a `maxLength` on each would
cost the tool list (read by the agent every turn, budget 25,000 characters) ~1,000 characters."""
MAX_DEPTH = 16
"""Deepest nesting of lists and objects in arguments (metadata is the only free-form one)."""
INT64 = 2**63
MAX_REPORTED_ERRORS = 5
MAX_LOC_CHARS = 40


@dataclass(frozen=True)
class ArgLimits:
    """String caps by argument name: texts, paths, base64 payloads, and everything else (labels)."""

    text: int = 32_000
    label: int = 1_000
    path: int = 4_096
    base64: int = 66_700_000

    @classmethod
    def from_settings(cls, intake: IntakeSettings) -> ArgLimits:
        # base64 is 4 characters per 3 bytes. Twice that bounds the work; between 1x and 2x intake
        # measures the decoded size and says by how much it is over (the more useful message)
        b64 = (intake.max_file_bytes + 2) // 3 * 4
        return cls(text=intake.max_text_chars, label=intake.max_label_chars, path=intake.max_path_chars, base64=2 * b64 + 1_024)

    def cap(self, name: str) -> tuple[int, str]:
        """(limit, the setting that sets it) for a string under argument/field `name`."""
        if name in TEXT_ARGS:
            return self.text, "SENSORIUM_INTAKE__MAX_TEXT_CHARS"
        if name in PATH_ARGS:
            return self.path, "SENSORIUM_INTAKE__MAX_PATH_CHARS"
        if name in BASE64_ARGS:
            return self.base64, "SENSORIUM_INTAKE__MAX_FILE_BYTES"
        return self.label, "SENSORIUM_INTAKE__MAX_LABEL_CHARS"

    def check(self, args: dict[str, Any]) -> None:
        """Raise a PydanticCustomError naming the first argument over a bound (length, number, depth)."""
        for key, value in args.items():
            self._walk(value, str(key), str(key), 0)

    def _walk(self, value: Any, name: str, where: str, depth: int) -> None:
        if isinstance(value, str):
            limit, setting = self.cap(name)
            if len(value) > limit:
                raise _error(
                    "string_too_long",
                    f"{where} is {len(value)} characters, the limit is {limit} ({setting}): "
                    + ("send a smaller file" if name in BASE64_ARGS else "shorten it"),
                )
        elif isinstance(value, bool):
            return
        elif isinstance(value, float):
            if not math.isfinite(value):
                raise _error("finite_number", f"{where} is {value}: numbers must be finite (no NaN or Infinity)")
        elif isinstance(value, int):
            if not -INT64 <= value < INT64:
                raise _error("int_range", f"{where} is outside the 64-bit integer range (±9.2e18)")
        elif isinstance(value, (list, tuple, dict)):
            if depth >= MAX_DEPTH:
                raise _error("too_deep", f"{where} is nested more than {MAX_DEPTH} levels deep")
            if isinstance(value, dict):
                for k, v in value.items():
                    key = str(k)
                    if len(key) > self.label:
                        raise _error("key_too_long", f"a key in {where} is {len(key):,} characters, the limit is {self.label:,}")
                    # a nested field with a known name (parts[].text) takes that name's cap; metadata keys take the label cap
                    self._walk(v, key, f"{where}.{_short(key)}", depth + 1)
            else:
                for n, v in enumerate(value):
                    self._walk(v, name, f"{where}[{n}]", depth + 1)

    def annotate_schema(self, schema: dict[str, Any]) -> dict[str, Any]:
        """Add `maxLength` to the long string properties (SCHEMA_ARGS) that have none."""
        for node in [schema, *schema.get("$defs", {}).values()]:
            for name, prop in node.get("properties", {}).items():
                if isinstance(prop, dict):
                    self._annotate(prop, name)
        return schema

    def _annotate(self, prop: dict[str, Any], name: str) -> None:
        if name not in SCHEMA_ARGS:
            return
        kind = prop.get("type")
        kinds = kind if isinstance(kind, list) else [kind]
        if "string" in kinds and "maxLength" not in prop and "format" not in prop and "enum" not in prop:
            prop["maxLength"] = self.cap(name)[0]
        items = prop.get("items")
        if "array" in kinds and isinstance(items, dict) and items.get("type") == "string" and "maxLength" not in items:
            items["maxLength"] = self.cap(name)[0]
        for branch in prop.get("anyOf", []):
            if isinstance(branch, dict):
                self._annotate(branch, name)


def _short(text: str) -> str:
    return text if len(text) <= MAX_LOC_CHARS else text[:MAX_LOC_CHARS] + "…"


def _error(kind: str, message: str) -> PydanticCustomError:
    return PydanticCustomError(kind, message.replace("{", "(").replace("}", ")"))


def short_validation_error(exc: ValidationError, title: str) -> ValidationError:
    """The same error with at most MAX_REPORTED_ERRORS entries, short locations and no input values."""
    errors = exc.errors(include_url=False, include_input=False)
    lines: list[Any] = []
    for err in errors[:MAX_REPORTED_ERRORS]:
        msg = str(err.get("msg", ""))
        if len(msg) > 500:
            msg = msg[:500] + "…"
        loc = tuple(_short(p) if isinstance(p, str) else p for p in err.get("loc", ()))[:8]
        lines.append({"type": PydanticCustomError(str(err.get("type", "invalid")), msg.replace("{", "(").replace("}", ")")), "loc": loc, "input": None})
    if len(errors) > MAX_REPORTED_ERRORS:
        more = len(errors) - MAX_REPORTED_ERRORS
        lines.append({"type": PydanticCustomError("more_errors", f"and {more:,} more errors like these"), "loc": (), "input": None})
    return ValidationError.from_exception_data(title, lines, hide_input=True)

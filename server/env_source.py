"""Environment lists a person can type: JSON, or a plain comma- / path-separated list.

pydantic-settings reads list-valued variables as JSON only, so `SENSORIUM_INTAKE__ALLOWED_ROOTS=~`
(what anyone would write first) failed with a traceback. This source keeps JSON (`["~", "/data"]`)
and falls back, for list fields only, to splitting the plain text: paths on commas and on
`os.pathsep` (`:` on Linux/macOS, like PATH), other lists on commas. Values that are neither
(e.g. a malformed JSON object for a section) still raise, and the CLI turns that into one line.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Union, get_args, get_origin

from pydantic.fields import FieldInfo
from pydantic_settings import EnvSettingsSource


def _list_item_type(field: FieldInfo | None) -> type | None:
    """The item type of a `list[X]` (or `list[X] | None`) field, else None."""
    if field is None:
        return None
    ann = field.annotation
    if get_origin(ann) is Union or type(ann).__name__ == "UnionType":
        members = [a for a in get_args(ann) if a is not type(None)]
        ann = members[0] if len(members) == 1 else None
    if get_origin(ann) in (list, tuple, set, frozenset):
        args = get_args(ann)
        return args[0] if args else str
    return None


def split_plain_list(value: str, item_type: type) -> list[str]:
    """`"~, /data"` -> `["~", "/data"]`; paths also split on os.pathsep (`~:/data`)."""
    separators = "," + (os.pathsep if item_type is Path or (isinstance(item_type, type) and issubclass(item_type, Path)) else "")
    parts = re.split("[" + re.escape(separators) + "]", value)
    return [p.strip() for p in parts if p.strip()]


class FriendlyEnvSource(EnvSettingsSource):
    """EnvSettingsSource whose list fields also accept plain, separated text."""

    def decode_complex_value(self, field_name: str, field: FieldInfo, value: Any) -> Any:
        try:
            return super().decode_complex_value(field_name, field, value)
        except ValueError:
            item_type = _list_item_type(field)
            if item_type is None or not isinstance(value, str) or value.lstrip().startswith("["):
                raise  # a JSON-looking list that does not parse is a typo worth reporting, not splitting
            return split_plain_list(value, item_type)

"""Read-only lists and dicts for the memories a recall shares between callers.

Why: the local store keeps each cached row as one Memory object and hands that same object to every
recall that finds it (building a fresh Memory, Source, list and dict per hit was most of the Python
around the graph walk, issue 16). A shared object must not be changeable by one caller, or the next
recall would see the change: the models are frozen (pydantic refuses assignment) and their tags and
metadata (nested values included) are these subclasses, which refuse every in-place change with an
error saying how to get a copy. They stay a `list` and a `dict`: equal to plain ones, accepted by
pydantic's `list[...]`/`dict[...]` fields and serialised exactly like them (model_dump gives plain
lists and dicts, model_dump_json the same bytes), and `json.dumps` takes them as is.

Copies (`copy.copy`, `copy.deepcopy`, `model_copy(deep=True)`, pickling) are plain, changeable lists
and dicts: a caller who wants to edit a recalled memory edits its own copy.
"""

from __future__ import annotations

import copy
from typing import Any, NoReturn

_HOW = "copy it first (list(...), dict(...), copy.deepcopy(...) or memory.model_copy(deep=True))"


def _refuse(self: object, *args: Any, **kwargs: Any) -> NoReturn:
    raise TypeError(f"a recalled memory is shared by every recall that finds it and is read-only: {_HOW}")


class FrozenList(list[Any]):
    """A list that refuses in-place changes (see the module docstring)."""

    __slots__ = ()
    append = extend = insert = remove = pop = clear = sort = reverse = _refuse
    __setitem__ = __delitem__ = __iadd__ = __imul__ = _refuse

    def __copy__(self) -> list[Any]:
        return list(self)

    def __deepcopy__(self, memo: dict[int, Any]) -> list[Any]:
        return [copy.deepcopy(x, memo) for x in self]

    def __reduce__(self) -> tuple[Any, ...]:
        return (list, (list(self),))


class FrozenDict(dict[str, Any]):
    """A dict that refuses in-place changes (see the module docstring)."""

    __slots__ = ()
    __setitem__ = __delitem__ = __ior__ = _refuse
    update = pop = popitem = clear = setdefault = _refuse

    def __copy__(self) -> dict[str, Any]:
        return dict(self)

    def __deepcopy__(self, memo: dict[int, Any]) -> dict[str, Any]:
        return {k: copy.deepcopy(v, memo) for k, v in self.items()}

    def __reduce__(self) -> tuple[Any, ...]:
        return (dict, (dict(self),))


def freeze(value: Any) -> Any:
    """`value` (JSON-like: dicts, lists, scalars) with every dict and list, at any depth, made read-only."""
    if isinstance(value, dict):
        return FrozenDict({k: freeze(v) for k, v in value.items()})
    if isinstance(value, list):
        return FrozenList(freeze(v) for v in value)
    return value

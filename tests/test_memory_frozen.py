"""memory/frozen.py: the read-only lists and dicts a recalled (shared) memory holds stay usable as plain
ones everywhere a caller or the MCP layer uses them, refuse every in-place change, and copy to plain ones."""

from __future__ import annotations

import copy
import json
import pickle
from typing import Any

import pytest
from pydantic import BaseModel
from sensorium.memory.frozen import FrozenDict, FrozenList, freeze

PLAIN: dict[str, Any] = {"k": [1, {"z": None, "u": "é"}], "n": 2.5, "t": True, "s": "x"}


class Doc(BaseModel):
    tags: list[str]
    metadata: dict[str, Any]


def test_frozen_values_equal_and_serialise_like_plain_ones() -> None:
    md, tags = freeze(PLAIN), freeze(["a", "b"])
    assert isinstance(md, FrozenDict) and isinstance(md["k"], FrozenList) and isinstance(md["k"][1], FrozenDict)
    assert md == PLAIN and tags == ["a", "b"]
    assert json.dumps(md, ensure_ascii=False) == json.dumps(PLAIN, ensure_ascii=False)
    frozen_doc, plain_doc = Doc.model_construct(tags=tags, metadata=md), Doc(tags=["a", "b"], metadata=PLAIN)
    assert frozen_doc.model_dump_json() == plain_doc.model_dump_json()
    dumped = frozen_doc.model_dump()
    assert dumped == plain_doc.model_dump() and type(dumped["metadata"]["k"][1]) is dict  # plain, changeable
    assert Doc(tags=tags, metadata=md).model_dump_json() == plain_doc.model_dump_json()  # validated like plain ones


@pytest.mark.parametrize("change", [
    lambda d, t: d.__setitem__("k", 1), lambda d, t: d.__delitem__("k"), lambda d, t: d.update(a=1),
    lambda d, t: d.pop("k"), lambda d, t: d.popitem(), lambda d, t: d.clear(), lambda d, t: d.setdefault("q", 1),
    lambda d, t: d.__ior__({"a": 1}), lambda d, t: t.append("c"), lambda d, t: t.extend(["c"]),
    lambda d, t: t.insert(0, "c"), lambda d, t: t.remove("a"), lambda d, t: t.pop(), lambda d, t: t.clear(),
    lambda d, t: t.sort(), lambda d, t: t.reverse(), lambda d, t: t.__setitem__(0, "c"),
    lambda d, t: t.__delitem__(0), lambda d, t: t.__iadd__(["c"]), lambda d, t: t.__imul__(2),
    lambda d, t: d["k"].append(3), lambda d, t: d["k"][1].__setitem__("z", 1),
])
def test_every_in_place_change_is_refused(change: Any) -> None:
    md, tags = freeze(PLAIN), freeze(["a", "b"])
    with pytest.raises(TypeError, match="read-only: copy it first"):
        change(md, tags)
    assert md == PLAIN and tags == ["a", "b"]


def test_copies_are_plain_and_changeable() -> None:
    md, tags = freeze(PLAIN), freeze(["a", "b"])
    for c in (copy.deepcopy(md), pickle.loads(pickle.dumps(md))):
        assert c == PLAIN and type(c) is dict and type(c["k"]) is list and type(c["k"][1]) is dict
        c["k"][1]["z"] = 1
    assert type(copy.copy(md)) is dict and type(copy.copy(tags)) is list and type(tags + ["c"]) is list
    assert md == PLAIN  # the copies' changes stayed in the copies

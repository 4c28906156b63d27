"""Hypothesis strategies derived from a tool's advertised JSON Schema (its MCP `inputSchema`).

Two kinds of arguments per tool: `schema_args` follows the schema's shape (types, enums, bounds,
required properties) with hostile values mixed in (empty and over-long strings, huge integers,
NaN, paths outside the roots, junk base64); `junk_args` is any JSON under the tool's argument
names or unknown ones. The server must answer both with a result, an isError naming the problem,
or a validation error, and never with an internal error.
"""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

HOSTILE_STRINGS = [
    "", " ", "\x00", "\n", "../../etc/passwd", "/etc/passwd", "/proc/self/environ", "~", "/", "data:image/png;base64,AAAA",
    "data:,", "iVBORw0KGgo=", "cap_000000", "emb_000000000000", "NaN", "null", "[]", "{}", '{"a": 1}', "é" * 20, "🙂" * 10,
    "%PDF-1.4", "RIFF", "1e309", "-1",
]
json_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=30), st.sampled_from(HOSTILE_STRINGS),
)
json_values = st.recursive(
    json_scalars,
    lambda children: st.one_of(st.lists(children, max_size=4), st.dictionaries(st.text(max_size=12), children, max_size=4)),
    max_leaves=12,
)


def _strings(schema: dict[str, Any]) -> st.SearchStrategy[str]:
    cap = int(schema.get("maxLength", 2_000))
    return st.one_of(
        st.text(max_size=40),
        st.sampled_from(HOSTILE_STRINGS),
        st.sampled_from([cap, cap + 1, 1_001, 5_000]).map(lambda n: "a" * n),  # at and over the caps
    )


def from_schema(schema: Any, defs: dict[str, Any], depth: int = 0) -> st.SearchStrategy[Any]:
    """Values shaped like `schema` (not always valid: bounds are crossed on purpose)."""
    if schema is True or not isinstance(schema, dict) or not schema or depth > 6:
        return json_values
    if "$ref" in schema:
        return from_schema(defs.get(schema["$ref"].rsplit("/", 1)[-1], {}), defs, depth + 1)
    if "const" in schema:
        return st.just(schema["const"])
    if "enum" in schema:
        return st.one_of(st.sampled_from(schema["enum"]), st.text(max_size=10))
    for key in ("anyOf", "oneOf"):
        if key in schema:
            return st.one_of([from_schema(s, defs, depth + 1) for s in schema[key]])
    kind = schema.get("type")
    if isinstance(kind, list):
        return st.one_of([from_schema({**schema, "type": k}, defs, depth) for k in kind])
    if kind == "string":
        if schema.get("format") == "date-time":
            return st.one_of(st.datetimes().map(lambda d: d.isoformat()), st.sampled_from(HOSTILE_STRINGS))
        return _strings(schema)
    if kind == "integer":
        lo, hi = schema.get("minimum"), schema.get("maximum")
        inside = st.integers(min_value=lo, max_value=hi)
        return st.one_of(inside, inside, st.integers(), st.sampled_from([-(2**63) - 1, 2**63, 2**64, -1, 0]))
    if kind == "number":
        lo, hi = schema.get("minimum"), schema.get("maximum")
        return st.one_of(st.floats(min_value=lo, max_value=hi, allow_nan=False), st.floats(allow_nan=True, allow_infinity=True))
    if kind == "boolean":
        return st.one_of(st.booleans(), st.booleans(), json_scalars)
    if kind == "null":
        return st.none()
    if kind == "array":
        items = from_schema(schema.get("items", {}), defs, depth + 1)
        return st.lists(items, max_size=min(int(schema.get("maxItems", 6)), 6))
    if kind == "object" or "properties" in schema:
        return object_args(schema, defs, depth + 1)
    return json_values


def object_args(schema: dict[str, Any], defs: dict[str, Any], depth: int = 0) -> st.SearchStrategy[dict[str, Any]]:
    props: dict[str, Any] = schema.get("properties", {})
    if not props:
        extra = schema.get("additionalProperties")
        return st.dictionaries(st.text(max_size=12), from_schema(extra if isinstance(extra, dict) else {}, defs, depth + 1), max_size=4)
    required = [p for p in schema.get("required", []) if p in props]
    optional = {k: from_schema(v, defs, depth) for k, v in props.items() if k not in required}
    return st.fixed_dictionaries({k: from_schema(props[k], defs, depth) for k in required}, optional=optional)


def exclusive_group(input_schema: dict[str, Any]) -> list[str]:
    """The "exactly one of" inputs the root `not` names (`{"properties": {name: false, ...}}`)."""
    branches = input_schema.get("not", {})
    for branch in branches.get("anyOf", [branches]):
        props = branch.get("properties", {}) if isinstance(branch, dict) else {}
        if props and all(v is False for v in props.values()):
            return list(props)
    return []


def schema_args(input_schema: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
    """Arguments shaped by the schema; for tools with "exactly one of" inputs, mostly with exactly one
    of them, so the calls get past that check to the code behind it (filters, limits, the store)."""
    defs = input_schema.get("$defs", {})
    group = exclusive_group(input_schema)
    anything = object_args(input_schema, defs)
    if not group:
        return anything
    props = input_schema.get("properties", {})

    def with_one(chosen: str) -> st.SearchStrategy[dict[str, Any]]:
        rest = {k: v for k, v in props.items() if k not in group}
        schema = {"properties": {**rest, chosen: props[chosen]}, "required": [*input_schema.get("required", []), chosen]}
        return object_args(schema, defs)

    return st.one_of(st.sampled_from(group).flatmap(with_one), st.sampled_from(group).flatmap(with_one), anything)


def junk_args(input_schema: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
    names = list(input_schema.get("properties", {})) + ["bogus", "episode", ""]
    return st.dictionaries(st.one_of(st.sampled_from(names), st.text(max_size=8)), json_values, max_size=5)

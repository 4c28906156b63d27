"""How the tool modules' functions become MCP tools: bound to Services, strict about arguments, compact.

Tool functions live at module level and take `services` as their first parameter, so a reader (or
a test) sees them whole; `ToolDef` says how each is published (title, annotations, which inputs
are alternatives). `ToolSet` builds the SDK's `Tool` objects from them and the server is created
with that list (`MCPServer(tools=...)`), which lets every tool, whoever wrote it, get the same
treatment in one place:

- **Unknown arguments are refused.** The SDK builds each tool's argument model with pydantic's
  default `extra="ignore"`, so a misspelt argument (`episode` for `episode_id`) was silently
  dropped. `strict()` swaps in a subclass that forbids extras and names the unknown argument and
  the valid ones, and hides input values in validation messages (base64 payloads are megabytes).
- **Arguments are bounded** (`arglimits.py`): every string has a length cap from the settings (the
  texts' caps are published as `maxLength`), numbers must be finite and fit in 64 bits, nesting is
  limited, and a validation error lists a few problems, never one line per bad item of a huge list.
- **The tool list is compact.** pydantic's schemas carry a `title` for every property, `default:
  null` and `anyOf [T, null]` for every optional field: `compact_schema` drops or collapses them,
  and descriptions are dedented. An agent pays for every character of the tool list in every turn.
- **"Exactly one of these inputs" is in the schema**, as a root `not` (no `oneOf`/`anyOf`/`allOf`
  at the root: Anthropic's and other providers' APIs reject tool schemas that have them there).
- **A start does not build the tools.** `entries()` turns the built tools into plain JSON that
  `tool_cache.py` keeps on disk; `DeferredTool`s publish those entries and build the real tool
  (module import, strict argument model) on their first call, through `ToolLoader`.
"""

from __future__ import annotations

import functools
import importlib
import inspect
import json
import threading
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import anyio
from mcp.server.mcpserver.tools import Tool
from mcp.types import Tool as MCPTool
from mcp.types import ToolAnnotations
from pydantic import BaseModel, ConfigDict, ValidationError, model_validator
from pydantic_core import PydanticCustomError

from .arglimits import MAX_REPORTED_ERRORS, ArgLimits, short_validation_error
from .errors import tool_errors

ToolFn = Callable[..., Awaitable[Any]]


@dataclass(frozen=True)
class ToolDef:
    """How one module-level tool function is published. Its first parameter is `services`."""

    fn: ToolFn
    title: str
    annotations: ToolAnnotations
    one_of: tuple[str, ...] = ()
    """Inputs that are alternatives: exactly one must be given."""
    at_most_one: tuple[str, ...] = ()
    """Another group of alternatives that may all be left out (rank_ui_elements' screenshot: none = capture now)."""


def bind(fn: ToolFn, services: Any) -> ToolFn:
    """`fn(services, **args)` as `tool(**args)`, with `services` out of the signature the SDK reads,
    and every anticipated failure turned into an isError result (`tool_errors`)."""
    sig = inspect.signature(fn, eval_str=True)
    params = list(sig.parameters.values())
    if not params or params[0].name != "services":
        raise TypeError(f"tool function {fn.__name__} must take `services` as its first parameter")
    checked = tool_errors(fn)

    @functools.wraps(fn)
    async def tool(**kwargs: Any) -> Any:
        return await checked(services, **kwargs)

    tool.__signature__ = sig.replace(parameters=params[1:])  # type: ignore[attr-defined]
    tool.__annotations__ = {k: v for k, v in fn.__annotations__.items() if k != "services"}
    return tool


def description(fn: Callable[..., Any]) -> str:
    """The docstring, dedented (inspect.getdoc), as the tool's description."""
    return inspect.getdoc(fn) or ""


# -- strict arguments -------------------------------------------------------------------------


def _strict_model(model: type[BaseModel], tool_name: str, limits: ArgLimits) -> type[BaseModel]:
    """`model` (the SDK's argument model) refusing unknown arguments and arguments over the bounds
    of `limits` (string lengths, non-finite numbers, nesting), under the same name; its
    validation errors list a few problems, never one line per bad item of a huge list."""
    valid = [f.alias or name for name, f in model.model_fields.items()]

    def known_arguments(cls: type[BaseModel], data: Any) -> Any:
        if isinstance(data, dict):
            unknown = [k for k in data if k not in valid]
            if unknown:
                shown = [repr(k if len(str(k)) <= 40 else str(k)[:40] + "…") for k in unknown[:5]]
                raise PydanticCustomError(
                    "unknown_argument",
                    "unknown argument{s} {unknown} for {tool}; valid arguments: {valid}",
                    {
                        "s": "s" if len(unknown) > 1 else "",
                        "unknown": ", ".join(shown) + (f" and {len(unknown) - 5} more" if len(unknown) > 5 else ""),
                        "tool": tool_name,
                        "valid": ", ".join(valid) or "none",
                    },
                )
            limits.check(data)
        return data

    def model_validate(cls: type[BaseModel], obj: Any, **kwargs: Any) -> BaseModel:
        try:
            return BaseModel.model_validate.__func__(cls, obj, **kwargs)  # type: ignore[attr-defined,no-any-return]
        except ValidationError as exc:
            if exc.error_count() <= MAX_REPORTED_ERRORS:
                raise
            raise short_validation_error(exc, cls.__name__) from None

    namespace = {
        "__module__": model.__module__,
        "model_config": ConfigDict(extra="forbid", hide_input_in_errors=True, allow_inf_nan=False),
        "known_arguments": model_validator(mode="before")(classmethod(known_arguments)),  # type: ignore[arg-type]
        "model_validate": classmethod(model_validate),
    }
    return type(model.__name__, (model,), namespace)


def strict(
    tool: Tool, one_of: Sequence[str] = (), at_most_one: Sequence[str] = (), limits: ArgLimits | None = None
) -> Tool:
    """The same tool, refusing unknown arguments, with a compact schema (see the module docstring)."""
    limits = limits or ArgLimits()
    tool.fn_metadata.arg_model = _strict_model(tool.fn_metadata.arg_model, tool.name, limits)
    params = limits.annotate_schema(drop_optional_nulls(compact_schema(tool.parameters)))
    params["additionalProperties"] = False
    if one_of or at_most_one:
        params["not"] = exclusive(one_of, at_most_one)
    tool.parameters = params
    if tool.fn_metadata.output_schema is not None:
        tool.fn_metadata.output_schema = compact_schema(tool.fn_metadata.output_schema, descriptions=False)
    tool.__dict__.pop("output_schema", None)  # a cached_property: read again from fn_metadata
    tool.description = inspect.cleandoc(tool.description)  # docstrings keep their 4-8 spaces otherwise
    return tool


def exclusive(one_of: Sequence[str], at_most_one: Sequence[str] = ()) -> dict[str, Any]:
    """A schema matching the argument sets that break the rules (it goes under the root's `not`):
    two of `one_of` together, none of `one_of`, or two of `at_most_one` together."""
    bad: list[dict[str, Any]] = []
    for group in (one_of, at_most_one):
        bad += [{"required": [a, b]} for i, a in enumerate(group) for b in group[i + 1 :]]
    if one_of:
        bad.append({"properties": {n: False for n in one_of}})
    return {"anyOf": bad} if len(bad) > 1 else bad[0]


# -- compact schemas --------------------------------------------------------------------------

_SCHEMA_MAPS = ("properties", "$defs", "definitions", "patternProperties", "dependentSchemas")
_SCHEMA_LISTS = ("anyOf", "oneOf", "allOf", "prefixItems")
_SCHEMA_ONE = ("items", "additionalProperties", "not", "if", "then", "else", "contains")


def compact_schema(schema: dict[str, Any], *, descriptions: bool = True) -> dict[str, Any]:
    """The same constraints in fewer characters: no generated titles, no `default: null`, no
    `additionalProperties: true` (the default), `anyOf [{type: T}, {type: null}]` as `type: [T, null]`.

    `descriptions=False` for output schemas: what a result means is said once, in the tool's
    description, and most clients never show an output schema to the model anyway. For the same
    reason output schemas drop `required` and string `format`s (the server always sends every field;
    a client checking types still can): ~1.3k characters an agent pays in every turn for nothing it uses."""
    out = _compact(schema, descriptions)
    if not descriptions:
        for node in [out, *out.get("$defs", {}).values()]:
            node.pop("required", None)
            for prop in node.get("properties", {}).values():
                if isinstance(prop, dict):
                    prop.pop("format", None)
    return out


def _compact(node: Any, descriptions: bool) -> Any:
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in ("title", "description") and isinstance(value, str):
            if key == "title" or not descriptions:
                continue  # pydantic's "Handle Id" for handle_id: the name says it already
        if key == "default" and value is None:
            continue
        if key == "additionalProperties" and value is True:
            continue
        if key in _SCHEMA_MAPS and isinstance(value, dict):
            out[key] = {k: _compact(v, descriptions) for k, v in value.items()}
        elif key in _SCHEMA_LISTS and isinstance(value, list):
            out[key] = [_compact(v, descriptions) for v in value]
        elif key in _SCHEMA_ONE:
            out[key] = _compact(value, descriptions)
        else:
            out[key] = value
    branches = out.get("anyOf")
    if isinstance(branches, list) and len(branches) == 2 and {"type": "null"} in branches:
        other = next(b for b in branches if b != {"type": "null"})
        if isinstance(other.get("type"), str) and not (set(other) & set(out) - {"anyOf"}):
            del out["anyOf"]
            merged = {**other, "type": [other["type"], "null"]}
            out = {**merged, **out}
    return out


def drop_optional_nulls(schema: dict[str, Any]) -> dict[str, Any]:
    """Input schemas: an optional argument is omitted, not sent as null, so `[T, "null"]` becomes `T`
    for properties that are not required (the server still accepts an explicit null)."""
    for node in [schema, *schema.get("$defs", {}).values()]:
        required = set(node.get("required", []))
        for name, prop in node.get("properties", {}).items():
            if name in required or not isinstance(prop, dict):
                continue
            kind = prop.get("type")
            if isinstance(kind, list) and "null" in kind:
                rest = [k for k in kind if k != "null"]
                prop["type"] = rest[0] if len(rest) == 1 else rest
            branches = prop.get("anyOf")
            if isinstance(branches, list) and {"type": "null"} in branches:
                rest_b = [b for b in branches if b != {"type": "null"}]
                del prop["anyOf"]
                if len(rest_b) == 1:
                    prop.update({**rest_b[0], **prop})
                else:
                    prop["anyOf"] = rest_b
    return schema


# -- the set of tools -------------------------------------------------------------------------


class ToolSet:
    """The tools of the server, built before it: `MCPServer(tools=toolset.finish())`."""

    def __init__(self, limits: ArgLimits | None = None) -> None:
        self.tools: list[Tool] = []
        self.limits = limits or ArgLimits()

    def finish(self) -> list[Tool]:
        """The tools, with each output schema published in full once: a later tool returning the very
        same result type (the 7 embed tools' handle) points at the first instead of repeating it."""
        first: dict[str, str] = {}
        for tool in self.tools:
            schema = tool.fn_metadata.output_schema
            if schema is None:
                continue
            key = json.dumps(schema, sort_keys=True)
            if len(key) < 200:
                continue  # small ones cost less than the pointer saves
            if key in first:
                tool.fn_metadata.output_schema = {"type": "object", "description": f"same as {first[key]}'s outputSchema"}
                tool.__dict__.pop("output_schema", None)
            else:
                first[key] = tool.name
        return self.tools

    def add(self, defn: ToolDef, services: Any) -> Tool:
        tool = Tool.from_function(
            bind(defn.fn, services),
            name=defn.fn.__name__,
            title=defn.title,
            description=description(defn.fn),
            annotations=defn.annotations,
        )
        self.tools.append(strict(tool, defn.one_of, defn.at_most_one, self.limits))
        return tool

    def add_all(self, defs: Iterable[ToolDef], services: Any) -> None:
        for d in defs:
            self.add(d, services)

    def tool(
        self, name: str | None = None, title: str | None = None, description: str | None = None,
        annotations: ToolAnnotations | None = None, **_: Any,
    ) -> Callable[[ToolFn], ToolFn]:
        """`@server.tool(...)` for modules that still register closures (server/ranking_tools.py):
        their tools get the same strict arguments and compact schemas."""

        def decorate(fn: ToolFn) -> ToolFn:
            tool_name = name or fn.__name__
            title_ = title or tool_name.replace("_", " ").capitalize()  # every tool has a title, even before its module gives one
            tool = Tool.from_function(fn, name=tool_name, title=title_, description=description, annotations=annotations)
            self.tools.append(strict(tool, limits=self.limits))
            return fn

        return decorate


# -- tools published from cached entries ------------------------------------------------------


def entries(tools: Sequence[Tool]) -> list[dict[str, Any]]:
    """What `tools/list` publishes of each built tool, plus its module, as JSON (see tool_cache.py)."""
    out = []
    for tool in tools:
        fn = inspect.unwrap(tool.fn)
        out.append({
            "module": fn.__module__,
            "name": tool.name,
            "title": tool.title,
            "description": tool.description,
            "inputSchema": tool.parameters,
            "outputSchema": tool.output_schema,
            "annotations": tool.annotations.model_dump(mode="json", by_alias=True, exclude_none=True) if tool.annotations else None,
        })
    return out


class ToolLoader:
    """Builds the real tools of one module at a time, on the first call of any of them.

    The module's `TOOLS` are built exactly as at a first start (`ToolSet.add`: bound to services,
    strict arguments), so a deferred tool validates and answers as a built one does."""

    def __init__(self, services: Any, limits: ArgLimits | None = None) -> None:
        self._services = services
        self._limits = limits
        self._built: dict[str, Tool] = {}
        self._lock = threading.Lock()

    def get(self, module: str, name: str) -> Tool:
        """Blocking (imports the module): call from a worker thread."""
        with self._lock:
            if name not in self._built:
                defs = importlib.import_module(module).TOOLS
                tools = ToolSet(self._limits)
                tools.add_all(defs, self._services)
                self._built.update({t.name: t for t in tools.tools})
            try:
                return self._built[name]
            except KeyError:  # the cache fingerprints the source, so only a broken install gets here
                raise LookupError(f"tool {name} is no longer defined in {module}; delete the tool-schema cache") from None


class DeferredTool(Tool):
    """A tool published from a cached entry; its module is imported and the real tool built on first call."""

    cached_output_schema: dict[str, Any] | None = None
    module: str = ""
    loader: Any = None
    built: Any = None

    @property  # type: ignore[override]
    def output_schema(self) -> dict[str, Any] | None:  # the base class reads fn_metadata, which is built later
        return self.cached_output_schema

    @classmethod
    def from_entry(cls, entry: dict[str, Any], loader: ToolLoader) -> DeferredTool:
        def not_built(**_: Any) -> Any:  # pragma: no cover - run() never calls fn
            raise RuntimeError("a deferred tool runs through run()")

        return cls.model_construct(
            fn=not_built,
            name=entry["name"],
            title=entry["title"],
            description=entry["description"],
            parameters=entry["inputSchema"],
            is_async=True,
            context_kwarg=None,
            resolved_params={},
            resolver_plans={},
            annotations=ToolAnnotations.model_validate(entry["annotations"]) if entry["annotations"] is not None else None,
            icons=None,
            meta=None,
            cached_output_schema=entry["outputSchema"],
            module=entry["module"],
            loader=loader,
        )

    async def run(self, arguments: dict[str, Any], context: Any, convert_result: bool = False) -> Any:
        real = self.built
        if real is None:
            real = self.built = await anyio.to_thread.run_sync(self.loader.get, self.module, self.name)
        return await real.run(arguments, context, convert_result=convert_result)


# -- measuring the tool list ------------------------------------------------------------------


class ToolListSize(BaseModel):
    total: int
    per_tool: dict[str, int]


def tool_list_size(tools: Sequence[MCPTool]) -> ToolListSize:
    """Characters the tool list costs an agent, as a client receives it (tools/list, JSON).

    `total` is `len(json.dumps([t.model_dump(mode="json", by_alias=True, exclude_none=True) ...]))`."""
    dumps = [t.model_dump(mode="json", by_alias=True, exclude_none=True) for t in tools]
    return ToolListSize(total=len(json.dumps(dumps)), per_tool={t.name: len(json.dumps(d)) for t, d in zip(tools, dumps, strict=True)})

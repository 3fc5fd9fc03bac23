"""The part of JSON Schema (draft-07) Amazon's notification schemas use, checked without a dependency.

The notifications handler validates every message against the vendored schemas
(``adapters/notification_schemas/``). The Lambda package does not carry ``jsonschema`` (and its native
``rpds-py``): these few keywords are all the schemas use. A schema with any other keyword is refused
when it is compiled (``UnsupportedSchema``), so a vendored schema that grows a keyword fails the unit
tests instead of being half-checked; the unit tests also compare the verdicts with ``jsonschema``'s.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

# Keywords that only annotate: they never make an instance invalid.
ANNOTATIONS = frozenset({"$id", "$schema", "$comment", "title", "description", "default", "examples"})
CHECKED = frozenset(
    {
        "type",
        "required",
        "properties",
        "additionalProperties",
        "items",
        "additionalItems",
        "enum",
        "anyOf",
        "allOf",
        "oneOf",
        "$ref",
        "definitions",
    }
)

_TYPES: Mapping[str, tuple[type, ...]] = {
    "object": (dict,),
    "array": (list,),
    "string": (str,),
    "boolean": (bool,),
    "null": (type(None),),
    "number": (int, float),
    "integer": (int,),
}


class UnsupportedSchema(Exception):
    """The schema uses a keyword this checker does not know, or a ``$ref`` that does not resolve."""


class Schema:
    """A compiled schema: ``errors(instance)`` yields one sentence per violation, naming the path."""

    def __init__(self, document: Mapping[str, Any]) -> None:
        self._root = document
        self._check_keywords(document, "#")

    def _check_keywords(self, node: Any, where: str) -> None:
        if isinstance(node, bool):
            return
        if not isinstance(node, Mapping):
            raise UnsupportedSchema(f"{where}: a schema must be an object or a boolean")
        unknown = set(node) - ANNOTATIONS - CHECKED
        if unknown:
            raise UnsupportedSchema(f"{where}: unsupported keyword(s) {', '.join(sorted(unknown))}")
        if "$ref" in node:
            self._resolve(str(node["$ref"]), where)
        for keyword in ("properties", "definitions"):
            for name, child in (node.get(keyword) or {}).items():
                self._check_keywords(child, f"{where}/{keyword}/{name}")
        for keyword in ("additionalProperties", "additionalItems"):
            if keyword in node:
                self._check_keywords(node[keyword], f"{where}/{keyword}")
        items = node.get("items")
        if isinstance(items, list):
            for index, child in enumerate(items):
                self._check_keywords(child, f"{where}/items/{index}")
        elif items is not None:
            self._check_keywords(items, f"{where}/items")
        for keyword in ("anyOf", "allOf", "oneOf"):
            for index, child in enumerate(node.get(keyword) or []):
                self._check_keywords(child, f"{where}/{keyword}/{index}")

    def _resolve(self, ref: str, where: str) -> Any:
        if not ref.startswith("#"):
            raise UnsupportedSchema(f"{where}: only local references are supported, not {ref!r}")
        node: Any = self._root
        for raw in [p for p in ref[1:].split("/") if p]:
            part = raw.replace("~1", "/").replace("~0", "~")
            if not isinstance(node, Mapping) or part not in node:
                raise UnsupportedSchema(f"{where}: $ref {ref!r} does not resolve")
            node = node[part]
        return node

    def errors(self, instance: Any) -> list[str]:
        return list(self._errors(self._root, instance, "$"))

    def _errors(self, schema: Any, instance: Any, path: str) -> Iterator[str]:
        if schema is True:
            return
        if schema is False:
            yield f"{path}: not allowed"
            return
        if "$ref" in schema:
            yield from self._errors(self._resolve(str(schema["$ref"]), path), instance, path)
        if "type" in schema:
            wanted = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
            if not any(_is_type(instance, name) for name in wanted):
                yield f"{path}: must be {' or '.join(wanted)}, not {_type_name(instance)}"
                return
        if "enum" in schema and instance not in schema["enum"]:
            yield f"{path}: {instance!r} is not one of {schema['enum']}"
        for keyword in ("anyOf", "oneOf"):
            if keyword in schema:
                passing = sum(not list(self._errors(s, instance, path)) for s in schema[keyword])
                if passing == 0 or (keyword == "oneOf" and passing > 1):
                    yield f"{path}: matches {passing} of the {keyword} schemas"
        for sub in schema.get("allOf") or []:
            yield from self._errors(sub, instance, path)
        if isinstance(instance, dict):
            yield from self._object_errors(schema, instance, path)
        if isinstance(instance, list):
            yield from self._array_errors(schema, instance, path)

    def _object_errors(self, schema: Mapping[str, Any], instance: dict[str, Any], path: str) -> Iterator[str]:
        for name in schema.get("required") or []:
            if name not in instance:
                yield f"{path}.{name}: is required"
        properties = schema.get("properties") or {}
        for name, value in instance.items():
            if name in properties:
                yield from self._errors(properties[name], value, f"{path}.{name}")
            elif "additionalProperties" in schema:
                yield from self._errors(schema["additionalProperties"], value, f"{path}.{name}")

    def _array_errors(self, schema: Mapping[str, Any], instance: list[Any], path: str) -> Iterator[str]:
        items = schema.get("items")
        if isinstance(items, list):
            for index, value in enumerate(instance):
                sub = items[index] if index < len(items) else schema.get("additionalItems", True)
                yield from self._errors(sub, value, f"{path}[{index}]")
        elif items is not None:
            for index, value in enumerate(instance):
                yield from self._errors(items, value, f"{path}[{index}]")


def _is_type(instance: Any, name: str) -> bool:
    if name in ("number", "integer") and isinstance(instance, bool):
        return False
    if name == "integer" and isinstance(instance, float):
        return instance.is_integer()
    return isinstance(instance, _TYPES.get(name, ()))


def _type_name(instance: Any) -> str:
    for name in ("null", "boolean", "integer", "number", "string", "array", "object"):
        if _is_type(instance, name):
            return name
    return type(instance).__name__

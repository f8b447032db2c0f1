"""The Graph record schemas (OpenAPI 3.0.1 subset converted from the v1.0 CSDL) and property lookup.

The sandbox ships the reference schema file, so it knows each entity's real properties: ``$select``
or ``$filter`` on a property the type does not have is refused as Graph refuses it, names match
case-insensitively (OData is lenient there) and come back in their canonical spelling, and
navigation properties (``manager``, ``members``) are told apart from data properties.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from importlib import resources
from typing import Any

SCHEMA_FILE = "msgraph-v1.0-subset.json"


@functools.cache
def openapi() -> dict[str, Any]:
    """The packaged OpenAPI document (parsed once)."""
    text = resources.files("avesa_sandbox.microsoft365").joinpath(SCHEMA_FILE).read_text("utf-8")
    return json.loads(text)


def component(name: str) -> dict[str, Any]:
    """One schema from ``components/schemas``."""
    return openapi()["components"]["schemas"][name]


def _ref_name(node: dict[str, Any]) -> str | None:
    if "$ref" in node:
        return node["$ref"].rsplit("/", 1)[-1]
    for option in node.get("anyOf", ()):
        if "$ref" in option:
            return option["$ref"].rsplit("/", 1)[-1]
    return None


@functools.cache
def flat_properties(schema_name: str) -> dict[str, dict[str, Any]]:
    """Every property of a type, inherited ones included (``allOf`` chains flattened), in schema order."""
    node = component(schema_name)
    merged: dict[str, dict[str, Any]] = {}
    for part in node.get("allOf", [node]):
        ref = part.get("$ref")
        if ref:
            merged.update(flat_properties(ref.rsplit("/", 1)[-1]))
        else:
            merged.update(part.get("properties", {}))
    return merged


@dataclass(frozen=True)
class PropertyInfo:
    """What a query needs to know about one property."""

    name: str
    kind: str
    """``scalar``, ``complex`` (an object), ``collection`` (of scalars) or ``complex_collection``."""
    scalar_type: str | None
    """For scalars and scalar collections: ``string``, ``boolean``, ``number``, ``date-time``, ``uuid``, ``enum``."""
    element: str | None
    """For complex kinds: the element type's schema name."""


def _scalar_type(node: dict[str, Any]) -> str | None:
    ref = _ref_name(node)
    if ref is not None:
        target = component(ref)
        return "enum" if "enum" in target else None
    if node.get("format") in ("date-time", "uuid", "date"):
        return str(node["format"])
    kind = node.get("type")
    return str(kind) if kind in ("string", "boolean", "number", "integer") else None


def property_info(schema_name: str, prop: str, node: dict[str, Any]) -> PropertyInfo:
    if node.get("type") == "array":
        items = node.get("items", {})
        scalar = _scalar_type(items)
        if scalar is not None:
            return PropertyInfo(prop, "collection", scalar, None)
        return PropertyInfo(prop, "complex_collection", None, _ref_name(items))
    scalar = _scalar_type(node)
    if scalar is not None:
        return PropertyInfo(prop, "scalar", scalar, None)
    return PropertyInfo(prop, "complex", None, _ref_name(node))


@functools.cache
def data_properties(schema_name: str) -> dict[str, PropertyInfo]:
    """Non-navigation properties of an entity type (``@odata.type`` excluded), by canonical name."""
    return {
        name: property_info(schema_name, name, node)
        for name, node in flat_properties(schema_name).items()
        if not node.get("x-ms-navigationProperty") and name != "@odata.type"
    }


@functools.cache
def _lowered(schema_name: str) -> dict[str, str]:
    return {name.lower(): name for name in flat_properties(schema_name)}


def canonical_property(schema_name: str, name: str) -> str | None:
    """The canonical spelling of a property (data or navigation), or None if the type has none such."""
    return _lowered(schema_name).get(name.strip().lower())


def is_navigation(schema_name: str, name: str) -> bool:
    return bool(flat_properties(schema_name).get(name, {}).get("x-ms-navigationProperty"))

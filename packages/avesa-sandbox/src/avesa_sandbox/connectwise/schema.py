"""The ConnectWise record schemas (OpenAPI 3.0.1 subset, v2025.8) and field-path resolution.

The sandbox ships the same schema file the reference material holds, so it knows each table's real
field names: a condition, ``orderBy`` or ``childConditions`` on a field the real API does not have
is rejected with 400 as ConnectWise does, and paths are matched case-insensitively (the real API's
fields are case-insensitive) and returned in their canonical spelling.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from importlib import resources
from typing import Any

from avesa_sandbox.connectwise.conditions import ConditionError

SCHEMA_FILE = "openapi-2025.8-subset.json"

INFO_ALIASES = ("lastUpdated", "updatedBy")
"""Top-level names ConnectWise accepts as shorthand for ``_info/<name>`` in conditions."""

_KNOWN_INFO_KEYS = ("lastUpdated", "updatedBy", "dateEntered", "enteredBy")


@functools.cache
def openapi() -> dict[str, Any]:
    """The packaged OpenAPI document (parsed once)."""
    text = resources.files("avesa_sandbox.connectwise").joinpath(SCHEMA_FILE).read_text("utf-8")
    return json.loads(text)


def component(name: str) -> dict[str, Any]:
    """One schema from ``components/schemas``."""
    return openapi()["components"]["schemas"][name]


@dataclass(frozen=True)
class ResolvedPath:
    """A field path in canonical spelling; ``collection`` if it passes through an array."""

    path: tuple[str, ...]
    collection: bool
    is_object: bool
    """The path ends on an object (a reference or ``_info``), not a scalar."""

    @property
    def text(self) -> str:
        return "/".join(self.path)


class FieldResolver:
    """Resolves user-written field paths against one schema."""

    def __init__(self, schema_name: str) -> None:
        self.schema_name = schema_name

    def resolve(self, segments: tuple[str, ...]) -> ResolvedPath:
        """Canonical path for ``segments``; ConditionError if a segment is not a field."""
        return _resolve(self.schema_name, tuple(segments))

    def top_level_fields(self) -> list[str]:
        """Every top-level property name."""
        return list(component(self.schema_name)["properties"])


@functools.lru_cache(maxsize=4096)
def _resolve(schema_name: str, segments: tuple[str, ...]) -> ResolvedPath:
    properties = component(schema_name)["properties"]
    first = segments[0].lower() if segments else ""
    if first in {a.lower() for a in INFO_ALIASES} and first not in {p.lower() for p in properties}:
        segments = ("_info", *segments)
    schema: dict[str, Any] | None = component(schema_name)
    canonical: list[str] = []
    collection = False
    free_form = False
    for depth, segment in enumerate(segments):
        if free_form:
            canonical.append(_canonical_info_key(segment))
            schema = None
            continue
        if schema is None or "properties" not in schema:
            parent = "/".join(canonical)
            raise ConditionError(f"Field '{parent}' has no sub-field '{segment}'")
        match = _lookup(schema["properties"], segment)
        if match is None:
            where = f" of '{'/'.join(canonical)}'" if depth else ""
            raise ConditionError(f"Unknown field '{'/'.join(segments)}': no field '{segment}'{where}")
        name, prop = match
        canonical.append(name)
        if prop.get("type") == "array":
            collection = True
            prop = prop.get("items", {})
        if "$ref" in prop:
            schema = component(prop["$ref"].rsplit("/", 1)[-1])
        elif prop.get("type") == "object" and "additionalProperties" in prop:
            free_form = True
            schema = prop
        else:
            schema = prop
    is_object = schema is not None and ("properties" in schema or "additionalProperties" in schema)
    return ResolvedPath(tuple(canonical), collection, is_object)


def _lookup(properties: dict[str, Any], segment: str) -> tuple[str, dict[str, Any]] | None:
    if segment in properties:
        return segment, properties[segment]
    lowered = segment.lower()
    for name, prop in properties.items():
        if name.lower() == lowered:
            return name, prop
    return None


def _canonical_info_key(segment: str) -> str:
    for key in _KNOWN_INFO_KEYS:
        if key.lower() == segment.lower():
            return key
    return segment

"""The sObject field lists the sandbox serves, from the packaged reference schema (describe + OpenAPI).

The sandbox ships the same file the reference material holds (``sobjects-subset.json``): it knows
each object's real field names, describe types, nillability and picklist values, so generated
records carry every field with the right JSON type, SOQL rejects a field the real org does not have
(``INVALID_FIELD``) and type-checks filter values like Salesforce does, and ``describe`` answers
from the same data. Field and object names are case-insensitive in SOQL, as in Salesforce; this
module maps any spelling to the canonical one.

Event has no describe data in the source (only OpenAPI types): its describe types are inferred
from the JSON type and format, and references from the field name.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from importlib import resources
from typing import Any

SCHEMA_FILE = "sobjects-subset.json"

NUMBER_TYPES = frozenset({"double", "currency", "percent", "int"})
TEXT_TYPES = frozenset(
    {"string", "picklist", "combobox", "textarea", "phone", "url", "email", "multipicklist", "encryptedstring"}
)
ID_TYPES = frozenset({"id", "reference"})
DATE_TYPES = frozenset({"date", "datetime"})

SYSTEM_FIELDS = (
    "Id",
    "IsDeleted",
    "CreatedDate",
    "CreatedById",
    "LastModifiedDate",
    "LastModifiedById",
    "SystemModstamp",
)
"""Fields Salesforce maintains itself: never null, never settable."""

_EVENT_REFERENCES: dict[str, tuple[str, ...]] = {
    "WhoId": ("Contact", "Lead"),
    "WhatId": ("Account", "Opportunity", "Case"),
    "AccountId": ("Account",),
    "OwnerId": ("User",),
    "CreatedById": ("User",),
    "LastModifiedById": ("User",),
    "RecurrenceActivityId": ("Event",),
    "ServiceAppointmentId": ("ServiceAppointment",),
}


@dataclass(frozen=True)
class FieldDef:
    """One field of an sObject."""

    name: str
    type: str
    """describe() type: id, reference, string, picklist, boolean, datetime, date, double, int, address..."""
    nillable: bool
    label: str
    json_type: str
    """JSON type of the value: string, boolean, number, integer or object."""
    picklist: tuple[str, ...] = ()
    reference_to: tuple[str, ...] = ()
    relationship_name: str | None = None
    custom: bool = False

    @property
    def filterable(self) -> bool:
        """Compound fields (addresses) can only be selected, not filtered or sorted on."""
        return self.type != "address"


@dataclass(frozen=True)
class ObjectDef:
    """One sObject: its fields in describe order and a case-insensitive index of them."""

    name: str
    label: str
    fields: tuple[FieldDef, ...]
    by_lower: dict[str, FieldDef]

    @property
    def field_names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields)

    def field(self, name: str) -> FieldDef | None:
        """The field of any spelling of ``name``, or None."""
        return self.by_lower.get(name.lower())

    @property
    def deletable(self) -> bool:
        """Objects with ``IsDeleted`` go to the recycle bin when deleted (User has none: users are deactivated)."""
        return "isdeleted" in self.by_lower


@functools.cache
def reference_document() -> dict[str, Any]:
    """The packaged schema file (parsed once)."""
    text = resources.files("avesa_sandbox.salesforce").joinpath(SCHEMA_FILE).read_text("utf-8")
    return json.loads(text)


def _json_type(field: dict[str, Any], describe_type: str) -> str:
    if field.get("oas_type"):
        return str(field["oas_type"])
    if describe_type == "boolean":
        return "boolean"
    if describe_type == "int":
        return "integer"
    if describe_type in ("double", "currency", "percent"):
        return "number"
    if describe_type == "address":
        return "object"
    return "string"


def _inferred_type(name: str, field: dict[str, Any]) -> str:
    """A describe type for fields only the OpenAPI source lists (all of Event, a few per object)."""
    oas_type, oas_format = field.get("oas_type"), field.get("oas_format")
    if name == "Id":
        return "id"
    if oas_type == "boolean":
        return "boolean"
    if oas_type == "integer":
        return "int"
    if oas_type == "number":
        return "double"
    if oas_format == "date-time":
        return "datetime"
    if oas_format == "date":
        return "date"
    if oas_type == "object":
        return "address"
    if name.endswith("Id") and not name.endswith("__c"):
        return "reference"
    return "string"


def _field(object_name: str, raw: dict[str, Any]) -> FieldDef:
    name = raw["name"]
    describe_type = raw.get("type") or _inferred_type(name, raw)
    nillable = raw.get("nillable")
    if nillable is None:
        nillable = name not in SYSTEM_FIELDS and describe_type != "boolean" and name != "OwnerId"
    references = tuple(raw.get("referenceTo") or ())
    if not references and describe_type == "reference":
        references = _EVENT_REFERENCES.get(name, ())
    relationship = raw.get("relationshipName")
    if relationship is None and describe_type == "reference" and name.endswith("Id"):
        relationship = name[:-2] or None
    return FieldDef(
        name=name,
        type=describe_type,
        nillable=bool(nillable),
        label=raw.get("label") or name.removesuffix("__c").replace("_", " "),
        json_type=_json_type(raw, describe_type),
        picklist=tuple(raw.get("picklistValues") or ()),
        reference_to=references,
        relationship_name=relationship,
        custom=name.endswith("__c"),
    )


@functools.cache
def objects() -> dict[str, ObjectDef]:
    """Object name -> definition for every object of the schema file (``attributes`` is not a field)."""
    out: dict[str, ObjectDef] = {}
    for name, raw in reference_document()["objects"].items():
        fields = tuple(_field(name, f) for f in raw["fields"] if f["name"] != "attributes")
        out[name] = ObjectDef(
            name=name,
            label=raw.get("label") or name,
            fields=fields,
            by_lower={f.name.lower(): f for f in fields},
        )
    return out


def object_def(name: str) -> ObjectDef:
    """The definition of an object by exact (canonical) name."""
    return objects()[name]

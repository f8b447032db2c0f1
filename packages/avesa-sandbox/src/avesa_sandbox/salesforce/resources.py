"""Metadata resources: API versions, the version's resource list, limits, describeGlobal and describe.

Connectors use them to discover what an org offers: ``GET /services/data/`` lists the versions
(no authentication needed), ``/vXX.X/sobjects`` the objects, ``/sobjects/{Object}/describe``
the fields with their types, nillability, picklist values and references — the same data the
records are built from (``schema``).
"""

from __future__ import annotations

from typing import Any

from avesa_sandbox.salesforce.schema import FieldDef, object_def
from avesa_sandbox.salesforce.tables import OBJECTS

OLDEST_VERSION = 31
NEWEST_VERSION = 62
_SEASONS = ("Winter", "Spring", "Summer")


def version_label(major: int) -> str:
    """Release name of an API version (59.0 = Winter '24, 60.0 = Spring '24...)."""
    offset = major - 59
    return f"{_SEASONS[offset % 3]} '{24 + offset // 3:02d}"


def versions() -> list[dict[str, str]]:
    """``GET /services/data/``."""
    return [
        {"label": version_label(major), "url": f"/services/data/v{major}.0", "version": f"{major}.0"}
        for major in range(OLDEST_VERSION, NEWEST_VERSION + 1)
    ]


def resource_list(version: str) -> dict[str, str]:
    """``GET /services/data/vXX.X/``: the resources the sandbox serves."""
    base = f"/services/data/v{version}"
    return {name: f"{base}/{name}" for name in ("sobjects", "query", "queryAll", "limits")}


def limits(used: int, limit: int) -> dict[str, Any]:
    """``GET /services/data/vXX.X/limits`` (the daily API allocation)."""
    return {"DailyApiRequests": {"Max": limit, "Remaining": max(0, limit - used)}}


def _global_entry(version: str, obj: str) -> dict[str, Any]:
    definition = object_def(obj)
    base = f"/services/data/v{version}/sobjects/{obj}"
    return {
        "name": obj,
        "label": definition.label,
        "labelPlural": definition.label + ("es" if definition.label.endswith("s") else "s"),
        "keyPrefix": OBJECTS[obj].key_prefix,
        "custom": False,
        "queryable": True,
        "retrieveable": True,
        "replicateable": True,
        "searchable": True,
        "deletable": definition.deletable,
        "createable": True,
        "updateable": True,
        "urls": {"sobject": base, "describe": f"{base}/describe", "rowTemplate": f"{base}/{{ID}}"},
    }


def describe_global(version: str) -> dict[str, Any]:
    """``GET /services/data/vXX.X/sobjects``."""
    return {"encoding": "UTF-8", "maxBatchSize": 200, "sobjects": [_global_entry(version, o) for o in OBJECTS]}


def sobject_basic(version: str, obj: str) -> dict[str, Any]:
    """``GET /services/data/vXX.X/sobjects/{Object}``."""
    return {"objectDescribe": _global_entry(version, obj), "recentItems": []}


def _field(field: FieldDef) -> dict[str, Any]:
    return {
        "name": field.name,
        "label": field.label,
        "type": field.type,
        "nillable": field.nillable,
        "custom": field.custom,
        "filterable": field.filterable,
        "sortable": field.filterable,
        "idLookup": field.type == "id",
        "picklistValues": [
            {"active": True, "defaultValue": False, "label": value, "validFor": None, "value": value}
            for value in field.picklist
        ],
        "referenceTo": list(field.reference_to),
        "relationshipName": field.relationship_name,
        "soapType": _SOAP_TYPES.get(field.type, "xsd:string"),
    }


_SOAP_TYPES = {
    "id": "tns:ID",
    "reference": "tns:ID",
    "boolean": "xsd:boolean",
    "int": "xsd:int",
    "double": "xsd:double",
    "currency": "xsd:double",
    "percent": "xsd:double",
    "date": "xsd:date",
    "datetime": "xsd:dateTime",
    "address": "urn:address",
}


def describe(version: str, obj: str) -> dict[str, Any]:
    """``GET /services/data/vXX.X/sobjects/{Object}/describe``."""
    return {**_global_entry(version, obj), "fields": [_field(f) for f in object_def(obj).fields]}

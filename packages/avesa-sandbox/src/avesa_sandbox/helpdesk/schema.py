"""The record schema (``records.schema.json``): field names and order per table, and normalisation.

The JSON schema file is the single source of truth for what a record looks like: the tests validate
served records against it, ``fields=`` is checked against its property names, and a changed record
is put back into its shape (every field present, in schema order) before it is stored. The admin
API's partial updates remove a field set to null, but this API shows an unset field as null, so
``normalize`` restores it.
"""

from __future__ import annotations

import functools
import json
from importlib import resources
from typing import Any

SCHEMA_FILE = "records.schema.json"

Record = dict[str, Any]


@functools.cache
def document() -> dict[str, Any]:
    """The packaged JSON schema document (parsed once)."""
    text = resources.files("avesa_sandbox.helpdesk").joinpath(SCHEMA_FILE).read_text("utf-8")
    return json.loads(text)


def definition_name(table: str) -> str:
    """The ``$defs`` entry describing a table's records (``tickets`` -> ``ticket``)."""
    return document()["x-tables"][table]


def record_schema(table: str) -> dict[str, Any]:
    """A standalone JSON schema validating one record of ``table`` (for jsonschema)."""
    doc = document()
    return {"$schema": doc["$schema"], "$defs": doc["$defs"], "$ref": f"#/$defs/{definition_name(table)}"}


@functools.cache
def fields(table: str) -> tuple[str, ...]:
    """Top-level field names of a table's records, in the order the API serves them."""
    return tuple(document()["$defs"][definition_name(table)]["properties"])


@functools.cache
def _field_sets() -> dict[str, frozenset[str]]:
    return {table: frozenset(fields(table)) for table in document()["x-tables"]}


def table_of(record: Record) -> str:
    """The table a record belongs to, by its field names (tables share only a few, like ``company_id``).

    ``ServiceSimulator.stamp`` is not told the table; the record's own fields say it unambiguously
    even when an update removed some of them."""
    keys = record.keys()
    scores = {table: len(names & keys) - len(keys - names) for table, names in _field_sets().items()}
    return max(scores, key=lambda table: scores[table])


def normalize(table: str, record: Record) -> Record:
    """``record`` with every schema field present (null when missing), in schema order; fields the
    schema does not know (an admin simulating schema drift) follow, unchanged."""
    names = fields(table)
    shaped = {name: record.get(name) for name in names}
    if len(record) > len(names) or any(name not in shaped for name in record):
        shaped.update((name, value) for name, value in record.items() if name not in shaped)
    return shaped

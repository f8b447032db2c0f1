"""Deletes by id reconciliation: a key current in the canonical table but absent from the source's
id listing was deleted at the source; it gets a closing version with is_deleted = true.

The listing is taken after extraction and without a date filter, so a record that merely changed
during the run is still listed and never mistaken for a delete.
"""

from __future__ import annotations

from datetime import datetime

import pyarrow as pa
import pyarrow.compute as pc

from avesa.lake.canonical_reader import read_current
from avesa.transform.mapping import CompiledMapping


def deletion_versions(uri: str, mapping: CompiledMapping, live_ids: set[str], *, run_id: str,
                      detected_at: datetime) -> pa.Table | None:
    current = read_current(uri, source_service=mapping.mapping.source_service,
                           source_table=mapping.mapping.source_table)
    if current is None or current.num_rows == 0:
        return None
    alive = pa.array(sorted(live_ids), pa.string())
    gone = pc.and_(pc.invert(pc.is_in(current["source_id"], value_set=alive)), pc.invert(current["is_deleted"]))
    vanished = current.filter(gone)
    if vanished.num_rows == 0:
        return None
    n = vanished.num_rows
    schema = mapping.schema
    columns = {}
    for field in schema:
        if field.name == "is_deleted":
            columns[field.name] = pa.array([True] * n, pa.bool_())
        elif field.name == "last_updated" or field.name == "loaded_at":
            columns[field.name] = pa.array([detected_at] * n, field.type)
        elif field.name == "run_id":
            columns[field.name] = pa.array([run_id] * n, pa.string())
        elif field.name == "last_updated_by":
            columns[field.name] = pa.array([None] * n, pa.string())
        else:
            columns[field.name] = vanished[field.name].cast(field.type)
    return pa.table(columns, schema=schema)

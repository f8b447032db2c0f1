"""Closing versions for keys deleted at the source.

Two ways to learn of a delete: id reconciliation (a key current in the canonical table but absent
from the source's id listing), and records that announce it themselves (``source_deleted`` in the
raw files). Either way the key gets a closing version with is_deleted = true that repeats its last
business values, so the history shows what was deleted.

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
    """Tombstones for current keys missing from ``live_ids``."""
    current = read_current(uri, source_service=mapping.mapping.source_service,
                           source_table=mapping.mapping.source_table)
    if current is None or current.num_rows == 0:
        return None
    alive = pa.array(sorted(live_ids), pa.string())
    gone = pc.and_(pc.invert(pc.is_in(current["source_id"], value_set=alive)), pc.invert(current["is_deleted"]))
    vanished = current.filter(gone)
    return _tombstones(vanished, mapping, [detected_at] * vanished.num_rows, run_id, detected_at)


def announced_deletions(uri: str, mapping: CompiledMapping, deleted: dict[str, datetime], *, run_id: str,
                        detected_at: datetime) -> pa.Table | None:
    """Tombstones for keys whose records announced their deletion at the given source times. A key
    the canonical table never held (created and deleted between two runs) needs none."""
    if not deleted:
        return None
    current = read_current(uri, source_service=mapping.mapping.source_service,
                           source_table=mapping.mapping.source_table)
    if current is None or current.num_rows == 0:
        return None
    wanted = pa.array(sorted(deleted), pa.string())
    closing = current.filter(pc.and_(pc.is_in(current["source_id"], value_set=wanted),
                                     pc.invert(current["is_deleted"])))
    times = [deleted[source_id] for source_id in closing["source_id"].to_pylist()]
    return _tombstones(closing, mapping, times, run_id, detected_at)


def _tombstones(rows: pa.Table, mapping: CompiledMapping, times: list[datetime], run_id: str,
                loaded_at: datetime) -> pa.Table | None:
    if rows.num_rows == 0:
        return None
    n = rows.num_rows
    schema = mapping.schema
    columns = {}
    for field in schema:
        if field.name == "is_deleted":
            columns[field.name] = pa.array([True] * n, pa.bool_())
        elif field.name == "last_updated":
            columns[field.name] = pa.array(times, field.type)
        elif field.name == "loaded_at":
            columns[field.name] = pa.array([loaded_at] * n, field.type)
        elif field.name == "run_id":
            columns[field.name] = pa.array([run_id] * n, pa.string())
        elif field.name == "last_updated_by":
            columns[field.name] = pa.array([None] * n, pa.string())
        else:
            columns[field.name] = rows[field.name].cast(field.type)
    return pa.table(columns, schema=schema)

"""Versions learnt from the source's id listing, and closing versions for announced deletes.

Two ways to learn of a delete: id reconciliation (a key current in the canonical table but absent
from the source's id listing), and records that announce it themselves (``source_deleted`` in the
raw files). Either way the key gets a closing version with is_deleted = true that repeats its last
business values, so the history shows what was deleted. The listing also re-opens a key whose
current row is deleted but which the source lists again (restored, or re-created under its id):
its new version repeats the key's last live business values until the record's next change.

The listing is taken after extraction and without a date filter, so a record that merely changed
during the run is still listed and never mistaken for a delete.

**Stamps.** A listing knows *that* a key vanished or came back, not when. Its version is stamped
just before the second the listing began (``hh:mm:ss`` minus one microsecond), and never at or
before the row it follows. Sources stamp changes in whole seconds (ConnectWise, ServiceNow, Graph)
or finer, so a record re-created after the listing carries a stamp at or after that second and
sorts after the tombstone; a stamp taken from our own clock with its microseconds would sort after
such a re-create and leave the key deleted for good. The version's ``extracted_at`` is the
listing's start: at one instant, whatever was read after the listing wins.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import pyarrow as pa
import pyarrow.compute as pc

from avesa.lake.canonical_reader import read_current, read_key_rows
from avesa.transform.mapping import CompiledMapping

_TICK = timedelta(microseconds=1)


@dataclass(frozen=True)
class Reconciliation:
    """What an id listing says: tombstones for keys that vanished, re-openings for keys that came back."""

    deletes: pa.Table | None
    reopens: pa.Table | None

    @property
    def versions(self) -> pa.Table | None:
        parts = [t for t in (self.deletes, self.reopens) if t is not None and t.num_rows]
        return pa.concat_tables(parts) if parts else None


def listing_stamp(previous: datetime, listed_at: datetime) -> datetime:
    """The stamp of a version learnt from a listing that began at `listed_at`, following a row
    stamped `previous` (see the module docstring)."""
    before_second = listed_at.replace(microsecond=0) - _TICK
    try:
        after_previous = previous + _TICK
    except OverflowError:  # a row at the very end of the calendar: share its instant (the listing wins it)
        after_previous = previous
    return max(after_previous, before_second)


def reconcile(uri: str, mapping: CompiledMapping, live_ids: set[str], *, run_id: str, listed_at: datetime,
              loaded_at: datetime) -> Reconciliation:
    """Tombstones for current keys missing from ``live_ids``; re-openings for deleted current keys in it."""
    current = read_current(uri, source_service=mapping.mapping.source_service,
                           source_table=mapping.mapping.source_table)
    if current is None or current.num_rows == 0:
        return Reconciliation(None, None)
    alive = pc.is_in(current["source_id"], value_set=pa.array(sorted(live_ids), pa.string()))
    deleted = pc.fill_null(current["is_deleted"], False)
    vanished = current.filter(pc.and_(pc.invert(alive), pc.invert(deleted)))
    stamps = [listing_stamp(t, listed_at) for t in vanished["last_updated"].to_pylist()]
    tombstones = _closing(vanished, mapping, stamps, run_id=run_id, loaded_at=loaded_at, extracted_at=listed_at,
                          deleted=True)
    back = current.filter(pc.and_(alive, deleted))
    return Reconciliation(tombstones, _reopenings(uri, mapping, back, run_id=run_id, listed_at=listed_at,
                                                  loaded_at=loaded_at))


def _reopenings(uri: str, mapping: CompiledMapping, back: pa.Table, *, run_id: str, listed_at: datetime,
                loaded_at: datetime) -> pa.Table | None:
    """A live version for each deleted current row in `back`, repeating the last live row before it."""
    if back.num_rows == 0:
        return None
    rows = read_key_rows(uri, source_service=mapping.mapping.source_service,
                         source_table=mapping.mapping.source_table, source_ids=back["source_id"].to_pylist())
    last_live: dict[str, dict] = {}
    for row in rows.to_pylist() if rows is not None else []:
        if row["is_deleted"]:
            continue
        known = last_live.get(row["source_id"])
        if known is None or row["effective_start_date"] > known["effective_start_date"]:
            last_live[row["source_id"]] = row
    basis = [last_live.get(r["source_id"], r) for r in back.to_pylist()]  # never live: repeat the tombstone
    stamps = [listing_stamp(t, listed_at) for t in back["last_updated"].to_pylist()]
    return _closing(pa.Table.from_pylist(basis, schema=back.schema), mapping, stamps, run_id=run_id,
                    loaded_at=loaded_at, extracted_at=listed_at, deleted=False)


def announced_deletions(uri: str, mapping: CompiledMapping, deleted: dict[str, tuple[datetime, datetime | None]], *,
                        run_id: str, detected_at: datetime) -> pa.Table | None:
    """Tombstones for keys whose records announced their deletion: id -> (source time, when that
    record was read). A key the canonical table never held (created and deleted between two runs)
    needs none."""
    if not deleted:
        return None
    current = read_current(uri, source_service=mapping.mapping.source_service,
                           source_table=mapping.mapping.source_table)
    if current is None or current.num_rows == 0:
        return None
    wanted = pa.array(sorted(deleted), pa.string())
    closing = current.filter(pc.and_(pc.is_in(current["source_id"], value_set=wanted),
                                     pc.invert(current["is_deleted"])))
    ids = closing["source_id"].to_pylist()
    times = [deleted[source_id][0] for source_id in ids]
    read = [deleted[source_id][1] for source_id in ids]
    return _closing(closing, mapping, times, run_id=run_id, loaded_at=detected_at, extracted_at=read, deleted=True)


def _closing(rows: pa.Table, mapping: CompiledMapping, times: list[datetime], *, run_id: str, loaded_at: datetime,
             extracted_at: datetime | list[datetime | None], deleted: bool) -> pa.Table | None:
    """Versions repeating `rows`' business values at `times`, deleted or not."""
    if rows.num_rows == 0:
        return None
    n = rows.num_rows
    stamps = extracted_at if isinstance(extracted_at, list) else [extracted_at] * n
    columns = {}
    for field in mapping.schema:
        if field.name == "is_deleted":
            columns[field.name] = pa.array([deleted] * n, pa.bool_())
        elif field.name == "last_updated":
            columns[field.name] = pa.array(times, field.type)
        elif field.name == "loaded_at":
            columns[field.name] = pa.array([loaded_at] * n, field.type)
        elif field.name == "extracted_at":
            columns[field.name] = pa.array(stamps, field.type)
        elif field.name == "run_id":
            columns[field.name] = pa.array([run_id] * n, pa.string())
        elif field.name == "last_updated_by":
            columns[field.name] = pa.array([None] * n, pa.string())
        elif field.name in rows.column_names:
            columns[field.name] = rows[field.name].cast(field.type)
        else:  # a column the mapping gained since the table was last written
            columns[field.name] = pa.nulls(n, field.type)
    return pa.table(columns, schema=mapping.schema)

"""SCD Type 2 timelines: pure functions, pyarrow in -> pyarrow out, no I/O.

Vocabulary
----------
*version* (or *observation*): one row handed to the merge — a source record as of its
``last_updated``. *key*: ``(source_service, source_id)`` within one tenant's canonical table.
*row*: one stored row of the canonical table, i.e. one validity interval of one key.

Semantics (DESIGN.md "SCD2 semantics")
--------------------------------------
1. Validity comes from the source: ``effective_start_date = last_updated``; ``effective_end_date``
   is the next row's start (null for the current row); load time is never used.
2. ``record_hash`` covers the business columns and ``is_deleted`` (see record_hash.py). A version
   whose hash equals that of the version immediately before it in the key's timeline is not a new
   row: it is *absorbed* into the row it repeats (rule 6 keeps it).
3. Every version of a key is placed by its own timestamp, whatever batch it came in, so several
   versions of one key in one batch are all kept in order, and a late version lands where it
   belongs: the later rows are re-cut around it.
4. Duplicates — the same key and the same ``last_updated`` — collapse to one observation, chosen by
   a total order, so the choice never depends on arrival: the **latest extraction** first
   (``extracted_at``, the time the version was read from the source; a version without one counts
   as extracted before any that has one), so that when two edits land in one tick of the source's
   clock the one read later — the newer state — wins, whichever batch brings it; then
   ``is_deleted`` (a delete reported at the same instant as an update is the later event), then
   the lower ``record_hash``, then the lower canonical encoding of the other descriptive columns
   (``tenant_id``, ``source_table``, ``last_updated_by``…), then the load columns ascending
   (``loaded_at``, ``run_id`` by default), then their canonical encoding. Rows identical in every
   column are simply the same observation. So a version re-extracted later replaces the stored
   copy's load columns (the row shows the last extraction that saw it) and is counted as a
   duplicate; an exact re-delivery (the same extraction again) changes nothing. (Keeping instead
   the first load of the winning content cannot be a total order: A, then B, then A again, all at
   one instant and read in that order, must end with A — the latest — yet A's first copy was
   dropped when B beat it.)
5. A deleted key gets a row with ``is_deleted = true`` (it stays the current row); a later
   non-deleted version re-opens the key with a new row. Consecutive deletes are one deleted row,
   whatever business columns they repeat: a delete right after a delete is absorbed like an
   unchanged version. Exactly one row per key is current.
6. **Nothing observed is ever lost.** An absorbed version is kept in its row's
   ``absorbed_versions`` column: a JSON array (compact, sorted keys, ordered by time) holding, for
   each absorbed version, the columns that can differ between versions with the same hash —
   ``last_updated``, ``source_table``, ``last_updated_by``, ``extracted_at``, the load columns and
   any other non-business column. Its business columns and ``is_deleted`` are the row's own (same
   hash) — except for a delete absorbed into a delete with another hash, whose entry also holds its
   business columns and ``record_hash``. The column is null when nothing was absorbed.
7. Floats have one representation per value: ``-0.0`` is stored as ``0.0`` and every NaN as the
   one quiet NaN (the hash already treats them as equal; storing them as they came would let the
   stored row depend on which arrived first).

Why the absorbed versions are stored, and where
-----------------------------------------------
Skipping a no-change version and accepting late versions in any order interact: with v1 (h1, t1)
and v3 (h1, t3) stored as one row, a late v2 (h2, t2) with t1 < t2 < t3 must yield v1, v2, v3 — so
v3 must still be known. Every merge therefore *re-derives* each affected key's timeline from all
its observations: the stored rows exploded back into observations (each row's own version plus its
``absorbed_versions``), plus the batch. Keeping the absorbed versions inside the row they belong to
(rather than in a companion observations table) means:

- one Delta table, one atomic commit per merge (Delta has no multi-table transactions);
- reading an affected key's row brings its absorbed versions along: no second lookup;
- the common case — no absorbed versions — costs one null per row;
- BI readers see an ordinary SCD2 table and can ignore one column.

Keeping only the absorbed *timestamps* would not do: when v3 is split out again it must come back
with its own ``last_updated_by``, ``run_id``…, or the table would depend on arrival order. JSON
text (not a list<struct>) keeps the column's type fixed when the table's columns change.

Equality guarantee (what "the same table" means)
------------------------------------------------
The rows this module produces are a pure function of the *set of distinct version rows* ever
merged — every column, including the load columns and ``absorbed_versions``. Merging the same
versions split into any batches, in any batch order, any number of times, gives tables equal in
every column once both are sorted by ``(source_service, source_id, effective_start_date)``; only
the physical order of rows and files may differ. When a later run re-extracts a version already
stored (later ``extracted_at``), rule 4 keeps the later copy, which differs from the stored one in
its load columns only; versions without ``extracted_at`` (and re-extractions with the same one)
keep the first-loaded copy. (All of this up to a 128-bit hash collision between two versions of
one key.)

Output
------
The version's own columns in their order, then ``effective_start_date``, ``effective_end_date``,
``is_current``, ``record_hash``, ``absorbed_versions`` (:func:`output_schema`). Every timestamp is
``timestamp[us, UTC]``.

Incremental merges
------------------
:func:`compute_changes` needs, for every key in the batch, the stored rows whose validity could be
affected: at least every row whose ``effective_end_date`` is null or ``>=`` the key's earliest new
``last_updated`` (all of the key's rows is always fine). When every new version of a key is later
than its current row's start — or exactly as old with the same hash (it replaces the current
row's observation at most; a delete after a delete joins it) — the current row alone suffices:
the fast path the Delta layer (``avesa.lake.delta_tables``) takes for all but late data.

Public API
----------
:func:`normalize_versions` (validate, normalise types, add ``record_hash``),
:func:`compute_changes` (stored rows + versions -> :class:`Scd2Change`: rows to remove and insert,
and :class:`Scd2Stats`), :func:`merge_versions` (the whole-table in-memory merge, the reference
the tests hold the Delta merge to), :func:`check_timeline` (invariant audit), :func:`output_schema`.
"""

from __future__ import annotations

import json
from base64 import b64decode, b64encode
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from avesa.domain.errors import BadDataError
from avesa.transform.record_hash import encode_rows, record_hashes

TENANT_ID = "tenant_id"
SOURCE_SERVICE = "source_service"
SOURCE_TABLE = "source_table"
SOURCE_ID = "source_id"
LAST_UPDATED = "last_updated"
IS_DELETED = "is_deleted"
EFFECTIVE_START = "effective_start_date"
EFFECTIVE_END = "effective_end_date"
IS_CURRENT = "is_current"
RECORD_HASH = "record_hash"
ABSORBED = "absorbed_versions"

EXTRACTED_AT = "extracted_at"

KEY_COLUMNS = (SOURCE_SERVICE, SOURCE_ID)
REQUIRED_COLUMNS = (TENANT_ID, SOURCE_SERVICE, SOURCE_TABLE, SOURCE_ID, LAST_UPDATED, IS_DELETED)
# Added by this module, after the version's own columns, in this order.
SCD_COLUMNS = (EFFECTIVE_START, EFFECTIVE_END, IS_CURRENT, RECORD_HASH, ABSORBED)
DEFAULT_LOAD_COLUMNS = ("loaded_at", "run_id")

TIMESTAMP = pa.timestamp("us", tz="UTC")

# Internal helper columns; never leave this module.
_ORIGIN = "__origin"  # 0 stored row, 1 stored absorbed version, 2 batch
_ORDER = "__order"  # position within its origin (batch index for the batch)
_TB_CONTENT = "__tb_content"
_TB_LOAD = "__tb_load"
_STORED, _STORED_ABSORBED, _BATCH = 0, 1, 2

# Typed scalars: pyarrow converts an untyped Python value by first trying to import numpy, which
# costs ~0.2 ms per call when numpy is absent; small merges make thousands of such calls.
_FALSE = pa.scalar(False, pa.bool_())
_TRUE = pa.scalar(True, pa.bool_())
_EMPTY = pa.scalar("", pa.string())
_COLON = pa.scalar(":", pa.string())
_ONE = pa.scalar(1, pa.int64())


class InvalidVersionsError(BadDataError, ValueError):
    """A versions table breaks the input contract; nothing has been written."""


# --------------------------------------------------------------------------------------- stats


@dataclass(frozen=True)
class Scd2Stats:
    """What one merge did. ``versions_received = duplicates + unchanged_skipped + new_versions``.

    - ``duplicates``: versions dropped because an observation with the same key and
      ``last_updated`` was already stored or won the tie-break (rule 4) — re-deliveries, look-back
      overlap, retries — and re-extractions of a stored version (same hash), which only refresh
      its load columns;
    - ``unchanged_skipped``: versions kept only as absorbed versions (same hash as the version
      before them);
    - ``new_versions``: versions that start a row;
    - ``rows_inserted``: rows written for a (key, effective_start_date) not stored before;
    - ``rows_updated``: stored rows rewritten in place (same key and start, other content changed);
      ``rows_closed`` counts those that stopped being current;
    - ``rows_removed``: stored rows whose start is no longer a row start (a late version or a
      winning duplicate re-cut the timeline);
    - ``keys_received``: distinct keys in the batch; ``keys_new``: of those, keys never stored;
      ``keys_affected``: keys with at least one row inserted, updated or removed.
    """

    versions_received: int = 0
    duplicates: int = 0
    unchanged_skipped: int = 0
    new_versions: int = 0
    rows_inserted: int = 0
    rows_updated: int = 0
    rows_closed: int = 0
    rows_removed: int = 0
    keys_received: int = 0
    keys_new: int = 0
    keys_affected: int = 0

    def __add__(self, other: Scd2Stats) -> Scd2Stats:
        return Scd2Stats(**{f.name: getattr(self, f.name) + getattr(other, f.name) for f in fields(self)})

    def as_dict(self) -> dict[str, int]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def summary(self) -> str:
        """One line for the run summary a user reads."""
        return (
            f"{self.versions_received:,} versions received: {self.new_versions:,} new, "
            f"{self.unchanged_skipped:,} unchanged, {self.duplicates:,} duplicates; "
            f"rows {self.rows_inserted:,} inserted, {self.rows_updated:,} updated "
            f"({self.rows_closed:,} closed), {self.rows_removed:,} removed; "
            f"{self.keys_affected:,} of {self.keys_received:,} keys changed ({self.keys_new:,} new)"
        )


@dataclass(frozen=True)
class Scd2Change:
    """The result of :func:`compute_changes`.

    ``inserted``: rows to write (new, or replacing a removed row with the same key and start).
    ``removed``: boolean mask over the ``existing`` rows passed in: rows to delete. Stored rows
    not removed stay exactly as they are. ``rows``: the recomputed rows of every key present in
    ``existing`` or the batch (``existing`` minus removed, plus inserted).
    """

    rows: pa.Table
    inserted: pa.Table
    removed: pa.Array
    stats: Scd2Stats


# -------------------------------------------------------------------------------- small helpers


def _arr(column: pa.Array | pa.ChunkedArray) -> pa.Array:
    if isinstance(column, pa.ChunkedArray):
        return column.combine_chunks() if column.num_chunks != 1 else column.chunk(0)
    return column


def _arange(n: int) -> pa.Array:
    """0, 1, …, n-1 as int64, built in C (a Python range costs ~20 ms per 100k)."""
    ones = pa.repeat(pa.scalar(1, pa.int64()), n)
    return pc.subtract(pc.cumulative_sum(ones), pa.scalar(1, pa.int64()))


def composite_key(table: pa.Table) -> pa.Array:
    """One string per row identifying its key: ``"<len(service)>:<service><source_id>"``."""
    svc = pc.cast(_arr(table.column(SOURCE_SERVICE)), pa.string())
    sid = pc.cast(_arr(table.column(SOURCE_ID)), pa.string())
    return pc.binary_join_element_wise(pc.cast(pc.utf8_length(svc), pa.string()), _COLON, svc, sid, _EMPTY)


def _shift_equal(arrays: Sequence[pa.Array]) -> pa.Array:
    """For rows 1..n-1: every array equals its value in the previous row (arrays have no nulls)."""
    result = None
    for a in arrays:
        n = len(a)
        eq = pc.equal(a.slice(1, n - 1), a.slice(0, n - 1))
        result = eq if result is None else pc.and_(result, eq)
    return result


def _prev_same(arrays: Sequence[pa.Array], n: int) -> pa.Array:
    """Per row: equal to the previous row in every array (False for row 0)."""
    if n == 0:
        return pa.array([], pa.bool_())
    return pa.concat_arrays([pa.array([False], pa.bool_()), _shift_equal(arrays)])


def _next_same(arrays: Sequence[pa.Array], n: int) -> pa.Array:
    """Per row: equal to the next row in every array (False for the last row)."""
    if n == 0:
        return pa.array([], pa.bool_())
    return pa.concat_arrays([_shift_equal(arrays), pa.array([False], pa.bool_())])


def _normalize_type(t: pa.DataType) -> pa.DataType:
    if pa.types.is_dictionary(t):
        return _normalize_type(t.value_type)
    if pa.types.is_large_string(t) or pa.types.is_string_view(t):
        return pa.string()
    if pa.types.is_large_binary(t) or pa.types.is_binary_view(t):
        return pa.binary()
    if pa.types.is_timestamp(t):
        return TIMESTAMP
    return t


def conform(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """`table` with exactly `schema`'s columns, in order: missing ones null, others cast."""
    if table.schema.equals(schema):
        return table
    columns = []
    for f in schema:
        if f.name in table.column_names:
            col = table.column(f.name)
            if col.type != f.type:
                col = pc.cast(col, f.type, safe=False) if pa.types.is_timestamp(f.type) else col.cast(f.type)
            columns.append(col)
        else:
            columns.append(pa.nulls(table.num_rows, f.type))
    return pa.Table.from_arrays(columns, schema=schema)


def _is_nested(t: pa.DataType) -> bool:
    return pa.types.is_nested(t) or (pa.types.is_dictionary(t) and pa.types.is_nested(t.value_type))


# ------------------------------------------------------------------------------------ versions


def normalize_versions(versions: pa.Table, business_columns: Sequence[str]) -> pa.Table:
    """Validate a batch of versions and add ``record_hash``.

    Types are normalised (large/view strings and dictionaries to string; every timestamp to
    microseconds UTC — naive timestamps are taken as UTC, nanoseconds truncated (refused where that
    would make two versions of a key one instant); -0.0 to 0.0 and
    every NaN to one NaN); a null ``is_deleted`` means false. An optional ``extracted_at``
    timestamp says when each version was read from the source (rule 4). Raises
    InvalidVersionsError (a ValueError and a BadDataError) for a missing column, a business column
    that is also an identity/SCD column, a null key or ``last_updated``, a non-timestamp
    ``extracted_at``, or more than one tenant.
    """
    business = list(dict.fromkeys(business_columns))
    missing = [c for c in (*REQUIRED_COLUMNS, *business) if c not in versions.column_names]
    if missing:
        raise InvalidVersionsError(f"versions table lacks required columns {missing}")
    reserved = set(REQUIRED_COLUMNS) | set(SCD_COLUMNS)
    bad = [c for c in business if c in reserved]
    if bad:
        raise InvalidVersionsError(f"business columns {bad} are identity or SCD columns and cannot be hashed")
    derived = [c for c in versions.column_names if c in SCD_COLUMNS and c != RECORD_HASH]
    if derived:
        raise InvalidVersionsError(f"versions must not carry SCD columns {derived}; they are computed by the merge")
    if len(set(versions.column_names)) != len(versions.column_names):
        raise InvalidVersionsError("versions table has duplicate column names")
    versions = versions.drop_columns([RECORD_HASH]) if RECORD_HASH in versions.column_names else versions

    _refuse_colliding_nanoseconds(versions)
    fields_ = [pa.field(f.name, _normalize_type(f.type)) for f in versions.schema]
    schema = pa.schema(fields_)
    table = conform(versions, schema).combine_chunks()
    ts_type = versions.schema.field(LAST_UPDATED).type
    if not pa.types.is_timestamp(ts_type):
        raise InvalidVersionsError(f"{LAST_UPDATED} must be a timestamp, got {ts_type}")
    table = table.set_column(
        table.schema.get_field_index(IS_DELETED), pa.field(IS_DELETED, pa.bool_()),
        pc.fill_null(pc.cast(table.column(IS_DELETED), pa.bool_()), _FALSE),
    )
    for name in (SOURCE_SERVICE, SOURCE_ID, LAST_UPDATED, TENANT_ID):
        nulls = table.column(name).null_count
        if nulls:
            raise InvalidVersionsError(
                f"{nulls} version(s) have a null {name}; every version needs a key and a timestamp"
            )
    tenants = pc.unique(table.column(TENANT_ID))
    if len(tenants) > 1:
        raise InvalidVersionsError(f"one merge takes one tenant's versions, got {sorted(tenants.to_pylist())}")
    table = _canonical_floats(table)
    if EXTRACTED_AT in table.column_names and not pa.types.is_timestamp(table.schema.field(EXTRACTED_AT).type):
        raise InvalidVersionsError(f"{EXTRACTED_AT} must be a timestamp, got {table.schema.field(EXTRACTED_AT).type}")
    row_level = set(_row_level_columns(table.column_names, business))
    nested = [f.name for f in table.schema if f.name not in row_level and _is_nested(f.type)]
    if nested:
        raise InvalidVersionsError(
            f"non-business columns must be scalar (they are kept per absorbed version): {nested}"
        )
    return table.append_column(pa.field(RECORD_HASH, pa.string()), record_hashes(table, business))


def _refuse_colliding_nanoseconds(versions: pa.Table) -> None:
    """Stamps are kept in microseconds. Truncating nanoseconds is harmless unless two versions of
    one key differ only below the microsecond: one of them would silently vanish as a duplicate."""
    t = versions.schema.field(LAST_UPDATED).type
    if not (pa.types.is_timestamp(t) and t.unit == "ns") or versions.num_rows < 2:
        return
    stamps = _arr(versions.column(LAST_UPDATED))
    keys = composite_key(versions)
    exact = pa.table({"k": keys, "t": stamps}).group_by(["k", "t"]).aggregate([]).num_rows
    micros = pc.cast(stamps, pa.timestamp("us", tz=t.tz), safe=False)
    if pa.table({"k": keys, "t": micros}).group_by(["k", "t"]).aggregate([]).num_rows != exact:
        raise InvalidVersionsError(
            f"versions of one key differ only in the nanoseconds of {LAST_UPDATED}; the canonical table keeps "
            "microseconds, so one would be lost: give each version its own microsecond"
        )


def _canonical_floats(table: pa.Table) -> pa.Table:
    """One representation per float value: -0.0 becomes 0.0 and every NaN the one quiet NaN.

    The record hash already treats them as equal (record_hash.py); storing them as they came
    would let the stored row depend on which representation arrived first."""
    for i, f in enumerate(table.schema):
        if not pa.types.is_floating(f.type) or pa.types.is_float16(f.type):
            continue
        col = _arr(table.column(i))
        zero, nan = pa.scalar(0.0, f.type), pa.scalar(float("nan"), f.type)
        fixed = pc.if_else(pc.equal(col, zero), zero, col)
        fixed = pc.if_else(pc.is_nan(fixed), nan, fixed)
        table = table.set_column(i, f, fixed)
    return table


def _row_level_columns(columns: Iterable[str], business: Sequence[str]) -> list[str]:
    """Columns that are the same for every version sharing a row (key, tenant, hash inputs, hash)."""
    fixed = {TENANT_ID, SOURCE_SERVICE, SOURCE_ID, IS_DELETED, RECORD_HASH, *business}
    return [c for c in columns if c in fixed]


def _observation_columns(columns: Iterable[str], business: Sequence[str]) -> list[str]:
    """Columns that may differ between versions with the same hash; kept per absorbed version."""
    fixed = set(_row_level_columns(columns, business))
    return [c for c in columns if c not in fixed and not c.startswith("__")]


def output_schema(observation_schema: pa.Schema) -> pa.Schema:
    """The canonical table's schema for versions with `observation_schema` (hash included)."""
    own = [f for f in observation_schema if f.name not in SCD_COLUMNS and not f.name.startswith("__")]
    return pa.schema([
        *own,
        pa.field(EFFECTIVE_START, TIMESTAMP),
        pa.field(EFFECTIVE_END, TIMESTAMP),
        pa.field(IS_CURRENT, pa.bool_()),
        pa.field(RECORD_HASH, pa.string()),
        pa.field(ABSORBED, pa.string()),
    ])


def observation_schema(rows_schema: pa.Schema) -> pa.Schema:
    """The observation (normalised version) schema behind a canonical table's schema."""
    drop = {EFFECTIVE_START, EFFECTIVE_END, IS_CURRENT, ABSORBED}
    return pa.schema([f for f in rows_schema if f.name not in drop])


# ------------------------------------------------------------------- absorbed versions as JSON


def _to_json_value(v: Any) -> Any:
    if isinstance(v, datetime):
        if v.tzinfo is not None:
            v = v.astimezone(UTC).replace(tzinfo=None)
        return v.isoformat(timespec="microseconds") + "Z"
    if isinstance(v, date):
        return v.isoformat()
    if isinstance(v, Decimal):
        return str(v)
    if isinstance(v, bytes):
        return b64encode(v).decode()
    if isinstance(v, list | tuple):
        return [_to_json_value(x) for x in v]
    if isinstance(v, dict):
        return {k: _to_json_value(x) for k, x in v.items()}
    return v


def _from_json_value(v: Any, t: pa.DataType) -> Any:
    """One value back from its JSON form, guided by its Arrow type (nested types included)."""
    if v is None:
        return None
    if pa.types.is_timestamp(t):
        return datetime.fromisoformat(v.replace("Z", "+00:00"))
    if pa.types.is_date(t):
        return date.fromisoformat(v)
    if pa.types.is_decimal(t):
        return Decimal(v)
    if pa.types.is_binary(t) or pa.types.is_large_binary(t) or pa.types.is_fixed_size_binary(t):
        return b64decode(v)
    if pa.types.is_map(t):
        return [(_from_json_value(k, t.key_type), _from_json_value(x, t.item_type)) for k, x in v]
    if pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t):
        return [_from_json_value(x, t.value_type) for x in v]
    if pa.types.is_struct(t):
        return {f.name: _from_json_value(v.get(f.name), f.type) for f in t}
    if pa.types.is_dictionary(t):
        return _from_json_value(v, t.value_type)
    return v


def _from_json_values(values: list[Any], t: pa.DataType) -> pa.Array:
    if pa.types.is_timestamp(t):
        values = [None if v is None else datetime.fromisoformat(v.replace("Z", "+00:00")) for v in values]
    elif pa.types.is_nested(t) or pa.types.is_dictionary(t) or not (
            pa.types.is_string(t) or pa.types.is_integer(t) or pa.types.is_boolean(t) or pa.types.is_floating(t)):
        values = [_from_json_value(v, t) for v in values]
    return pa.array(values, t)


def _encode_absorbed(obs: pa.Table, columns: Sequence[str], own: list[bool] | None = None,
                     own_columns: Sequence[str] = ()) -> list[dict[str, Any]]:
    """One JSON-ready dict per absorbed version: its `columns`, and where `own` says so also its
    `own_columns` (a delete absorbed into a delete with another hash: its business columns and hash)."""
    data = {c: obs.column(c).to_pylist() for c in dict.fromkeys([*columns, *own_columns])}
    entries = [{c: _to_json_value(data[c][i]) for c in columns} for i in range(obs.num_rows)]
    if own is not None:
        for i, entry in enumerate(entries):
            if own[i]:
                entry.update({c: _to_json_value(data[c][i]) for c in own_columns})
    return entries


def _dumps(entries: list[dict[str, Any]]) -> str:
    return json.dumps(entries, sort_keys=True, separators=(",", ":"))


def explode(rows: pa.Table, business_columns: Sequence[str]) -> pa.Table:
    """Stored rows -> the observations they hold (each row's own version + its absorbed ones).

    The result has the observation schema (:func:`observation_schema`) plus the internal origin
    columns; absorbed versions take their row-level columns from their row.
    """
    obs_schema = observation_schema(rows.schema)
    primary = conform(rows, obs_schema)
    primary = primary.append_column(_ORIGIN, pa.repeat(pa.scalar(_STORED, pa.int8()), rows.num_rows))
    primary = primary.append_column(_ORDER, _arange(rows.num_rows))
    if ABSORBED not in rows.column_names or rows.column(ABSORBED).null_count == rows.num_rows:
        return primary
    obs_cols = _observation_columns(obs_schema.names, business_columns)
    parents: list[int] = []
    entries: list[dict[str, Any]] = []
    for i, doc in enumerate(rows.column(ABSORBED).to_pylist()):
        if doc:
            for entry in json.loads(doc):
                parents.append(i)
                entries.append(entry)
    if not entries:
        return primary
    absorbed = primary.take(pa.array(parents, pa.int64()))
    for c in obs_cols:
        f = obs_schema.field(c)
        values = _from_json_values([e.get(c) for e in entries], f.type)
        absorbed = absorbed.set_column(absorbed.schema.get_field_index(c), f, values)
    own = [RECORD_HASH in e for e in entries]
    if any(own):  # deletes absorbed into a delete with another hash bring their own columns back
        mask = pa.array(own, pa.bool_())
        for c in [c for c in (*business_columns, RECORD_HASH) if c in obs_schema.names]:
            f = obs_schema.field(c)
            values = _from_json_values([e.get(c) if o else None for e, o in zip(entries, own, strict=True)], f.type)
            i = absorbed.schema.get_field_index(c)
            absorbed = absorbed.set_column(i, f, pc.if_else(mask, values, _arr(absorbed.column(i))))
    origin = pa.repeat(pa.scalar(_STORED_ABSORBED, pa.int8()), len(entries))
    absorbed = absorbed.set_column(absorbed.schema.get_field_index(_ORIGIN), _ORIGIN, origin)
    absorbed = absorbed.set_column(absorbed.schema.get_field_index(_ORDER), _ORDER, _arange(len(entries)))
    return pa.concat_tables([primary, absorbed])


# ------------------------------------------------------------------------------------ timeline


def _sortable(t: pa.DataType) -> bool:
    return not (pa.types.is_nested(t) or pa.types.is_dictionary(t) or pa.types.is_null(t))


_ANALYSIS = (SOURCE_SERVICE, SOURCE_ID, LAST_UPDATED, RECORD_HASH, IS_DELETED, _ORIGIN)


def _timeline_order(obs: pa.Table, business: Sequence[str], load_columns: Sequence[str]) -> pa.Array:
    """Row numbers of `obs` in timeline order, the winner of every (key, last_updated) tie first."""
    keys = [(SOURCE_SERVICE, "ascending"), (SOURCE_ID, "ascending"), (LAST_UPDATED, "ascending")]
    # the latest extraction first (a null stamp, from before versions carried one, counts as earliest)
    latest = [(EXTRACTED_AT, "descending")] if EXTRACTED_AT in obs.column_names else []
    order = pc.sort_indices(obs, sort_keys=[*keys, *latest, (IS_DELETED, "descending"), (RECORD_HASH, "ascending"),
                                            (_ORIGIN, "ascending"), (_ORDER, "ascending")])
    if obs.num_rows < 2:
        return order
    head = obs.select([SOURCE_SERVICE, SOURCE_ID, LAST_UPDATED]).take(order)
    ties = _shift_equal([_arr(head.column(c)) for c in (SOURCE_SERVICE, SOURCE_ID, LAST_UPDATED)])
    if not pc.any(ties).as_py():
        return order
    # Rare path: some key has several observations at one instant. Break ties on everything.
    obs_cols = [c for c in obs.column_names if not c.startswith("__")]
    row_level = set(_row_level_columns(obs_cols, business))
    loads = [c for c in load_columns if c in obs_cols and c not in row_level and c != EXTRACTED_AT]
    content = [c for c in obs_cols if c not in row_level and c not in loads and c not in (LAST_UPDATED, EXTRACTED_AT)]
    content.append(TENANT_ID)
    tb = obs.append_column(_TB_CONTENT, encode_rows(obs, content))
    tb = tb.append_column(_TB_LOAD, encode_rows(obs, loads))
    sort_keys = [*keys, *latest, (IS_DELETED, "descending"), (RECORD_HASH, "ascending"), (_TB_CONTENT, "ascending")]
    sort_keys += [(c, "ascending") for c in loads if _sortable(tb.schema.field(c).type)]
    sort_keys += [(_TB_LOAD, "ascending"), (_ORIGIN, "ascending"), (_ORDER, "ascending")]
    return pc.sort_indices(tb, sort_keys=sort_keys)


@dataclass(frozen=True)
class _Timeline:
    rows: pa.Table  # output schema, sorted by key and start
    duplicates: int
    unchanged: int
    new_versions: int


def _refreshes(a: pa.Array, dup: pa.Array, batch: pa.Array) -> pa.Array:
    """Per row of the sorted analysis table `a`: the row wins its (key, last_updated), comes from
    the batch, and beats a stored observation with the same hash — a re-extraction of a stored
    version, which refreshes its load columns but is no new version."""
    n = a.num_rows
    first = pc.invert(dup)
    group = pc.subtract(pc.cumulative_sum(pc.cast(first, pa.int64())), _ONE)
    winners = pc.indices_nonzero(first)
    hashes = _arr(a.column(RECORD_HASH))
    winner_hash = hashes.take(winners).take(group)
    winner_batch = batch.take(winners).take(group)
    beaten = pc.and_(pc.and_(dup, pc.invert(batch)), pc.and_(pc.equal(hashes, winner_hash), winner_batch))
    if not pc.any(beaten).as_py():
        return pa.repeat(_FALSE, n)
    return pc.and_(first, pc.is_in(group, value_set=pc.unique(group.filter(beaten))))


def _build_timeline(
    obs: pa.Table, business: Sequence[str], load_columns: Sequence[str], out_schema: pa.Schema
) -> _Timeline:
    if obs.num_rows == 0:
        return _Timeline(out_schema.empty_table(), 0, 0, 0)
    order = _timeline_order(obs, business, load_columns)
    # work on the few columns that decide; take whole rows once, at the end
    a = obs.select(list(_ANALYSIS)).take(order)
    n = a.num_rows
    svc, sid = _arr(a.column(SOURCE_SERVICE)), _arr(a.column(SOURCE_ID))
    # 1. dedupe: first of every (key, last_updated)
    dup = _prev_same([svc, sid, _arr(a.column(LAST_UPDATED))], n)
    batch = pc.equal(_arr(a.column(_ORIGIN)), pa.scalar(_BATCH, pa.int8()))
    n_batch = pc.sum(batch).as_py() or 0
    counted = batch  # batch versions that are new observations (not re-deliveries)
    if pc.any(dup).as_py():
        keep = pc.invert(dup)
        counted = pc.and_(batch, pc.invert(_refreshes(a, dup, batch))).filter(keep)
        a = a.filter(keep)
        order = order.filter(keep)
        n = a.num_rows
        svc, sid = _arr(a.column(SOURCE_SERVICE)), _arr(a.column(SOURCE_ID))
    # 2. runs: a row starts where the key changes, or the hash differs from the previous version's
    #    unless both are deletes (consecutive deletes are one deleted version)
    same_key = _prev_same([svc, sid], n)
    hashes, deleted = _arr(a.column(RECORD_HASH)), _arr(a.column(IS_DELETED))
    prev_deleted = pa.concat_arrays([pa.array([False], pa.bool_()), deleted.slice(0, n - 1)])
    changed = pc.and_(pc.invert(_prev_same([hashes], n)), pc.invert(pc.and_(deleted, prev_deleted)))
    start = pc.or_(pc.invert(same_key), changed)
    new_versions = pc.sum(pc.and_(start, counted)).as_py() or 0
    unchanged = pc.sum(pc.and_(pc.invert(start), counted)).as_py() or 0

    starts_a = a.filter(start)
    r = starts_a.num_rows
    ts = _arr(starts_a.column(LAST_UPDATED))
    next_same_key = _next_same([_arr(starts_a.column(SOURCE_SERVICE)), _arr(starts_a.column(SOURCE_ID))], r)
    next_ts = pa.concat_arrays([ts.slice(1), pa.nulls(1, ts.type)])
    end = pc.if_else(next_same_key, next_ts, pa.scalar(None, ts.type))
    current = pc.invert(next_same_key)

    # 3. absorbed versions: the non-start rows after each start, up to the next start
    absorbed_json: pa.Array
    if r == n:
        absorbed_json = pa.nulls(r, pa.string())
    else:
        obs_cols = _observation_columns(obs.column_names, business)
        positions = pc.indices_nonzero(start).to_pylist()
        inner = pc.invert(start)
        # a delete absorbed into a delete with another hash keeps its own business columns and hash
        row_of = pc.subtract(pc.cumulative_sum(pc.cast(start, pa.int64())), _ONE)
        own = pc.not_equal(hashes, hashes.filter(start).take(row_of)).filter(inner)
        own_cols = [c for c in (*business, RECORD_HASH) if c in obs.column_names] if pc.any(own).as_py() else []
        entries = _encode_absorbed(obs.select([*obs_cols, *own_cols]).take(order.filter(inner)), obs_cols,
                                   own.to_pylist() if own_cols else None, own_cols)
        docs: list[str | None] = []
        offset = 0
        for k, pos in enumerate(positions):
            count = (positions[k + 1] if k + 1 < r else n) - pos - 1
            docs.append(_dumps(entries[offset:offset + count]) if count else None)
            offset += count
        absorbed_json = pa.array(docs, pa.string())

    derived = {EFFECTIVE_START: ts, EFFECTIVE_END: end, IS_CURRENT: current, ABSORBED: absorbed_json}
    own_names = [f.name for f in out_schema if f.name not in derived and f.name in obs.column_names]
    starts = obs.select(own_names).take(order.filter(start))
    columns = []
    for f in out_schema:
        if f.name in derived:
            columns.append(derived[f.name])
        elif f.name in starts.column_names:
            columns.append(starts.column(f.name))
        else:
            columns.append(pa.nulls(r, f.type))
    rows = pa.Table.from_arrays(columns, schema=out_schema)
    return _Timeline(rows, n_batch - new_versions - unchanged, unchanged, new_versions)


# ---------------------------------------------------------------------------------------- diff

_IDENTITY = (SOURCE_SERVICE, SOURCE_ID, EFFECTIVE_START)


def _null_aware_equal(a: pa.Array, b: pa.Array) -> pa.Array:
    both_null = pc.and_(pc.is_null(a), pc.is_null(b))
    eq = pc.fill_null(pc.equal(a, b), _FALSE)
    if pa.types.is_floating(a.type):
        eq = pc.or_(eq, pc.fill_null(pc.and_(pc.is_nan(a), pc.is_nan(b)), _FALSE))
    return pc.or_(eq, both_null)


def _identity_in(table: pa.Table, other: pa.Table) -> pa.Array:
    """Per row of `table`: its (key, effective_start_date) occurs in `other`."""
    if other.num_rows == 0 or table.num_rows == 0:
        return pa.repeat(_FALSE, table.num_rows)
    left = table.select(list(_IDENTITY)).append_column("__i", _arange(table.num_rows))
    right = other.select(list(_IDENTITY)).group_by(list(_IDENTITY)).aggregate([])
    right = right.append_column("__hit", pa.repeat(_TRUE, right.num_rows))
    joined = left.join(right, keys=list(_IDENTITY), join_type="left outer")
    joined = joined.sort_by("__i")
    return pc.fill_null(_arr(joined.column("__hit")), _FALSE)


def _diff(existing: pa.Table, new: pa.Table) -> tuple[pa.Array, pa.Array]:
    """(removed mask over existing, inserted mask over new): rows not identical on both sides."""
    ne, nn = existing.num_rows, new.num_rows
    kept_e = pa.array([], pa.int64())
    kept_n = pa.array([], pa.int64())
    if ne and nn:
        ids = list(_IDENTITY)
        left = existing.select(ids).append_column("__e", _arange(ne))
        # a (key, start) stored twice is corrupt: never treat either copy as unchanged
        counts = left.group_by(ids).aggregate([("__e", "count")])
        left = left.join(counts, keys=ids)
        left = left.filter(pc.equal(left.column("__e_count"), _ONE)).drop_columns(["__e_count"])
        right = new.select(ids).append_column("__n", _arange(nn))
        pairs = left.join(right, keys=ids, join_type="inner")
        if pairs.num_rows:
            ei, ni = _arr(pairs.column("__e")), _arr(pairs.column("__n"))
            same = None
            for name in new.column_names:
                eq = _null_aware_equal(_arr(existing.column(name)).take(ei), _arr(new.column(name)).take(ni))
                same = eq if same is None else pc.and_(same, eq)
            kept_e, kept_n = ei.filter(same), ni.filter(same)
    removed = pc.invert(pc.is_in(_arange(ne), value_set=kept_e))
    inserted = pc.invert(pc.is_in(_arange(nn), value_set=kept_n))
    return removed, inserted


# ------------------------------------------------------------------------------------ public


def compute_changes(
    existing: pa.Table | None,
    versions: pa.Table,
    business_columns: Sequence[str],
    *,
    load_columns: Sequence[str] = DEFAULT_LOAD_COLUMNS,
) -> Scd2Change:
    """Re-derive the timelines of the batch's keys and diff them against the stored rows.

    `versions` must come from :func:`normalize_versions`. `existing` holds stored rows (canonical
    table schema) of the batch's keys — see the module docstring for which ones are needed — or
    None. Both sides are conformed to one schema: the batch's columns first, then any stored-only
    columns (nulls for the batch), so a table whose mapping grew keeps working.
    """
    business = list(dict.fromkeys(business_columns))
    obs_schema = versions.schema
    if existing is not None:
        stored_obs = observation_schema(existing.schema)
        extra = [f for f in stored_obs if f.name not in obs_schema.names]
        if extra:
            obs_schema = pa.schema([*obs_schema, *extra])
    out_schema = output_schema(obs_schema)
    batch = conform(versions, obs_schema)
    batch = batch.append_column(_ORIGIN, pa.repeat(pa.scalar(_BATCH, pa.int8()), batch.num_rows))
    batch = batch.append_column(_ORDER, _arange(batch.num_rows))
    existing = out_schema.empty_table() if existing is None or not existing.num_rows else conform(existing, out_schema)
    stored = explode(existing, business)
    stored = conform(stored, batch.schema)
    obs = pa.concat_tables([stored, batch]) if stored.num_rows else batch
    timeline = _build_timeline(obs, business, load_columns, out_schema)

    removed, inserted_mask = _diff(existing, timeline.rows)
    inserted = timeline.rows.filter(inserted_mask)
    removed_rows = existing.filter(removed)
    replaced = _identity_in(inserted, removed_rows)
    updated = pc.sum(replaced).as_py() or 0
    closed = 0
    if updated:
        was_current = existing.filter(pc.and_(removed, _arr(existing.column(IS_CURRENT))))
        now_closed = inserted.filter(pc.and_(replaced, pc.invert(_arr(inserted.column(IS_CURRENT)))))
        closed = pc.sum(_identity_in(now_closed, was_current)).as_py() or 0
    removed_only = removed_rows.num_rows - (pc.sum(_identity_in(removed_rows, inserted)).as_py() or 0)

    batch_keys = pc.unique(composite_key(versions))
    stored_keys = pc.unique(composite_key(existing)) if existing.num_rows else pa.array([], pa.string())
    changed_keys = pc.unique(pa.concat_arrays([composite_key(inserted).cast(pa.string()),
                                               composite_key(removed_rows).cast(pa.string())]))
    stats = Scd2Stats(
        versions_received=versions.num_rows,
        duplicates=timeline.duplicates,
        unchanged_skipped=timeline.unchanged,
        new_versions=timeline.new_versions,
        rows_inserted=inserted.num_rows - updated,
        rows_updated=updated,
        rows_closed=closed,
        rows_removed=removed_only,
        keys_received=len(batch_keys),
        keys_new=len(batch_keys) - (pc.sum(pc.is_in(batch_keys, value_set=stored_keys)).as_py() or 0),
        keys_affected=len(changed_keys),
    )
    return Scd2Change(rows=timeline.rows, inserted=inserted, removed=removed, stats=stats)


def sort_rows(rows: pa.Table) -> pa.Table:
    """Rows in the canonical order: key, then effective_start_date."""
    return rows.sort_by([(c, "ascending") for c in _IDENTITY])


def merge_versions(
    table: pa.Table | None,
    versions: pa.Table,
    business_columns: Sequence[str],
    *,
    load_columns: Sequence[str] = DEFAULT_LOAD_COLUMNS,
) -> tuple[pa.Table, Scd2Stats]:
    """Whole-table, in-memory merge: `table` (a canonical table, or None) + raw `versions`.

    Returns the new table, sorted by key and start, and the stats. The Delta layer does the same
    incrementally; this form is the reference the property tests compare it with.
    """
    v = normalize_versions(versions, business_columns)
    if table is None or table.num_rows == 0:
        change = compute_changes(None if table is None else table, v, business_columns, load_columns=load_columns)
        return sort_rows(change.rows), change.stats
    hit = pc.is_in(composite_key(table), value_set=pc.unique(composite_key(v)))
    existing = table.filter(hit)
    untouched = table.filter(pc.invert(hit))
    change = compute_changes(existing, v, business_columns, load_columns=load_columns)
    schema = change.rows.schema
    result = pa.concat_tables([conform(untouched, schema), change.rows])
    return sort_rows(result), change.stats


def check_timeline(rows: pa.Table) -> list[str]:
    """Invariant violations in a canonical table (empty list = valid). For tests and audits.

    Per key: rows ordered by start have distinct starts equal to ``last_updated``; each row ends
    where the next starts; only the last is current and has a null end; consecutive rows differ
    in ``record_hash`` and are not both deleted; absorbed versions lie strictly inside their
    row's interval, in order.
    """
    problems: list[str] = []
    data = sort_rows(rows).select([SOURCE_SERVICE, SOURCE_ID, LAST_UPDATED, EFFECTIVE_START, EFFECTIVE_END,
                                   IS_CURRENT, IS_DELETED, RECORD_HASH, ABSORBED]).to_pylist()
    by_key: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for row in data:
        by_key.setdefault((row[SOURCE_SERVICE], row[SOURCE_ID]), []).append(row)
    for key, krows in by_key.items():
        for i, row in enumerate(krows):
            last = i == len(krows) - 1
            if row[EFFECTIVE_START] != row[LAST_UPDATED]:
                problems.append(f"{key}: effective_start_date != last_updated at {row[EFFECTIVE_START]}")
            if row[IS_CURRENT] != last:
                problems.append(f"{key}: is_current={row[IS_CURRENT]} on row {i + 1} of {len(krows)}")
            expected_end = None if last else krows[i + 1][EFFECTIVE_START]
            if row[EFFECTIVE_END] != expected_end:
                problems.append(f"{key}: row starting {row[EFFECTIVE_START]} ends {row[EFFECTIVE_END]}, "
                                f"expected {expected_end}")
            if i and krows[i - 1][EFFECTIVE_START] == row[EFFECTIVE_START]:
                problems.append(f"{key}: two rows start at {row[EFFECTIVE_START]}")
            if i and krows[i - 1][RECORD_HASH] == row[RECORD_HASH]:
                problems.append(f"{key}: consecutive rows with the same hash at {row[EFFECTIVE_START]}")
            if i and krows[i - 1][IS_DELETED] and row[IS_DELETED]:
                problems.append(f"{key}: consecutive deleted rows at {row[EFFECTIVE_START]}")
            if row[ABSORBED]:
                times = [datetime.fromisoformat(e[LAST_UPDATED].replace("Z", "+00:00"))
                         for e in json.loads(row[ABSORBED])]
                if times != sorted(set(times)) or times[0] <= row[EFFECTIVE_START] or (
                    expected_end is not None and times[-1] >= expected_end
                ):
                    problems.append(f"{key}: absorbed versions out of place in row starting {row[EFFECTIVE_START]}")
    return problems

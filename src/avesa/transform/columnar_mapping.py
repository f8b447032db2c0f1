"""Raw records to canonical versions a batch at a time, without a Python call per record: DuckDB
reads every value the mapping's paths point at in one parse per record (`columnar_sql`), and Arrow
compute picks each column's first found alternative and converts it.

The result must be the row function's (`avesa.transform.row_compiler`, the semantics of
`avesa.transform.values`) value for value, null count for null count. So each conversion is done
here only for the shapes of source value whose Arrow conversion is exactly Python's — text or an
integer of up to 18 digits for a text column; a flag, such an integer, a plain JSON number or
plain decimal text for a number; ASCII text for a flag; `YYYY-MM-DD[T ]HH:MM:SS[.ffffff][Z|±HH[:]MM]`
for a timestamp — and a row holding any other shape where it matters (a float for a text column,
whose `repr` Python and DuckDB write differently; text with Unicode whitespace, which Python's
`strip` removes) is *uncertain*: the compiled row function maps it and it is put back in its place.
A batch DuckDB cannot parse (a record that is no JSON, a lone surrogate escape) is mapped by the row
function whole: it decides whether the record is readable and names it when not.

One difference is deliberate and unobservable in well-formed data: an object that repeats a key
(JSON leaves it undefined) reads the first occurrence here, the last in the row function.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc

from avesa.transform import columnar_sql as sql
from avesa.transform import duckdb_session
from avesa.transform.columnar_sql import Slots, Unsupported, extraction_query
from avesa.transform.row_compiler import LAST_UPDATED

if TYPE_CHECKING:
    from avesa.transform.mapping import CompiledMapping, NulledValues

RAW_COLUMNS = ("record_id", "source_updated_at", "record", "extracted_at")
"""The raw file's columns a batch needs: the id, the envelope's stamp, the record's JSON, when it was read."""

_TRUE, _FALSE = pa.scalar(True), pa.scalar(False)
_STAMP = pa.timestamp("us", tz="UTC")


def _constant(value: bool, n: int) -> pa.Array:
    return pc.fill_null(pa.nulls(n, pa.bool_()), value)


@dataclass
class _Value:
    """One slot, or a column's picked value, as arrays (`columnar_sql`'s fields): kind, a string's
    form, text; and where computed, the value as integer, double and flag, and as a timestamp with
    whether its text has the form SQL parses."""

    k: pa.Array
    tk: pa.Array
    s: pa.Array
    i: pa.Array | None = None
    d: pa.Array | None = None
    f: pa.Array | None = None
    t: pa.Array | None = None
    m: pa.Array | None = None

    def of(self, *kinds: int) -> pa.Array:
        return pc.is_in(self.k, pa.array(kinds, pa.int8()))

    def text_of(self, *kinds: int) -> pa.Array:
        return pc.is_in(self.tk, pa.array(kinds, pa.int8()))

    @property
    def found(self) -> pa.Array:
        return pc.not_equal(self.k, sql.ABSENT)

    @property
    def present(self) -> pa.Array:
        """There, and not "": a value whose conversion to null the row function counts."""
        return pc.invert(self.of(sql.ABSENT, sql.EMPTY_STRING))

    def flag_uncertain(self) -> pa.Array:
        return pc.or_(self.of(sql.ODD_NUMBER), self.text_of(sql.OTHER_TEXT))


def _negated(value: _Value) -> tuple[_Value, pa.Array]:
    """`!path` as a value — the flag negated, null where it is no flag — and where that is certain."""
    assert value.f is not None
    negated = pc.invert(value.f)
    n = len(negated)
    kind = pc.if_else(pc.is_valid(negated), pa.scalar(sql.FLAG, pa.int8()), pa.scalar(sql.ABSENT, pa.int8()))
    return _Value(k=kind, tk=pc.fill_null(pa.nulls(n, pa.int8()), sql.NOT_TEXT),
                  s=pc.if_else(negated, pa.scalar("true"), pa.scalar("false")),
                  i=pc.cast(negated, pa.int64()), d=pc.cast(negated, pa.float64()), f=negated,
                  t=pa.nulls(n, _STAMP), m=_constant(False, n)), pc.invert(value.flag_uncertain())


def _convert(kind: str, value: _Value) -> tuple[pa.Array, pa.Array]:
    """(the column's values, the rows where they are uncertain) of a picked value. An object or a
    list is no number, flag or timestamp (null, counted), and a text only Python writes (uncertain);
    so are a float's repr and a long integer's text (a float's, when orjson read it)."""
    if kind == "string":
        return value.s, value.of(sql.LONG_INTEGER, sql.PLAIN_NUMBER, sql.ODD_NUMBER, sql.CONTAINER)
    if kind == "int64":
        # a long integer: Python's int reads it exactly (a JSON one when orjson refused the record), a double nearly
        return value.i, pc.or_(value.of(sql.LONG_INTEGER, sql.ODD_NUMBER),
                               value.text_of(sql.LONG_INTEGER_TEXT, sql.ASCII_TEXT, sql.OTHER_TEXT))
    if kind == "float64":
        return value.d, pc.or_(value.of(sql.ODD_NUMBER), value.text_of(sql.ASCII_TEXT, sql.OTHER_TEXT))
    if kind == "bool":
        return value.f, value.flag_uncertain()
    if kind == "timestamp":
        assert value.m is not None
        form = pc.fill_null(value.m, False)
        return value.t, pc.and_(value.of(sql.STRING), pc.invert(form))
    raise ValueError(f"no conversion to {kind!r}")


def _cases(found: list[pa.Array], picks: list[pa.Array], default: pa.Array) -> pa.Array:
    """`picks[i]` where `found[i]` is the first found, else `default` (the alternatives' order)."""
    result = default
    for is_found, pick in zip(reversed(found), reversed(picks), strict=True):
        result = pc.if_else(is_found, pick, result)
    return result


class _Elements:
    """The i-th element of every list of a list array. The query's lists all hold `width`
    elements, so the i-th of each sits at i, i + width, ... of the flattened values: one `take`
    each, four times cheaper than `list_element` on lists of structs."""

    def __init__(self, lists: pa.ListArray, width: int) -> None:
        self.lists = lists
        uniform = width > 0 and len(lists) > 0 and lists.null_count == 0
        if uniform:
            lengths = pc.min_max(pc.list_value_length(lists)).as_py()
            uniform = lengths == {"min": width, "max": width}
        self.flat = lists.flatten() if uniform else None
        self.starts = pa.array(range(0, len(lists) * width, width), pa.int64()) if uniform else None

    def at(self, index: int) -> pa.Array:
        if self.flat is None or self.starts is None:
            return pc.list_element(self.lists, index)
        return self.flat.take(pc.add(self.starts, index))


def _pick(alternatives: list[tuple[_Value, pa.Array | None, bool]], n: int) -> tuple[_Value, pa.Array]:
    """A column's value: the first found of its alternatives ((value, a match's certainty, negated));
    a `!path` found ends the search even when it is no flag. And where that choice is uncertain: an
    uncertain match or negation decides nothing, found or not, so the row goes to Python when the
    search reaches it."""
    if len(alternatives) == 1 and not alternatives[0][2]:
        value, certain = alternatives[0][:2]
        return value, _constant(False, n) if certain is None else pc.invert(pc.fill_null(certain, False))
    found, picks, certains = [], [], []
    for value, match_certain, negated in alternatives:
        found.append(value.found)
        certain = _constant(True, n) if match_certain is None else pc.fill_null(match_certain, False)
        if negated:
            value, negation_certain = _negated(value)
            certain = pc.and_(certain, negation_certain)
        picks.append(value)
        certains.append(certain)
    decided = _constant(True, n)
    for is_found, certain in zip(reversed(found), reversed(certains), strict=True):
        decided = pc.if_else(certain, pc.if_else(is_found, _TRUE, decided), _FALSE)
    int8 = pa.int8()
    nothing = _Value(k=pc.fill_null(pa.nulls(n, int8), sql.ABSENT), tk=pc.fill_null(pa.nulls(n, int8), sql.NOT_TEXT),
                     s=pa.nulls(n, pa.string()), i=pa.nulls(n, pa.int64()), d=pa.nulls(n, pa.float64()),
                     f=pa.nulls(n, pa.bool_()), t=pa.nulls(n, _STAMP), m=_constant(False, n))

    def chosen(part: str) -> pa.Array:
        default = getattr(nothing, part)
        return _cases(found, [default if getattr(v, part) is None else getattr(v, part) for v in picks], default)

    return _Value(**{part: chosen(part) for part in ("k", "tk", "s", "i", "d", "f", "t", "m")}), pc.invert(decided)


class ColumnarMapping:
    """A compiled mapping's columnar form; `slots` is None when a path cannot be written as a JSON
    path (`unsupported` says which) and every batch then goes through the row function."""

    def __init__(self, mapping: CompiledMapping) -> None:
        self.mapping = mapping
        self.unsupported: str | None = None
        self.slots: Slots | None = Slots()
        self._columns: list[tuple[str, str, list[tuple[int, bool]]]] = []
        try:
            if LAST_UPDATED not in [name for name, _, _ in mapping.column_sources]:
                raise Unsupported("the canonical table has no last_updated column")  # the row function says so
            for name, kind, sources in mapping.column_sources:
                refs = [(self.slots.slot(s.removeprefix("!")), s.startswith("!")) for s in sources]
                for slot, negated in refs:
                    self.slots.need(kind, slot, negated)
                self._columns.append((name, kind, refs))
            if not self.slots.paths:  # every record is parsed, mapped or not: an unreadable one fails
                self.slots.path_slot("$")
            self.sql = extraction_query(self.slots)
        except Unsupported as exc:
            self.unsupported, self.slots, self.sql = str(exc), None, ""

    def to_versions(self, raw: pa.Table, *, tenant_id: str, run_id: str, loaded_at: datetime,
                    nulled: NulledValues) -> pa.Table:
        """The versions of `raw` (the RAW_COLUMNS of live records), row for row in its order, as
        `CompiledMapping.to_versions` makes them; the nulled values are added to `nulled`."""
        meta: dict[str, Any] = {"tenant_id": tenant_id, "run_id": run_id, "loaded_at": loaded_at}
        if self.slots is None or raw.num_rows == 0:
            return self.by_rows(raw, nulled=nulled, **meta)
        extracted = _extract(self.sql, raw)
        if extracted is None:
            return self.by_rows(raw, nulled=nulled, **meta)
        columns, certain, counts = self._convert(extracted, raw.column("source_updated_at").combine_chunks())
        for name, count in counts.items():
            if count:
                nulled[name] += count
        versions = self._table(raw, columns, **meta)
        if pc.all(certain).as_py():
            return versions
        # the uncertain rows (their null counts too) are the row function's
        positions = pc.indices_nonzero(pc.invert(certain))
        by_python = self.by_rows(raw.take(positions), nulled=nulled, **meta)
        kept = pc.indices_nonzero(certain)
        combined = pa.concat_tables([versions.take(kept), by_python])
        order = pa.concat_arrays([kept.cast(pa.int64()), positions.cast(pa.int64())])
        return combined.take(pc.sort_indices(order))

    def _convert(self, extracted: pa.Table, updated: pa.Array) -> tuple[dict[str, pa.Array], pa.Array, dict[str, int]]:
        """Every computed column's values, where each row is certain, and the nulled counts of the
        certain rows by column."""
        assert self.slots is not None
        slots = self.slots
        n = extracted.num_rows
        widths = {"e": len(slots.paths) + len(slots.matches), "n": len(slots.numbers), "ts": len(slots.timestamps),
                  "certain": len(slots.matches)}
        lists = {name: _Elements(extracted.column(name).combine_chunks(), width) for name, width in widths.items()}
        cache: dict[int, tuple[_Value, pa.Array | None]] = {}

        def slot_value(slot: int) -> tuple[_Value, pa.Array | None]:
            """A slot's value, and for a match where its pick is certain."""
            if slot not in cache:
                e = lists["e"].at(slots.index(slot))
                value = _Value(k=e.field("k"), tk=e.field("tk"), s=e.field("s"))
                if slot in slots.numbers:
                    numbers = lists["n"].at(slots.numbers.index(slot))
                    value.i, value.d, value.f = numbers.field("i"), numbers.field("d"), numbers.field("f")
                if slot in slots.timestamps:
                    stamps = lists["ts"].at(slots.timestamps.index(slot))
                    value.t, value.m = stamps.field("t"), stamps.field("m")
                certain = lists["certain"].at(-1 - slot) if slot < 0 else None
                cache[slot] = value, certain
            return cache[slot]

        columns: dict[str, pa.Array] = {}
        uncertain_rows = _constant(False, n)
        counted: list[tuple[str, pa.Array]] = []
        for name, kind, refs in self._columns:
            picked, undecided = _pick([(*slot_value(slot), negated) for slot, negated in refs], n)
            result, uncertain = _convert(kind, picked)
            if result is None:
                raise RuntimeError(f"{name}: the query computed no {kind} of its slots")
            if name == LAST_UPDATED:
                result = pc.if_else(pc.is_valid(result), result, pc.cast(updated, result.type))
            else:
                counted.append((name, pc.and_(picked.present, pc.is_null(result))))
            columns[name] = result
            uncertain_rows = pc.or_(uncertain_rows, pc.or_(pc.fill_null(uncertain, True), undecided))
        certain = pc.invert(uncertain_rows)
        counts = {name: pc.sum(pc.and_(was_nulled, certain)).as_py() or 0 for name, was_nulled in counted}
        return columns, certain, counts

    def _table(self, raw: pa.Table, columns: dict[str, pa.Array], *, tenant_id: str, run_id: str,
               loaded_at: datetime) -> pa.Table:
        mapping = self.mapping
        n = raw.num_rows
        constants: dict[str, Any] = {"tenant_id": tenant_id, "source_service": mapping.mapping.source_service,
                                     "source_table": mapping.mapping.source_table, "run_id": run_id,
                                     "is_deleted": False, "loaded_at": loaded_at}
        arrays: list[pa.Array | pa.ChunkedArray] = []
        for field in mapping.schema:
            name = field.name
            if name == "source_id":
                arrays.append(pc.cast(raw.column("record_id"), field.type))
            elif name == "extracted_at":
                arrays.append(pc.cast(raw.column("extracted_at"), field.type))
            elif name in constants:
                arrays.append(pa.array([constants[name]] * n, field.type))
            elif name in columns:
                arrays.append(pc.cast(columns[name], field.type))
            else:
                arrays.append(pa.nulls(n, field.type))
        return pa.Table.from_arrays(arrays, schema=mapping.schema)

    def by_rows(self, raw: pa.Table, *, tenant_id: str, run_id: str, loaded_at: datetime,
                nulled: NulledValues) -> pa.Table:
        """`raw` mapped record by record, by the compiled row function."""
        rows = zip(raw.column("record_id").to_pylist(), raw.column("source_updated_at").to_pylist(),
                   raw.column("record").to_pylist(), strict=True)
        return self.mapping.to_versions(rows, tenant_id=tenant_id, run_id=run_id, loaded_at=loaded_at,
                                        nulled=nulled, extracted_at=raw.column("extracted_at").to_pylist())


def _extract(sql: str, raw: pa.Table) -> pa.Table | None:
    """The extraction query's result over `raw`, or None when DuckDB cannot parse a record of it."""
    import duckdb

    try:
        result = duckdb_session.arrow(sql, "raw", raw.select(["record"]))
    except duckdb.InvalidInputException:  # malformed JSON: the row function reads it or names it
        return None
    if result.num_rows != raw.num_rows:
        raise RuntimeError(f"the mapping query returned {result.num_rows} rows for {raw.num_rows} records")
    return result

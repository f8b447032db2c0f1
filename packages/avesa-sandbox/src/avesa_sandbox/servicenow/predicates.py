"""Encoded queries compiled against a table: index bounds, a residual predicate and an ordering.

Conditions on ``sys_updated_on`` and ``sys_id`` that stand alone in the AND list become bounds on the
store's indexes (a bisect each): the keyset query a connector sends,
``sys_updated_on>=A^sys_updated_on<B^sys_id>LAST^ORDERBYsys_id``, costs no scan. Everything else is
a predicate over the record. With ``^NQ`` groups the bounds are the hull of the groups' bounds and
the predicate is the OR of the groups.

Values compare by column type: numbers numerically, date-times as instants (literal or
``javascript:gs.*``), booleans as ``true``/``false``, everything else as case-insensitive text (the
platform's database collation); an empty value matches nothing but ``ISEMPTY`` (SQL NULL rules,
so ``state!=7`` does not return records without a state).

EXACTLY like the real API, a condition on an unknown field, with an operator this table's column
cannot take, or with a value that does not parse is dropped silently and the rest of the query
applies; an ``ORDERBY`` on an unknown field is ignored.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from avesa_sandbox.selection import IndexOrder, Ordering
from avesa_sandbox.servicenow.datevalues import is_relative, parse_date_value
from avesa_sandbox.servicenow.encoded_query import Condition, EncodedQuery, parse
from avesa_sandbox.servicenow.ids import MAX_KEY, first_key_above, key_or_none
from avesa_sandbox.servicenow.lookup import Lookup
from avesa_sandbox.servicenow.paths import FieldPath, Getter, resolve
from avesa_sandbox.servicenow.schema import (
    BOOLEAN_TYPES,
    DATE_TIME_TYPES,
    DATE_TYPES,
    NUMERIC_TYPES,
    Column,
    columns,
)
from avesa_sandbox.servicenow.timefmt import format_date, format_datetime, parse_datetime

Record = dict[str, Any]
Predicate = Callable[[Record, Lookup], bool]

UPDATED_FIELD = "sys_updated_on"
ID_FIELD = "sys_id"


# -- typed values ----------------------------------------------------------------------------------


def _kind(col: Column) -> str:
    if col.internal_type in NUMERIC_TYPES:
        return "number"
    if col.internal_type in DATE_TIME_TYPES or col.internal_type == "glide_duration":
        return "datetime"
    if col.internal_type in DATE_TYPES:
        return "date"
    if col.internal_type in BOOLEAN_TYPES:
        return "bool"
    return "text"


def _record_value(kind: str, raw: str) -> Any:
    """A stored value as compared (None when empty or unreadable)."""
    if not raw:
        return None
    if kind == "number":
        try:
            return float(raw)
        except ValueError:
            return None
    if kind == "bool":
        return raw.lower()
    if kind in ("datetime", "date"):
        return raw
    return raw.casefold()


def _query_value(kind: str, text: str, now: int) -> Any:
    """A value from the query as compared; None if it does not parse for this column type."""
    if kind == "number":
        try:
            return float(text)
        except ValueError:
            return None
    if kind in ("datetime", "date"):
        epoch = parse_date_value(text, now)
        if epoch is None:
            return None
        return format_datetime(epoch) if kind == "datetime" else format_date(epoch)
    if kind == "bool":
        lowered = text.strip().lower()
        return {"true": "true", "1": "true", "false": "false", "0": "false"}.get(lowered)
    return text.casefold()


# -- conditions ------------------------------------------------------------------------------------


@dataclass
class Bounds:
    """Inclusive index bounds (None: unbounded); ``empty`` when they exclude everything."""

    id_low: int | None = None
    id_high: int | None = None
    updated_low: int | None = None
    updated_high: int | None = None

    def narrow(self, other: Bounds) -> None:
        self.id_low = _max(self.id_low, other.id_low)
        self.id_high = _min(self.id_high, other.id_high)
        self.updated_low = _max(self.updated_low, other.updated_low)
        self.updated_high = _min(self.updated_high, other.updated_high)

    def hull(self, other: Bounds) -> Bounds:
        """Bounds covering both (a side unbounded in either is unbounded)."""

        def low(a: int | None, b: int | None) -> int | None:
            return None if a is None or b is None else min(a, b)

        def high(a: int | None, b: int | None) -> int | None:
            return None if a is None or b is None else max(a, b)

        return Bounds(
            low(self.id_low, other.id_low),
            high(self.id_high, other.id_high),
            low(self.updated_low, other.updated_low),
            high(self.updated_high, other.updated_high),
        )


def _max(a: int | None, b: int | None) -> int | None:
    return b if a is None else a if b is None else max(a, b)


def _min(a: int | None, b: int | None) -> int | None:
    return b if a is None else a if b is None else min(a, b)


def _display_getter(path: FieldPath) -> Getter:
    """For text operators on references: match the referenced record's display value, as the platform does."""
    target = path.column.reference or ""
    getter = path.getter
    return lambda record, lookup: lookup.display(target, getter(record, lookup))


def compile_condition(table: str, condition: Condition, now: int) -> Predicate | None:
    """A predicate for one condition, or None if the platform would ignore it."""
    path = resolve(table, condition.field)
    if path is None:
        return None
    op, text = condition.operator, condition.value
    kind = _kind(path.column)
    get = path.getter
    if op in ("ISEMPTY", "EMPTYSTRING") or (op == "=" and text == ""):
        return lambda record, lookup: get(record, lookup) == ""
    if op == "ISNOTEMPTY" or (op == "!=" and text == ""):
        return lambda record, lookup: get(record, lookup) != ""
    if op == "ANYTHING":
        return lambda record, lookup: True
    if op in ("LIKE", "NOT LIKE", "STARTSWITH", "ENDSWITH"):
        return _text_condition(path, op, text.casefold())
    if op in ("SAMEAS", "NSAMEAS"):
        other = resolve(table, text)
        if other is None:
            return None
        other_get, same = other.getter, op == "SAMEAS"
        return lambda record, lookup: (get(record, lookup) == other_get(record, lookup)) == same
    if op in ("IN", "NOT IN"):
        values = {q for item in text.split(",") if (q := _query_value(kind, item, now)) is not None}
        if not values:
            return None
        if op == "IN":
            return lambda record, lookup: _record_value(kind, get(record, lookup)) in values
        return lambda record, lookup: (v := _record_value(kind, get(record, lookup))) is not None and v not in values
    if op in ("BETWEEN", "ON", "NOTON"):
        span = _span(kind, op, text, now)
        if span is None:
            return None
        low, high = span
        inside = op != "NOTON"
        return lambda record, lookup: (
            (v := _record_value(kind, get(record, lookup))) is not None and ((low <= v <= high) == inside)
        )
    compare = _COMPARISONS.get(op)
    if compare is None:
        return None
    wanted = _query_value(kind, text, now)
    if wanted is None:
        return None
    return lambda record, lookup: (v := _record_value(kind, get(record, lookup))) is not None and compare(v, wanted)


_COMPARISONS: dict[str, Callable[[Any, Any], bool]] = {
    "=": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
}


def _text_condition(path: FieldPath, op: str, needle: str) -> Predicate:
    get = _display_getter(path) if path.column.is_reference else path.getter
    if op == "LIKE":
        return lambda record, lookup: needle in get(record, lookup).casefold()
    if op == "NOT LIKE":
        return lambda record, lookup: (v := get(record, lookup)) != "" and needle not in v.casefold()
    if op == "STARTSWITH":
        return lambda record, lookup: get(record, lookup).casefold().startswith(needle)
    return lambda record, lookup: get(record, lookup).casefold().endswith(needle)


def _span(kind: str, op: str, text: str, now: int) -> tuple[Any, Any] | None:
    """(low, high) of ``a@b`` (BETWEEN) or ``label@start@end`` (ON / NOTON)."""
    parts = text.split("@")
    if op == "BETWEEN" and len(parts) == 2:
        raw_low, raw_high = parts
    elif op in ("ON", "NOTON") and len(parts) == 3 and kind in ("datetime", "date"):
        raw_low, raw_high = parts[1], parts[2]
    else:
        return None
    low, high = _query_value(kind, raw_low, now), _query_value(kind, raw_high, now)
    if low is None or high is None:
        return None
    return low, high


def condition_bounds(table: str, condition: Condition, now: int) -> Bounds | None:
    """Index bounds equivalent to a condition on ``sys_updated_on`` or ``sys_id``, if it is one."""
    op, text = condition.operator, condition.value
    if condition.field == UPDATED_FIELD and UPDATED_FIELD in columns(table):
        if op in ("BETWEEN", "ON"):
            span = _span("datetime", op, text, now)
            if span is None:
                return None
            return Bounds(updated_low=parse_datetime(span[0]), updated_high=parse_datetime(span[1]))
        if op not in _COMPARISONS or op == "!=" or not text:
            return None
        epoch = parse_date_value(text, now)
        if epoch is None:
            return None
        low = {"=": epoch, ">": epoch + 1, ">=": epoch}.get(op)
        high = {"=": epoch, "<": epoch - 1, "<=": epoch}.get(op)
        return Bounds(updated_low=low, updated_high=high)
    if condition.field == ID_FIELD and op in _COMPARISONS and op != "!=" and text:
        value = text.strip().lower()
        if op == "=":
            key = key_or_none(table, value)
            return Bounds(id_low=key, id_high=key) if key is not None else Bounds(id_low=MAX_KEY + 1)
        if op in (">", ">="):
            return Bounds(id_low=first_key_above(table, value, inclusive=op == ">="))
        return Bounds(id_high=first_key_above(table, value, inclusive=op == "<") - 1)
    return None


# -- whole queries ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class CompiledQuery:
    """What ``selection.select`` needs, with predicates still taking a ``Lookup``."""

    bounds: Bounds
    residual: Predicate | None
    order_index: IndexOrder | None
    order_keys: tuple[tuple[Callable[[Record, Lookup], Any], bool], ...] = ()
    ignored: tuple[str, ...] = field(default=())
    """Conditions and sort keys dropped as invalid (what the platform silently ignores)."""

    def ordering(self, lookup: Lookup) -> Ordering:
        if self.order_index is not None:
            return Ordering(self.order_index)
        return Ordering(None, tuple((_bind(key, lookup), desc) for key, desc in self.order_keys))

    def predicate(self, lookup: Lookup) -> Callable[[Record], bool] | None:
        residual = self.residual
        if residual is None:
            return None
        return lambda record: residual(record, lookup)


def _bind(key: Callable[[Record, Lookup], Any], lookup: Lookup) -> Callable[[Record], Any]:
    return lambda record: key(record, lookup)


def _all(predicates: list[Predicate]) -> Predicate | None:
    if not predicates:
        return None
    if len(predicates) == 1:
        return predicates[0]
    parts = tuple(predicates)
    return lambda record, lookup: all(p(record, lookup) for p in parts)


def _any(predicates: list[Predicate]) -> Predicate:
    if len(predicates) == 1:
        return predicates[0]
    parts = tuple(predicates)
    return lambda record, lookup: any(p(record, lookup) for p in parts)


def _compile_group(
    table: str, clauses: tuple[tuple[Condition, ...], ...], now: int, ignored: list[str]
) -> tuple[Bounds, list[Predicate], list[Predicate]]:
    """(bounds, residual predicates, every predicate) of one AND group."""
    bounds = Bounds()
    residual: list[Predicate] = []
    every: list[Predicate] = []
    for clause in clauses:
        compiled = []
        for condition in clause:
            predicate = compile_condition(table, condition, now)
            if predicate is None:
                ignored.append(f"{condition.field}{condition.operator}{condition.value}")
            else:
                compiled.append((condition, predicate))
        if not compiled:
            continue
        if len(compiled) == 1:
            condition, predicate = compiled[0]
            every.append(predicate)
            found = condition_bounds(table, condition, now)
            if found is not None:
                bounds.narrow(found)
                continue
            residual.append(predicate)
            continue
        either = _any([p for _, p in compiled])
        every.append(either)
        residual.append(either)
    return bounds, residual, every


def _sort_key(path: FieldPath) -> Callable[[Record, Lookup], Any]:
    kind = _kind(path.column)
    get = _display_getter(path) if path.column.is_reference else path.getter

    def key(record: Record, lookup: Lookup) -> tuple[Any, ...]:
        value = _record_value("text" if path.column.is_reference else kind, get(record, lookup))
        return (0,) if value is None else (1, value)

    return key


def compile_query(table: str, query: str | None, now: int) -> CompiledQuery:
    """Compile ``sysparm_query`` for ``table`` (cached unless it uses relative dates)."""
    if query and is_relative(query):
        return _compile(table, query, now)
    return _compile_static(table, query)


@functools.lru_cache(maxsize=1024)
def _compile_static(table: str, query: str | None) -> CompiledQuery:
    return _compile(table, query, 0)


def _compile(table: str, query: str | None, now: int) -> CompiledQuery:
    parsed: EncodedQuery = parse(query)
    ignored = list(parsed.dropped)
    groups = [_compile_group(table, clauses, now, ignored) for clauses in parsed.groups]
    if len(groups) <= 1:
        bounds, residual, _ = groups[0] if groups else (Bounds(), [], [])
        predicate = _all(residual)
    else:
        bounds = groups[0][0]
        for other, _, _ in groups[1:]:
            bounds = bounds.hull(other)
        alternatives = [_all(every) for _, _, every in groups]
        predicate = None if any(a is None for a in alternatives) else _any([a for a in alternatives if a])
        if predicate is None:
            bounds = Bounds()
    keys: list[tuple[Callable[[Record, Lookup], Any], bool]] = []
    simple: list[tuple[str, bool]] = []
    for name, descending in parsed.order:
        path = resolve(table, name)
        if path is None:
            ignored.append(f"ORDERBY{name}")
            continue
        simple.append((name, descending))
        keys.append((_sort_key(path), descending))
    index = _index_order(simple)
    return CompiledQuery(bounds, predicate, index, tuple(keys) if index is None else (), tuple(ignored))


def _index_order(order: list[tuple[str, bool]]) -> IndexOrder | None:
    """The store index that produces this order without sorting, if one does (default: sys_id)."""
    if not order or order == [(ID_FIELD, False)]:
        return IndexOrder.ID_ASC
    if order == [(ID_FIELD, True)]:
        return IndexOrder.ID_DESC
    if order in ([(UPDATED_FIELD, False)], [(UPDATED_FIELD, False), (ID_FIELD, False)]):
        return IndexOrder.UPDATED_ASC
    return None

"""A parsed SOQL query bound to its object: names resolved, values type-checked, a plan to execute.

Binding does what the real API does before running a query: the object must exist
(``INVALID_TYPE``), every field must exist on it (``INVALID_FIELD``), filter values must have the
field's type and operators must suit it (``predicates``), and the select list must make sense
(``COUNT()`` alone, no duplicates, ``FIELDS(ALL)`` only with ``LIMIT`` <= 200).

The plan then serves cheaply: comparisons on ``Id`` and ``SystemModstamp`` at the top level of
the WHERE clause become index bounds (bisects in the store, the keyset paging a connector does),
everything else a compiled predicate; ``ORDER BY Id`` and ``ORDER BY SystemModstamp, Id`` use
index order without sorting.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from avesa_sandbox.salesforce import ids
from avesa_sandbox.salesforce.errors import SoqlError
from avesa_sandbox.salesforce.predicates import (
    INVALID_FIELD,
    INVALID_OPERATOR,
    MALFORMED,
    Predicate,
    Value,
    compare,
    convert,
    getter,
    like,
    type_error,
)
from avesa_sandbox.salesforce.schema import ID_TYPES, TEXT_TYPES, FieldDef, ObjectDef, object_def
from avesa_sandbox.salesforce.soql import (
    BoolOp,
    Comparison,
    CountItem,
    Expr,
    FieldRef,
    FieldsItem,
    InList,
    Literal,
    Not,
    SoqlQuery,
)
from avesa_sandbox.salesforce.tables import OBJECTS, resolve_object
from avesa_sandbox.selection import IndexOrder, Ordering

Record = dict[str, Any]

FIELDS_LIMIT = 200
MAX_OFFSET = 2000
STAMP_FIELD = "SystemModstamp"


@dataclass(frozen=True)
class Plan:
    """What a query selects and how to find it."""

    obj: str
    columns: tuple[str, ...]
    """Selected fields (canonical names), empty for COUNT queries."""
    count: str | None
    """None for a record query; ``rows`` for ``COUNT()``; ``aggregate`` for ``COUNT(field)``."""
    count_field: str | None
    id_low: int | None
    id_high: int | None
    stamp_low: int | None
    stamp_high: int | None
    residual: Predicate | None
    ordering: Ordering
    limit: int | None
    offset: int


class _Binder:
    """Resolves names against one object and compiles conditions."""

    def __init__(self, definition: ObjectDef, now: int) -> None:
        self.definition = definition
        self.now = now

    def field(self, ref: FieldRef) -> FieldDef:
        name = ref.name
        head, dot, rest = name.partition(".")
        if dot and head.lower() == self.definition.name.lower() and "." not in rest:
            name = rest
        elif dot:
            raise SoqlError(
                INVALID_FIELD,
                f"Didn't understand relationship '{head}' in field path. If you are attempting to use a custom "
                "relationship, be sure to append the '__r' after the custom relationship name. Please reference "
                "your WSDL or the describe call for the appropriate names.",
                ref.pos,
            )
        field = self.definition.field(name)
        if field is None:
            raise SoqlError(
                INVALID_FIELD,
                f"No such column '{name}' on entity '{self.definition.name}'. If you are attempting to use a custom "
                "field, be sure to append the '__c' after the custom field name. Please reference your WSDL or the "
                "describe call for the appropriate names.",
                ref.pos,
            )
        return field

    def condition(self, expr: Expr) -> Predicate:
        if isinstance(expr, BoolOp):
            parts = [self.condition(operand) for operand in expr.operands]
            if expr.op == "AND":
                return lambda r: all(part(r) for part in parts)
            return lambda r: any(part(r) for part in parts)
        if isinstance(expr, Not):
            inner = self.condition(expr.operand)
            return lambda r: not inner(r)
        if isinstance(expr, InList):
            return self.in_list(expr)
        return self.comparison(expr)

    def filterable(self, ref: FieldRef) -> FieldDef:
        field = self.field(ref)
        if not field.filterable:
            raise SoqlError(INVALID_FIELD, f"field '{field.name}' can not be filtered in a query call", ref.pos)
        return field

    def comparison(self, expr: Comparison) -> Predicate:
        field = self.filterable(expr.field)
        if expr.op == "LIKE":
            if field.type not in TEXT_TYPES and field.type not in ID_TYPES:
                raise SoqlError(INVALID_OPERATOR, f"invalid operator on field '{field.name}': LIKE", expr.value.pos)
            if expr.value.kind != "string":
                raise type_error(field, expr.value)
            return like(field, expr.value.value)
        value = self.value(field, expr.value)
        if field.type == "boolean" and expr.op not in ("=", "!="):
            raise SoqlError(INVALID_OPERATOR, f"invalid operator on boolean field '{field.name}'", expr.value.pos)
        if value.point is None and value.span is None and expr.op not in ("=", "!="):
            raise SoqlError(MALFORMED, "null can only be compared with = or !=", expr.value.pos)
        return compare(field, expr.op, value)

    def in_list(self, expr: InList) -> Predicate:
        field = self.filterable(expr.field)
        values = [self.value(field, literal) for literal in expr.values]
        if any(v.span is not None for v in values):
            spans = [self.condition(Comparison(expr.field, "=", literal)) for literal in expr.values]
            matches: Predicate = lambda r: any(s(r) for s in spans)  # noqa: E731
        else:
            points = {v.point for v in values}
            get = getter(field)
            matches = lambda r: get(r) in points  # noqa: E731
        if expr.negated:
            return lambda r: not matches(r)
        return matches

    def value(self, field: FieldDef, literal: Literal) -> Value:
        return convert(field, literal, self.now)


# -- index bounds ----------------------------------------------------------------------------------


@dataclass
class _Bounds:
    id_low: int | None = None
    id_high: int | None = None
    stamp_low: int | None = None
    stamp_high: int | None = None

    def id(self, low: int | None, high: int | None) -> None:
        if low is not None:
            self.id_low = low if self.id_low is None else max(self.id_low, low)
        if high is not None:
            self.id_high = high if self.id_high is None else min(self.id_high, high)

    def stamp(self, low: int | None, high: int | None) -> None:
        if low is not None:
            self.stamp_low = low if self.stamp_low is None else max(self.stamp_low, low)
        if high is not None:
            self.stamp_high = high if self.stamp_high is None else min(self.stamp_high, high)


def _index_bound(binder: _Binder, expr: Expr, bounds: _Bounds) -> bool:
    """Fold a top-level conjunct into index bounds if it is exactly one; True if it was."""
    if not isinstance(expr, Comparison) or expr.op in ("!=", "LIKE") or expr.value.kind == "null":
        return False
    field = binder.field(expr.field)
    if field.type == "id":
        value = binder.value(field, expr.value)
        prefix = OBJECTS[binder.definition.name].key_prefix
        if not isinstance(value.point, str) or value.point[:3] != prefix:
            return False
        key = ids.key_of(value.point)
        low, high = {"=": (key, key), "<": (None, key - 1), "<=": (None, key), ">": (key + 1, None), ">=": (key, None)}[
            expr.op
        ]
        bounds.id(low, high)
        return True
    if field.name == STAMP_FIELD:
        value = binder.value(field, expr.value)
        assert value.instant is not None
        start, end = value.instant
        stamp: tuple[int | None, int | None]
        if value.span is not None:  # [start, end) of whole seconds
            first, after = int(start), int(end)
            stamp = {
                "=": (first, after - 1),
                "<": (None, first - 1),
                "<=": (None, after - 1),
                ">": (after, None),
                ">=": (first, None),
            }[expr.op]
        else:
            stamp = {
                "=": (math.ceil(start), math.floor(start)),
                "<": (None, math.ceil(start) - 1),
                "<=": (None, math.floor(start)),
                ">": (math.floor(start) + 1, None),
                ">=": (math.ceil(start), None),
            }[expr.op]
        bounds.stamp(*stamp)
        return True
    return False


# -- ordering ------------------------------------------------------------------------------------


def _sort_key(field: FieldDef, null_low: bool) -> Callable[[Record], Any]:
    get = getter(field)
    none_key = (0,) if null_low else (2,)

    def key(record: Record) -> Any:
        value = get(record)
        return none_key if value is None else (1, value)

    return key


def _ordering(binder: _Binder, query: SoqlQuery) -> Ordering:
    items = query.order_by
    if not items:
        return Ordering(IndexOrder.ID_ASC)
    fields = []
    for item in items:
        field = binder.field(item.field)
        if not field.filterable:
            raise SoqlError(INVALID_FIELD, f"field '{field.name}' can not be sorted in a query call", item.field.pos)
        fields.append(field)
    first, first_field = items[0], fields[0]
    if first_field.type == "id":
        return Ordering(IndexOrder.ID_DESC if first.descending else IndexOrder.ID_ASC)
    if (
        first_field.name == STAMP_FIELD
        and not first.descending
        and (len(items) == 1 or (fields[1].type == "id" and not items[1].descending))
    ):
        return Ordering(IndexOrder.UPDATED_ASC)
    keys = tuple(
        (_sort_key(field, item.nulls_first != item.descending), item.descending)
        for field, item in zip(fields, items, strict=True)
    )
    return Ordering(None, keys)


# -- select list ---------------------------------------------------------------------------------


def _columns(binder: _Binder, query: SoqlQuery) -> tuple[tuple[str, ...], str | None, str | None]:
    """(columns, count kind, count field) of the select list."""
    items = query.items
    counts = [item for item in items if isinstance(item, CountItem)]
    if counts:
        count = counts[0]
        others = [i for i in items if not isinstance(i, CountItem)]
        if count.field is None:
            if len(items) > 1:
                raise SoqlError(MALFORMED, "COUNT() must be the only element in the SELECT list", count.pos)
            return (), "rows", None
        if others:
            name = others[0].name if isinstance(others[0], FieldRef) else "FIELDS"
            raise SoqlError(MALFORMED, f"Field must be grouped or aggregated: {name}", others[0].pos)
        if len(counts) > 1:
            raise SoqlError(MALFORMED, "only one aggregate expression is supported", counts[1].pos)
        return (), "aggregate", binder.field(count.field).name
    columns: list[str] = []
    seen: set[str] = set()
    for item in items:
        if isinstance(item, FieldsItem):
            if item.kind != "STANDARD" and (query.limit is None or query.limit > FIELDS_LIMIT):
                raise SoqlError(
                    MALFORMED, f"The SOQL FIELDS function must have a LIMIT of at most {FIELDS_LIMIT}", query.limit_pos
                )
            wanted = [
                f.name for f in binder.definition.fields if item.kind == "ALL" or (item.kind == "CUSTOM") == f.custom
            ]
            columns += [name for name in wanted if name not in seen]
            seen.update(wanted)
            continue
        assert isinstance(item, FieldRef)
        name = binder.field(item).name
        if name in seen:
            raise SoqlError(MALFORMED, f"duplicate field selected: {name}", item.pos)
        seen.add(name)
        columns.append(name)
    return tuple(columns), None, None


def _conjuncts(where: Expr | None) -> list[Expr]:
    if where is None:
        return []
    if isinstance(where, BoolOp) and where.op == "AND":
        return list(where.operands)
    return [where]


def bind(query: SoqlQuery, now: int) -> Plan:
    """Resolve and type-check ``query``; SoqlError as the real API answers otherwise."""
    try:
        obj = resolve_object(query.object_name)
    except KeyError:
        raise SoqlError(
            "INVALID_TYPE",
            f"sObject type '{query.object_name}' is not supported. If you are attempting to use a custom object, be "
            "sure to append the '__c' after the entity name. Please reference your WSDL or the describe call for "
            "the appropriate names.",
            query.object_pos,
        ) from None
    binder = _Binder(object_def(obj), now)
    columns, count, count_field = _columns(binder, query)
    if query.offset is not None and query.offset > MAX_OFFSET:
        raise SoqlError("NUMBER_OUTSIDE_VALID_RANGE", f"Maximum SOQL offset allowed is {MAX_OFFSET}", query.limit_pos)
    bounds = _Bounds()
    residual_parts: list[Predicate] = []
    for conjunct in _conjuncts(query.where):
        predicate = binder.condition(conjunct)  # type-checks everything, bounds or not
        if not _index_bound(binder, conjunct, bounds):
            residual_parts.append(predicate)
    residual: Predicate | None
    if not residual_parts:
        residual = None
    elif len(residual_parts) == 1:
        residual = residual_parts[0]
    else:
        residual = lambda r: all(part(r) for part in residual_parts)  # noqa: E731
    return Plan(
        obj=obj,
        columns=columns,
        count=count,
        count_field=count_field,
        id_low=bounds.id_low,
        id_high=bounds.id_high,
        stamp_low=bounds.stamp_low,
        stamp_high=bounds.stamp_high,
        residual=residual,
        ordering=_ordering(binder, query),
        limit=query.limit,
        offset=query.offset or 0,
    )

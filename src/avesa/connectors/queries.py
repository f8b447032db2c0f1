"""Window queries: how ``change >= start and change < end and id > cursor, ordered by id`` is said
in each API's query language. The pipeline's chunk contract (docs/architecture.md) is the same everywhere;
only the words differ.

An id listing may also bound the id from above (``id <= through``): a listing cut into id ranges
reads them side by side (connectors/id_ranges.py). The three query languages can say it
(``lists_ranges``); plain REST parameters have no such parameter, so their listing stays one walk.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol

from avesa.catalog.models import IncrementalSpec, PaginatorSpec, TableSpec, TimeFormat
from avesa.connectors.timeformats import format_stamp


class WindowQuery(Protocol):
    lists_ranges: bool
    """Whether ``params`` can bound the id from above (``through``)."""

    def params(self, table: TableSpec, start: datetime | None, end: datetime | None, after: str | None,
               page_size: int, *, through: str | None = None) -> dict[str, Any]:
        """Query parameters for one page of the window (start/end None: unbounded), ids at most
        ``through`` when given (only where ``lists_ranges``)."""
        ...


def _api_field(path: str) -> str:
    return path.replace("/", ".")


def range_terms(table: TableSpec, start: datetime | None, end: datetime | None, after: str | None,
                time_format: TimeFormat, *, at_least: str, below: str, above: str, through: str | None = None,
                at_most: str = "") -> list[str]:
    """A window's terms and the keyset's in one query language: `at_least`, `below`, `above` and
    `at_most` are that language's templates for `{field}` and `{value}` (a stamp in the spec's
    format, or the cursor or upper id bound `through` as the caller quoted it). A table read whole
    has no change field: no window terms."""
    change = table.change_field
    terms = []
    if change and start is not None:
        terms.append(at_least.format(field=change, value=format_stamp(start, time_format)))
    if change and end is not None:
        terms.append(below.format(field=change, value=format_stamp(end, time_format)))
    if after is not None:
        terms.append(above.format(field=table.id_field, value=after))
    if through is not None:
        terms.append(at_most.format(field=table.id_field, value=through))
    return terms


class QueryParams:
    """Plain REST parameters: ``updated_since``, ``updated_before``, ``after_id``, a sort. There is
    no parameter for an upper id bound, so an id listing is one walk."""

    lists_ranges = False

    def __init__(self, incremental: IncrementalSpec, paginator: PaginatorSpec) -> None:
        self.inc = incremental
        self.paginator = paginator

    def params(self, table: TableSpec, start: datetime | None, end: datetime | None, after: str | None,
               page_size: int, *, through: str | None = None) -> dict[str, Any]:
        if through is not None:
            raise ValueError("plain REST parameters cannot bound the id from above")
        inc = self.inc
        params: dict[str, Any] = dict(table.params)
        if start is not None and inc.since_param:
            params[inc.since_param] = format_stamp(start, inc.time_format)
        if end is not None and inc.until_param:
            params[inc.until_param] = format_stamp(end, inc.time_format)
        if after is not None and inc.after_id_param:
            params[inc.after_id_param] = after
        params.update(inc.sort_params)
        if self.paginator.page_size_param:
            params[self.paginator.page_size_param] = page_size
        return params


class ConnectWiseConditions:
    """``conditions=_info/lastUpdated>=[A] and _info/lastUpdated<[B] and id>C``, ``orderBy=id asc``,
    always ``page=1``: the keyset cursor moves inside the conditions, so the page never does (offsets
    shift while the source changes; an id cursor never does). A listing's range adds ``and id<=T``."""

    lists_ranges = True

    def __init__(self, incremental: IncrementalSpec, paginator: PaginatorSpec) -> None:
        self.inc = incremental
        self.paginator = paginator

    def conditions(self, table: TableSpec, start: datetime | None, end: datetime | None, after: str | None,
                   through: str | None = None) -> str:
        cursor = _conditions_value(after) if after is not None else None
        upper = _conditions_value(through) if through is not None else None
        return " and ".join(range_terms(table, start, end, cursor, self.inc.time_format,
                                        at_least="{field}>=[{value}]", below="{field}<[{value}]",
                                        above="{field}>{value}", through=upper, at_most="{field}<={value}"))

    def params(self, table: TableSpec, start: datetime | None, end: datetime | None, after: str | None,
               page_size: int, *, through: str | None = None) -> dict[str, Any]:
        params: dict[str, Any] = dict(table.params)
        conditions = self.conditions(table, start, end, after, through)
        if conditions:
            params["conditions"] = conditions
        params.update(self.inc.sort_params or {"orderBy": f"{table.id_field} asc"})
        params["page"] = 1
        params[self.paginator.page_size_param or "pageSize"] = page_size
        return params


def _conditions_value(value: str) -> str:
    """A cursor as a conditions value: a number bare, anything else a quoted string, so that no cursor
    can add a condition of its own."""
    if value.isascii() and value.isdigit():
        return value
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


class ServiceNowQuery:
    """``sysparm_query=sys_updated_on>=A^sys_updated_on<B^sys_id>C^ORDERBYsys_id``.

    ServiceNow silently ignores a query part it does not understand (and returns everything), so
    only fields the spec declares and the documented operators are ever written here. A listing's
    range adds ``^sys_id<=T``."""

    lists_ranges = True

    def __init__(self, incremental: IncrementalSpec) -> None:
        self.inc = incremental

    def query(self, table: TableSpec, start: datetime | None, end: datetime | None, after: str | None,
              order_by: str | None = None, through: str | None = None) -> str:
        parts = range_terms(table, start, end, after, self.inc.time_format, at_least="{field}>={value}",
                            below="{field}<{value}", above="{field}>{value}", through=through,
                            at_most="{field}<={value}")
        parts.append(f"ORDERBY{order_by or table.id_field}")
        return "^".join(parts)

    def params(self, table: TableSpec, start: datetime | None, end: datetime | None, after: str | None,
               page_size: int, *, through: str | None = None) -> dict[str, Any]:
        return {**table.params, "sysparm_query": self.query(table, start, end, after, through=through),
                "sysparm_limit": page_size, "sysparm_exclude_reference_link": "true"}


class Soql:
    """``SELECT <fields> FROM <object> WHERE SystemModstamp >= A AND SystemModstamp < B AND Id > 'C'
    ORDER BY Id LIMIT n``: SOQL has no ``SELECT *``, so the spec's field list is the select list. A
    listing's range adds ``AND Id <= 'T'``."""

    lists_ranges = True

    def __init__(self, incremental: IncrementalSpec) -> None:
        self.inc = incremental

    def where(self, table: TableSpec, start: datetime | None, end: datetime | None, after: str | None,
              through: str | None = None) -> str:
        cursor = _soql_string(after) if after is not None else None
        upper = _soql_string(through) if through is not None else None
        parts = range_terms(table, start, end, cursor, self.inc.time_format, at_least="{field} >= {value}",
                            below="{field} < {value}", above="{field} > '{value}'", through=upper,
                            at_most="{field} <= '{value}'")
        return f" WHERE {' AND '.join(parts)}" if parts else ""

    def select(self, table: TableSpec, fields: list[str], start: datetime | None, end: datetime | None,
               after: str | None, limit: int | None, through: str | None = None) -> str:
        text = f"SELECT {', '.join(fields)} FROM {table.path}{self.where(table, start, end, after, through)}"
        text += f" ORDER BY {table.id_field} ASC"
        return text + (f" LIMIT {limit}" if limit else "")

    def count(self, table: TableSpec, start: datetime | None, end: datetime | None) -> str:
        return f"SELECT COUNT() FROM {table.path}{self.where(table, start, end, None)}"

    def params(self, table: TableSpec, start: datetime | None, end: datetime | None, after: str | None,
               page_size: int, *, through: str | None = None) -> dict[str, Any]:
        return {"q": self.select(table, table.fields or [table.id_field], start, end, after, page_size, through)}


def _soql_string(value: str) -> str:
    return value.replace("\\", "\\\\").replace("'", "\\'")

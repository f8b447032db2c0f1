"""ConnectWise list-request parameters turned into a selection query, a projection and paging links.

Parameters: ``conditions``, ``childConditions``, ``customFieldConditions``, ``orderBy``, ``fields``,
``page``, ``pageSize``, ``pageId`` and the ``pagination-type: forward-only`` header.

Paging rules as documented by ConnectWise: ``page`` is 1-based; ``pageSize`` defaults to 25 and a
value above 1000 is served as 1000 (the documented hard limit, applied silently like the real
API); ``page`` or ``pageSize`` below 1 or not an integer is a 400. Navigable mode answers with a
``Link`` header holding first/prev/next/last as applicable. Forward-only mode ignores ``page``,
treats ``pageId`` as ``id > pageId``, requires id-ascending order (any other ``orderBy`` is a 400)
and puts only ``rel="next"`` in ``Link``, whose URL carries the last id of the page as ``pageId``;
the last page has no ``Link``.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import orjson

from avesa_sandbox.connectwise.conditions import ConditionError, parse
from avesa_sandbox.connectwise.predicates import Compiler, compile_conditions
from avesa_sandbox.connectwise.schema import FieldResolver
from avesa_sandbox.selection import IndexOrder, Ordering, Query

DEFAULT_PAGE_SIZE = 25
MAX_PAGE_SIZE = 1000


class BadRequest(ValueError):
    """A query parameter is invalid; ``parameter`` names it for the error body."""

    def __init__(self, parameter: str, detail: str) -> None:
        super().__init__(detail)
        self.parameter = parameter
        self.detail = detail


@dataclass(frozen=True)
class ListParams:
    """The parsed parameters of one list or count request."""

    conditions: str | None = None
    child_conditions: str | None = None
    custom_field_conditions: str | None = None
    order_by: str | None = None
    fields: str | None = None
    page: int = 1
    page_size: int = DEFAULT_PAGE_SIZE
    page_id: int | None = None
    forward_only: bool = False


def _int_param(params: Mapping[str, str], name: str) -> int | None:
    raw = _param(params, name)
    if raw is None or raw == "":
        return None
    try:
        return int(raw)
    except ValueError:
        raise BadRequest(name, f"'{raw}' is not an integer") from None


def _param(params: Mapping[str, str], name: str) -> str | None:
    """Query parameters are case-insensitive in ConnectWise (``pagesize`` works too)."""
    if name in params:
        return params[name]
    lowered = name.lower()
    for key, value in params.items():
        if key.lower() == lowered:
            return value
    return None


def parse_list_params(params: Mapping[str, str], headers: Mapping[str, str]) -> ListParams:
    """Validate and normalise request parameters; raises BadRequest."""
    page = _int_param(params, "page")
    page_size = _int_param(params, "pageSize")
    if page is not None and page < 1:
        raise BadRequest("page", "page must be 1 or more")
    if page_size is not None and page_size < 1:
        raise BadRequest("pageSize", "pageSize must be 1 or more")
    forward_only = (headers.get("pagination-type") or "").strip().lower() == "forward-only"
    return ListParams(
        conditions=_blank_to_none(_param(params, "conditions")),
        child_conditions=_blank_to_none(_param(params, "childConditions")),
        custom_field_conditions=_blank_to_none(_param(params, "customFieldConditions")),
        order_by=_blank_to_none(_param(params, "orderBy")),
        fields=_blank_to_none(_param(params, "fields")),
        page=page or 1,
        page_size=min(page_size or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE),
        page_id=_int_param(params, "pageId"),
        forward_only=forward_only,
    )


def _blank_to_none(value: str | None) -> str | None:
    return value if value is not None and value.strip() else None


# -- filtering -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Filter:
    """Compiled conditions of a request: index bounds plus a residual record predicate."""

    id_low: int | None
    id_high: int | None
    updated_low: int | None
    updated_high: int | None
    residual: Any


@functools.lru_cache(maxsize=512)
def compile_filter(schema: str, conditions: str | None, child: str | None, custom: str | None) -> Filter:
    """Parse and compile the three condition parameters (cached: clients repeat them page after page)."""
    resolver = FieldResolver(schema)
    try:
        compiled = compile_conditions(parse(conditions) if conditions else None, resolver)
    except ConditionError as error:
        raise BadRequest("conditions", str(error)) from None
    predicates = [compiled.residual] if compiled.residual else []
    if child:
        try:
            predicates.append(Compiler(resolver, collections=True).predicate(parse(child)))
        except ConditionError as error:
            raise BadRequest("childConditions", str(error)) from None
    if custom:
        try:
            item_predicate = Compiler(FieldResolver("CustomFieldValue")).predicate(parse(custom))
        except ConditionError as error:
            raise BadRequest("customFieldConditions", str(error)) from None
        predicates.append(lambda record: any(item_predicate(cf) for cf in record.get("customFields") or ()))
    residual = None
    if len(predicates) == 1:
        residual = predicates[0]
    elif predicates:
        parts = tuple(predicates)
        residual = lambda record: all(part(record) for part in parts)  # noqa: E731
    b = compiled.bounds
    return Filter(b.id_low, b.id_high, b.updated_low, b.updated_high, residual)


# -- ordering --------------------------------------------------------------------------------------


def _sort_value(value: Any) -> tuple[Any, ...]:
    """Total order over mixed values: nulls first (SQL Server), then by type, strings ignoring case."""
    if value is None:
        return (0,)
    if isinstance(value, bool):
        return (1, int(value))
    if isinstance(value, int | float):
        return (2, value)
    if isinstance(value, str):
        return (3, value.casefold())
    return (4, orjson.dumps(value))


def _key(path: tuple[str, ...]) -> Any:
    def key(record: dict[str, Any]) -> tuple[Any, ...]:
        value: Any = record
        for part in path:
            value = value.get(part) if isinstance(value, dict) else None
        return _sort_value(value)

    return key


@functools.lru_cache(maxsize=256)
def parse_order(schema: str, order_by: str | None) -> Ordering:
    """``orderBy`` (``field [asc|desc], ...``) as an index order when one fits, else sort keys."""
    if order_by is None:
        return Ordering(IndexOrder.ID_ASC)
    resolver = FieldResolver(schema)
    terms: list[tuple[tuple[str, ...], bool]] = []
    for raw in order_by.split(","):
        words = raw.split()
        if not words or len(words) > 2:
            raise BadRequest("orderBy", f"'{raw.strip()}' is not 'field [asc|desc]'")
        direction = words[1].lower() if len(words) == 2 else "asc"
        if direction not in ("asc", "desc"):
            raise BadRequest("orderBy", f"sort direction must be asc or desc, not '{words[1]}'")
        try:
            resolved = resolver.resolve(tuple(words[0].split("/")))
        except ConditionError as error:
            raise BadRequest("orderBy", str(error)) from None
        if resolved.is_object or resolved.collection:
            raise BadRequest("orderBy", f"cannot order by '{resolved.text}'")
        terms.append((resolved.path, direction == "desc"))
    simple = [("/".join(path), desc) for path, desc in terms]
    if simple == [("id", False)]:
        return Ordering(IndexOrder.ID_ASC)
    if simple == [("id", True)]:
        return Ordering(IndexOrder.ID_DESC)
    if simple in ([("_info/lastUpdated", False)], [("_info/lastUpdated", False), ("id", False)]):
        return Ordering(IndexOrder.UPDATED_ASC)
    if ("id",) not in [path for path, _ in terms]:
        terms.append((("id",), False))
    return Ordering(None, tuple((_key(path), desc) for path, desc in terms))


# -- projection ------------------------------------------------------------------------------------

Projection = dict[str, Any]


@functools.lru_cache(maxsize=256)
def parse_fields(schema: str, fields: str | None) -> Projection | None:
    """``fields=id,name,_info/lastUpdated`` as a tree of wanted keys; unknown fields are ignored."""
    if fields is None:
        return None
    resolver = FieldResolver(schema)
    tree: Projection = {}
    for raw in fields.split(","):
        text = raw.strip()
        if not text:
            continue
        try:
            path = resolver.resolve(tuple(text.split("/"))).path
        except ConditionError:
            continue
        node = tree
        for part in path[:-1]:
            child = node.get(part)
            if child is True:
                break
            node = node.setdefault(part, {})
        else:
            node[path[-1]] = True
    return tree


def project(record: dict[str, Any], tree: Projection) -> dict[str, Any]:
    """The parts of ``record`` named by ``tree`` (arrays are projected element by element)."""
    out: dict[str, Any] = {}
    for key, value in record.items():
        wanted = tree.get(key)
        if wanted is None:
            continue
        if wanted is True:
            out[key] = value
        elif isinstance(value, dict):
            out[key] = project(value, wanted)
        elif isinstance(value, list):
            out[key] = [project(item, wanted) if isinstance(item, dict) else item for item in value]
    return out


# -- putting it together ---------------------------------------------------------------------------


def build_query(schema: str, params: ListParams, *, want_total: bool) -> Query:
    """The selection query for a list (or, with page settings ignored, a count) request."""
    flt = compile_filter(schema, params.conditions, params.child_conditions, params.custom_field_conditions)
    ordering = parse_order(schema, params.order_by)
    id_low = flt.id_low
    if params.forward_only:
        if ordering.index is not IndexOrder.ID_ASC:
            raise BadRequest("orderBy", "forward-only pagination only supports orderBy=id asc")
        if params.page_id is not None:
            id_low = params.page_id + 1 if id_low is None else max(id_low, params.page_id + 1)
        offset = 0
    else:
        offset = (params.page - 1) * params.page_size
    return Query(
        id_low=id_low,
        id_high=flt.id_high,
        updated_low=flt.updated_low,
        updated_high=flt.updated_high,
        residual=flt.residual,
        ordering=ordering,
        offset=offset,
        limit=params.page_size,
        want_total=want_total,
    )


def count_query(schema: str, params: ListParams) -> Query:
    """The selection query of a ``/count`` request (same conditions, no paging)."""
    flt = compile_filter(schema, params.conditions, params.child_conditions, params.custom_field_conditions)
    return Query(flt.id_low, flt.id_high, flt.updated_low, flt.updated_high, flt.residual, want_total=True, limit=0)


def link_header(
    url: str,
    query_items: list[tuple[str, str]],
    params: ListParams,
    total: int | None,
    has_more: bool,
    last_id: int | None,
) -> str | None:
    """The ``Link`` header for a page (None when there is nowhere to go)."""

    def with_params(**replace: int) -> str:
        lowered = {name.lower() for name in replace}
        items = [(k, v) for k, v in query_items if k.lower() not in lowered]
        items += [(k, str(v)) for k, v in replace.items()]
        return f"{url}?{urlencode(items)}"

    if params.forward_only:
        if not has_more or last_id is None:
            return None
        return f'<{with_params(pageSize=params.page_size, pageId=last_id)}>; rel="next"'
    links = []
    last_page = max(1, -(-(total or 0) // params.page_size))
    if params.page > 1:
        links.append(f'<{with_params(pageSize=params.page_size, page=1)}>; rel="first"')
        links.append(f'<{with_params(pageSize=params.page_size, page=min(params.page - 1, last_page))}>; rel="prev"')
    if params.page < last_page:
        links.append(f'<{with_params(pageSize=params.page_size, page=params.page + 1)}>; rel="next"')
        links.append(f'<{with_params(pageSize=params.page_size, page=last_page)}>; rel="last"')
    return ", ".join(links) or None

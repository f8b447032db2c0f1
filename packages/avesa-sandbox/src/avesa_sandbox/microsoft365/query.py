"""Graph's OData query options for collections: ``$top``, ``$select``, ``$filter``, ``$count``, paging.

Rules as Graph applies them to the resources the sandbox serves:

- ``$top`` sets the page size (default 100; 1-999 for directory objects, anything larger is a 400
  ``Invalid page size``; Intune pages hold up to 1000). The next page is ``@odata.nextLink``: the
  request URL with ``$skiptoken`` added, to be followed whole. Pages are keyset-based (ids in key
  order), so records changing mid-walk are never skipped nor served twice.
- ``$select`` names properties (case-insensitive; ``id`` always comes back); an unknown one is a 400,
  a property stored outside the directory (a user's ``skills``) a 501 as Graph answers it.
  Without ``$select`` a user has Graph's default set of eleven properties.
- ``$count=true`` adds ``@odata.count``; on directory objects only with ``ConsistencyLevel: eventual``
  (otherwise silently ignored, as documented). ``/$count`` answers the number as text/plain.
- ``$filter``: see ``odata_filter``. ``$orderby``, ``$search``, ``$expand`` and ``$skip`` are refused.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

from avesa_sandbox.microsoft365.errors import GraphError, bad_request, unsupported_query
from avesa_sandbox.microsoft365.odata_filter import Compiled, FilterError, compile_filter
from avesa_sandbox.microsoft365.schema import canonical_property, data_properties, is_navigation
from avesa_sandbox.microsoft365.tables import ResourceDef

KNOWN_OPTIONS = (
    "$top",
    "$select",
    "$filter",
    "$count",
    "$skiptoken",
    "$deltatoken",
    "$orderby",
    "$search",
    "$expand",
    "$skip",
    "$format",
)


def options(params: Iterable[tuple[str, str]]) -> dict[str, str]:
    """System query options by lower-cased name (``$Top`` is ``$top``); unknown ``$`` options are a 400."""
    found: dict[str, str] = {}
    for name, value in params:
        lowered = name.lower()
        if not lowered.startswith("$"):
            continue
        if lowered not in KNOWN_OPTIONS:
            raise bad_request(
                f"Query option '{name}' is not allowed. Make sure the option is spelled correctly.", "BadRequest"
            )
        found[lowered] = value
    return found


def advanced(opts: Mapping[str, str], headers: Mapping[str, str]) -> bool:
    """Advanced query parameters present: ``ConsistencyLevel: eventual`` and ``$count=true``."""
    return eventual(headers) and opts.get("$count", "").strip().lower() == "true"


def eventual(headers: Mapping[str, str]) -> bool:
    return (headers.get("consistencylevel") or "").strip().lower() == "eventual"


def served_properties(resource: ResourceDef) -> tuple[str, ...]:
    """Every property the sandbox serves for the resource (schema order)."""
    return tuple(p for p in data_properties(resource.schema) if p not in resource.not_in_list)


def default_properties(resource: ResourceDef) -> tuple[str, ...] | None:
    """The properties returned without ``$select`` (None: everything served)."""
    if resource.default_select is not None:
        wanted = set(resource.default_select)
        return tuple(p for p in served_properties(resource) if p in wanted)
    if resource.select_only:
        hidden = set(resource.select_only)
        return tuple(p for p in served_properties(resource) if p not in hidden)
    return None


def projection(resource: ResourceDef, select: tuple[str, ...] | None) -> tuple[str, ...] | None:
    """The properties to serve for a ``$select`` (None: the whole stored record, whose JSON is cached)."""
    names = select or default_properties(resource)
    return None if names is None or names == served_properties(resource) else names


def parse_select(resource: ResourceDef, text: str | None) -> tuple[str, ...] | None:
    """Canonical property names in schema order (``id`` included), or None when nothing was selected."""
    if text is None or not text.strip():
        return None
    wanted: set[str] = {"id"}
    for raw in text.split(","):
        name = raw.strip()
        if not name:
            continue
        if name == "*":
            wanted.update(served_properties(resource))
            continue
        canonical = canonical_property(resource.schema, name)
        if canonical is None or canonical == "@odata.type":
            raise bad_request(
                f"Could not find a property named '{name}' on type '{resource.error_type}'.",
                "Request_BadRequest" if resource.directory else "BadRequest",
            )
        if is_navigation(resource.schema, canonical):
            raise unsupported_query(
                f"Selecting the navigation property '{canonical}' is not supported by the "
                "sandbox; use the property's own endpoint."
            )
        if canonical in resource.not_in_list:
            raise GraphError(501, "NotImplemented", "This operation target is not yet supported.")
        wanted.add(canonical)
    return tuple(p for p in served_properties(resource) if p in wanted)


def parse_top(resource: ResourceDef, text: str | None) -> int:
    if text is None or text.strip() == "":
        return resource.default_page_size
    try:
        top = int(text)
    except ValueError:
        raise bad_request(f"Invalid value '{text}' for $top query option found.", "BadRequest") from None
    if resource.directory and not 1 <= top <= resource.max_page_size:
        raise bad_request(
            f"Invalid page size specified: '{top}'. Must be between 1 and {resource.max_page_size} inclusive."
        )
    if top < 1:
        raise bad_request(f"Invalid value '{text}' for $top query option found.", "BadRequest")
    return min(top, resource.max_page_size)


def parse_filter(resource: ResourceDef, text: str | None, is_advanced: bool) -> Compiled | None:
    if text is None or not text.strip():
        return None
    try:
        compiled = compile_filter(text, resource.schema, resource.error_type, resource.not_in_list)
    except FilterError as error:
        raise GraphError(400, error.code, str(error)) from None
    if compiled.advanced and resource.directory and not is_advanced:
        raise unsupported_query(
            "Operator 'ne', 'not' or 'endsWith' is not supported because the required parameters might be missing. "
            "Try adding $count=true query parameter and ConsistencyLevel:eventual header. Refer to "
            "https://aka.ms/graph-docs/advanced-queries for more information"
        )
    return compiled


def refuse_unsupported(resource: ResourceDef, opts: Mapping[str, str], headers: Mapping[str, str]) -> None:
    """The options the sandbox does not simulate, answered as Graph answers what it cannot do."""
    if "$search" in opts:
        if resource.directory and not eventual(headers):
            raise unsupported_query(
                "Request with $search query parameter only works through MSGraph with a special "
                "request header: 'ConsistencyLevel: eventual'"
            )
        raise unsupported_query("$search is not supported by the sandbox.")
    if "$orderby" in opts:
        raise unsupported_query("Sorting not supported for current query.")
    if "$expand" in opts:
        raise unsupported_query("$expand is not supported by the sandbox.")
    if "$skip" in opts:
        raise bad_request("'$skip' is not supported by the service.", "Request_BadRequest")


@dataclass(frozen=True)
class ListParams:
    """The parsed options of one collection request."""

    top: int
    select: tuple[str, ...] | None
    filter: Compiled | None
    count: bool
    skiptoken: str | None


def parse_list(resource: ResourceDef, params: Iterable[tuple[str, str]], headers: Mapping[str, str]) -> ListParams:
    opts = options(params)
    refuse_unsupported(resource, opts, headers)
    wants_count = opts.get("$count", "").strip().lower() == "true"
    if "$count" in opts and opts["$count"].strip().lower() not in ("true", "false"):
        raise bad_request(f"Invalid value '{opts['$count']}' for $count query option found.", "BadRequest")
    return ListParams(
        top=parse_top(resource, opts.get("$top")),
        select=parse_select(resource, opts.get("$select")),
        filter=parse_filter(resource, opts.get("$filter"), advanced(opts, headers)),
        count=wants_count and (eventual(headers) or not resource.directory),
        skiptoken=opts.get("$skiptoken"),
    )


def project(record: dict[str, Any], names: tuple[str, ...]) -> dict[str, Any]:
    """The named properties of a record, null when unset (as Graph returns a selected property)."""
    return {name: record.get(name) for name in names}


def link(root: str, path: str, items: Iterable[tuple[str, str]]) -> str:
    """A full URL under the Graph root with OData options left readable (``$top=5``, not ``%24top=5``)."""
    query = urlencode(list(items), quote_via=quote, safe="$,'():")
    return f"{root}/{path}?{query}" if query else f"{root}/{path}"


def context_url(root: str, path: str, select: tuple[str, ...] | None, entity: bool = False) -> str:
    """``@odata.context``: the metadata URL of the collection (with the selected properties)."""
    suffix = f"({','.join(select)})" if select else ""
    return f"{root}/$metadata#{path}{suffix}{'/$entity' if entity else ''}"

"""Table API request parameters (``sysparm_*``) and the paging headers of a list response.

- ``sysparm_limit``: page size, default 10,000; above 10,000 is served as 10,000 (the platform
  caps it silently); unreadable or below 1 means the default.
- ``sysparm_offset``: rows to skip (unreadable or negative: 0).
- ``sysparm_query``, ``sysparm_fields``, ``sysparm_display_value`` (``true|false|all``, anything
  else is ``false``), ``sysparm_exclude_reference_link``, ``sysparm_no_count`` (no
  ``X-Total-Count``, and no ``last`` link since the total is unknown),
  ``sysparm_suppress_pagination_header`` (no ``Link``).

``Link`` carries ``first``, ``prev``, ``next`` and ``last`` as ServiceNow formats them:
``<url>;rel="first",<url>;rel="next",...`` with ``sysparm_offset``/``sysparm_limit`` set in each URL.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlencode

from avesa_sandbox.servicenow.display import View

DEFAULT_LIMIT = 10000
MAX_LIMIT = 10000


@dataclass(frozen=True)
class ListParams:
    """Parsed parameters of one Table API request."""

    query: str | None = None
    limit: int = DEFAULT_LIMIT
    offset: int = 0
    view: View = field(default_factory=View)
    no_count: bool = False
    suppress_pagination: bool = False


def _flag(params: Mapping[str, str], name: str) -> bool:
    return (params.get(name) or "").strip().lower() == "true"


def _int(params: Mapping[str, str], name: str) -> int | None:
    raw = params.get(name)
    if raw is None:
        return None
    try:
        return int(raw.strip())
    except ValueError:
        return None


def parse_params(params: Mapping[str, str]) -> ListParams:
    """Read the ``sysparm_*`` parameters; never rejects (the platform falls back to defaults)."""
    limit = _int(params, "sysparm_limit")
    offset = _int(params, "sysparm_offset")
    display = (params.get("sysparm_display_value") or "false").strip().lower()
    raw_fields = params.get("sysparm_fields")
    fields = tuple(f.strip() for f in raw_fields.split(",") if f.strip()) if raw_fields else None
    query = params.get("sysparm_query")
    return ListParams(
        query=query if query and query.strip() else None,
        limit=DEFAULT_LIMIT if limit is None or limit < 1 else min(limit, MAX_LIMIT),
        offset=0 if offset is None or offset < 0 else offset,
        view=View(
            display=display if display in ("true", "false", "all") else "false",
            exclude_links=_flag(params, "sysparm_exclude_reference_link"),
            fields=fields or None,
        ),
        no_count=_flag(params, "sysparm_no_count"),
        suppress_pagination=_flag(params, "sysparm_suppress_pagination_header"),
    )


def link_header(
    url: str, items: list[tuple[str, str]], params: ListParams, total: int | None, has_more: bool
) -> str | None:
    """The ``Link`` header of a page (None when suppressed)."""
    if params.suppress_pagination:
        return None
    limit, offset = params.limit, params.offset

    def at(new_offset: int) -> str:
        kept = [(k, v) for k, v in items if k not in ("sysparm_offset", "sysparm_limit")]
        kept += [("sysparm_limit", str(limit)), ("sysparm_offset", str(new_offset))]
        return f"{url}?{urlencode(kept)}"

    links = [f'<{at(0)}>;rel="first"']
    if offset > 0:
        links.append(f'<{at(max(0, offset - limit))}>;rel="prev"')
    more = has_more if total is None else offset + limit < total
    if more:
        links.append(f'<{at(offset + limit)}>;rel="next"')
    if total is not None:
        links.append(f'<{at(max(0, (total - 1) // limit * limit))}>;rel="last"')
    return ",".join(links)

"""ServiceNow Table API connector: the spec-driven RestConnector plus the quirks of ServiceNow.

- **Silently ignored query parts.** ServiceNow drops any part of ``sysparm_query`` it does not
  understand (an unknown field, a date in the wrong format) and applies the rest — a broken window
  filter turns into a full extract with no error. So only plain, declared field names and documented
  operators are ever written (checked when the connector is built), cursors are checked before they
  enter a query, and every page is verified against what was asked (RestConnector.to_page): each
  record inside the window and sys_ids strictly ascending past the cursor.
- **One request per span.** The planner's (earliest change, count) comes from a single
  ``ORDERBYsys_updated_on`` request with ``sysparm_limit=1``: the first record is the earliest change
  and ``X-Total-Count`` the window's count. Only a window without changes costs a second request:
  the count of its deletes, so that a quiet table still gets a chunk that lands them.
- **Id listing** for delete reconciliation is RestConnector's: ``sysparm_fields=sys_id`` only (the
  spec's ``fields_param``), 10,000 a page, keyset-paged like everything else (offsets shift while the
  table changes).
- **Deletes with their time.** After a window's records, the chunk reads the window's rows of
  ``sys_audit_delete`` for the table and hands them over as records announcing their deletion (see
  servicenow_audit). Reading that table needs a role many integration users lack: when the instance
  refuses it, the connector stops asking and id reconciliation alone finds deletes.
- **Rate limit rules** announce ``X-RateLimit-Limit`` per *hour* and no ``Remaining``: the budget
  slows to the rule's rate when it is below the documented one (429s still pause it as told).
- **Auth.** Basic by default; with the optional ``client_id`` and ``client_secret`` credentials the
  OAuth password grant at ``{instance_url}/oauth_token.do``, renewed before expiry and on a 401.
"""

from __future__ import annotations

import dataclasses
import logging
import re
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import httpx
import msgspec

from avesa.catalog.models import ServiceSpec
from avesa.connectors.auth import OAuth2Auth
from avesa.connectors.http_client import HttpOptions, HttpStatusError
from avesa.connectors.paginators import END, LinkAwarePaginator, NextPage, has_more
from avesa.connectors.queries import ServiceNowQuery
from avesa.connectors.rate_budget import RateBudget
from avesa.connectors.rate_headers import Allowance
from avesa.connectors.rest import RestConnector
from avesa.connectors.servicenow_audit import (
    AUDIT_CURSOR_PREFIX,
    AUDIT_TABLE,
    AuditRow,
    audit_params,
    problem,
    read_audit,
)
from avesa.connectors.servicenow_setup import check_names, normalize_instance_url, spec_with_auth
from avesa.connectors.timeformats import format_stamp, parse_stamp
from avesa.domain.errors import AuthenticationError, BadDataError, ConfigError
from avesa.domain.pages import Page

log = logging.getLogger(__name__)

_CURSOR = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
"""A sys_id cursor: no ``^``, ``=`` or spaces that would add parts to the query it is put into."""


class ServiceNowConnector(RestConnector):
    """A ``SourceConnector`` for one tenant's ServiceNow instance."""

    def __init__(self, *, spec: ServiceSpec, credentials: dict[str, str], tenant_id: str, budget: RateBudget,
                 options: HttpOptions, page_size: int = 1000) -> None:
        where = f"{tenant_id}/{spec.service}"
        credentials = dict(credentials)
        if credentials.get("instance_url"):
            credentials["instance_url"] = normalize_instance_url(credentials["instance_url"])
        check_names(spec)
        super().__init__(spec=spec_with_auth(spec, credentials, where), credentials=credentials,
                         tenant_id=tenant_id, budget=budget, options=options, page_size=page_size)
        self.paginator = LinkAwarePaginator(self.spec.paginator)
        self.audit_readable: bool | None = None
        """None until sys_audit_delete answered once; False when the instance refused it."""

    @property
    def _sysparm(self) -> ServiceNowQuery:
        """The window query as a sysparm_query, which span and list_ids write with their own order."""
        if not isinstance(self.query, ServiceNowQuery):
            raise ConfigError(f"service {self.spec.service}: the servicenow connector needs incremental style "
                              "\"servicenow_query\"")
        return self.query

    @property
    def uses_oauth(self) -> bool:
        return isinstance(self.auth, OAuth2Auth)

    # -- requests -------------------------------------------------------------------------------------

    def _follow_rule(self, headers: httpx.Headers) -> None:
        """A rate limit rule says its hourly limit; SourceHttp already follows a Remaining/Reset pair."""
        per_hour = headers.get("X-RateLimit-Limit")
        if per_hour is None or headers.get("X-RateLimit-Remaining") is not None:
            return
        try:
            limit = int(float(per_hour))
        except ValueError:
            return
        if limit > 0:
            self.http.budget.observe(Allowance(remaining=limit, resets_in=3600.0))

    async def _get(self, path: str, params: dict[str, Any], table: str, number: int) -> tuple[bytes, httpx.Headers]:
        body, headers = await self.http.get_bytes(path, params, table=table, page=number)
        self._follow_rule(headers)
        return body, headers

    async def fetch(self, table: str, page: NextPage, start: datetime | None, end: datetime | None,
                    page_size: int, number: int, *, ids_only: bool = False,
                    through: str | None = None) -> tuple[bytes, httpx.Headers]:
        body, headers = await super().fetch(table, page, start, end, page_size, number, ids_only=ids_only,
                                            through=through)
        self._follow_rule(headers)
        return body, headers

    # -- queries --------------------------------------------------------------------------------------

    def _cursor(self, table: str, after: str | None) -> str | None:
        if after is not None and not _CURSOR.match(after):
            raise BadDataError(f"cursor {after[:80]!r} is not a sys_id; it cannot resume a ServiceNow chunk",
                               **self._where(table))
        return after

    def list_params(self, table: str, start: datetime | None, end: datetime | None, after: str | None,
                    page_size: int, *, through: str | None = None) -> dict[str, Any]:
        """A cursor and a listing range's upper bound alike must be sys_ids before they enter a query."""
        return super().list_params(table, start, end, self._cursor(table, after), page_size,
                                   through=self._cursor(table, through))

    # -- SourceConnector ------------------------------------------------------------------------------

    async def check(self) -> None:
        table = (self.spec.default_tables or list(self.spec.tables))[0]
        t = self.table_spec(table)
        body, _ = await self._get(t.path, {"sysparm_limit": 1, "sysparm_fields": t.id_field,
                                           "sysparm_no_count": "true"}, table, 1)
        self.read(table, body, 1, ids_only=True)

    async def span(self, table: str, start: datetime | None, end: datetime) -> tuple[datetime | None, int | None]:
        """The window's earliest change and its count, from one request."""
        t = self.table_spec(table)
        if t.sync != "window" or t.change_field is None:
            return await super().span(table, start, end)
        params = {**t.params, "sysparm_query": self._sysparm.query(t, start, end, None, order_by=t.change_field),
                  "sysparm_limit": 1, "sysparm_fields": f"{t.id_field},{t.change_field}",
                  "sysparm_exclude_reference_link": "true"}
        body, headers = await self._get(t.path, params, table, 1)
        records = self.read(table, body, 1)
        value = headers.get(self.spec.count.header)
        try:
            count = int(value)
        except (TypeError, ValueError):
            raise BadDataError(f"span: expected a number in header {self.spec.count.header!r}, got "
                               f"{self.redact.quote(str(value), 100)}", **self._where(table)) from None
        if not records.ids:
            return None, count or await self._deleted_count(table, start, end)
        earliest = self.stamp(table, records.changes[0], 1, records.ids[0])
        if (start is not None and earliest < start) or earliest >= end:
            raise BadDataError(f"span: the earliest record {records.ids[0]} changed at {earliest}, outside the "
                               "requested range: the instance ignored the window query", **self._where(table))
        return earliest, count

    async def count(self, table: str, start: datetime | None, end: datetime) -> int | None:
        return (await self.span(table, start, end))[1]

    async def _deleted_count(self, table: str, start: datetime | None, end: datetime) -> int:
        """Rows of sys_audit_delete for the table in the window (0 when the instance refuses them)."""
        if not self._audit_wanted(table):
            return 0
        fmt = self.spec.incremental.time_format
        lo = format_stamp(start, fmt) if start is not None else None
        params = audit_params(self.table_spec(table).path, lo, format_stamp(end, fmt), None, 1, ("sys_id",))
        try:
            _, headers = await self._get(AUDIT_TABLE, params, table, 1)
        except (AuthenticationError, HttpStatusError) as exc:
            if self.audit_readable:
                raise
            self._audit_refused(exc)
            return 0
        self.audit_readable = True
        try:
            return int(headers.get(self.spec.count.header) or 0)
        except ValueError:
            return 0

    def _audit_refused(self, exc: Exception) -> None:
        self.audit_readable = False
        log.warning("%s: %s cannot be read (%s); deletes are found by id reconciliation only",
                    self.where, AUDIT_TABLE, type(exc).__name__)

    def _audit_wanted(self, table: str) -> bool:
        return self.audit_readable is not False and self.table_spec(table).sync == "window"

    async def pages(self, table: str, start: datetime, end: datetime, after_id: str | None) -> AsyncIterator[Page]:
        """The window's records by keyset, then the window's deletes from sys_audit_delete. The cursor
        says which phase a resumed chunk is in: a sys_id, ``audit:[sys_id]``, or END."""
        if after_id == END:
            return
        audit_after: str | None = None
        if after_id is not None and after_id.startswith(AUDIT_CURSOR_PREFIX):
            audit_after = self._cursor(table, after_id[len(AUDIT_CURSOR_PREFIX):] or None)
        else:
            async for page in super().pages(table, start, end, after_id):
                if page.last_id == END and self._audit_wanted(table):
                    page = dataclasses.replace(page, last_id=AUDIT_CURSOR_PREFIX)
                yield page
        if self._audit_wanted(table):
            async for page in self._deleted_pages(table, start, end, audit_after):
                yield page

    async def _deleted_pages(self, table: str, start: datetime, end: datetime,
                             after: str | None) -> AsyncIterator[Page]:
        fmt = self.spec.incremental.time_format
        path = self.table_spec(table).path
        lo, hi = format_stamp(start, fmt), format_stamp(end, fmt)
        number = 0
        while True:
            number += 1
            try:
                params = audit_params(path, lo, hi, after, self.page_size)
                body, headers = await self._get(AUDIT_TABLE, params, table, number)
            except (AuthenticationError, HttpStatusError) as exc:
                if self.audit_readable:
                    raise
                self._audit_refused(exc)
                return
            self.audit_readable = True
            rows = self._read_audit(table, body, number, start, end, after)
            more = has_more(headers, len(rows), self.page_size)
            if rows:
                after = rows[-1].audit_id
                yield Page(number=number, record_ids=[r.deleted_id for r in rows],
                           updated_at=[parse_stamp(r.deleted_at, fmt) for r in rows],
                           raws=[r.tombstone() for r in rows], sensitive=[],
                           last_id=AUDIT_CURSOR_PREFIX + after if more else END, deleted=list(range(len(rows))))
            if not more or not rows:
                return

    def _read_audit(self, table: str, body: bytes, number: int, start: datetime, end: datetime,
                    after: str | None) -> list[AuditRow]:
        where = self._where(table)
        try:
            rows = read_audit(body)
        except (msgspec.DecodeError, msgspec.ValidationError, ValueError) as exc:
            raise BadDataError(f"{AUDIT_TABLE} page {number}: the response is not the expected JSON ({exc}); "
                               f"{len(body)} bytes received", **where) from None
        fmt = self.spec.incremental.time_format
        reason = problem(rows, self.table_spec(table).path, start, end, after, lambda v: parse_stamp(v, fmt))
        if reason:
            raise BadDataError(f"{AUDIT_TABLE} page {number}: {reason}; the instance ignored part of the query",
                               **where)
        return rows

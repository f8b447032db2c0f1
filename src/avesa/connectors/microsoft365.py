"""Microsoft Graph connector (service ``microsoft365``): the spec-driven RestConnector plus Graph's ways.

- **A token per customer tenant.** Client credentials at ``{login_url}/{tenant_id}/oauth2/v2.0/token``:
  the MSP's one multi-tenant app, consented in each customer's tenant, gets a token naming that tenant,
  and Graph finds the tenant from the token alone (its URLs name none). Tokens are renewed before
  ``expires_in`` and, when Graph still answers 401 (expired early, revoked), once more and replayed.
- **Delta tables** (users, groups, devices). A round starts at ``{path}/delta`` with the table's
  ``$select`` (which also chooses the properties whose changes Graph reports), follows
  ``@odata.nextLink`` pages — some of them empty — and ends on a page carrying ``@odata.deltaLink``.
  Every page becomes a Page, empty ones included: each one's cursor is the link to continue from, so
  a chunk resumes mid-round, and the last page's cursor is the deltaLink, which the engine keeps for
  the next run: that run GETs it and receives only what changed since, removed objects as
  ``{"id", "@removed": {"reason"}}`` (the spec's ``deleted_field``: they close their key).
- **Lost sync state.** A delta or next link Graph no longer knows (410 ``syncStateNotFound``: older than
  seven days, or issued before a reset) restarts the round from scratch, and the connector says so in
  the run's events. What was deleted during the gap is not in a fresh round; id reconciliation, which
  the engine runs on a schedule, closes those keys.
- **Snapshot tables** (organization, subscribedSkus, deviceManagement/managedDevices) have no delta
  function: they are listed whole every run, stamped with the time they were read.
- **Links are followed whole** (they carry opaque ``$skiptoken``/``$deltatoken``) but only on the
  configured Graph host: a link elsewhere would carry the tenant's bearer token there.
- **Throttling** (429, and 503 with or without Retry-After) is SourceHttp's: Retry-After pauses every
  caller of the tenant's budget; without it, exponential backoff with jitter.
"""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator
from contextlib import aclosing
from datetime import datetime
from typing import Any

import httpx

from avesa.catalog.models import ServiceSpec
from avesa.connectors.http_client import HttpOptions, HttpStatusError
from avesa.connectors.paginators import END, NextPage
from avesa.connectors.rate_budget import RateBudget
from avesa.connectors.records import RawRecords, RecordReader
from avesa.connectors.rest import RestConnector, Step
from avesa.domain.errors import BadDataError, ConfigError
from avesa.domain.pages import Page
from avesa.observability import events

log = logging.getLogger(__name__)

NEXT_LINK = "@odata.nextLink"
DELTA_LINK = "@odata.deltaLink"
DELTA_FUNCTION = "delta"

NO_TOP = frozenset({"organization", "subscribedSkus"})
"""Collections whose list documents no ``$top`` (they hold one and a handful of records)."""

NATIONAL_GRAPH_HOSTS = frozenset({"graph.microsoft.us", "dod-graph.microsoft.us", "microsoftgraph.chinacloudapi.cn"})
"""Graph hosts of the national clouds: tokens for them are asked with that host's ``/.default`` scope."""

_TENANT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.-]{0,252}$")
"""A tenant id (GUID) or domain: it becomes a segment of the token URL, so nothing else is accepted."""


def with_defaults(spec: ServiceSpec, credentials: dict[str, str]) -> dict[str, str]:
    """The credentials with the spec's defaults for fields left empty (``login_url``, ``graph_url``)
    and URL roots without a trailing slash, so the token URL template never doubles one."""
    filled = {f.name: f.default for f in spec.credentials if f.default}
    filled.update({name: value.strip() for name, value in credentials.items() if value and value.strip()})
    for name in ("login_url", "graph_url"):
        if name in filled:
            filled[name] = filled[name].rstrip("/")
    return filled


def spec_for_cloud(spec: ServiceSpec, graph_url: str) -> ServiceSpec:
    """The spec, with the token scope of the national cloud ``graph_url`` belongs to, if any."""
    host = httpx.URL(graph_url).host
    if host not in NATIONAL_GRAPH_HOSTS:
        return spec
    auth = spec.auth.model_copy(update={"scope": f"https://{host}/.default"})
    return spec.model_copy(update={"auth": auth})


def lost_sync_state(exc: HttpStatusError) -> bool:
    """Graph no longer knows the link: 410 for delta state, 400 ``…ExpiredPageToken`` for list paging."""
    return exc.status == 410 or (exc.status == 400 and b"ExpiredPageToken" in exc.body)


class GraphConnector(RestConnector):
    """Reads one customer tenant's Graph resources by delta query or whole, as the spec says."""

    def __init__(self, *, spec: ServiceSpec, credentials: dict[str, str], tenant_id: str, budget: RateBudget,
                 options: HttpOptions, page_size: int = 1000) -> None:
        filled = with_defaults(spec, credentials)
        if filled.get("tenant_id") and not _TENANT.match(filled["tenant_id"]):
            raise ConfigError(f"{tenant_id}/{spec.service}: tenant_id must be the customer's Entra tenant id (a GUID) "
                              "or one of its verified domains; run `avesa service add` again")
        super().__init__(spec=spec_for_cloud(spec, filled.get("graph_url", "")), credentials=filled,
                         tenant_id=tenant_id, budget=budget, options=options, page_size=page_size)
        root = httpx.URL(self.base_url)
        self._origin = (root.scheme, root.host, root.port)

    # -- parts ------------------------------------------------------------------------------------

    def reader(self, table: str, *, ids_only: bool = False) -> RecordReader:
        """Reads ``value`` plus both links a page may carry (the same reader for id listings)."""
        reader = self._readers.get(table)
        if reader is None:
            t = self.table_spec(table)
            reader = self._readers[table] = RecordReader(
                records=self.spec.records, id_field=t.id_field, deleted_field=t.deleted_field,
                sensitive_fields=self.spec.sensitive_fields, extras=[NEXT_LINK, DELTA_LINK])
        return reader

    def first_request(self, table: str, *, ids_only: bool = False, page_size: int | None = None
                      ) -> tuple[str, dict[str, Any]]:
        """Path and parameters that start a walk: a delta round, a whole listing, or an id listing."""
        t = self.table_spec(table)
        params: dict[str, Any] = {"$select": t.id_field} if ids_only else dict(t.params)
        if t.sync == "delta" and not ids_only:
            return f"{t.path}/{DELTA_FUNCTION}", params  # the service sizes delta pages; $top is not for them
        if t.path not in NO_TOP:
            params["$top"] = page_size or self.page_size
        return t.path, params

    def on_graph_host(self, url: str) -> bool:
        """Whether ``url`` is on the configured Graph root's scheme, host and port (the bearer token
        is sent with every request, so no link elsewhere is ever followed)."""
        try:
            parsed = httpx.URL(url)
        except httpx.InvalidURL:
            return False
        return (parsed.scheme, parsed.host, parsed.port) == self._origin

    def _restart(self, table: str, reason: str) -> None:
        t = self.table_spec(table)
        what = "a new delta round" if t.sync == "delta" else "a new listing"
        message = (f"{self.where}/{table}: {reason}; starting {what} from scratch"
                   + ("; deletes since the last round are found by id reconciliation" if t.sync == "delta" else ""))
        log.warning(message)
        events.emit("graph_sync_restarted", tenant_id=self.tenant_id, service=self.spec.service, table=table,
                    sync=t.sync, reason=reason)

    # -- the paging loop's hooks (RestConnector.walk) --------------------------------------------------

    def start_page(self, table: str, after_id: str | None) -> NextPage | None:
        """A kept link for another host than the configured Graph root (graph_url was changed) starts over."""
        if after_id is not None and after_id != END and not self.on_graph_host(after_id):
            self._restart(table, f"the kept link is not on {self.base_url}")
            after_id = None
        return super().start_page(table, after_id)

    def recover(self, table: str, page: NextPage, exc: HttpStatusError) -> NextPage | None:
        """A link Graph has forgotten (lost sync state) starts the walk over, once."""
        if page.url is None or not lost_sync_state(exc):
            return None
        self._restart(table, f"Graph no longer knows the link (HTTP {exc.status})")
        return super().start_page(table, None)

    async def fetch(self, table: str, page: NextPage, start: datetime | None, end: datetime | None,
                    page_size: int, number: int, *, ids_only: bool = False,
                    through: str | None = None) -> tuple[bytes, httpx.Headers]:
        """The link Graph handed out, or the request that starts a walk (first_request). Graph cannot
        filter by an id range (``lists_id_ranges`` is false), so ``through`` is never given."""
        if page.url is not None:
            return await self.http.get_bytes(page.url, table=table, page=number)
        path, params = self.first_request(table, ids_only=ids_only, page_size=page_size)
        return await self.http.get_bytes(path, params, table=table, page=number)

    def next_page(self, table: str, step: Step, page_size: int) -> NextPage | None:
        """The nextLink, followed only on the configured Graph host: the bearer token goes with it."""
        following = step.records.extras.get(NEXT_LINK)
        if following and (not isinstance(following, str) or not self.on_graph_host(following)):
            raise BadDataError(f"page {step.number}: the next link is not on {self.base_url}; it is not followed "
                               "(it would carry the tenant's token elsewhere)", **self._where(table))
        return super().next_page(table, step, page_size)

    # -- SourceConnector ------------------------------------------------------------------------------

    async def check(self) -> None:
        """One id of the first default table: proves the token and the permission to read it."""
        table = (self.spec.default_tables or list(self.spec.tables))[0]
        async with aclosing(self.walk(table, None, None, None, 1, ids_only=True)) as pages:
            async for _ in pages:
                return

    async def count(self, table: str, start: datetime | None, end: datetime) -> int | None:
        """None: these tables are read as one chunk (delta round or whole listing); nothing to split."""
        return None

    async def span(self, table: str, start: datetime | None, end: datetime) -> tuple[datetime | None, int | None]:
        return None, None

    async def pages(self, table: str, start: datetime, end: datetime, after_id: str | None) -> AsyncIterator[Page]:
        """A delta round (from the kept deltaLink, a checkpointed nextLink, or the start) or a whole
        listing; records stamped with ``end``. Each page's cursor is the link after it; the last is
        the deltaLink (delta) or END (snapshot)."""
        sync = self.table_spec(table).sync
        if sync not in ("delta", "snapshot"):
            raise ConfigError(f"{self.where}/{table}: Graph tables sync by 'delta' or 'snapshot', not {sync!r}")
        if after_id == END:
            return
        async for step in self.walk(table, None, None, after_id, self.page_size):
            if step.following is not None:
                cursor = step.following.cursor
            elif sync == "delta":
                cursor = self._delta_link(table, step.records, step.number)
            else:
                cursor = END
            yield self.to_page(table, step.records, step.number, start, end, cursor, None)

    def _delta_link(self, table: str, records: RawRecords, number: int) -> str:
        link = records.extras.get(DELTA_LINK)
        if not isinstance(link, str) or not link:
            raise BadDataError(f"page {number}: a delta page with neither {NEXT_LINK} nor {DELTA_LINK}; the round "
                               "cannot be continued", **self._where(table))
        if not self.on_graph_host(link):
            raise BadDataError(f"page {number}: the delta link is not on {self.base_url}", **self._where(table))
        return link

    async def list_ids(self, table: str, after: str | None = None,
                       through: str | None = None) -> AsyncIterator[list[str]]:
        """Every live id by a plain listing with ``$select=id`` (delta tables too: a listing never holds
        removed objects). Graph cannot filter by an id range: the listing is always one walk."""
        if after is not None or through is not None:
            raise ConfigError(f"{self.where}/{table}: Graph cannot list an id range")
        async for step in self.walk(table, None, None, None, self.spec.page_size_max, ids_only=True):
            records = step.records
            gone = set(records.deleted)
            ids = [str(rid) for position, rid in enumerate(records.ids) if position not in gone and rid]
            if ids:
                yield ids

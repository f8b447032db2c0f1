"""Salesforce REST connector (service ``salesforce``): the spec-driven RestConnector plus Salesforce's ways.

- **Login and instance.** OAuth 2 client credentials at ``{login_url}/services/oauth2/token``. The
  token response names the org's ``instance_url``; every data request goes there
  (``{instance_url}/services/data/v59.0/...``), and so does the replay after a token renewal. Salesforce
  tokens carry no lifetime: a 401 ``INVALID_SESSION_ID`` (expired, revoked) makes OAuth2Auth fetch a new
  one and replay the request once, mid-chunk, without the pipeline noticing.
- **Keyset paging, not query cursors.** Each page is its own query: ``SELECT <fields> FROM <Object>
  WHERE SystemModstamp >= A AND SystemModstamp < B AND Id > 'LAST' ORDER BY Id ASC LIMIT n``. The
  alternative, following ``nextRecordsUrl``, costs the same one request per batch but (a) a query
  locator expires after 15 minutes unused and at most 10 are open per user (``INVALID_QUERY_LOCATOR``),
  so a checkpointed locator cannot resume a chunk later; (b) a locator snapshots the matching ids when
  the query runs and reads the values when a batch is served, so a record changed during extraction
  would arrive stamped outside the chunk's window. A keyset query is filtered when each page is read:
  any page's last Id resumes the chunk at any later time, and a record that changed meanwhile has left
  the window for a later one. ``LIMIT`` sets the page; ``Sforce-Query-Options: batchSize`` is set to
  the maximum so a page fits one batch and no server cursor is left open. Should Salesforce still cut
  a batch short (``done: false``), the next page simply re-queries after its last Id.
- **Deletes.** Pages are read through ``queryAll``: a record deleted inside the window (in the
  recycle bin for 15 days) arrives with ``IsDeleted = true`` and ``SystemModstamp`` = its deletion
  time, and closes its key with an ``is_deleted`` version at that time. Objects without
  ``IsDeleted`` (User: users are deactivated, never deleted) use ``query``. Records purged from the
  recycle bin before a window was read are found by id reconciliation; ``list_ids`` asks ``queryAll``
  for ``IsDeleted = false`` rather than ``query``, because ``query`` leaves out archived Tasks and
  Events, which would then look deleted. The replication resource ``/sobjects/{Object}/deleted/``
  adds nothing for the chunks: it only reaches 15–30 days back and carries no more than queryAll does.
- **Fields.** SOQL has no ``SELECT *``: the table's spec ``fields`` are selected, minus those the
  org's ``describe`` does not show the integration user (custom fields of another org, fields hidden
  by field-level security, features not enabled), which would otherwise fail the whole query with
  ``INVALID_FIELD``. Sensitive fields are never selected at all.
- **Planning.** ``span`` asks for the window's earliest change (``ORDER BY SystemModstamp ASC, Id ASC
  LIMIT 1``) and, only when there is one, its ``SELECT COUNT()``: one request for an empty window,
  two otherwise. A single unlimited query would give both in one request but leave a query cursor
  open on the org for every window over 200 records. Pages carry no usable total (``totalSize`` of a
  ``LIMIT`` query is the page's size), so chunks are cut by the planner's counts.
- **Limits.** 1,000 requests a minute, slowed to what ``Sforce-Limit-Info`` says the org's daily
  allowance leaves; when it is used up the connector stops with an error instead of waiting a day
  (see salesforce_limits).
"""

from __future__ import annotations

import asyncio
import logging
import re
from datetime import datetime
from typing import Any, cast

import httpx
import orjson

from avesa.catalog.models import ServiceSpec
from avesa.connectors.http_client import HttpOptions, HttpStatusError
from avesa.connectors.paginators import NextPage
from avesa.connectors.rate_budget import RateBudget
from avesa.connectors.records import RawRecords, RecordReader
from avesa.connectors.rest import RestConnector, Step
from avesa.connectors.salesforce_limits import DailyAllowance, DailyLimitError
from avesa.connectors.salesforce_soql import ObjectQueries, is_name, is_record_id
from avesa.domain.errors import BadDataError, ConfigError, SourceError
from avesa.domain.timeutil import iso_z

log = logging.getLogger(__name__)

LOGIN_ROOT = "{login_url}"
_API_PATH = re.compile(r"^services/data/v\d+\.\d$")
MIN_BATCH, MAX_BATCH = 200, 2000
"""The batch sizes ``Sforce-Query-Options`` accepts."""


def normalize_login_url(value: str) -> str:
    """``acme.my.salesforce.com`` -> ``https://acme.my.salesforce.com``; no trailing slash."""
    url = value.strip().rstrip("/")
    return url if not url or "://" in url else f"https://{url}"


def connector_spec(spec: ServiceSpec, where: str) -> tuple[ServiceSpec, str]:
    """The spec with its base URL cut to the login root, and the API path (``services/data/v59.0/``).

    OAuth2Auth moves every request under the base URL to the token's ``instance_url``; with the root
    as base URL, the API path after it is kept (``{instance_url}/services/data/v59.0/query``). Every
    request also asks for the largest query batch (see the module docstring)."""
    if not spec.base_url.startswith(LOGIN_ROOT):
        raise ConfigError(f"{where}: base_url must be {LOGIN_ROOT}/services/data/vNN.N, not {spec.base_url!r}")
    api_path = spec.base_url[len(LOGIN_ROOT):].strip("/")
    if not _API_PATH.match(api_path):
        raise ConfigError(f"{where}: base_url must be {LOGIN_ROOT}/services/data/vNN.N (an API version such as "
                          f"v59.0), not {spec.base_url!r}")
    batch = max(MIN_BATCH, min(MAX_BATCH, spec.page_size_max))
    auth = spec.auth.model_copy(update={"headers": {**spec.auth.headers, "Sforce-Query-Options": f"batchSize={batch}"}})
    return spec.model_copy(update={"base_url": LOGIN_ROOT, "auth": auth}), api_path + "/"


def check_names(spec: ServiceSpec) -> None:
    """Every name that goes into SOQL is a plain identifier, and every table is read by window."""
    for name, table in spec.tables.items():
        named = [table.path, table.id_field, table.change_field, table.deleted_field, *table.fields]
        bad = [value for value in named if value is not None and not is_name(value)]
        if bad:
            raise ConfigError(f"service {spec.service} table {name}: {bad[:3]} are not SOQL names (an object or "
                              "field name: letters, digits, _)")
        if table.sync != "window":
            raise ConfigError(f"service {spec.service} table {name}: sync must be 'window' (over SystemModstamp)")


class SalesforceConnector(RestConnector):
    """A ``SourceConnector`` for one tenant's Salesforce org."""

    def __init__(self, *, spec: ServiceSpec, credentials: dict[str, str], tenant_id: str, budget: RateBudget,
                 options: HttpOptions, page_size: int = 1000) -> None:
        where = f"{tenant_id}/{spec.service}"
        credentials = dict(credentials)
        if credentials.get("login_url"):
            credentials["login_url"] = normalize_login_url(credentials["login_url"])
        check_names(spec)
        own_spec, self.api_path = connector_spec(spec, where)
        self.allowance = DailyAllowance(budget)
        super().__init__(spec=own_spec, credentials=credentials, tenant_id=tenant_id,
                         budget=cast(RateBudget, self.allowance), options=options, page_size=page_size)
        self._fields: dict[str, list[str]] = {}
        self._describing = asyncio.Lock()

    # -- requests -------------------------------------------------------------------------------------

    async def _get(self, path: str, params: dict[str, Any] | None, table: str,
                   number: int | None = None) -> tuple[bytes, httpx.Headers]:
        """GET under the API path; a used-up daily allowance becomes one clear error."""
        try:
            body, headers = await self.http.get_bytes(self.api_path + path, params, table=table, page=number)
        except DailyLimitError:
            raise self.allowance.error(refused=False, **self._where(table)) from None
        except SourceError as exc:
            if type(exc) is SourceError and "REQUEST_LIMIT_EXCEEDED" in str(exc):  # SourceHttp's 403 of the kind
                raise self.allowance.error(refused=True, **self._where(table)) from None
            raise
        self.allowance.note(headers)
        return body, headers

    async def _query(self, table: str, soql: str, number: int = 1, *,
                     all_rows: bool | None = None) -> tuple[bytes, httpx.Headers]:
        """Run SOQL: ``queryAll`` (deleted rows included) for objects with a deleted field, else ``query``."""
        if all_rows is None:
            all_rows = self.table_spec(table).deleted_field is not None
        return await self._get("queryAll" if all_rows else "query", {"q": soql}, table, number)

    def queries(self, table: str) -> ObjectQueries:
        return ObjectQueries.for_table(self.table_spec(table))

    # -- parts ----------------------------------------------------------------------------------------

    def reader(self, table: str, *, ids_only: bool = False) -> RecordReader:
        """Records plus ``done``: a batch Salesforce cut short means more records follow. The id reader
        (listings, the earliest change) keeps the change field and leaves the deny-list out."""
        key = f"ids:{table}" if ids_only else table
        reader = self._readers.get(key)
        if reader is None:
            t = self.table_spec(table)
            reader = self._readers[key] = RecordReader(
                records=self.spec.records, id_field=t.id_field, change_field=t.change_field,
                deleted_field=None if ids_only else t.deleted_field,
                sensitive_fields=None if ids_only else self.spec.sensitive_fields, extras=["done"])
        return reader

    async def fetch(self, table: str, page: NextPage, start: datetime | None, end: datetime | None,
                    page_size: int, number: int, *, ids_only: bool = False,
                    through: str | None = None) -> tuple[bytes, httpx.Headers]:
        """A page is its own keyset query: ``Id > 'cursor'``, in SOQL (see the module docstring); a
        listing's id range adds ``Id <= 'through'``."""
        after = self._cursor(table, page.cursor)
        queries = self.queries(table)
        if ids_only:
            return await self._query(table, queries.ids(after, page_size, self._cursor(table, through)), number)
        fields = await self.select_list(table)
        return await self._query(table, queries.page(fields, start, end, after, page_size), number)

    def next_page(self, table: str, step: Step, page_size: int) -> NextPage | None:
        """After the page's last Id while records may follow (see _more); Salesforce sends no links."""
        records = step.records
        return NextPage(params={}, cursor=str(records.ids[-1])) if self._more(records, page_size) else None

    @property
    def reports_remaining(self) -> bool:
        """Never: ``totalSize`` of a ``LIMIT`` query is the page's own size, not what the window holds."""
        return False

    async def select_list(self, table: str) -> list[str]:
        """The fields a page selects: the spec's, as far as the org's describe shows them (asked once per
        connector, however many chunks of the table start at once)."""
        async with self._describing:
            fields = self._fields.get(table)
            if fields is None:
                fields = self._fields[table] = await self._describe_fields(table)
        return fields

    async def _describe_fields(self, table: str) -> list[str]:
        t = self.table_spec(table)
        try:
            body, _ = await self._get(f"sobjects/{t.path}/describe", None, table)
        except HttpStatusError as exc:
            if exc.status == 404:
                raise SourceError(f"object {t.path} is not available to the integration user (not in this org's "
                                  "edition, not enabled, or no read access in its profile and permission sets); "
                                  "grant read access or disable the table", **self._where(table)) from None
            raise
        try:
            names = [str(field["name"]) for field in orjson.loads(body)["fields"]]
        except (orjson.JSONDecodeError, KeyError, TypeError) as exc:
            raise BadDataError(f"describe of {t.path}: not the expected JSON ({type(exc).__name__})",
                               **self._where(table)) from None
        available = {name.lower() for name in names}
        required = [f for f in (t.id_field, t.change_field, t.deleted_field) if f]
        unreadable = [f for f in required if f.lower() not in available]
        if unreadable:
            raise SourceError(f"the integration user cannot read {t.path} field(s) {unreadable}, which the sync needs; "
                              "grant read access to them", **self._where(table))
        deny = {f.lower() for f in self.spec.sensitive_fields}
        wanted = t.fields or names
        skipped = [f for f in wanted if f.lower() not in available]
        if skipped:
            log.warning("%s/%s: %d field(s) of the spec are not in this org's describe of %s and are not read: %s",
                        self.where, table, len(skipped), t.path, ", ".join(skipped[:20]))
        return [f for f in wanted if f.lower() in available and f.lower() not in deny]

    def _cursor(self, table: str, after: str | None) -> str | None:
        if after is not None and not is_record_id(after):
            raise BadDataError(f"cursor {after[:80]!r} is not a Salesforce id; it cannot resume a chunk",
                               **self._where(table))
        return after

    @staticmethod
    def _more(records: RawRecords, limit: int) -> bool:
        """Whether records may follow this page: it was full, or Salesforce cut its batch short."""
        return bool(records.ids) and (len(records.ids) >= limit or records.extras.get("done") is False)

    # -- SourceConnector ------------------------------------------------------------------------------

    async def check(self) -> None:
        table = (self.spec.default_tables or list(self.spec.tables))[0]
        t = self.table_spec(table)
        body, _ = await self._query(table, f"SELECT {t.id_field} FROM {t.path} LIMIT 1", all_rows=False)
        self.read(table, body, 1, ids_only=True)

    async def earliest(self, table: str, start: datetime | None, end: datetime) -> datetime | None:
        body, _ = await self._query(table, self.queries(table).earliest(start, end))
        records = self.read(table, body, 1, ids_only=True)
        if not records.ids:
            return None
        earliest = self.stamp(table, records.changes[0], 1, records.ids[0])
        if (start is not None and earliest < start) or earliest >= end:
            raise BadDataError(f"span: the earliest record {records.ids[0]} changed at {iso_z(earliest)}, "
                               "outside the requested range: the org ignored the window condition",
                               **self._where(table))
        return earliest

    async def count(self, table: str, start: datetime | None, end: datetime) -> int | None:
        body, _ = await self._query(table, self.queries(table).count(start, end))
        try:
            return int(orjson.loads(body)["totalSize"])
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            raise BadDataError(f"count: expected totalSize in the answer to SELECT COUNT(), got "
                               f"{self.redact.quote(body, 100)}",
                               **self._where(table)) from None

    async def span(self, table: str, start: datetime | None, end: datetime) -> tuple[datetime | None, int | None]:
        """The earliest change, then (only if there is one) the count: deleted rows included, as pages read them."""
        earliest = await self.earliest(table, start, end)
        if earliest is None:
            return None, 0
        return earliest, await self.count(table, start, end)

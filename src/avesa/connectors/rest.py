"""The connector assembled from a service spec's parts: auth, window query, paginator, record
selector, count. A service whose API fits the parts needs no code at all (docs/adding-a-service.md);
the built-in services subclass it for the few quirks their APIs have.

Inside a chunk ``[start, end)`` the pages are read with the spec's window query; with a ``keyset``
paginator the cursor is the last id (``id > cursor``), otherwise whatever the API hands back (a page
number, an offset, a next link). Keyset paging is only correct when each page's ids ascend past the
cursor: a page that breaks the order (an API ignoring ``sort=id``) fails the chunk as bad data.
Snapshot tables (no change field) are read whole and stamped with the chunk's end, the time they
were observed; SCD2 then keeps only real changes.

The paging loop is written once, here (``walk``: fetch a page, read it, find where the next one is,
hand it over); ``pages`` checks each page against the chunk contract and ``list_ids`` checks each
listing's id order. ``list_ids`` also lists one id range ``(after, through]`` where the query language
can bound the id from above (``lists_id_ranges``): the pipeline reads a large table's ranges side
by side (pipeline/id_listing.py). Where an API differs, a subclass overrides a hook — ``fetch``, ``reader``,
``next_page``, ``start_page``, ``recover``, ``remaining``, ``span`` — never the loop
(docs/adding-a-service.md lists them and who uses each).
"""

from __future__ import annotations

import operator
from collections.abc import AsyncGenerator, AsyncIterator
from datetime import datetime
from typing import Any, NamedTuple

import httpx
import msgspec

from avesa.catalog.models import ServiceSpec, TableSpec
from avesa.connectors.auth import build_auth
from avesa.connectors.http_client import HttpOptions, HttpStatusError, SourceHttp
from avesa.connectors.paginators import END, NextPage, Paginator
from avesa.connectors.queries import ConnectWiseConditions, QueryParams, ServiceNowQuery, Soql, WindowQuery
from avesa.connectors.rate_budget import RateBudget
from avesa.connectors.records import RawRecords, RecordReader
from avesa.connectors.scrubbing import redactor_for
from avesa.connectors.templates import fill
from avesa.connectors.timeformats import parse_stamp, parse_stamps
from avesa.domain.errors import BadDataError, ConfigError
from avesa.domain.pages import Page
from avesa.domain.timeutil import iso_z
from avesa.observability.stage_cpu import stage

MAX_EMPTY_PAGES = 1000
"""Empty pages in a row after which a walk is declared stuck. Some APIs document that pages may be
empty (Graph); a service answering only empty pages must not keep a chunk busy for ever."""


def _as_number(value: Any) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    text = str(value)
    return int(text) if text.isascii() and text.isdigit() else None


def id_after(current: Any, previous: Any) -> bool:
    """Whether id `current` comes after `previous` in the API's ascending id order: as numbers when
    both are (JSON numbers, or a cursor that was one: `"9" < "10"`), else as text — the order of
    string ids (sys_ids, Salesforce ids), whose fixed length makes both readings agree."""
    a, b = _as_number(previous), _as_number(current)
    if a is not None and b is not None:
        return b > a
    return str(current) > str(previous)


def _all_ints(ids: list[Any]) -> bool:
    """Whether every id is a JSON integer (then none is missing and their order is plain ``<``)."""
    return set(map(type, ids)) == _INT_ONLY


_INT_ONLY = {int}


def _ints_ascend(ids: list[Any], after: Any) -> bool:
    """The common case of keyset order in C: integer ids strictly ascending past the cursor. False
    also when it cannot tell (ids that are not all integers); the caller then checks id by id."""
    if not _all_ints(ids):
        return False
    if after is not None:
        first = _as_number(after)
        if first is None or (ids and ids[0] <= first):
            return False
    return all(map(operator.lt, ids, ids[1:]))


class Step(NamedTuple):
    """One page of the paging loop: what was asked, what came back, and where the next page is."""

    number: int
    page: NextPage
    records: RawRecords
    headers: httpx.Headers
    following: NextPage | None


def window_query_for(spec: ServiceSpec) -> WindowQuery:
    style = spec.incremental.style
    if style in ("query_params", "none"):
        return QueryParams(spec.incremental, spec.paginator)
    if style == "servicenow_query":
        return ServiceNowQuery(spec.incremental)
    if style == "soql":
        return Soql(spec.incremental)
    if style == "connectwise_conditions":
        return ConnectWiseConditions(spec.incremental, spec.paginator)
    raise ConfigError(f"service {spec.service}: incremental style {style!r} needs the {spec.service} connector "
                      "(set \"connector\" in the spec)")


class RestConnector:
    """A ``SourceConnector`` driven entirely by a ``ServiceSpec``."""

    def __init__(self, *, spec: ServiceSpec, credentials: dict[str, str], tenant_id: str, budget: RateBudget,
                 options: HttpOptions, page_size: int = 1000) -> None:
        self.spec = spec
        self.tenant_id = tenant_id
        self.where = f"{tenant_id}/{spec.service}"
        missing = [f.name for f in spec.credentials if f.required and not credentials.get(f.name)]
        if missing:
            raise ConfigError(f"{self.where}: missing credential fields {missing}; run `avesa service add "
                              f"--tenant-id {tenant_id} --service {spec.service}` again")
        self.base_url = fill(spec.base_url, credentials, where=self.where).rstrip("/") + "/"
        redactor = redactor_for(spec, credentials)
        headers, auth = build_auth(spec.auth, credentials, base_url=self.base_url, where=self.where,
                                   redactor=redactor)
        headers.setdefault("Accept", "application/json")
        self.auth = auth
        self.http = SourceHttp(base_url=self.base_url, headers=headers, budget=budget, options=options,
                               tenant_id=tenant_id, service=spec.service, auth=auth, redactor=redactor)
        self.redact = redactor
        """Masks credentials and sensitive fields in what an error quotes of a body or a record."""
        self.page_size = min(page_size, spec.page_size_max)
        self.query = window_query_for(spec)
        self.paginator = Paginator(spec.paginator)
        self._readers: dict[str, RecordReader] = {}

    async def aclose(self) -> None:
        await self.http.aclose()

    # -- parts ------------------------------------------------------------------------------------

    def table_spec(self, table: str) -> TableSpec:
        return self.spec.table(table)

    def reader(self, table: str, *, ids_only: bool = False) -> RecordReader:
        """The table's record reader; ``ids_only`` one for id listings (no change field, no deny-list)."""
        key = f"ids:{table}" if ids_only else table
        reader = self._readers.get(key)
        if reader is None:
            t = self.table_spec(table)
            extras = [self.spec.paginator.next_path] if self.spec.paginator.next_path else []
            if self.spec.count.type == "body_field":
                extras.append(self.spec.count.field)
            reader = self._readers[key] = RecordReader(
                records=self.spec.records, id_field=t.id_field, change_field=None if ids_only else t.change_field,
                deleted_field=t.deleted_field, sensitive_fields=None if ids_only else self.spec.sensitive_fields,
                extras=extras)
        return reader

    def _where(self, table: str) -> dict[str, str]:
        return {"tenant_id": self.tenant_id, "service": self.spec.service, "table": table}

    def window(self, table: str, start: datetime | None, end: datetime | None) -> tuple[datetime | None,
                                                                                         datetime | None]:
        """The bounds the query filters on: none for tables read whole."""
        return (start, end) if self.table_spec(table).sync == "window" else (None, None)

    def list_params(self, table: str, start: datetime | None, end: datetime | None, after: str | None,
                    page_size: int, *, through: str | None = None) -> dict[str, Any]:
        return self.query.params(self.table_spec(table), start, end, after, page_size, through=through)

    def fields_params(self, *fields: str | None) -> dict[str, Any]:
        """Parameters narrowing records to ``fields``, where the spec names the API's parameter for it."""
        name = self.spec.incremental.fields_param
        return {name: ",".join(f for f in fields if f)} if name else {}

    async def fetch(self, table: str, page: NextPage, start: datetime | None, end: datetime | None,
                    page_size: int, number: int, *, ids_only: bool = False,
                    through: str | None = None) -> tuple[bytes, httpx.Headers]:
        """One page's request: the window query with the page's position, or the link the API gave;
        ids at most ``through`` when a listing reads one id range."""
        if page.url is not None:
            return await self.http.get_bytes(page.url, table=table, page=number)
        after = page.cursor if self.paginator.keyset else None
        params = {**self.list_params(table, start, end, after, page_size, through=through), **(page.params or {})}
        if ids_only:
            params.update(self.fields_params(self.table_spec(table).id_field))
        return await self.http.get_bytes(self.table_spec(table).path, params, table=table, page=number)

    def read(self, table: str, body: bytes, number: int, *, ids_only: bool = False) -> RawRecords:
        try:
            return self.reader(table, ids_only=ids_only).read(body)
        except (msgspec.DecodeError, msgspec.ValidationError, ValueError) as exc:
            raise BadDataError(f"page {number}: response is not valid JSON or not the expected shape ({exc}); "
                               f"{len(body)} bytes received", **self._where(table)) from None

    def next_page(self, table: str, step: Step, page_size: int) -> NextPage | None:
        """Where the page after ``step`` is (None: it was the last), by the spec's paginator."""
        records = step.records
        last_id = str(records.ids[-1]) if records.ids and records.ids[-1] is not None else None
        return self.paginator.next(step.page, received=len(records.raws), page_size=page_size, last_id=last_id,
                                   headers=step.headers, extras=records.extras)

    def start_page(self, table: str, after_id: str | None) -> NextPage | None:
        """Where a walk starts: the checkpointed cursor, or the first page (None: nothing left)."""
        return self.paginator.resume(after_id)

    def recover(self, table: str, page: NextPage, exc: HttpStatusError) -> NextPage | None:
        """Where to start over when the API refused ``page`` (an expired link, say), or None to fail."""
        return None

    async def walk(self, table: str, start: datetime | None, end: datetime | None, after_id: str | None,
                   page_size: int, *, ids_only: bool = False, through: str | None = None) -> AsyncGenerator[Step, None]:
        """The paging loop every connector shares: from the cursor ``after_id`` (None: the first page),
        fetch a page, read it, find where the next one is, hand the page over, go on until the
        paginator says it was the last. What differs between APIs are the hooks it calls. A walk
        starts over at most once (``recover``), and a run of empty pages that never ends fails it."""
        page = self.start_page(table, after_id)
        number, empty, recovered = 0, 0, False
        while page is not None:
            number += 1
            try:
                body, headers = await self.fetch(table, page, start, end, page_size, number, ids_only=ids_only,
                                                 through=through)
            except HttpStatusError as exc:
                fresh = None if recovered else self.recover(table, page, exc)
                if fresh is None:
                    raise
                page, recovered = fresh, True
                continue
            with stage("decode"):
                records = self.read(table, body, number, ids_only=ids_only)
            step = Step(number, page, records, headers, None)
            step = step._replace(following=self.next_page(table, step, page_size))
            yield step
            empty = empty + 1 if not records.raws else 0
            if empty >= MAX_EMPTY_PAGES and step.following is not None:
                raise BadDataError(f"page {number}: {empty} empty pages in a row; the API is not making progress "
                                   "(the chunk resumes from its last cursor when run again)", **self._where(table))
            page = step.following

    # -- SourceConnector -----------------------------------------------------------------------------

    async def check(self) -> None:
        table = (self.spec.default_tables or list(self.spec.tables))[0]
        body, _ = await self.fetch(table, NextPage(params={}), None, None, 1, 1)
        self.read(table, body, 1)

    async def count(self, table: str, start: datetime | None, end: datetime) -> int | None:
        """Records in the window, by the spec's count method; None when the API cannot say."""
        count = self.spec.count
        t = self.table_spec(table)
        lo, hi = self.window(table, start, end)
        if count.type == "none":
            return None
        if count.type == "endpoint":
            params = self.list_params(table, lo, hi, None, 1)
            body, _ = await self.http.get_json(t.path + count.path_suffix, params, table=table)
            value = body.get(count.field) if isinstance(body, dict) else body
        else:
            body, headers = await self.fetch(table, NextPage(params={}), lo, hi, 1, 1)
            value = headers.get(count.header) if count.type == "header" else self.read(table, body, 1).extras.get(
                count.field)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        try:
            if isinstance(value, bool):
                raise TypeError("a boolean is not a count")
            return int(value)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise BadDataError(f"count: expected a number in {count.type} {count.field or count.header!r}, got "
                               f"{self.redact.quote(str(value), 100)}", **self._where(table)) from None

    async def first_by_change(self, table: str, start: datetime | None,
                              end: datetime) -> tuple[RawRecords, httpx.Headers] | None:
        """The window's first record by change stamp (a page of one), if the API can sort by it."""
        sort = self.spec.incremental.sort_by_change_params
        t = self.table_spec(table)
        if not sort or t.sync != "window":
            return None
        params = {**self.list_params(table, start, end, None, 1), **sort,
                  **self.fields_params(t.id_field, t.change_field)}
        body, headers = await self.http.get_bytes(t.path, params, table=table)
        return self.read(table, body, 1), headers

    async def earliest(self, table: str, start: datetime | None, end: datetime) -> datetime | None:
        """The window's earliest change, if the API can sort by it (else None: start at the epoch)."""
        first = await self.first_by_change(table, start, end)
        if first is None or not first[0].changes:
            return None
        records = first[0]
        return self.stamp(table, records.changes[0], 1, records.ids[0])

    async def span(self, table: str, start: datetime | None, end: datetime) -> tuple[datetime | None, int | None]:
        return await self.earliest(table, start, end), await self.count(table, start, end)

    def stamp(self, table: str, value: Any, number: int, record_id: Any) -> datetime:
        t = self.table_spec(table)
        try:
            return parse_stamp(value, self.spec.incremental.time_format)
        except (TypeError, ValueError):
            raise BadDataError(f"page {number}: record {record_id}: {t.change_field} is "
                               f"{self.redact.quote(repr(value), 100)}, not a "
                               f"{self.spec.incremental.time_format} timestamp", **self._where(table)) from None

    @property
    def reports_remaining(self) -> bool:
        """Whether pages say how many records their query matched (a count header or body field on a
        keyset query): then chunks split themselves and planning needs no count request."""
        return self.paginator.keyset and self.spec.count.type in ("header", "body_field")

    def remaining(self, headers: httpx.Headers, records: RawRecords) -> int | None:
        if not self.reports_remaining:
            return None
        count = self.spec.count
        value = headers.get(count.header) if count.type == "header" else records.extras.get(count.field)
        try:
            return int(value)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            return None

    def _stamps(self, table: str, records: RawRecords, number: int,
                end: datetime) -> tuple[list[datetime], set[int]]:
        """Each record's change stamp, and the positions not read from a record: a deleted record
        without one is stamped ``end``, the time it was seen gone, and is not range-checked."""
        changes = records.changes or [None] * len(records.ids)
        exempt = {position for position in records.deleted if changes[position] is None}
        if not exempt:
            try:
                return parse_stamps(changes, self.spec.incremental.time_format), exempt
            except (TypeError, ValueError):
                pass  # the loop below names the record
        return [end if position in exempt else self.stamp(table, change, number, records.ids[position])
                for position, change in enumerate(changes)], exempt

    def _check_range(self, table: str, ids: list[Any], stamps: list[datetime], exempt: set[int], number: int,
                     start: datetime, end: datetime) -> None:
        if not exempt and (not stamps or (start <= min(stamps) and max(stamps) < end)):
            return
        for position, (rid, stamp) in enumerate(zip(ids, stamps, strict=True)):
            if position not in exempt and not start <= stamp < end:
                raise BadDataError(f"page {number}: record {rid} changed at {iso_z(stamp)}, outside the requested "
                                   f"range [{iso_z(start)}, {iso_z(end)})", **self._where(table))

    def _check_keyset(self, table: str, ids: list[Any], after: str | None, number: int) -> None:
        if _ints_ascend(ids, after):
            return
        previous: Any = after
        for position, rid in enumerate(ids):
            if previous is not None and not id_after(rid, previous):
                after_what = "the cursor" if position == 0 else "the record before it"
                raise BadDataError(f"page {number}: id {rid} is not above {previous} ({after_what}): keyset paging "
                                   "needs ids ascending past the cursor; the API ignored the keyset condition or the "
                                   "id order (check the spec's sort_params), and reading on would skip records",
                                   **self._where(table))
            previous = rid

    def to_page(self, table: str, records: RawRecords, number: int, start: datetime, end: datetime,
                cursor: str | None, after: str | None, remaining: int | None = None) -> Page:
        """Check the page keeps the chunk contract — every record has an id, is stamped inside
        ``[start, end)`` and, with keyset paging, comes after the one before it — and turn it into
        the pipeline's Page. Each check runs over whole columns in C; only a page that fails one is
        walked record by record, to name the record."""
        ids = records.ids
        if not _all_ints(ids) and (None in ids or "" in ids):
            position = next(i for i, rid in enumerate(ids) if rid is None or rid == "")
            raise BadDataError(f"page {number}: a record without {self.table_spec(table).id_field}: "
                               f"{self.redact.quote(records.raws[position], 200)}", **self._where(table))
        if self.table_spec(table).sync == "window":
            stamps, exempt = self._stamps(table, records, number, end)
            self._check_range(table, ids, stamps, exempt, number, start, end)
        else:
            stamps = [end] * len(ids)
        if self.paginator.keyset:
            self._check_keyset(table, ids, after, number)
        return Page(number=number, record_ids=list(map(str, ids)), updated_at=stamps, raws=records.raws,
                    sensitive=records.sensitive, last_id=cursor, deleted=sorted(records.deleted),
                    remaining=remaining)

    async def pages(self, table: str, start: datetime, end: datetime, after_id: str | None) -> AsyncIterator[Page]:
        lo, hi = self.window(table, start, end)
        async for step in self.walk(table, lo, hi, after_id, self.page_size):
            if step.records.raws:
                cursor = step.following.cursor if step.following is not None else END
                with stage("decode"):
                    page = self.to_page(table, step.records, step.number, start, end, cursor, step.page.cursor,
                                        self.remaining(step.headers, step.records))
                yield page

    def check_listing(self, table: str, ids: list[Any], after: str | None, number: int,
                      through: str | None = None) -> None:
        """An id listing that skipped ids would have their records closed as deleted: with keyset
        paging each page's ids must ascend past the cursor, and every record must have an id. A
        range's ids must also stay at most its upper bound ``through``: an id above it means the
        API ignored the range, and whatever else it ignored cannot be told."""
        if None in ids or "" in ids:
            raise BadDataError(f"listing ids, page {number}: a record without {self.table_spec(table).id_field}; "
                               "no record is marked deleted from this listing", **self._where(table))
        if not self.paginator.keyset:
            return
        if not _ints_ascend(ids, after):
            previous: Any = after
            for rid in ids:
                if previous is not None and not id_after(rid, previous):
                    raise BadDataError(f"listing ids, page {number}: id {rid} is not above {previous}: the API "
                                       "ignored the id order or the keyset condition; no record is marked deleted "
                                       "from this listing", **self._where(table))
                previous = rid
        if through is not None and ids and id_after(ids[-1], through):  # ascending: the last is the highest
            raise BadDataError(f"listing ids, page {number}: id {ids[-1]} is above {through}, the end of the id "
                               "range listed: the API ignored the range condition; no record is marked deleted "
                               "from this listing", **self._where(table))

    @property
    def lists_id_ranges(self) -> bool:
        """Whether ``list_ids`` can list one id range: keyset paging (a range is a cursor to start
        from) over a query language that can bound the id from above too, and this class's own
        listing (a subclass that lists its own way, as Graph does, is not cut)."""
        return (self.paginator.keyset and self.query.lists_ranges
                and type(self).list_ids is RestConnector.list_ids)

    async def list_ids(self, table: str, after: str | None = None,
                       through: str | None = None) -> AsyncIterator[list[str]]:
        """Every live id, reading the whole table (ids only where the spec names a fields parameter);
        with ``after`` / ``through``, only those of the id range ``(after, through]`` (None: unbounded),
        paged and checked exactly like the whole table (``lists_id_ranges`` says whether it can)."""
        if (after is not None or through is not None) and not self.lists_id_ranges:
            raise ConfigError(f"{self.where}/{table}: this API cannot list an id range")
        async for step in self.walk(table, None, None, after, self.spec.page_size_max, ids_only=True,
                                    through=through):
            records = step.records
            self.check_listing(table, records.ids, step.page.cursor, step.number, through)
            gone = set(records.deleted)
            ids = [str(rid) for position, rid in enumerate(records.ids) if position not in gone]
            if ids:
                yield ids

"""ConnectWise Manage connector.

Inside a chunk `[start, end)` it pages by keyset: `conditions=_info/lastUpdated >= [start] and
_info/lastUpdated < [end] and id > {last id}`, `orderBy=id asc`, always page 1. Offsets would shift
while the source changes; an id cursor never does, so a record that changes mid-extraction is
neither lost nor read twice (its new version lands outside the range and is read next run).
"""

from __future__ import annotations

import dataclasses
import itertools
import operator
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
import msgspec

from avesa.catalog.models import ServiceSpec
from avesa.connectors.auth import build_auth
from avesa.connectors.http_client import HttpOptions, SourceHttp
from avesa.connectors.rate_budget import RateBudget
from avesa.connectors.scrubbing import redactor_for
from avesa.connectors.templates import fill
from avesa.domain.errors import BadDataError, ConfigError
from avesa.domain.pages import Page
from avesa.domain.timeutil import iso_z, parse_utc
from avesa.observability.stage_cpu import stage

CHANGE_FIELD = "_info/lastUpdated"


class _Info(msgspec.Struct):
    lastUpdated: str | None = None


_SPLIT_PAGE = msgspec.json.Decoder(list[msgspec.Raw])


def _envelope_decoder(sensitive_fields: list[str]) -> msgspec.json.Decoder:
    """Decode only the fields the engine reads — id, _info.lastUpdated, and whether a deny-listed
    field is present — so msgspec skips the rest of each record without building it."""
    fields: list[tuple] = [("id", int | None, None), ("info", _Info | None, msgspec.field(default=None, name="_info"))]
    fields += [(f"deny_{i}", object, msgspec.field(default=msgspec.UNSET, name=name))
               for i, name in enumerate(sensitive_fields)]
    envelope: Any = msgspec.defstruct("Envelope", fields)  # a class made at run time: Any to mypy
    return msgspec.json.Decoder(list[envelope])


def _parse_stamp(text: str) -> datetime:
    """ConnectWise stamps are UTC with a Z; fromisoformat reads that in C."""
    stamp = datetime.fromisoformat(text)
    if stamp.tzinfo is not UTC:
        stamp = parse_utc(stamp)
    return stamp


def _has_next(headers: httpx.Headers, received: int, page_size: int) -> bool:
    """Navigable paging announces a next page in `Link`; trusting it saves the empty request a full
    last page would otherwise cost. Without a Link header, only a short page proves the end."""
    link = headers.get("link")
    if link is not None:
        return 'rel="next"' in link
    return received >= page_size


_LAST_PAGE = re.compile(r'<[^>]*[?&]page=(\d+)[^>]*>;\s*rel="last"')


def _last_page_number(link: str | None) -> int | None:
    match = _LAST_PAGE.search(link) if link else None
    return int(match.group(1)) if match else None


def _remaining(headers: httpx.Headers, received: int, page_size: int) -> int:
    """Records the page's query matched, from the navigable `Link` header: with page=1 always, the
    last page's number says how many pages of `page_size` are left (the last one half full, on
    average). A chunk uses it to decide whether to split itself."""
    last = _last_page_number(headers.get("link"))
    if last is None or last <= 1:
        return received
    return (last - 1) * page_size + page_size // 2


def _range_conditions(start: datetime | None, end: datetime) -> str:
    parts = []
    if start is not None:
        parts.append(f"{CHANGE_FIELD}>=[{iso_z(start)}]")
    parts.append(f"{CHANGE_FIELD}<[{iso_z(end)}]")
    return " and ".join(parts)


class ConnectWiseConnector:
    reports_remaining = True
    """Pages say how much their query matched (the `Link` header): chunks split themselves, so
    planning needs no count request."""
    def __init__(
        self,
        *,
        spec: ServiceSpec,
        credentials: dict[str, str],
        tenant_id: str,
        budget: RateBudget,
        options: HttpOptions,
        page_size: int = 1000,
    ) -> None:
        missing = [f.name for f in spec.credentials if not credentials.get(f.name)]
        if missing:
            raise ConfigError(
                f"{tenant_id}/connectwise: missing credential fields {missing}; "
                "run `avesa service add --service connectwise` again"
            )
        self.spec = spec
        self.tenant_id = tenant_id
        self._envelopes = _envelope_decoder(spec.sensitive_fields)
        self._deny_slots = [f"deny_{i}" for i in range(len(spec.sensitive_fields))]
        self._deny_values = operator.attrgetter(*self._deny_slots) if self._deny_slots else None
        self._no_deny = msgspec.UNSET if len(self._deny_slots) == 1 else (msgspec.UNSET,) * len(self._deny_slots)
        self.page_size = min(page_size, spec.page_size_max)
        where = f"{tenant_id}/{spec.service}"
        base_url = fill(spec.base_url, credentials, where=where).rstrip("/") + "/"
        self.redact = redactor_for(spec, credentials)
        """Masks credentials and sensitive fields in what an error quotes of a body or a record."""
        headers, auth = build_auth(spec.auth, credentials, base_url=base_url, where=where, redactor=self.redact)
        headers["Accept"] = "application/json"
        self.http = SourceHttp(base_url=base_url, headers=headers, budget=budget, options=options,
                               tenant_id=tenant_id, service=spec.service, auth=auth, redactor=self.redact)

    async def aclose(self) -> None:
        await self.http.aclose()

    def _path(self, table: str) -> str:
        return self.spec.table(table).path

    async def check(self) -> None:
        await self.http.get_json("company/companies/count", table="company_companies")

    async def count(self, table: str, start: datetime | None, end: datetime) -> int:
        body, _ = await self.http.get_json(
            f"{self._path(table)}/count", {"conditions": _range_conditions(start, end)}, table=table
        )
        if not isinstance(body, dict) or not isinstance(body.get("count"), int):
            raise BadDataError(f"count of {table}: expected {{'count': N}}, got {self.redact.quote(str(body), 200)}",
                               tenant_id=self.tenant_id, service="connectwise", table=table)
        return body["count"]

    async def span(self, table: str, start: datetime | None, end: datetime) -> tuple[datetime | None, int]:
        """The earliest change stamp in `[start, end)` and how many records the range holds — with
        one request: the first record by stamp, and the navigable `Link` header's last page number
        at pageSize=1, which is the count. Without a Link header, `/count` answers instead."""
        body, headers = await self.http.get_bytes(
            self._path(table),
            {"conditions": _range_conditions(start, end), "orderBy": f"{CHANGE_FIELD} asc", "pageSize": 1,
             "fields": f"id,{CHANGE_FIELD}"},
            table=table,
        )
        page = self._page(body, table, 1)
        earliest = page.updated_at[0] if len(page) else None
        count = _last_page_number(headers.get("link"))
        if count is None:
            count = len(page) if not _has_next(headers, len(page), 1) else await self.count(table, start, end)
        return earliest, count

    def _where(self, table: str) -> dict[str, str]:
        return {"tenant_id": self.tenant_id, "service": "connectwise", "table": table}

    def _page(self, body: bytes, table: str, number: int, start: datetime | None = None,
              end: datetime | None = None, after: int | None = None) -> Page:
        """Split a page into records, keeping each record's bytes exactly as the API sent them,
        and check it keeps the contract: ids ascending past the cursor, stamps inside the range.

        Two C-speed passes (msgspec): one slices the array into raw records, one reads only id,
        _info.lastUpdated and the presence of deny-listed fields — no Python object is built for
        the rest of a record."""
        where = self._where(table)
        try:
            raws = _SPLIT_PAGE.decode(body)
            envelopes = self._envelopes.decode(body)
        except (msgspec.DecodeError, RecursionError) as exc:  # RecursionError: nesting past the decoder's limit
            raise BadDataError(f"page {number}: response is not valid JSON or not a list of records ({exc}); "
                               f"{len(body)} bytes received", **where) from None
        ids: list[str] = []
        stamps: list[datetime] = []
        sensitive: list[int] = []
        previous = after
        for position, envelope in enumerate(envelopes):
            updated = envelope.info.lastUpdated if envelope.info is not None else None
            rid = envelope.id
            if rid is None or updated is None:
                raise BadDataError(f"page {number}: record without id or _info.lastUpdated: "
                                   f"{self.redact.quote(bytes(raws[position]), 200)}", **where)
            try:
                stamp = _parse_stamp(updated)
            except ValueError:
                raise BadDataError(f"page {number}: record {rid}: bad _info.lastUpdated "
                                   f"{self.redact.quote(repr(updated), 100)}", **where) from None
            if previous is not None and rid <= previous:
                raise BadDataError(f"page {number}: ids not ascending past the cursor ({rid} <= {previous})", **where)
            if start is not None and end is not None and not (start <= stamp < end):
                raise BadDataError(f"page {number}: record {rid} changed at {iso_z(stamp)}, outside the requested "
                                   f"range [{iso_z(start)}, {iso_z(end)})", **where)
            if self._deny_values is not None and self._deny_values(envelope) != self._no_deny:
                sensitive.append(position)
            previous = rid
            ids.append(str(rid))
            stamps.append(stamp)
        return Page(number=number, record_ids=ids, updated_at=stamps, raws=[bytes(r) for r in raws],
                    sensitive=sensitive, last_id=str(previous) if previous is not None else None)

    async def pages(self, table: str, start: datetime, end: datetime, after_id: str | None) -> AsyncIterator[Page]:
        path = self._path(table)
        cursor = int(after_id) if after_id is not None else None
        number = 0
        while True:
            number += 1
            conditions = _range_conditions(start, end)
            if cursor is not None:
                conditions += f" and id>{cursor}"
            body, headers = await self.http.get_bytes(
                path,
                {"conditions": conditions, "orderBy": "id asc", "page": 1, "pageSize": self.page_size},
                table=table, page=number,
            )
            with stage("decode"):
                page = self._page(body, table, number, start, end, cursor)
            if len(page):
                if page.last_id is not None:  # always, on a page with records: it is the last record's id
                    cursor = int(page.last_id)
                yield dataclasses.replace(page, remaining=_remaining(headers, len(page), self.page_size))
            if not _has_next(headers, len(page), self.page_size):
                return

    async def list_ids(self, table: str) -> AsyncIterator[list[str]]:
        path = self._path(table)
        cursor: int | None = None
        while True:
            params = {"fields": "id", "orderBy": "id asc", "page": 1, "pageSize": self.spec.page_size_max}
            if cursor is not None:
                params["conditions"] = f"id>{cursor}"
            body, _ = await self.http.get_json(path, params, table=table)
            ids = [int(item["id"]) for item in body]
            # out of order, the listing would skip ids and a reconciliation close their records as deleted
            if any(b <= a for a, b in itertools.pairwise(ids if cursor is None else [cursor, *ids])):
                raise BadDataError(f"listing ids: ids not ascending past the cursor ({ids[:5]}… after {cursor}); "
                                   "the API ignored orderBy=id asc or the id condition",
                                   tenant_id=self.tenant_id, service=self.spec.service, table=table)
            if ids:
                cursor = ids[-1]
                yield [str(i) for i in ids]
            if len(ids) < self.spec.page_size_max:
                return

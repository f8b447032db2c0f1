"""ConnectWise Manage connector.

Inside a chunk `[start, end)` it pages by keyset: `conditions=_info/lastUpdated >= [start] and
_info/lastUpdated < [end] and id > {last id}`, `orderBy=id asc`, always page 1. Offsets would shift
while the source changes; an id cursor never does, so a record that changes mid-extraction is
neither lost nor read twice (its new version lands outside the range and is read next run).
"""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from datetime import datetime

from avesa.catalog.models import ServiceSpec
from avesa.connectors.base import Page, SourceRecord
from avesa.connectors.http_client import HttpOptions, SourceHttp
from avesa.connectors.rate_budget import RateBudget
from avesa.domain.errors import BadDataError, ConfigError
from avesa.domain.timeutil import iso_z, parse_utc

CHANGE_FIELD = "_info/lastUpdated"


def basic_auth_header(company_id: str, public_key: str, private_key: str) -> str:
    token = base64.b64encode(f"{company_id}+{public_key}:{private_key}".encode()).decode()
    return f"Basic {token}"


def _range_conditions(start: datetime | None, end: datetime) -> str:
    parts = []
    if start is not None:
        parts.append(f"{CHANGE_FIELD}>=[{iso_z(start)}]")
    parts.append(f"{CHANGE_FIELD}<[{iso_z(end)}]")
    return " and ".join(parts)


class ConnectWiseConnector:
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
        self.page_size = min(page_size, spec.page_size_max)
        base_url = credentials["api_url"].rstrip("/") + spec.api_path + "/"
        headers = {
            "Authorization": basic_auth_header(
                credentials["company_id"], credentials["public_key"], credentials["private_key"]
            ),
            "clientId": credentials["client_id"],
            "Accept": "application/json",
        }
        self.http = SourceHttp(base_url=base_url, headers=headers, budget=budget, options=options,
                               tenant_id=tenant_id, service=spec.service)

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
            raise BadDataError(f"count of {table}: expected {{'count': N}}, got {str(body)[:200]}",
                               tenant_id=self.tenant_id, service="connectwise", table=table)
        return body["count"]

    async def earliest_change(self, table: str) -> datetime | None:
        body, _ = await self.http.get_json(
            self._path(table),
            {"orderBy": f"{CHANGE_FIELD} asc", "pageSize": 1, "fields": f"id,{CHANGE_FIELD}"},
            table=table,
        )
        if not body:
            return None
        return self._parse(body[0], table, 1).updated_at

    def _parse(self, item: object, table: str, page: int) -> SourceRecord:
        where = {"tenant_id": self.tenant_id, "service": "connectwise", "table": table}
        if not isinstance(item, dict):
            raise BadDataError(f"page {page}: expected a JSON object per record, got {type(item).__name__}", **where)
        record_id = item.get("id")
        info = item.get("_info")
        updated = info.get("lastUpdated") if isinstance(info, dict) else None
        if record_id is None or updated is None:
            raise BadDataError(f"page {page}: record without id or _info.lastUpdated: {str(item)[:200]}", **where)
        try:
            updated_at = parse_utc(updated)
        except (TypeError, ValueError):
            raise BadDataError(f"page {page}: record {record_id}: bad _info.lastUpdated {updated!r}", **where) from None
        return SourceRecord(record_id=str(record_id), updated_at=updated_at, body=item)

    async def pages(self, table: str, start: datetime, end: datetime, after_id: str | None) -> AsyncIterator[Page]:
        path = self._path(table)
        where = {"tenant_id": self.tenant_id, "service": "connectwise", "table": table}
        cursor = int(after_id) if after_id is not None else None
        number = 0
        while True:
            number += 1
            conditions = _range_conditions(start, end)
            if cursor is not None:
                conditions += f" and id>{cursor}"
            body, _ = await self.http.get_json(
                path,
                {"conditions": conditions, "orderBy": "id asc", "page": 1, "pageSize": self.page_size},
                table=table, page=number,
            )
            if not isinstance(body, list):
                raise BadDataError(f"page {number}: expected a JSON list, got {type(body).__name__}", **where)
            records = [self._parse(item, table, number) for item in body]
            for rec in records:
                rid = int(rec.record_id)
                if cursor is not None and rid <= cursor:
                    raise BadDataError(f"page {number}: ids not ascending past the cursor ({rid} <= {cursor})",
                                       **where)
                if not (start <= rec.updated_at < end):
                    raise BadDataError(
                        f"page {number}: record {rid} changed at {iso_z(rec.updated_at)}, outside the requested "
                        f"range [{iso_z(start)}, {iso_z(end)})", **where)
                cursor = rid
            if records:
                yield Page(number=number, records=records, last_id=str(cursor))
            if len(records) < self.page_size:
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
            if ids:
                cursor = ids[-1]
                yield [str(i) for i in ids]
            if len(ids) < self.spec.page_size_max:
                return

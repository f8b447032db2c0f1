"""State store items of the DynamoDB back end, to and from the records the contract returns.

Datetimes are ISO-8601 UTC strings of one fixed width (`2025-01-01T00:00:00.000000+00:00`), so
that comparing two strings — in a condition such as `lease_expires <= :now` or `watermark < :new`,
or in an index's sort order — compares the times. A missing attribute is None. Nothing secret is
ever an attribute: services hold a reference to their credentials, never the credentials.
"""

from __future__ import annotations

import json
from datetime import datetime

from avesa.domain.audit import AuditEntry
from avesa.domain.registry import RateLimitOverride, ScheduleOverride, Tenant, TenantService
from avesa.domain.timeutil import parse_utc
from avesa.domain.work import ChunkStatus, ChunkTask, RunStatus, TableRef
from avesa.state.dynamodb import layout
from avesa.state.dynamodb.gateway import Item
from avesa.state.ledger_records import ChunkRecord, QueuedBackfill, RunRecord, TableRunRecord
from avesa.state.ledger_rules import lease_end


def ts(value: datetime | None) -> str | None:
    """A datetime as a sortable fixed-width UTC string (None stays None)."""
    return None if value is None else parse_utc(value).isoformat(timespec="microseconds")


def dt(value: str | None) -> datetime | None:
    return None if value is None else parse_utc(value)


def expiry(now: datetime, lease_seconds: float) -> str:
    return ts(lease_end(now, lease_seconds)) or ""


# ---- registry ------------------------------------------------------------------------------
def tenant_item(tenant: Tenant) -> Item:
    return {"kind": "tenant", "tenant_id": tenant.tenant_id, "company_name": tenant.company_name,
            "enabled": tenant.enabled}


def tenant(item: Item) -> Tenant:
    return Tenant(tenant_id=item["tenant_id"], company_name=item["company_name"], enabled=item["enabled"],
                  created_at=parse_utc(item["created_at"]))


def service_item(service: TenantService) -> Item:
    return {"kind": "service", "tenant_id": service.tenant_id, "service": service.service,
            "enabled": service.enabled, "settings": dict(service.settings), "tables": list(service.tables),
            "secret_ref": service.secret_ref,
            "rate_limit": service.rate_limit.model_dump_json() if service.rate_limit else None,
            "schedule": service.schedule.model_dump_json() if service.schedule else None}


def service(item: Item) -> TenantService:
    rate = RateLimitOverride.model_validate_json(item["rate_limit"]) if item.get("rate_limit") else None
    schedule = ScheduleOverride.model_validate_json(item["schedule"]) if item.get("schedule") else None
    return TenantService(tenant_id=item["tenant_id"], service=item["service"], enabled=item["enabled"],
                         settings=item.get("settings") or {}, tables=item.get("tables") or [],
                         secret_ref=item["secret_ref"], rate_limit=rate, schedule=schedule,
                         created_at=parse_utc(item["created_at"]))


def full_tenant_item(tenant: Tenant) -> Item:
    """A tenant as one whole item (a Put), `created_at` included."""
    return {**layout.tenant_key(tenant.tenant_id), **tenant_item(tenant), "created_at": ts(tenant.created_at)}


def full_service_item(config: TenantService) -> Item:
    """A service as one whole item (a Put), `created_at` included; None attributes are left out."""
    item = {**layout.service_key(config.tenant_id, config.service), **service_item(config),
            "created_at": ts(config.created_at)}
    return {k: v for k, v in item.items() if v is not None}


def audit_item(entry: AuditEntry) -> Item:
    at = ts(entry.at) or ""
    item = {**layout.audit_key(at, entry.entry_id), "kind": "audit", "entry_id": entry.entry_id, "at": at,
            "actor": entry.actor, "action": entry.action, "outcome": entry.outcome.value,
            "tenant_id": entry.tenant_id, "service": entry.service, "target": entry.target,
            "details": json.dumps(entry.details, sort_keys=True, default=str), "message": entry.message}
    return {k: v for k, v in item.items() if v is not None}


def audit(item: Item) -> AuditEntry:
    return AuditEntry(entry_id=item["entry_id"], at=parse_utc(item["at"]), actor=item["actor"],
                      action=item["action"], outcome=item["outcome"], tenant_id=item.get("tenant_id"),
                      service=item.get("service"), target=item.get("target"),
                      details=json.loads(item.get("details") or "{}"), message=item.get("message", ""))


def queued_backfill_item(queue_id: int, request: dict, queued_at: datetime, queued_by: str) -> Item:
    return {**layout.queued_backfill_key(queue_id), "kind": "queued_backfill", "queue_id": queue_id,
            "request": json.dumps(request, sort_keys=True), "queued_at": ts(queued_at), "queued_by": queued_by}


def queued_backfill(item: Item) -> QueuedBackfill:
    return QueuedBackfill(queue_id=int(item["queue_id"]), request=json.loads(item["request"]),
                          queued_at=parse_utc(item["queued_at"]), queued_by=item["queued_by"])


# ---- runs ------------------------------------------------------------------------------------
def run_item(run_id: str, started_at: datetime, request: dict, owner: str) -> Item:
    return {**layout.run_key(run_id), "kind": "run", "run_id": run_id, "started_at": ts(started_at),
            "run_status": RunStatus.RUNNING.value, "request": json.dumps(request), "owner": owner,
            "run_list": layout.RUN_LIST}


def run(item: Item) -> RunRecord:
    return RunRecord(run_id=item["run_id"], started_at=parse_utc(item["started_at"]),
                     finished_at=dt(item.get("finished_at")),
                     status=item["run_status"], request=json.loads(item["request"]), owner=item["owner"],
                     lease_expires=dt(item.get("lease_expires")))


# ---- table runs --------------------------------------------------------------------------------
def table_run_item(ref: TableRef) -> Item:
    started = ts(ref.run_started_at)
    return {**layout.table_run_key(ref.run_id, ref.tenant_id, ref.service, ref.table), "kind": "table_run",
            "run_id": ref.run_id, "tenant_id": ref.tenant_id, "service": ref.service, "table": ref.table,
            "mode": ref.mode.value, "status": "pending", "records": 0, "versions_created": 0, "deletes": 0,
            "chunks_total": 0, "started_at": started, "gsi_tenant": ref.tenant_id,
            "gsi_tenant_sk": f"TABLE#{started}#{ref.run_id}#{ref.service}#{ref.table}"}


def table_run_value(value: object) -> object:
    """A field given to `update_table_run` as it is stored."""
    if isinstance(value, datetime):
        return ts(value)
    return value


def table_run(item: Item, landed: int | None) -> TableRunRecord:
    """`landed`: the records its chunks checkpointed, summed (None when it has none)."""
    return TableRunRecord(
        run_id=item["run_id"], tenant_id=item["tenant_id"], service=item["service"], table=item["table"],
        mode=item["mode"], status=item["status"], range_start=dt(item.get("range_start")),
        range_end=dt(item.get("range_end")), estimate=item.get("estimate"),
        records=item.get("records", 0) if landed is None else landed,
        versions_created=item.get("versions_created", 0), deletes=item.get("deletes", 0),
        chunks_total=item.get("chunks_total", 0), started_at=parse_utc(item["started_at"]),
        finished_at=dt(item.get("finished_at")), error=item.get("error"),
        nulled_values=item.get("nulled_values") or {},
        source_count=item.get("source_count"), canonical_count=item.get("canonical_count"),
    )


def table_key_of(item: Item) -> tuple[str, str, str, str]:
    """(run, tenant, service, table) of a table run or a chunk item."""
    return item["run_id"], item["tenant_id"], item["service"], item["table"]


# ---- chunks ------------------------------------------------------------------------------------
def chunk_item(chunk: ChunkTask) -> Item:
    ref = chunk.table
    return {**layout.chunk_key(ref.run_id, ref.tenant_id, ref.service, ref.table, chunk.chunk_id), "kind": "chunk",
            "chunk_id": chunk.chunk_id, "run_id": ref.run_id, "tenant_id": ref.tenant_id, "service": ref.service,
            "table": ref.table, "idx": chunk.index, "range_start": ts(chunk.start), "range_end": ts(chunk.end),
            "status": ChunkStatus.PENDING.value, "cursor": chunk.cursor, "seq": chunk.seq, "records": 0,
            "pages": 0, "files": 0, "estimate": chunk.estimate, "attempts": 0, "seconds": 0.0,
            "gsi_tenant": ref.tenant_id,
            "gsi_tenant_sk": f"CHUNK#{ref.run_id}#{ref.service}#{ref.table}#{chunk.chunk_id}"}


def locator_item(chunk: ChunkTask) -> Item:
    key = chunk_item(chunk)
    return {**layout.locator_key(chunk.chunk_id), "kind": "chunk_locator", "chunk_pk": key["pk"],
            "chunk_sk": key["sk"], "run_id": chunk.table.run_id}


def chunk(item: Item) -> ChunkRecord:
    return ChunkRecord(
        chunk_id=item["chunk_id"], run_id=item["run_id"], tenant_id=item["tenant_id"], service=item["service"],
        table=item["table"], idx=item["idx"], range_start=parse_utc(item["range_start"]),
        range_end=parse_utc(item["range_end"]),
        status=item["status"], cursor=item.get("cursor"), seq=item.get("seq", 0), records=item.get("records", 0),
        pages=item.get("pages", 0), files=item.get("files", 0), max_updated_at=dt(item.get("max_updated_at")),
        estimate=item.get("estimate"), attempts=item.get("attempts", 0), last_error=item.get("last_error"),
        lease_owner=item.get("lease_owner"), lease_expires=dt(item.get("lease_expires")),
        seconds=float(item.get("seconds", 0.0)),
    )

"""Helpers for end-to-end tests: run a sync, wait for the source's clock, read the lake."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

import pyarrow as pa

from avesa.domain.registry import RateLimitOverride
from avesa.domain.timeutil import parse_utc
from avesa.domain.work import RunRequest
from avesa.lake.delta_tables import read_canonical
from avesa.observability import events
from avesa.pipeline.context import PipelineContext
from avesa.pipeline.registration import register_service
from avesa.runtime.local import RunSummary, run_sync
from avesa_sandbox import SandboxAdmin

CONNECTWISE_SYNCED = ["service/tickets", "time/entries", "company/companies", "company/contacts"]
"""The ConnectWise sandbox tables a default registration syncs. Mutations that tests count (deletes
above all) are kept to them: left to its default, the sandbox changes any of its 13 tables."""


def sync(ctx: PipelineContext, **request: object) -> RunSummary:
    return run_sync(ctx, RunRequest(**request))


@contextmanager
def emitted(name: str) -> Iterator[list[dict]]:
    """The fields of every `name` event emitted inside the block, in order."""
    seen: list[dict] = []
    unsubscribe = events.subscribe(lambda event, fields: seen.append(fields) if event == name else None)
    try:
        yield seen
    finally:
        unsubscribe()


def let_source_clock_pass(admin: SandboxAdmin, instances: list[str], since_seq: dict[str, int] | None = None) -> None:
    """Sleep until every stamp the sandbox has handed out lies in a closed second (see the demo)."""
    newest = 0.0
    for name in instances:
        entries = admin.changes(name, after_seq=(since_seq or {}).get(name, 0))
        newest = max([newest, *(parse_utc(e["last_updated"]).timestamp() for e in entries)])
    time.sleep(max(0.0, newest + 1.05 - time.time()))


def canonical(ctx: PipelineContext, tenant_id: str, table: str) -> pa.Table:
    result = read_canonical(ctx.lake.canonical_uri(tenant_id, table))
    assert result is not None, f"no canonical {table} for {tenant_id}"
    return result


def register_unthrottled(ctx: PipelineContext, instance: str, service: str, credentials: dict[str, str],
                         tables: list[str] | None = None) -> str:
    """The instance as a tenant (tenant id = instance name), the service's rate budget lifted for the test."""
    record = register_service(ctx, tenant_id=instance, company_name=instance.title(), service=service,
                              credentials=credentials, tables=tables)
    ctx.state.put_service(record.model_copy(update={"rate_limit": RateLimitOverride(requests_per_minute=60_000,
                                                                                     burst=1000)}))
    return instance

"""ServiceNow through the whole embedded pipeline against the sandbox over real HTTP: the canonical
SCD2 history compared with the sandbox's ground-truth change log — no version lost, none
duplicated, none invented, deletes closed with is_deleted — with the source changing while the
pipeline extracts."""

from __future__ import annotations

import glob
from collections.abc import Callable
from pathlib import Path

import orjson
import pyarrow.parquet as pq

from avesa.catalog.loader import load_catalog
from avesa.domain.timeutil import parse_utc
from avesa.pipeline.context import PipelineContext
from avesa_sandbox import SandboxAdmin
from tests.connectors.test_servicenow import sn_credentials, sn_instance  # noqa: F401 (fixture)
from tests.pipeline.change_log import (
    CTX,
    assert_current_matches_source,
    assert_history_equals_change_log,
    assert_history_survives_changes_during_extraction,
    compiled_mapping,
    timed_sync,
)
from tests.pipeline.helpers import canonical, let_source_clock_pass, register_unthrottled

SERVICE = "servicenow"


def register_servicenow(ctx: PipelineContext, admin: SandboxAdmin, instance: str, *, oauth: bool = False,
                        tables: list[str] | None = None) -> str:
    """The instance as a tenant; the rate budget lifted from ServiceNow's 100/minute for the test."""
    return register_unthrottled(ctx, instance, SERVICE, sn_credentials(admin, instance, oauth=oauth), tables)


def test_full_then_incremental_sync_keeps_the_change_log_with_deletes_from_the_audit_table(
        sandbox_admin: SandboxAdmin, sn_instance: Callable[..., str], make_ctx: CTX,  # noqa: F811
        avesa_home: Path) -> None:
    tenant = register_servicenow(make_ctx(), sandbox_admin, sn_instance("sne2e"), oauth=True)
    first_window, first = timed_sync(make_ctx)
    assert first.records > 0
    assert_current_matches_source(make_ctx(), sandbox_admin, tenant, SERVICE)

    landed = {(e["table"], e["id"]) for e in sandbox_admin.changes(tenant)}
    sandbox_admin.mutate(tenant, updates=60, inserts=15, deletes=8, seed=3)
    let_source_clock_pass(sandbox_admin, [tenant])
    second_window, second = timed_sync(make_ctx)
    # incremental: only what changed since the watermark (plus the look-back) is read again
    assert second.records < first.records / 2
    assert_current_matches_source(make_ctx(), sandbox_admin, tenant, SERVICE)

    # the deletes were closed by sys_audit_delete rows (reconciliation is not due yet), at their source time
    deleted = {(e["table"], e["id"]): parse_utc(e["last_updated"]) for e in sandbox_admin.changes(tenant)
               if e["op"] == "delete" and (e["table"], e["id"]) in landed
               and e["table"] in load_catalog().service(SERVICE).default_tables}
    assert deleted and sum(r.deletes for r in second.results) == len(deleted)
    for (table, rid), when in deleted.items():
        canonical_table = compiled_mapping(SERVICE, table).mapping.canonical_table
        rows = [r for r in canonical(make_ctx(), tenant, canonical_table).to_pylist()
                if r["source_id"] == rid and r["is_deleted"]]
        assert [r["effective_start_date"] for r in rows] == [when], f"{table}/{rid}"

    assert assert_history_equals_change_log(make_ctx(), sandbox_admin, tenant, [first_window, second_window], SERVICE,
                                            of_service_only=False) > 0
    # a full sync reconciles ids: nothing is left to delete, nothing changes
    _, third = timed_sync(make_ctx, full=True)
    assert sum(r.deletes for r in third.results) == 0 and sum(r.versions_created for r in third.results) == 0

    sensitive = set(load_catalog().service(SERVICE).sensitive_fields) | {"payload"}
    files = glob.glob(str(avesa_home / "lake" / tenant / "raw" / SERVICE / "*" / "*.parquet"))
    assert files
    for path in files:
        for text in pq.read_table(path, columns=["record"]).column("record").to_pylist():
            assert not sensitive & orjson.loads(text).keys()


def test_history_equals_the_change_log_when_the_source_changes_during_extraction(
        sandbox_admin: SandboxAdmin, sn_instance: Callable[..., str], make_ctx: CTX) -> None:  # noqa: F811
    tenant = register_servicenow(make_ctx(), sandbox_admin, sn_instance("snhist", knobs={"latency_ms": 10}))
    assert_history_survives_changes_during_extraction(make_ctx, sandbox_admin, tenant, SERVICE, source="the source",
                                                      mutated_tables=None, of_service_only=False)

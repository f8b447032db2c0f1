"""Salesforce through the whole embedded pipeline against the sandbox org over real HTTP: the canonical
SCD2 history compared with the sandbox's ground-truth change log — no version lost, none duplicated,
none invented, deletes (from queryAll's IsDeleted rows) closed with is_deleted at their deletion time —
also while the org changes during extraction."""

from __future__ import annotations

import glob
from collections.abc import Callable
from pathlib import Path

from avesa.catalog.loader import load_catalog
from avesa.domain.timeutil import parse_utc
from avesa.pipeline.context import PipelineContext
from avesa_sandbox import SandboxAdmin
from tests.connectors.test_salesforce import sf_credentials, sf_instance  # noqa: F401 (fixture)
from tests.pipeline.change_log import (
    CTX,
    assert_current_matches_source,
    assert_history_equals_change_log,
    assert_history_survives_changes_during_extraction,
    table_rows,
    timed_sync,
)
from tests.pipeline.helpers import let_source_clock_pass, register_unthrottled

SERVICE = "salesforce"
TABLES = ["Account", "Contact", "Case"]
"""The objects the mutations touch: the service's default tables, which a sync reads."""


def register_salesforce(ctx: PipelineContext, admin: SandboxAdmin, instance: str) -> str:
    """The org as a tenant; the rate budget lifted from Salesforce's 1,000/minute for the test."""
    return register_unthrottled(ctx, instance, SERVICE, sf_credentials(admin, instance))


def test_full_then_incremental_sync_keeps_the_change_log_with_deletes_from_query_all(
        sandbox_admin: SandboxAdmin, sf_instance: Callable[..., str], make_ctx: CTX,  # noqa: F811
        avesa_home: Path) -> None:
    tenant = register_salesforce(make_ctx(), sandbox_admin, sf_instance("sfe2e"))
    first_window, first = timed_sync(make_ctx)
    assert first.records > 0 and len(first.results) == 3
    assert_current_matches_source(make_ctx(), sandbox_admin, tenant, SERVICE)

    landed = {(e["table"], e["id"]) for e in sandbox_admin.changes(tenant)}
    # changes to the synced objects only: a draw that deleted only Opportunities or Tasks (their rng
    # stream follows the clock) would leave no delete to check
    sandbox_admin.mutate(tenant, updates=20, inserts=6, deletes=10, seed=3, tables=TABLES)
    let_source_clock_pass(sandbox_admin, [tenant])
    sandbox_admin.add_fault(tenant, "token-expired", table="Contact")  # the session ends in the middle of the run
    second_window, second = timed_sync(make_ctx)
    assert sandbox_admin.stats(tenant)["by_status"].get("401", 0) >= 1  # renewed and replayed: nothing failed
    # incremental: only what changed since the watermark (plus the look-back) is read again
    assert second.records < first.records / 2
    assert_current_matches_source(make_ctx(), sandbox_admin, tenant, SERVICE)

    # the deletes were closed by queryAll's IsDeleted rows (reconciliation is not due yet), at their deletion time
    default_tables = load_catalog().service(SERVICE).default_tables
    deleted = {(e["table"], e["id"]): parse_utc(e["last_updated"]) for e in sandbox_admin.changes(tenant)
               if e["op"] == "delete" and (e["table"], e["id"]) in landed and e["table"] in default_tables}
    assert deleted and sum(r.deletes for r in second.results) == len(deleted)
    for (table, rid), when in deleted.items():
        rows = [r for r in table_rows(make_ctx(), tenant, SERVICE, table, of_service_only=True)
                if r["source_id"] == rid and r["is_deleted"]]
        assert [r["effective_start_date"] for r in rows] == [when], f"{table}/{rid}"

    assert assert_history_equals_change_log(make_ctx(), sandbox_admin, tenant, [first_window, second_window], SERVICE,
                                            of_service_only=True) > 0
    # a full sync reconciles ids: nothing is left to delete, nothing changes
    _, third = timed_sync(make_ctx, full=True)
    assert sum(r.deletes for r in third.results) == 0 and sum(r.versions_created for r in third.results) == 0
    files = glob.glob(str(avesa_home / "lake" / tenant / "raw" / SERVICE / "*" / "*.parquet"))
    assert {Path(f).parent.name for f in files} == set(default_tables)


def test_history_equals_the_change_log_when_the_org_changes_during_extraction(
        sandbox_admin: SandboxAdmin, sf_instance: Callable[..., str], make_ctx: CTX) -> None:  # noqa: F811
    tenant = register_salesforce(make_ctx(), sandbox_admin, sf_instance("sfhist", knobs={"latency_ms": 10}))
    assert_history_survives_changes_during_extraction(make_ctx, sandbox_admin, tenant, SERVICE, source="the org",
                                                      mutated_tables=TABLES, of_service_only=True)

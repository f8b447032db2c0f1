"""Salesforce through the whole embedded pipeline against the sandbox org over real HTTP: the canonical
SCD2 history compared with the sandbox's ground-truth change log — no version lost, none duplicated,
none invented, deletes (from queryAll's IsDeleted rows) closed with is_deleted at their deletion time —
also while the org changes during extraction."""

from __future__ import annotations

import glob
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import orjson

from avesa.catalog.loader import load_catalog
from avesa.cli.ground_truth import check_tenant
from avesa.domain.registry import RateLimitOverride
from avesa.domain.timeutil import parse_utc, utc_now
from avesa.pipeline.context import PipelineContext
from avesa.pipeline.registration import register_service
from avesa.runtime.local import RunSummary
from avesa.sandbox import SandboxAdmin
from avesa.transform.mapping import CompiledMapping
from tests.connectors.test_salesforce import sf_credentials, sf_instance  # noqa: F401 (fixture)
from tests.pipeline.helpers import canonical, let_source_clock_pass, sync

SERVICE = "salesforce"
CTX = Callable[..., PipelineContext]


def register_salesforce(ctx: PipelineContext, admin: SandboxAdmin, instance: str) -> str:
    """The org as a tenant; the rate budget lifted from Salesforce's 1,000/minute for the test."""
    record = register_service(ctx, tenant_id=instance, company_name=instance.title(), service=SERVICE,
                              credentials=sf_credentials(admin, instance))
    ctx.state.put_service(record.model_copy(update={"rate_limit": RateLimitOverride(requests_per_minute=60_000,
                                                                                     burst=1000)}))
    return instance


def _compiled(table: str) -> CompiledMapping:
    catalog = load_catalog()
    mapping = catalog.mapping(SERVICE, table)
    assert mapping is not None
    return CompiledMapping(mapping, catalog.canonical_table(mapping.canonical_table))


def _mapped(compiled: CompiledMapping, tenant: str, entry: dict) -> dict:
    version = (entry["id"], parse_utc(entry["last_updated"]), orjson.dumps(entry["record"]).decode())
    return compiled.to_versions([version], tenant_id=tenant, run_id="truth", loaded_at=utc_now()).to_pylist()[0]


def _rows(ctx: PipelineContext, tenant: str, table: str) -> list[dict]:
    compiled = _compiled(table)
    return [r for r in canonical(ctx, tenant, compiled.mapping.canonical_table).to_pylist()
            if r["source_table"] == table and r["source_service"] == SERVICE]


def assert_current_matches_source(ctx: PipelineContext, admin: SandboxAdmin, tenant: str) -> None:
    """Current canonical rows are exactly the org's live records, business column for column."""
    checks = check_tenant(ctx, admin, tenant, tenant, SERVICE)
    assert len(checks) == len(ctx.catalog.service(SERVICE).default_tables)
    assert all(check.ok for check in checks), checks


@dataclass
class RunWindow:
    wall_start: float
    wall_end: float
    end_bound: datetime  # the run's range end: it reads changes stamped before this


def _timed_sync(make_ctx: CTX, **request: object) -> tuple[RunWindow, RunSummary]:
    started = time.time()
    summary = sync(make_ctx(page_size=10, target_chunk_records=40, records_per_file=20), **request)
    assert not summary.failed, [r.error for r in summary.failed]
    return RunWindow(started, time.time(), summary.results[0].table.run_started_at), summary


def assert_history_equals_change_log(ctx: PipelineContext, admin: SandboxAdmin, tenant: str,
                                     runs: list[RunWindow]) -> int:
    """Every canonical version is a logged one, none twice; every logged version current throughout a
    run and stamped inside its range is in the history; deleted keys end with an is_deleted row.
    Returns how many logged versions were checked."""
    log: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for entry in admin.changes(tenant):
        log[(entry["table"], entry["id"])].append(entry)
    checked = 0
    for table in ctx.catalog.service(SERVICE).default_tables:
        compiled = _compiled(table)
        business = compiled.business_columns
        rows = _rows(ctx, tenant, table)
        starts = [(r["source_id"], r["effective_start_date"]) for r in rows]
        assert len(starts) == len(set(starts)), f"{table}: duplicate versions"
        by_key: dict[str, list[dict]] = defaultdict(list)
        for r in rows:
            by_key[r["source_id"]].append(r)

        for r in rows:  # none invented
            versions = log[(table, r["source_id"])]
            if r["is_deleted"]:
                deletes = [v for v in versions if v["op"] == "delete"]
                assert deletes and parse_utc(deletes[-1]["last_updated"]) <= r["effective_start_date"]
                assert r["is_current"], f"{table}/{r['source_id']}: a deleted key's last row must be current"
                continue
            same = [v for v in versions if v["op"] != "delete" and parse_utc(v["last_updated"]) ==
                    r["effective_start_date"]]
            assert len(same) == 1, f"{table}/{r['source_id']}: no logged version at {r['effective_start_date']}"
            expected = _mapped(compiled, tenant, same[0])
            assert {c: r[c] for c in business} == {c: expected[c] for c in business}

        for (logged_table, rid), versions in log.items():  # none lost
            if logged_table != table:
                continue
            for v, nxt in zip(versions, [*versions[1:], None], strict=True):
                born = parse_utc(v["changed_at"]).timestamp()
                died = parse_utc(nxt["changed_at"]).timestamp() if nxt else float("inf")
                stamp = parse_utc(v["last_updated"])
                if not any(born <= w.wall_start and died > w.wall_end and stamp < w.end_bound for w in runs):
                    continue
                checked += 1
                covering = [r for r in by_key.get(rid, []) if r["effective_start_date"] <= stamp
                            and (r["effective_end_date"] is None or stamp < r["effective_end_date"])]
                if v["op"] == "delete":
                    if by_key.get(rid):  # a key the history held is closed as deleted
                        assert covering and covering[0]["is_deleted"], f"{table}/{rid}: delete at {stamp} lost"
                    continue
                assert len(covering) == 1, f"{table}/{rid}: version at {stamp} lost"
                expected = _mapped(compiled, tenant, v)
                assert {c: covering[0][c] for c in business} == {c: expected[c] for c in business}
    return checked


def test_full_then_incremental_sync_keeps_the_change_log_with_deletes_from_query_all(
        sandbox_admin: SandboxAdmin, sf_instance: Callable[..., str], make_ctx: CTX,  # noqa: F811
        avesa_home: Path) -> None:
    tenant = register_salesforce(make_ctx(), sandbox_admin, sf_instance("sfe2e"))
    first_window, first = _timed_sync(make_ctx)
    assert first.records > 0 and len(first.results) == 3
    assert_current_matches_source(make_ctx(), sandbox_admin, tenant)

    landed = {(e["table"], e["id"]) for e in sandbox_admin.changes(tenant)}
    sandbox_admin.mutate(tenant, updates=60, inserts=15, deletes=10, seed=3)
    let_source_clock_pass(sandbox_admin, [tenant])
    sandbox_admin.add_fault(tenant, "token-expired", table="Contact")  # the session ends in the middle of the run
    second_window, second = _timed_sync(make_ctx)
    assert sandbox_admin.stats(tenant)["by_status"].get("401", 0) >= 1  # renewed and replayed: nothing failed
    # incremental: only what changed since the watermark (plus the look-back) is read again
    assert second.records < first.records / 2
    assert_current_matches_source(make_ctx(), sandbox_admin, tenant)

    # the deletes were closed by queryAll's IsDeleted rows (reconciliation is not due yet), at their deletion time
    default_tables = load_catalog().service(SERVICE).default_tables
    deleted = {(e["table"], e["id"]): parse_utc(e["last_updated"]) for e in sandbox_admin.changes(tenant)
               if e["op"] == "delete" and (e["table"], e["id"]) in landed and e["table"] in default_tables}
    assert deleted and sum(r.deletes for r in second.results) == len(deleted)
    for (table, rid), when in deleted.items():
        rows = [r for r in _rows(make_ctx(), tenant, table) if r["source_id"] == rid and r["is_deleted"]]
        assert [r["effective_start_date"] for r in rows] == [when], f"{table}/{rid}"

    assert assert_history_equals_change_log(make_ctx(), sandbox_admin, tenant, [first_window, second_window]) > 0
    # a full sync reconciles ids: nothing is left to delete, nothing changes
    _, third = _timed_sync(make_ctx, full=True)
    assert sum(r.deletes for r in third.results) == 0 and sum(r.versions_created for r in third.results) == 0
    files = glob.glob(str(avesa_home / "lake" / tenant / "raw" / SERVICE / "*" / "*.parquet"))
    assert {Path(f).parent.name for f in files} == set(default_tables)


class _Mutator:
    def __init__(self, admin: SandboxAdmin, instance: str) -> None:
        self.admin, self.instance = admin, instance
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.rounds = 0

    def _run(self) -> None:
        while not self.stop.wait(0.03):
            self.admin.mutate(self.instance, updates=4, inserts=1, deletes=1, seed=100 + self.rounds,
                              tables=["Account", "Contact", "Case"])
            self.rounds += 1


def test_history_equals_the_change_log_when_the_org_changes_during_extraction(
        sandbox_admin: SandboxAdmin, sf_instance: Callable[..., str], make_ctx: CTX) -> None:  # noqa: F811
    tenant = register_salesforce(make_ctx(), sandbox_admin, sf_instance("sfhist", knobs={"latency_ms": 10}))
    runs = [_timed_sync(make_ctx, full=True)[0]]
    sandbox_admin.mutate(tenant, updates=30, inserts=10, deletes=5, seed=11)
    let_source_clock_pass(sandbox_admin, [tenant])

    mutator = _Mutator(sandbox_admin, tenant)
    mutator.thread.start()
    try:
        runs.append(_timed_sync(make_ctx)[0])
    finally:
        mutator.stop.set()
        mutator.thread.join()
    assert mutator.rounds >= 3, "the org must change while the incremental sync extracts"
    let_source_clock_pass(sandbox_admin, [tenant])
    runs.append(_timed_sync(make_ctx)[0])
    let_source_clock_pass(sandbox_admin, [tenant])
    runs.append(_timed_sync(make_ctx, full=True)[0])

    changed_during_extraction = sum(1 for e in sandbox_admin.changes(tenant)
                                    if runs[1].wall_start <= parse_utc(e["changed_at"]).timestamp() <= runs[1].wall_end)
    assert changed_during_extraction > 0
    assert assert_history_equals_change_log(make_ctx(), sandbox_admin, tenant, runs) > 0
    assert_current_matches_source(make_ctx(), sandbox_admin, tenant)

"""Microsoft 365 users through the whole pipeline against the sandbox over real HTTP: delta rounds
kept between runs, removals closing keys, and the canonical history against the ground-truth change log.

Graph has no change stamp, so a version's validity starts when a run observed it (the run's range
end). The comparison is therefore of the sequence of distinct business states (and deletions) each
user went through as the runs saw it, and of the run each state was first seen by — not of source
timestamps."""

from __future__ import annotations

import glob
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
import pyarrow.parquet as pq
import pytest

from avesa.catalog.loader import load_catalog
from avesa.domain.timeutil import parse_utc, utc_now
from avesa.domain.work import TableStatus
from avesa.pipeline.context import PipelineContext
from avesa.pipeline.registration import register_service
from avesa.runtime.local import RunSummary
from avesa.transform.mapping import CompiledMapping
from avesa_sandbox import SandboxAdmin, SandboxServer
from tests.connectors.test_microsoft365 import EIGHT_DAYS, GraphInstances, graph_credentials
from tests.pipeline.change_log import Mutator
from tests.pipeline.helpers import canonical, sync

CTX = Callable[..., PipelineContext]
SERVICE = "microsoft365"
DELETED = "deleted"


@pytest.fixture
def graph_instance(sandbox_admin: SandboxAdmin) -> Iterator[GraphInstances]:
    instances = GraphInstances(sandbox_admin)
    yield instances
    instances.close()


def _register(ctx: PipelineContext, admin: SandboxAdmin, instance: str, tables: list[str],
              credentials: dict[str, str] | None = None) -> str:
    register_service(ctx, tenant_id=instance, company_name=instance.title(), service=SERVICE,
                     credentials=credentials or graph_credentials(admin, instance), tables=tables)
    return instance


def _run(make_ctx: CTX, **request: Any) -> tuple[RunSummary, datetime]:
    """One sync, started in a fresh second (runs minutes apart in production never share one: the
    observation stamps of two runs must differ), and the range end its records are stamped with."""
    time.sleep(1.02 - time.time() % 1)
    summary = sync(make_ctx(records_per_file=150), **request)
    assert not summary.failed, [r.error for r in summary.failed]
    return summary, summary.results[0].table.run_started_at.replace(microsecond=0)


def _users(summary: RunSummary) -> Any:
    return next(r for r in summary.results if r.table.table == "users")


def _business(compiled: CompiledMapping, record_id: str, record: dict[str, Any]) -> tuple:
    row = compiled.to_versions([(record_id, utc_now(), orjson.dumps(record).decode())], tenant_id="t",
                               run_id="truth", loaded_at=utc_now()).to_pylist()[0]
    return tuple(row[c] for c in compiled.business_columns)


def _states_at(admin: SandboxAdmin, instance: str, seqs: list[int], compiled: CompiledMapping) -> list[dict]:
    """For each run (the change log's length when it started): every live user's business state."""
    log = admin.changes(instance, table="users")
    states = []
    for seq in seqs:
        latest: dict[str, dict] = {}
        for entry in log:
            if entry["seq"] <= seq:
                latest[str(entry["id"])] = entry
        states.append({rid: _business(compiled, rid, e["record"]) for rid, e in latest.items() if e["op"] != "delete"})
    return states


def _expected_history(states: list[dict], ends: list[datetime]) -> dict[str, list[tuple[datetime, Any]]]:
    """Per user: (observed at, business state or DELETED), consecutive repeats merged — what SCD2
    should hold when each run sees the source as it was when the run started."""
    expected: dict[str, list[tuple[datetime, Any]]] = {}
    for rid in {rid for state in states for rid in state}:
        history: list[tuple[datetime, Any]] = []
        for state, end in zip(states, ends, strict=True):
            now = state.get(rid, DELETED)
            if now == DELETED and not history:
                continue  # not created yet (or created and deleted between two runs: never seen)
            if not history or history[-1][1] != now:
                history.append((end, now))
        if history:
            expected[rid] = history
    return expected


def test_graph_users_history_matches_the_change_log(
        sandbox_admin: SandboxAdmin, graph_instance: GraphInstances, make_ctx: CTX, avesa_home: Path) -> None:
    instance = graph_instance("m365-e2e", users=450, knobs={"empty_page_rate": 0.3})
    tenant = _register(make_ctx(), sandbox_admin, instance, ["users", "managed_devices"])
    catalog = load_catalog()
    compiled = CompiledMapping(catalog.mapping(SERVICE, "users"), catalog.canonical_table("contacts"))
    seqs, ends, summaries = [], [], []

    def run(**request: Any) -> RunSummary:
        seqs.append(len(sandbox_admin.changes(instance)))
        summary, end = _run(make_ctx, **request)
        ends.append(end)
        summaries.append(summary)
        return summary

    first = run()  # no delta link yet: a whole round
    assert _users(first).records == 450
    graph_url = graph_credentials(sandbox_admin, instance)["graph_url"]
    link = make_ctx().state.get_sync_token(tenant, SERVICE, "users")
    assert link and link.startswith(f"{graph_url}/users/delta?$deltatoken=")

    sandbox_admin.mutate(instance, updates=40, inserts=8, deletes=6, tables=["users"], seed=21)
    ghost = sandbox_admin.create_record(instance, "users")["id"]  # created and deleted between two runs
    sandbox_admin.delete_record(instance, "users", ghost)
    second = run()  # the kept link: changes only
    assert 14 <= _users(second).records < 60 and _users(second).deletes == 6
    assert make_ctx().state.get_sync_token(tenant, SERVICE, "users") not in (None, link)

    report = sandbox_admin.mutate(instance, updates=40, inserts=5, deletes=4, tables=["users"], seed=22)
    changed = [u["id"] for u in report["updated"]]
    sandbox_admin.delete_record(instance, "users", changed[0])  # changed, then gone before the next run
    run()
    full = run(full=True)  # a new round from scratch, then id reconciliation: nothing new to say
    assert _users(full).records == len(sandbox_admin.record_ids(instance, "users"))
    assert _users(full).versions_created == 0 and _users(full).deletes == 0

    expected = _expected_history(_states_at(sandbox_admin, instance, seqs, compiled), ends)
    rows = [r for r in canonical(make_ctx(), tenant, "contacts").to_pylist() if r["source_table"] == "users"]
    actual: dict[str, list[tuple[datetime, Any]]] = {}
    for row in sorted(rows, key=lambda r: (r["source_id"], r["effective_start_date"])):
        state = DELETED if row["is_deleted"] else tuple(row[c] for c in compiled.business_columns)
        actual.setdefault(row["source_id"], []).append((row["effective_start_date"], state))
    assert str(ghost) not in actual
    assert set(actual) == set(expected)
    assert sum(1 for history in expected.values() if history[-1][1] == DELETED) == 11
    assert sum(1 for history in expected.values() if len(history) > 1) > 20
    for rid, history in expected.items():
        assert actual[rid] == history, f"users/{rid}: history differs from the change log"
    current = [r for r in rows if r["is_current"]]
    assert len(current) == len(actual)

    # raw: removals landed as records announcing their deletion; sensitive fields never landed
    raw = avesa_home / "lake" / tenant / "raw" / SERVICE
    users_raw = pq.read_table(sorted(glob.glob(str(raw / "users" / "*.parquet"))))
    announced = {rid for rid, gone in zip(users_raw["record_id"].to_pylist(), users_raw["source_deleted"].to_pylist(),
                                          strict=True) if gone}
    assert len(announced) == 11
    devices_raw = pq.read_table(sorted(glob.glob(str(raw / "managed_devices" / "*.parquet"))))
    assert devices_raw.num_rows > 0
    assert all("activationLockBypassCode" not in orjson.loads(r) for r in devices_raw["record"].to_pylist())


@pytest.mark.slow
def test_history_holds_what_each_round_saw_while_users_change_during_extraction(
        sandbox_admin: SandboxAdmin, graph_instance: GraphInstances, make_ctx: CTX) -> None:
    """Every version is a state the user really had while that run read it; a state held through a
    whole run is never lost; the rounds after the busy one settle on the source exactly."""
    instance = graph_instance("m365-busy", users=450, knobs={"latency_ms": 25, "empty_page_rate": 0.3})
    tenant = _register(make_ctx(), sandbox_admin, instance, ["users"])
    catalog = load_catalog()
    compiled = CompiledMapping(catalog.mapping(SERVICE, "users"), catalog.canonical_table("contacts"))
    windows: list[tuple[float, float, datetime]] = []  # (wall start, wall end, observation stamp)

    def run() -> None:
        started = time.time()
        _, end = _run(make_ctx)
        windows.append((started, time.time(), end))

    run()
    with Mutator(sandbox_admin, instance, tables=["users"], every=0.02) as mutator:  # updates, hires, leavers
        run()
    assert mutator.rounds >= 3, "users must change while the delta round is read"
    run()
    run()

    versions: dict[str, list[tuple[float, Any]]] = {}  # per user: (wall time it began, state) in order
    for entry in sandbox_admin.changes(instance, table="users"):
        state = DELETED if entry["op"] == "delete" else _business(compiled, str(entry["id"]), entry["record"])
        versions.setdefault(str(entry["id"]), []).append((parse_utc(entry["changed_at"]).timestamp(), state))
    rows: dict[str, list[dict]] = {}
    for row in canonical(make_ctx(), tenant, "contacts").to_pylist():
        rows.setdefault(row["source_id"], []).append(row)
    stamps = {end: (start, stop) for start, stop, end in windows}

    def state(row: dict) -> Any:
        return DELETED if row["is_deleted"] else tuple(row[c] for c in compiled.business_columns)

    checked = 0
    for rid, history in versions.items():
        spans = [(born, died, s) for (born, s), (died, _) in zip(history, [*history[1:], (float("inf"), None)],
                                                                    strict=True)]
        key_rows = sorted(rows.get(rid, []), key=lambda r: r["effective_start_date"])
        for row in key_rows:  # none invented: each row is a state the user had while its run read it
            start, stop = stamps[row["effective_start_date"]]
            assert any(s == state(row) and born <= stop and died > start for born, died, s in spans), (
                f"users/{rid}: a version no run could have seen")
        for start, stop, end in windows:  # none lost: a state held through a whole run is what history says then
            held = [s for born, died, s in spans if born <= start and died > stop]
            if not held or (held[0] == DELETED and not key_rows):
                continue
            covering = [r for r in key_rows if r["effective_start_date"] <= end
                        and (r["effective_end_date"] is None or end < r["effective_end_date"])]
            assert [state(r) for r in covering] == held, f"users/{rid}: the state held at {end} is not in history"
            checked += 1
    assert checked > 1000
    live = {rid for rid, key_rows in rows.items() for r in key_rows if r["is_current"] and not r["is_deleted"]}
    assert live == {str(i) for i in sandbox_admin.record_ids(instance, "users")}


def test_an_expired_delta_link_restarts_the_round_and_reconciliation_closes_the_gap(
        engine_sandbox: SandboxServer, sandbox_admin: SandboxAdmin, graph_instance: GraphInstances,
        make_ctx: CTX, avesa_home: Path) -> None:
    instance = graph_instance("m365-gap", users=80)
    tenant = _register(make_ctx(), sandbox_admin, instance, ["users"])
    _run(make_ctx)
    assert engine_sandbox.registry is not None
    clock = engine_sandbox.registry.clock
    clock.offset_seconds += EIGHT_DAYS  # the kept link is now older than Graph keeps sync state
    try:
        victim = str(sandbox_admin.record_ids(instance, "users")[3])
        sandbox_admin.delete_record(instance, "users", victim)  # during the gap: no fresh round mentions it
        sandbox_admin.mutate(instance, updates=5, tables=["users"], seed=4)
        summary, _ = _run(lambda **kw: make_ctx(reconcile_interval_hours=0, **kw))
    finally:
        clock.offset_seconds -= EIGHT_DAYS
    users = _users(summary)
    assert users.status == TableStatus.COMPLETE and users.records == 79  # a whole new round
    assert users.deletes == 1  # found by listing ids, not by the round
    rows = [r for r in canonical(make_ctx(), tenant, "contacts").to_pylist() if r["source_id"] == victim]
    assert [(r["is_deleted"], r["is_current"]) for r in sorted(rows, key=lambda r: r["effective_start_date"])] == [
        (False, False), (True, True)]
    live = {r["source_id"] for r in canonical(make_ctx(), tenant, "contacts").to_pylist()
            if r["is_current"] and not r["is_deleted"]}
    assert live == {str(i) for i in sandbox_admin.record_ids(instance, "users")}
    restarts = [orjson.loads(line) for line in (avesa_home / "logs" / "avesa.jsonl").read_text().splitlines()
                if "graph_sync_restarted" in line]
    assert [(e["tenant_id"], e["table"], e["sync"]) for e in restarts] == [(tenant, "users", "delta")]
    assert "HTTP 410" in restarts[0]["reason"]


def test_wrong_credentials_fail_the_tenants_tables_with_a_clear_message(
        sandbox_admin: SandboxAdmin, graph_instance: GraphInstances, make_ctx: CTX) -> None:
    instance = graph_instance("m365-bad")
    credentials = {**graph_credentials(sandbox_admin, instance), "client_secret": "wrong-secret"}
    tenant = _register(make_ctx(), sandbox_admin, instance, ["users", "organization"], credentials)
    summary = sync(make_ctx())
    assert {r.status for r in summary.results} == {TableStatus.FAILED}
    for result in summary.results:
        assert f"{tenant}/microsoft365" in result.error and "credentials" in result.error
        assert "wrong-secret" not in result.error
    assert make_ctx().state.get_sync_token(tenant, SERVICE, "users") is None


def test_history_comparison_helper_merges_repeats_and_skips_unseen_keys() -> None:
    t1, t2, t3 = (parse_utc(f"2025-01-0{d}T00:00:00Z") for d in (1, 2, 3))
    states = [{"a": ("x",)}, {"a": ("x",), "b": ("y",)}, {"b": ("z",)}]
    assert _expected_history(states, [t1, t2, t3]) == {
        "a": [(t1, ("x",)), (t3, DELETED)], "b": [(t2, ("y",)), (t3, ("z",))]}

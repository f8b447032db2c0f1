"""What a serverless run meets, played through the real state machines in moto's Step Functions
with the real Lambda handlers (over HTTP to moto's DynamoDB, S3 and Secrets Manager and to the
sandbox): a transient fault retried with the declared backoff, a table that cannot run failing
alone, a chunk out of time continuing from its cursor, a table continuing in a new execution past
its history budget, a second execution while one is live, an execution stopped half-way finished
by the next one, and the straggler of a stopped execution that must not spoil what its successor
landed. Each ends with the lake the embedded executor builds from the same source data.

Where moto's interpreter does not do what Step Functions does, a strict xfail says so (a Lambda
service error's name, StopExecution of a parent of .sync:2 children), so the day moto does it the
test turns green and the workaround here can go."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest

from avesa.domain.work import RunRequest, SyncMode, TableRef
from avesa.runtime.aws.handlers import AvesaTransientError
from avesa.runtime.local import run_sync
from avesa.state.ledger_records import ChunkRecord, TableRunRecord
from avesa_sandbox import SandboxAdmin
from tests.runtime.aws.sfn_support import Deployment
from tests.runtime.aws.test_state_machines import _history, _register
from tests.runtime.test_proof_executor import TUNING, Backends

TABLES = ("tickets", "time_entries")
"""The canonical tables of the two ConnectWise tables registered (service_tickets, time_entries)."""


@dataclass
class Tenant:
    """One ConnectWise tenant registered on both back-end sets."""

    name: str
    local: Backends
    sfn: Backends

    def embedded_run(self) -> None:
        """The embedded executor's run over the same source data: what the state machines must build."""
        end = run_sync(self.local.context(**TUNING), RunRequest())
        assert end.status == "complete", end

    def same_lake(self) -> None:
        for table in TABLES:
            theirs = _history(self.sfn, self.name, table)
            assert theirs is not None, table
            assert theirs == _history(self.local, self.name, table), table

    def table_runs(self, run_id: str) -> dict[str, TableRunRecord]:
        ctx = self.sfn.context()
        return {tr.table: tr for tr in ctx.state.list_table_runs(run_id=run_id, tenant_id=self.name)}

    def chunks(self, run_id: str, table: str) -> list[ChunkRecord]:
        ctx = self.sfn.context()
        run, table_run = ctx.state.get_run(run_id), self.table_runs(run_id)[table]
        assert run is not None
        return ctx.state.list_chunks(TableRef(run_id=run_id, tenant_id=self.name, service="connectwise", table=table,
                                              mode=SyncMode(table_run.mode), run_started_at=run.started_at))


@dataclass
class FirstChunk:
    """A chunk_processor hook: the first chunk it sees raises `raise_()` on its first `times` calls."""

    times: int
    raise_: Callable[[], BaseException]
    chunk_id: str | None = None
    raised: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, event: dict) -> None:
        if event.get("action") == "fail":
            return
        with self.lock:
            self.chunk_id = self.chunk_id or event["chunk_id"]
            if event["chunk_id"] != self.chunk_id or self.raised >= self.times:
                return
            self.raised += 1
        raise self.raise_()


def _new_tenant(aws_backends: tuple[Backends, Backends], sandbox_admin: SandboxAdmin,
                new_instance: Callable[..., str], tickets: int) -> Tenant:
    name = new_instance("sfx", counts={"service/tickets": tickets, "time/entries": 30})
    for where in aws_backends:
        _register(where, sandbox_admin, {name: "connectwise"})
    return Tenant(name, *aws_backends)


@pytest.fixture
def tenant(aws_backends: tuple[Backends, Backends], sandbox_admin: SandboxAdmin,
           new_instance: Callable[..., str]) -> Tenant:
    return _new_tenant(aws_backends, sandbox_admin, new_instance, tickets=60)


@pytest.fixture
def full_jitter_is_its_ceiling(monkeypatch: pytest.MonkeyPatch) -> None:
    """moto's FULL jitter draws the wait uniformly in [0, interval]: drawn at the top here, so the
    recorded waits are the declared backoff itself (IntervalSeconds x BackoffRate^n, capped)."""
    from moto.stepfunctions.parser.asl.component.common.retry import jitter_strategy_decl

    class _Ceiling:
        @staticmethod
        def uniform(low: float, high: float) -> float:
            return high

    monkeypatch.setattr(jitter_strategy_decl, "random", _Ceiling())


@pytest.mark.slow
def test_a_transient_chunk_fault_is_retried_with_the_declared_backoff_and_loses_nothing(
        deployment: Deployment, tenant: Tenant, full_jitter_is_its_ceiling: None) -> None:
    tenant.embedded_run()
    faulty = FirstChunk(times=2, raise_=lambda: AvesaTransientError("throttled"))
    deployment.invocations.hooks["chunk_processor"] = faulty
    end = deployment.run({}, timeout=120)

    assert end["status"] == "complete" and end["failed_tables"] == 0, end
    assert deployment.invocations.errors == [("chunk_processor", "AvesaTransientError")] * 2
    assert deployment.sleeps == [5, 10]  # AvesaTransientError's Retry: IntervalSeconds 5, BackoffRate 2
    attempts = [e for e in deployment.invocations.of("chunk_processor") if e["chunk_id"] == faulty.chunk_id]
    assert len(attempts) == 3 and not any(e.get("action") == "fail" for e in attempts)
    tenant.same_lake()


@pytest.mark.slow
@pytest.mark.xfail(strict=True, reason="moto 5.2.5 names every Lambda Invoke API error of a Task 'Exception' "
                   "(StateTaskLambda._from_error) where AWS says Lambda.ServiceException, "
                   "Lambda.TooManyRequestsException…, so the Lambda.* Retry of every Task never matches in moto")
def test_a_lambda_service_error_is_retried_by_the_lambda_retry(
        deployment: Deployment, tenant: Tenant, full_jitter_is_its_ceiling: None) -> None:
    deployment.invocations.service_errors["chunk_processor"] = ["ServiceException"]
    end = deployment.run({}, timeout=120)

    errors = [tr.error for tr in tenant.table_runs(end["run_id"]).values() if tr.error]
    assert deployment.sleeps == [2], errors  # the Lambda.* Retry: IntervalSeconds 2
    assert end["status"] == "complete", end


class Refused(RuntimeError):
    """A fault no Retry matches (as a bug, or a source that refuses for good, would be)."""


@pytest.mark.slow
def test_a_fatal_chunk_fault_fails_that_table_alone_and_frees_it_for_the_next_run(
        deployment: Deployment, tenant: Tenant) -> None:
    tenant.embedded_run()

    def refuse_time_entries(event: dict) -> None:
        if event["table"]["table"] == "time_entries" and event.get("action") != "fail":
            raise Refused("time entries refused")

    deployment.invocations.hooks["chunk_processor"] = refuse_time_entries
    end = deployment.run({}, timeout=120)

    assert end["status"] == "failed" and end["tables"] == 2 and end["failed_tables"] == 1, end
    assert set(deployment.invocations.errors) == {("chunk_processor", "Refused")}
    assert deployment.sleeps == []  # not retried
    runs = tenant.table_runs(end["run_id"])
    assert runs["service_tickets"].status == "complete"
    assert runs["time_entries"].status == "failed"
    assert "time entries refused" in runs["time_entries"].error and "Refused" in runs["time_entries"].error
    chunks = tenant.chunks(end["run_id"], "time_entries")
    assert chunks and all(c.status == "failed" and c.lease_owner is None for c in chunks)
    assert _history(tenant.sfn, tenant.name, "time_entries") is None  # nothing half-merged

    del deployment.invocations.hooks["chunk_processor"]
    again = deployment.run({}, timeout=120)
    assert again["status"] == "complete" and again["failed_tables"] == 0 and again["held_by"] == {}, again
    assert {t: tr.status for t, tr in tenant.table_runs(again["run_id"]).items()} == {
        "service_tickets": "complete", "time_entries": "complete"}
    tenant.same_lake()


@pytest.mark.slow
def test_a_chunk_out_of_time_returns_and_the_next_attempt_goes_on_from_its_cursor(
        deployment: Deployment, tenant: Tenant, sandbox_admin: SandboxAdmin) -> None:
    tenant.embedded_run()
    sandbox_admin.set_knobs(tenant.name, latency_ms=700)  # a page takes 0.7 s ...
    deployment.invocations.millis["chunk_processor"] = 6_000  # ... a chunk's Lambda has 1 s past its 5 s margin
    ledger = tenant.sfn.context().state
    seen: list[tuple[str, str | None, int]] = []  # (chunk id, the ledger's cursor and records) at each attempt

    def note_cursor(event: dict) -> None:
        if event.get("action") != "fail":
            record = ledger.get_chunk(event["chunk_id"])
            assert record is not None
            seen.append((record.chunk_id, record.cursor, record.records))

    deployment.invocations.hooks["chunk_processor"] = note_cursor
    end = deployment.run({}, timeout=180)

    assert end["status"] == "complete" and end["failed_tables"] == 0, end
    assert deployment.invocations.errors == []
    by_chunk: dict[str, list[tuple[str | None, int]]] = {}
    for chunk_id, cursor, records in seen:
        by_chunk.setdefault(chunk_id, []).append((cursor, records))
    resumed = {c: steps for c, steps in by_chunk.items() if len(steps) >= 2}
    assert resumed, by_chunk  # chunks ran out of time and were attempted again
    for steps in resumed.values():
        records = [r for _, r in steps]
        assert records == sorted(records) and records[-1] > records[0], steps  # each attempt from further on
        assert len({cursor for cursor, _ in steps}) == len(steps), steps  # never the same cursor twice
    attempts = {c: [e["attempts"] for e in deployment.invocations.of("chunk_processor") if e["chunk_id"] == c]
                for c in resumed}
    assert all(a == list(range(len(a))) for a in attempts.values()), attempts
    tenant.same_lake()


@dataclass
class Hold:
    """A hook holding the first call it sees (a chunk attempt's; a fail call passes) until `release`."""

    entered: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)
    held: dict | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, event: dict) -> None:
        with self.lock:
            if self.held is not None or event.get("action") == "fail":
                return
            self.held = event
        self.entered.set()
        assert self.release.wait(timeout=120), "never released"


@pytest.mark.slow
def test_a_second_execution_while_one_runs_leaves_its_tenant_to_it(
        deployment: Deployment, tenant: Tenant) -> None:
    tenant.embedded_run()
    hold = Hold()
    deployment.invocations.hooks["chunk_processor"] = hold
    first = deployment.start({})
    try:
        assert hold.entered.wait(timeout=60), "the first execution never reached a chunk"
        second = deployment.run({}, timeout=60)
    finally:
        hold.release.set()
    described = deployment.wait(first, timeout=120)

    assert described["status"] == "SUCCEEDED", described
    end = json.loads(described["output"])
    assert end["status"] == "complete" and end["tables"] == 2 and end["failed_tables"] == 0, end
    assert second["tables"] == 0 and second["held_by"] == {tenant.name: end["run_id"]}, second
    assert any(tenant.name in reason and end["run_id"] in reason for reason in second["skipped"]), second
    assert tenant.table_runs(second["run_id"]) == {}
    runs = {e["run"]["run_id"] for e in deployment.invocations.of("chunk_processor")}
    assert runs == {end["run_id"]}  # the second execution ran no chunk
    assert len(deployment.executions("TenantProcessor")) == 1
    tenant.same_lake()


def _stop_with_its_children(deployment: Deployment, execution_arn: str) -> None:
    """Stop an execution and the executions it started with .sync:2, as Step Functions does (moto
    5.2.5 leaves the children running: see the test of that below)."""
    deployment.sfn.stop_execution(executionArn=execution_arn, error="Operator", cause="stopped half-way")
    for name in ("TenantProcessor", "TableProcessor"):
        for execution in deployment.executions(name):
            if execution["status"] == "RUNNING":
                deployment.sfn.stop_execution(executionArn=execution["executionArn"], error="Operator",
                                              cause="its parent was stopped")


@pytest.mark.slow
def test_an_execution_stopped_half_way_is_finished_by_the_next_without_loss_or_duplicates(
        deployment: Deployment, tenant: Tenant) -> None:
    tenant.embedded_run()
    hold = Hold()
    deployment.invocations.hooks["chunk_processor"] = hold
    first = deployment.start({})
    try:
        assert hold.entered.wait(timeout=60), "the first execution never reached a chunk"
        _stop_with_its_children(deployment, first)
        assert deployment.wait(first)["status"] != "SUCCEEDED"  # moto 5.2.5 says FAILED where AWS says ABORTED
        then = deployment.run({}, timeout=120)
    finally:
        hold.release.set()  # the stopped execution's Lambda call, still in flight, goes on now
    for name in ("TenantProcessor", "TableProcessor"):
        for execution in deployment.executions(name):
            deployment.wait(execution["executionArn"], timeout=60)

    interrupted = hold.held["run"]["run_id"]
    ctx = tenant.sfn.context()
    record = ctx.state.get_run(interrupted)
    assert record is not None and record.status == "complete" and record.owner != first, record
    assert {t: tr.status for t, tr in tenant.table_runs(interrupted).items()} == {
        "service_tickets": "complete", "time_entries": "complete"}
    assert then["status"] == "complete" and then["run_id"] != interrupted, then  # a new run after finishing it
    [straggler] = [result for role, event, result in deployment.invocations.results if event is hold.held]
    assert straggler["status"] == "superseded"  # the stopped execution's call wrote nothing
    tenant.same_lake()


def _hold_the_straggler(monkeypatch: pytest.MonkeyPatch, where: str) -> Hold:
    """Hold the first landing of a tickets file: just before the writer's last look at its lease
    ("before its lease check": as if its page read outlasted the takeover), or inside the write
    itself ("inside its write": the lease was still its own when it looked)."""
    from avesa.pipeline import raw_sink
    from avesa.state.dynamodb.store import DynamoDBStateStore

    hold = Hold()
    if where == "before its lease check":
        renew = DynamoDBStateStore.renew_chunk_lease

        def held_renewal(store: DynamoDBStateStore, chunk_id: str, *args: object) -> bool:
            if chunk_id.startswith("service_tickets"):
                hold({"chunk_id": chunk_id})
            return renew(store, chunk_id, *args)  # type: ignore[arg-type]

        monkeypatch.setattr(DynamoDBStateStore, "renew_chunk_lease", held_renewal)
    else:
        write_raw_file = raw_sink.write_raw_file

        def held_write(directory: str, name: str, table: object) -> None:
            if "service_tickets" in directory:
                hold({"file": name})
            write_raw_file(directory, name, table)

        monkeypatch.setattr(raw_sink, "write_raw_file", held_write)
    return hold


@pytest.mark.slow
@pytest.mark.xfail(strict=True, reason="moto 5.2.5: StopExecution of an execution waiting in a Map on a .sync:2 "
                   "child ends it FAILED (States.Runtime, AttributeError in the Map's abort) where AWS says "
                   "ABORTED, and leaves the child running where AWS stops it")
def test_stopping_an_execution_aborts_it_and_the_executions_it_started(
        deployment: Deployment, tenant: Tenant) -> None:
    hold = Hold()
    deployment.invocations.hooks["chunk_processor"] = hold
    first = deployment.start({})
    try:
        assert hold.entered.wait(timeout=60), "the execution never reached a chunk"
        deployment.sfn.stop_execution(executionArn=first, error="Operator", cause="stopped half-way")
        stopped = deployment.wait(first)
        time.sleep(1)  # Step Functions stops the children asynchronously
        children = {e["name"]: e["status"] for e in deployment.executions("TenantProcessor")}
    finally:
        hold.release.set()
        for name in ("TenantProcessor", "TableProcessor"):
            for execution in deployment.executions(name):
                deployment.wait(execution["executionArn"], timeout=60)
    assert (stopped["status"], set(children.values())) == ("ABORTED", {"ABORTED"}), (stopped.get("error"), children)


@pytest.mark.slow
@pytest.mark.parametrize("where", ["before its lease check", "inside its write"])
def test_a_stopped_executions_chunk_never_loses_the_pages_its_successor_landed(
        deployment: Deployment, tenant: Tenant, sandbox_admin: SandboxAdmin, monkeypatch: pytest.MonkeyPatch,
        where: str) -> None:
    """The straggler of a stopped execution read a page before the next execution took its run
    over, and lands it as file 0 of its chunk only once the next execution has run the chunk anew
    from the same cursor — cutting its files elsewhere, two pages a file where the straggler had
    time for one. Replacing the successor's file 0 would lose the records of its second page, and
    the run would say complete."""
    tenant.embedded_run()
    sandbox_admin.set_knobs(tenant.name, latency_ms=1_200)  # the first execution: a page a file
    deployment.invocations.millis["chunk_processor"] = 6_000
    straggler = _hold_the_straggler(monkeypatch, where)
    first = deployment.start({})
    finalizing = Hold()
    try:
        assert straggler.entered.wait(timeout=60), "the first execution never landed a file"
        _stop_with_its_children(deployment, first)
        assert deployment.wait(first)["status"] != "SUCCEEDED"
        sandbox_admin.set_knobs(tenant.name, latency_ms=0)  # the next execution: two pages a file
        deployment.invocations.millis.clear()
        deployment.invocations.hooks["finalize_table"] = lambda event: (
            finalizing(event) if event["table"]["table"] == "service_tickets" and event["run"]["owner"] != first
            else None)
        then = deployment.start({})
        assert finalizing.entered.wait(timeout=60), "the next execution never finalized the tickets"
        straggler.release.set()  # the straggler lands its page now, before the tickets are merged
        deadline = time.monotonic() + 30
        while not any(event["run"]["owner"] == first for role, event, _ in deployment.invocations.results
                      if role == "chunk_processor" and event["table"]["table"] == "service_tickets"):
            assert time.monotonic() < deadline, "the straggler never returned"
            time.sleep(0.05)
    finally:
        straggler.release.set()
        finalizing.release.set()
    end = json.loads(deployment.wait(then, timeout=120)["output"])
    for name in ("TenantProcessor", "TableProcessor"):
        for execution in deployment.executions(name):
            deployment.wait(execution["executionArn"], timeout=60)

    interrupted = finalizing.held["run"]["run_id"]
    tickets = tenant.table_runs(interrupted)["service_tickets"]
    if where == "before its lease check":  # the straggler saw it lost its chunk and landed nothing
        assert tickets.status == "complete" and tickets.versions_created == 60, tickets
    else:  # it replaced the file: the merge refused the short chunk, the same execution's next run re-read it
        assert tickets.status == "failed" and "hold fewer records than their checkpoints counted" in tickets.error
        assert tenant.table_runs(end["run_id"])["service_tickets"].versions_created == 60
    assert end["status"] == "complete", end
    tenant.same_lake()


@pytest.mark.slow
def test_a_table_past_its_history_budget_continues_in_a_new_execution_to_the_same_lake(
        deployment: Deployment, aws_backends: tuple[Backends, Backends], sandbox_admin: SandboxAdmin,
        new_instance: Callable[..., str], monkeypatch: pytest.MonkeyPatch) -> None:
    tenant = _new_tenant(aws_backends, sandbox_admin, new_instance, tickets=160)
    tenant.embedded_run()
    monkeypatch.setenv("AVESA_SFN_HISTORY_BUDGET", "100")  # the least allowed: a few rounds an execution
    monkeypatch.setenv("AVESA_SFN_CHUNKS_PER_ROUND", "1")
    monkeypatch.setenv("AVESA_PAGE_SIZE", "10")
    monkeypatch.setenv("AVESA_TARGET_CHUNK_RECORDS", "10")  # a chunk a page: many rounds
    end = deployment.run({}, timeout=180)

    assert end["status"] == "complete" and end["failed_tables"] == 0, end
    executions = sorted((e["name"] for e in deployment.executions("TableProcessor") if "service_tickets" in e["name"]),
                        key=lambda n: int(n.rsplit("-", 1)[-1]))
    plans = [e["continuation"] for role, e in deployment.invocations.calls
             if role == "table_processor" and e["table"]["table"] == "service_tickets" and e.get("action") == "plan"]
    assert len(executions) >= 2 and plans == list(range(len(executions))), (executions, plans)
    assert [n.rsplit("-", 1)[-1] for n in executions] == [str(i) for i in range(len(executions))]
    tenant.same_lake()

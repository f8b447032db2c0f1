"""The Lambda handlers: thin adapters between the state machines' JSON and the pipeline units.

Each invocation builds a fresh PipelineContext from the function's environment (AVESA_STATE_URL,
AVESA_SECRETS_URL, AVESA_LAKE_URL…), calls one unit by name with a JSON payload
(`pipeline.units.call_unit`), and answers with a small JSON object for the state machine. Lists
that grow with a run's size stay in the ledger: the orchestrator hands out tenant ids, a tenant its
tables, a table the ids of the chunks to run next (`AVESA_SFN_CHUNKS_PER_ROUND` at a time).

Ownership: a run belongs to the PipelineOrchestrator execution that planned or resumed it — its
ARN is the run's owner and every invocation working on the run acts as that owner. Each
invocation first renews the run's lease as that owner: when the ledger refuses (the run was
finished, cancelled, or taken over by a newer execution because this one was stopped) the
invocation does nothing and says "superseded", so a straggler of a stopped execution never writes.

Errors, as the state machines' Retry and Catch see them (the error name is the exception's class):
- `AvesaTransientError`: a throttled or unreachable AWS service, or a chunk whose source failed
  transiently after the connector's own retries — retried with backoff and jitter;
- anything else a unit raises (a table that cannot be planned, a bug): caught by the state
  machine, whose Catch calls the same function with `action: fail`, which records the chunk or
  table as failed with the error's message and frees its lease; the run goes on.
A chunk or table whose unit reports it failed (bad data, refused credentials) is recorded by the
unit itself; the table then fails at finalize and the run reports it.
"""

from __future__ import annotations

import asyncio
import json
import math
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from datetime import timedelta
from typing import Any

from avesa.domain.errors import RateLimitedError, TransientError
from avesa.domain.timeutil import utc_now
from avesa.domain.work import (
    ChunkAttempt,
    ChunkAttemptResult,
    ChunkOutcome,
    ChunkStatus,
    ChunkTask,
    FinalizeRequest,
    FinishRunRequest,
    PlanRunRequest,
    ResumeRequest,
    RunEnd,
    RunWork,
    SyncMode,
    TableRef,
    TableResult,
    TableStatus,
)
from avesa.observability import events
from avesa.pipeline.context import PipelineContext
from avesa.pipeline.failures import fail_table
from avesa.pipeline.finalize import table_finished
from avesa.pipeline.heartbeat import heartbeat, renewal_interval
from avesa.pipeline.resume import remaining_work, unfinished_tenants
from avesa.pipeline.units import call_unit, plan_work
from avesa.pipeline.wiring import DynamoDBState, aws_client, parse_state_url
from avesa.runtime.aws import emf
from avesa.runtime.aws.definitions import PipelineInput
from avesa.runtime.aws.liveness import interrupted_runs
from avesa.runtime.aws.names import table_execution_name, tenant_name_prefix
from avesa.runtime.aws.tuning import AwsTuning
from avesa.settings import Settings

TRANSIENT_CHUNK_ERRORS = frozenset({TransientError.__name__, RateLimitedError.__name__})
"""A chunk that failed with one of these (after the connector's own retries) is retried by the
state machine, later, from its cursor."""
_TRANSIENT_AWS_CODES = frozenset({
    "ThrottlingException", "Throttling", "ProvisionedThroughputExceededException", "RequestLimitExceeded",
    "TransactionConflictException", "InternalServerError", "InternalFailure", "ServiceUnavailable",
    "ServiceUnavailableException", "SlowDown", "TooManyRequestsException", "RequestTimeout",
    "RequestTimeoutException",
})
_ENDED_TABLE = (TableStatus.COMPLETE.value, TableStatus.FAILED.value, TableStatus.CANCELLED.value)
_ENDED_CHUNK = (ChunkStatus.COMPLETE.value, ChunkStatus.FAILED.value, ChunkStatus.CANCELLED.value)
MAX_REPORTED_FAILURES = 20
MAX_LISTED = 20
"""Skip reasons and held tenants an orchestrator answer lists (the rest are counted)."""
DEFAULT_REMAINING_MS = 900_000
"""A caller without a Lambda context (a test, a script) gets a Lambda's longest run."""
_EVENTS_PER_ROUND = 12
_EVENTS_PER_ITEM = 3
_EVENTS_PER_ATTEMPT = 9
"""History events one chunk Map round costs: the round's own states, each item, each attempt
(Task entered/scheduled/started/succeeded/exited, the Choice entered/exited, the Map iteration)."""


class AvesaTransientError(Exception):
    """Worth retrying later: the state machines' Retry matches this class name."""


class Superseded(Exception):
    """The run is no longer this execution's to run (finished, cancelled, or taken over)."""


# ---------------------------------------------------------------------------- the handlers


def orchestrator(event: dict, context: Any) -> dict:
    """Plan the next run of this execution: an interrupted run to finish first, else a new one."""
    return _invoke("orchestrator", event, context, _orchestrate)


def tenant_processor(event: dict, context: Any) -> dict:
    """`action: tables`: a tenant's tables left to run in this run; `action: fail`: its unfinished
    tables failed with the error the state machine caught."""
    return _invoke("tenant_processor", event, context, _tenant)


def table_processor(event: dict, context: Any) -> dict:
    """`action: plan` (first call of an execution) / `next` (after a round): plan the table if it
    is not yet, then say what comes next — a round of chunk ids, finalize, continue in a new
    execution, or done."""
    return _invoke("table_processor", event, context, _table)


def chunk_processor(event: dict, context: Any) -> dict:
    """One attempt of a chunk until the Lambda's remaining time less the margin (`action: run`, the
    default), or the chunk failed with the error the state machine caught (`action: fail`)."""
    return _invoke("chunk_processor", event, context, _chunk)


def finalize_table(event: dict, context: Any) -> dict:
    """`action: finalize`: the canonical merge, deletes and watermark once every chunk ended;
    `action: fail`: the table failed with the error the state machine caught."""
    return _invoke("finalize_table", event, context, _finalize)


def finish_run(event: dict, context: Any) -> dict:
    """Close the run from its ledger (complete or failed), free its tenant locks, report it."""
    return _invoke("finish_run", event, context, _finish)


# ---------------------------------------------------------------------------- plumbing

Handler = Callable[[PipelineContext, dict, Any, AwsTuning], Awaitable[dict]]


def _invoke(function: str, event: dict, context: Any, handler: Handler) -> dict:
    settings = Settings()
    tuning = AwsTuning()
    with emf.collecting() as metrics, _transient_errors():
        ctx = PipelineContext.from_settings(settings)
        owner = event.get("owner") or (event.get("run") or {}).get("owner")
        if owner:
            ctx.owner = owner

        async def call() -> dict:
            try:
                return await handler(ctx, event, context, tuning)
            finally:
                await ctx.aclose()

        try:
            return asyncio.run(call())
        finally:
            ctx.state.close()
            emf.flush_sync(metrics, settings.env.value, function)


@contextmanager
def _transient_errors() -> Iterator[None]:
    """AWS throttling and unreachable endpoints become AvesaTransientError (retried by the state
    machine); everything else passes as it is, its class name the error the state machine sees."""
    try:
        yield
    except AvesaTransientError:
        raise
    except Exception as exc:
        if _is_transient(exc):
            raise AvesaTransientError(f"{type(exc).__name__}: {exc}") from exc
        raise


def _is_transient(exc: BaseException) -> bool:
    if isinstance(exc, TransientError | RateLimitedError):
        return True
    try:
        from botocore.exceptions import ClientError, ConnectionError, HTTPClientError
    except ImportError:  # pragma: no cover - the aws extra is installed wherever these run
        return False
    if isinstance(exc, ClientError):
        return exc.response.get("Error", {}).get("Code") in _TRANSIENT_AWS_CODES
    return isinstance(exc, ConnectionError | HTTPClientError)


def _remaining_seconds(context: Any) -> float:
    getter = getattr(context, "get_remaining_time_in_millis", None)
    return (getter() if getter is not None else DEFAULT_REMAINING_MS) / 1000


@asynccontextmanager
async def _run_lease(ctx: PipelineContext, run: dict[str, Any]) -> AsyncIterator[None]:
    """Renew the run's lease as its owner now and for as long as the body runs; Superseded when
    the run is not this owner's any more."""
    run_id = run["run_id"]

    def renew(now: Any) -> bool:
        return ctx.state.renew_run_lease(run_id, ctx.owner, ctx.settings.lease_seconds, now)

    if not await asyncio.to_thread(renew, utc_now()):
        raise Superseded(run_id)
    async with heartbeat(renew, renewal_interval(ctx)):
        yield


def _error_text(error: Any) -> tuple[str, str]:
    """(error name, message) from what a Catch put in the state: {"Error": name, "Cause": the
    Lambda's error document as JSON, or a plain text}."""
    if not isinstance(error, dict):
        return "Error", str(error)
    name = str(error.get("Error") or "Error")
    cause = error.get("Cause")
    message = ""
    if isinstance(cause, str):
        try:
            document = json.loads(cause)
        except ValueError:
            message = cause
        else:
            message = str(document.get("errorMessage") or "") if isinstance(document, dict) else cause
    message = message.strip() or "(no message)"
    if len(message) > 500:
        message = message[:500] + "…"
    return name, message


def _failure_message(ref: TableRef, error: Any, what: str) -> str:
    name, message = _error_text(error)
    text = message if ref.label in message else f"{ref.label}: {message}"
    return f"{text} ({what} stopped by {name} in Step Functions)"


# ---------------------------------------------------------------------------- orchestrator


async def _orchestrate(ctx: PipelineContext, event: dict, context: Any, tuning: AwsTuning) -> dict:
    request = PipelineInput.model_validate(event.get("input") or {})
    execution = str(event.get("execution") or ctx.owner.rsplit(":", 1)[-1])
    work: RunWork | None = None
    resumed = False
    if request.mode != "backfill" and int(event.get("round", 0)) < tuning.sfn_max_resumes:
        work = _resume_one(ctx, request.tenant)
        resumed = work is not None
    if work is None:
        planned = await call_unit(ctx, "plan_run", request.plan_request().model_dump(mode="json"))
        assert planned is not None  # a new run is always planned
        work = RunWork.model_validate(planned)
    tenants = list(dict.fromkeys(item.table.tenant_id for item in work.tables))
    return {
        "run": {"run_id": work.run_id, "owner": ctx.owner, "kind": work.kind},
        "tenants": tenants,
        "name_prefix": tenant_name_prefix(work.run_id, execution),
        "max_concurrency": request.max_tenants_in_parallel or tuning.sfn_max_tenants,
        "resumed": resumed,
        "hand_back_to": work.hand_back_to,
        "skipped": work.skipped[:MAX_LISTED],
        "held_by": dict(sorted(work.held_by.items())[:MAX_LISTED]),
    }


def _resume_one(ctx: PipelineContext, tenant: str | None) -> RunWork | None:
    """Claim the oldest interrupted sync run (with `tenant`: one with that tenant's tables left),
    as `avesa run` finishes interrupted runs before its own; None when there is none to take."""
    sfn = _stepfunctions_client(ctx)
    for run, reason in interrupted_runs(ctx, sfn, utc_now()):
        if tenant is not None and tenant not in unfinished_tenants(ctx, run):
            continue
        events.emit("run_interrupted", run_id=run.run_id, owner=run.owner, reason=reason)
        request = PlanRunRequest(resume=ResumeRequest(run_id=run.run_id, expected_owner=run.owner, tenant_id=tenant))
        taken = plan_work(ctx, request)
        if taken is not None:
            return taken
    return None


def _stepfunctions_client(ctx: PipelineContext) -> Any:
    """A Step Functions client to ask whether a run's execution still runs, or None outside AWS."""
    where = parse_state_url(ctx.settings.state_url, ctx.settings.home)
    region = where.region if isinstance(where, DynamoDBState) else None
    try:
        return aws_client("stepfunctions", region, "AVESA_STATE_URL")
    except Exception:
        return None


# ---------------------------------------------------------------------------- tenant


async def _tenant(ctx: PipelineContext, event: dict, context: Any, tuning: AwsTuning) -> dict:
    run, tenant = event["run"], event["tenant"]
    if event.get("action") == "fail":
        return await _fail_tenant(ctx, run, tenant, event.get("error"))
    try:
        async with _run_lease(ctx, run):
            record = ctx.state.get_run(run["run_id"])
            assert record is not None
            work = remaining_work(ctx, record, tenant)
    except Superseded:
        return {"tables": [], "max_concurrency": 1, "superseded": True}
    name = str(event.get("name") or tenant)
    return {"tables": [{"table": item.table.model_dump(mode="json"),
                        "name": table_execution_name(name, item.table.service, item.table.table)}
                       for item in work],
            "max_concurrency": ctx.settings.max_tables_per_tenant}


async def _fail_tenant(ctx: PipelineContext, run: dict, tenant: str, error: Any) -> dict:
    try:
        async with _run_lease(ctx, run):
            failed = 0
            for tr in ctx.state.list_table_runs(run_id=run["run_id"], tenant_id=tenant):
                if tr.status in _ENDED_TABLE:
                    continue
                record = ctx.state.get_run(run["run_id"])
                assert record is not None
                ref = TableRef(run_id=tr.run_id, tenant_id=tr.tenant_id, service=tr.service, table=tr.table,
                               mode=SyncMode(tr.mode), run_started_at=record.started_at)
                table_finished(fail_table(ctx, ref, _failure_message(ref, error, "tenant")))
                failed += 1
    except Superseded:
        return {"failed": 0, "superseded": True}
    return {"failed": failed}


# ---------------------------------------------------------------------------- table


def _round_cost(round_: Any) -> int:
    if not isinstance(round_, list):
        return _EVENTS_PER_ROUND
    attempts = sum(int(item.get("a", 1)) if isinstance(item, dict) else 1 for item in round_)
    return _EVENTS_PER_ROUND + _EVENTS_PER_ITEM * len(round_) + _EVENTS_PER_ATTEMPT * attempts


async def _table(ctx: PipelineContext, event: dict, context: Any, tuning: AwsTuning) -> dict:
    run, ref = event["run"], TableRef.model_validate(event["table"])
    continuation = int(event.get("continuation", 0))
    first = event.get("action", "plan") == "plan"
    spent = int(event.get("events", 0)) + (_EVENTS_PER_ROUND if first else _round_cost(event.get("round")))
    answer = {"table": event["table"], "run": run, "continuation": continuation, "events": spent,
              "chunks": [], "max_concurrency": 1}
    try:
        async with _run_lease(ctx, run):
            table_run = ctx.state.get_table_run(ref)
            if table_run is None or table_run.status in _ENDED_TABLE:
                return {**answer, "next": "done"}
            chunks = ctx.state.list_chunks(ref)
            if first and table_run.range_end is None and not chunks:
                await call_unit(ctx, "plan_table", ref.model_dump(mode="json"))
                chunks = ctx.state.list_chunks(ref)
            now = utc_now()
            retry_failed = first and continuation == 0  # a resumed or retried table runs its failed chunks again
            runnable = [c.chunk_id for c in chunks
                        if (c.status not in _ENDED_CHUNK
                            and (c.status != ChunkStatus.RUNNING.value or c.lease_expires is None
                                 or c.lease_expires <= now))
                        or (retry_failed and c.status == ChunkStatus.FAILED.value)]
    except Superseded:
        return {**answer, "next": "done", "superseded": True}
    if not runnable:
        return {**answer, "next": "finalize"}
    if spent >= tuning.sfn_history_budget:
        return {**answer, "next": "continue"}
    settings = ctx.settings
    width = settings.max_backfill_windows if ref.mode is SyncMode.BACKFILL else settings.max_chunks_per_table
    return {**answer, "next": "chunks", "chunks": runnable[:tuning.sfn_chunks_per_round], "max_concurrency": width}


# ---------------------------------------------------------------------------- chunk


async def _chunk(ctx: PipelineContext, event: dict, context: Any, tuning: AwsTuning) -> dict:
    run, ref, chunk_id = event["run"], TableRef.model_validate(event["table"]), event["chunk_id"]
    state = {key: event[key] for key in ("chunk_id", "table", "run") if key in event}
    attempts = int(event.get("attempts", 0))
    if event.get("action") == "fail":
        return {**state, **_fail_chunk(ctx, ref, chunk_id, event.get("error")), "attempts": attempts,
                "stalls": int(event.get("stalls", 0)), "landed": int(event.get("landed", -1))}
    budget = _remaining_seconds(context) - tuning.chunk_time_margin_seconds
    try:
        async with _run_lease(ctx, run):
            record = ctx.state.get_chunk(chunk_id)
            if record is None:
                raise LookupError(f"{ref.label}: chunk {chunk_id} is not in the ledger")
            chunk = ChunkTask(table=ref, chunk_id=chunk_id, index=record.idx, start=record.range_start,
                              end=record.range_end, estimate=record.estimate, cursor=record.cursor, seq=record.seq)
            landed = int(event.get("landed", -1))
            attempt = ChunkAttempt(chunk=chunk, deadline=utc_now() + timedelta(seconds=max(1.0, budget)),
                                   stalls=int(event.get("stalls", 0)), landed=None if landed < 0 else landed)
            answer = await call_unit(ctx, "run_chunk", attempt.model_dump(mode="json"))
    except Superseded:
        return {**state, "attempts": attempts, "stalls": 0, "landed": -1, "finished": True, "wait_seconds": 0,
                "status": "superseded"}
    result = ChunkAttemptResult.model_validate(answer)
    outcome = result.outcome
    if outcome.status is ChunkStatus.FAILED and outcome.error_kind in TRANSIENT_CHUNK_ERRORS:
        raise AvesaTransientError(outcome.error or f"{ref.label}: chunk {chunk_id} failed transiently")
    return {**state, "attempts": attempts + 1, "stalls": result.stalls, "landed": outcome.records,
            "finished": result.finished, "wait_seconds": math.ceil(result.wait_seconds),
            "status": outcome.status.value, "split_off": len(result.split_off)}


def _fail_chunk(ctx: PipelineContext, ref: TableRef, chunk_id: str, error: Any) -> dict:
    """The chunk failed (its lease freed, its checkpoint kept) with the error Step Functions caught:
    retries ran out, the Lambda timed out or crashed."""
    record = ctx.state.get_chunk(chunk_id)
    name, _ = _error_text(error)
    message = _failure_message(ref, error, f"chunk {chunk_id}")
    if record is not None and record.status not in (ChunkStatus.COMPLETE.value, ChunkStatus.CANCELLED.value):
        outcome = ChunkOutcome(chunk_id=chunk_id, status=ChunkStatus.FAILED, cursor=record.cursor, seq=record.seq,
                               records=record.records, pages=record.pages, files=record.files,
                               max_updated_at=record.max_updated_at, seconds=record.seconds, error=message,
                               error_kind=name)
        ctx.state.finish_chunk(chunk_id, outcome, utc_now())
        events.emit("chunk_failed", run_id=ref.run_id, tenant_id=ref.tenant_id, service=ref.service,
                    table=ref.table, chunk_id=chunk_id, cursor=record.cursor, error=message, error_kind=name)
    return {"finished": True, "wait_seconds": 0, "status": ChunkStatus.FAILED.value}


# ---------------------------------------------------------------------------- finalize


async def _finalize(ctx: PipelineContext, event: dict, context: Any, tuning: AwsTuning) -> dict:
    run, ref = event["run"], TableRef.model_validate(event["table"])
    started = time.monotonic()
    try:
        async with _run_lease(ctx, run):
            table_run = ctx.state.get_table_run(ref)
            if table_run is not None and table_run.status in _ENDED_TABLE:
                return {"status": table_run.status, "records": table_run.records}
            if event.get("action") == "fail":
                records = sum(c.records for c in ctx.state.list_chunks(ref))
                result = fail_table(ctx, ref, _failure_message(ref, event.get("error"), "table"), records=records)
            else:
                failed = [ChunkOutcome(chunk_id=c.chunk_id, status=ChunkStatus(c.status), cursor=c.cursor, seq=c.seq,
                                       records=c.records, error=c.last_error)
                          for c in ctx.state.list_chunks(ref) if c.status in (ChunkStatus.FAILED.value,
                                                                                ChunkStatus.CANCELLED.value)]
                request = FinalizeRequest(table=ref, failed_chunks=failed[:MAX_REPORTED_FAILURES])
                answer = await call_unit(ctx, "finalize_table", request.model_dump(mode="json"))
                result = TableResult.model_validate(answer)
    except Superseded:
        return {"status": "superseded"}
    if table_run is not None and table_run.started_at is not None:
        result.seconds = (utc_now() - table_run.started_at).total_seconds()
    else:
        result.seconds = time.monotonic() - started
    table_finished(result)
    return {"status": result.status.value, "records": result.records, "versions_created": result.versions_created,
            "error": result.error}


# ---------------------------------------------------------------------------- finish


async def _finish(ctx: PipelineContext, event: dict, context: Any, tuning: AwsTuning) -> dict:
    run = event["run"]
    record = ctx.state.get_run(run["run_id"])
    extra = {"owner": run.get("owner"), "kind": run.get("kind"), "skipped": event.get("skipped") or [],
             "held_by": event.get("held_by") or {}}
    if record is None or record.owner != ctx.owner or record.status != "running":
        status = record.status if record is not None else "unknown"
        return {"run_id": run["run_id"], "status": status, "tables": 0, "failed_tables": 0, "records": 0,
                "superseded": True, **extra}
    hand_back_to = event.get("hand_back_to")
    if hand_back_to is None:
        for tr in ctx.state.list_table_runs(run_id=record.run_id):
            if tr.status not in _ENDED_TABLE:  # never "complete" with a table nobody finished
                ref = TableRef(run_id=tr.run_id, tenant_id=tr.tenant_id, service=tr.service, table=tr.table,
                               mode=SyncMode(tr.mode), run_started_at=record.started_at)
                table_finished(fail_table(ctx, ref, f"{ref.label}: the run's execution ended before this table did"))
    seconds = (utc_now() - record.started_at).total_seconds()
    request = FinishRunRequest(run_id=record.run_id, hand_back_to=hand_back_to, seconds=seconds)
    end = RunEnd.model_validate(await call_unit(ctx, "finish_run", request.model_dump(mode="json")))
    return {**end.model_dump(mode="json"), **extra}


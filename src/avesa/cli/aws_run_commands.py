"""`avesa aws run`, `avesa aws backfill` and `avesa aws follow`: the pipeline of a deployed
environment, started and followed from a terminal.

`run` and `backfill` start the environment's PipelineOrchestrator state machine with a
`PipelineInput` (what its schedules send), then follow the execution: Step Functions says whether
it still runs, the environment's ledger (its DynamoDB state table) says how far its run got, and
when it ends the same summary `avesa run` prints is printed from the ledger — one table per run the
execution finished (an interrupted run it resumed first, then its own). Exit codes as `avesa run`:
0 done, 1 a table failed (or the execution failed, was stopped or timed out), 2 bad input or
configuration, 3 other runs hold every tenant asked for, 130 Ctrl-C — which stops following, never
the execution; `avesa aws follow` picks it up again.
"""

from __future__ import annotations

import json
import os
import time
from datetime import datetime
from typing import Any

import typer
from rich.text import Text

from avesa.cli.aws_app import aws_app
from avesa.cli.common import (
    EXIT_BUSY,
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    console,
    err_console,
    friendly_errors,
    literal,
    nulled_summary,
    tenant_option,
)
from avesa.cli.progress import progress_interval, summary_table
from avesa.domain.environments import ENVIRONMENTS
from avesa.domain.errors import AvesaError, BusyError, ConfigError, NotFoundError, UsageError
from avesa.domain.timeutil import utc_now
from avesa.domain.work import RunStatus, SyncMode, TableRef, TableResult, TableStatus
from avesa.pipeline.backfill import DATE_HINT, parse_when
from avesa.runtime.aws import executions
from avesa.runtime.aws.definitions import PipelineInput
from avesa.runtime.aws.executions import Target
from avesa.runtime.local import RunSummary
from avesa.state.base import StateStore
from avesa.state.ledger_records import RunRecord

ENVIRONMENT_HELP = f"the deployed environment: {' | '.join(ENVIRONMENTS)} (default: AVESA_ENV, else dev)"
POLL_HELP = "seconds between two looks at the execution"
_ENDED_TABLES = (TableStatus.COMPLETE.value, TableStatus.FAILED.value, TableStatus.CANCELLED.value)
OWNED_RUNS_LOOKED_AT = 50
"""Recent runs searched for the ones an execution owns (it finishes at most a few: AVESA_SFN_MAX_RESUMES + 1)."""


def _environment(value: str | None) -> str:
    return value or os.environ.get("AVESA_ENV") or "dev"


def environment_option() -> Any:
    return typer.Option(None, "--environment", "-e", help=ENVIRONMENT_HELP)


def region_option() -> Any:
    return typer.Option(None, "--region", help="the AWS region (default: the AWS configuration's)")


@aws_app.command("run")
@friendly_errors
def aws_run(
    tenant: str = tenant_option(),
    service: str = typer.Option(None, "--service", help="only this service"),
    table: str = typer.Option(None, "--table", help="only this table"),
    full: bool = typer.Option(False, "--full", help="re-read everything and reconcile deletes"),
    environment_name: str = environment_option(),
    region: str = region_option(),
    max_tenants: int = typer.Option(None, "--max-tenants", min=1, max=40,
                                    help="tenants at once (default: the deployment's AVESA_SFN_MAX_TENANTS)"),
    no_wait: bool = typer.Option(False, "--no-wait", help="start the execution and return"),
    poll_seconds: float = typer.Option(2.0, "--poll-seconds", min=0.01, max=300, help=POLL_HELP),
) -> None:
    """Run the pipeline in a deployed environment (its PipelineOrchestrator state machine) and follow it.

    The summary at the end is the one `avesa run` prints, from the environment's ledger.

    Exit 0: done; 1: a table failed, or the execution failed or was stopped; 2: bad input or
    configuration; 3: other runs hold every tenant; 130: Ctrl-C (the execution goes on).

    Examples: avesa aws run -e dev · avesa aws run --tenant acme --full -e prod --no-wait"""
    request = _input(mode="full" if full else "incremental", tenant=tenant, service=service, table=table,
                     max_tenants_in_parallel=max_tenants)
    _start_and_follow(_environment(environment_name), region, request, no_wait=no_wait, poll=poll_seconds)


@aws_app.command("backfill")
@friendly_errors
def aws_backfill(
    tenant: str = tenant_option("the tenant to backfill", required=True),
    since: str = typer.Option(..., "--since", help=f"start of the range, inclusive; {DATE_HINT}"),
    service: str = typer.Option(..., "--service", help="the service to backfill (e.g. connectwise)"),
    table: str = typer.Option(None, "--table", help="only this table (default: every enabled table)"),
    until: str = typer.Option(None, "--until", help="end of the range, exclusive (default: now)"),
    window_days: int = typer.Option(None, "--window-days", min=1,
                                    help="days per window (default: the service's; ConnectWise: 30)"),
    environment_name: str = environment_option(),
    region: str = region_option(),
    no_wait: bool = typer.Option(False, "--no-wait", help="start the execution and return"),
    poll_seconds: float = typer.Option(2.0, "--poll-seconds", min=0.01, max=300, help=POLL_HELP),
) -> None:
    """Backfill a past range of a tenant's service in a deployed environment, and follow it.

    A PipelineOrchestrator execution with backfill input; the watermarks do not move.

    Example: avesa aws backfill --tenant acme --service connectwise --since 2024-01-01 -e prod"""
    start, end = parse_when(since, "--since"), parse_when(until, "--until")
    if start is not None and end is not None and start >= end:
        raise UsageError(f"--since {since} is not before --until {until}: give a range that moves forward")
    request = _input(mode="backfill", tenant=tenant, service=service, table=table, since=start, until=end,
                     window_days=window_days)
    _start_and_follow(_environment(environment_name), region, request, no_wait=no_wait, poll=poll_seconds)


@aws_app.command("follow")
@friendly_errors
def aws_follow(
    execution: str = typer.Argument(..., help="the execution's name (or ARN), as `avesa aws run` printed it"),
    environment_name: str = environment_option(),
    region: str = region_option(),
    poll_seconds: float = typer.Option(2.0, "--poll-seconds", min=0.01, max=300, help=POLL_HELP),
) -> None:
    """Follow a PipelineOrchestrator execution to its end and print its summary.

    Any execution of the environment's orchestrator: started by `avesa aws run`, a schedule or the
    console. Exit codes as `avesa aws run`."""
    target = executions.connect(_environment(environment_name), region)
    arn = target.execution_arn(execution)
    executions.describe(target, arn)  # there is such an execution
    _follow_and_report(target, arn, poll_seconds)


# ---------------------------------------------------------------------------- starting


def _input(**fields: Any) -> PipelineInput:
    """The orchestrator's input, checked by its own model: what is refused here is refused there."""
    try:
        return PipelineInput.model_validate({k: v for k, v in fields.items() if v is not None})
    except ValueError as exc:
        errors: list[Any] = getattr(exc, "errors", list)()
        reason = "; ".join(str(e.get("msg", e)).removeprefix("Value error, ") for e in errors) or str(exc)
        raise UsageError(f"not a pipeline input: {reason}") from None


def _start_and_follow(env_name: str, region: str | None, request: PipelineInput, *, no_wait: bool,
                      poll: float) -> None:
    try:
        target = executions.connect(env_name, region)
        name = executions.cli_execution_name(request, utc_now())
        arn = executions.start(target, request, name)
    except KeyboardInterrupt:  # not friendly_errors' note: there is no local run to resume
        err_console.print(Text("interrupted (Ctrl-C) before an execution was started: nothing runs; run the "
                               "command again", style="yellow"), soft_wrap=True)
        raise typer.Exit(EXIT_INTERRUPTED) from None
    what = f"a backfill of {_scope(request)}" if request.mode == "backfill" else \
        f"an incremental run of {_scope(request)}" if request.mode == "incremental" else \
        f"a full run of {_scope(request)}"
    console.print(literal(f"started {what} in {target.env.value}: execution {name} of {target.state_machine}"),
                  soft_wrap=True)
    if no_wait:
        console.print(literal(f"follow it with `{_follow_command(target, name)}`"), soft_wrap=True)
        return
    _follow_and_report(target, arn, poll)


def _scope(request: PipelineInput) -> str:
    parts = [p for p in (request.tenant, request.service, request.table) if p]
    return "/".join(parts) if parts else "every tenant"


def _follow_command(target: Target, name: str) -> str:
    return f"avesa aws follow {name} --environment {target.env.value} --region {target.region}"


# ---------------------------------------------------------------------------- following


def _ledger(target: Target) -> StateStore | None:
    """The environment's ledger, or None (with a note) when it cannot be opened: the execution is
    still followed, only without progress and table details."""
    try:
        from avesa.pipeline.wiring import build_state_store
        from avesa.settings import Settings

        return build_state_store(Settings(state_url=target.state_url))
    except (AvesaError, ValueError) as exc:
        console.print(Text.assemble(("no progress from the ledger", "yellow"), f": {exc}"), soft_wrap=True)
        return None


def _owned_runs(state: StateStore | None, execution_arn: str, status: RunStatus | None = None) -> list[RunRecord]:
    """The runs this execution owns (planned, or resumed from an interrupted owner), oldest first."""
    if state is None:
        return []
    try:
        runs = state.list_runs(limit=OWNED_RUNS_LOOKED_AT, status=status)
    except Exception as exc:  # a ledger that stops answering must not stop the following
        if not _aws_error(exc):
            raise
        return []
    return sorted((r for r in runs if r.owner == execution_arn), key=lambda r: r.started_at)


def _aws_error(exc: BaseException) -> bool:
    try:
        from botocore.exceptions import BotoCoreError, ClientError
    except ImportError:  # pragma: no cover
        return False
    return isinstance(exc, BotoCoreError | ClientError | AvesaError)


def _progress(state: StateStore | None, execution_arn: str) -> str | None:
    """`run X: 3/15 tables done (1 failed), 12,345 records`, from the ledger; None before the
    execution planned its run."""
    runs = _owned_runs(state, execution_arn, status=RunStatus.RUNNING)
    if not runs or state is None:
        return None
    run = runs[-1]
    tables = state.list_table_runs(run_id=run.run_id)
    done = sum(t.status in _ENDED_TABLES for t in tables)
    failed = sum(t.status == TableStatus.FAILED.value for t in tables)
    records = sum(t.records for t in tables)
    chunks = sum(t.chunks_total for t in tables)
    return (f"{run.kind} run {run.run_id}: {done}/{len(tables)} tables done"
            f"{f' ({failed} failed)' if failed else ''}, {chunks:,} chunks planned, {records:,} records")


def _follow_and_report(target: Target, execution_arn: str, poll: float) -> None:
    state = _ledger(target)
    name = execution_arn.rsplit(":", 1)[-1]
    interval = progress_interval()
    try:
        described = _follow(target, execution_arn, state, poll, interval)
    except KeyboardInterrupt:
        err_console.print(Text(f"stopped following (Ctrl-C); execution {name} goes on in Step Functions: follow it "
                               f"again with `{_follow_command(target, name)}`, or stop it with `aws stepfunctions "
                               f"stop-execution --execution-arn {execution_arn}`", style="yellow"), soft_wrap=True)
        raise typer.Exit(EXIT_INTERRUPTED) from None
    _report(target, described, state)


def _follow(target: Target, execution_arn: str, state: StateStore | None, poll: float,
            interval: float) -> dict[str, Any]:
    """Poll the execution until it ends, printing the ledger's progress when it changes (and at
    least every AVESA_PROGRESS_INTERVAL_SECONDS while it runs)."""
    last, printed = None, time.monotonic()
    while True:
        described = executions.describe(target, execution_arn)
        if described["status"] in executions.ENDED:
            return described
        line = _progress(state, execution_arn)
        now = time.monotonic()
        if line is not None and (line != last or now - printed >= interval):
            console.print(literal(line), soft_wrap=True)
            last, printed = line, now
        time.sleep(poll)


# ---------------------------------------------------------------------------- the summary


def run_summary(state: StateStore, run: RunRecord) -> RunSummary:
    """A finished run as `avesa run` reports it, from the ledger's table runs."""
    summary = RunSummary(run_id=run.run_id, status=run.status)
    for tr in state.list_table_runs(run_id=run.run_id):
        ref = TableRef(run_id=run.run_id, tenant_id=tr.tenant_id, service=tr.service, table=tr.table,
                       mode=SyncMode(tr.mode), run_started_at=run.started_at)
        seconds = (tr.finished_at - tr.started_at).total_seconds() if tr.finished_at else 0.0
        summary.results.append(TableResult(
            table=ref, status=TableStatus(tr.status), records=tr.records, versions_created=tr.versions_created,
            deletes=tr.deletes, seconds=seconds, error=tr.error, nulled_values=tr.nulled_values,
            source_count=tr.source_count, canonical_count=tr.canonical_count))
    if run.finished_at is not None:
        summary.seconds = (run.finished_at - run.started_at).total_seconds()
    return summary


def _report(target: Target, described: dict[str, Any], state: StateStore | None) -> None:
    status, arn = described["status"], described["executionArn"]
    name = arn.rsplit(":", 1)[-1]
    seconds = _seconds(described.get("startDate"), described.get("stopDate"))
    if status != "SUCCEEDED":
        for run in _owned_runs(state, arn):
            if run.status != "running" and state is not None:
                console.print(summary_table(run_summary(state, run), title=f"{run.kind} run {run.run_id}"))
        error, message = _execution_error(described)
        if error == BusyError.__name__:  # the plan refused: another run holds the tenant
            console.print(Text.assemble((f"nothing started by execution {name}", "red"), f": {message}"),
                          soft_wrap=True)
            raise typer.Exit(EXIT_BUSY)
        if error in _INPUT_ERRORS:  # the plan refused the input (an unknown tenant, service or table)
            raise UsageError(f"execution {name} refused its input: {message}")
        ended = {"ABORTED": "was stopped", "TIMED_OUT": "timed out"}.get(status, "failed")
        console.print(Text.assemble((f"execution {name} {ended}", "red"),
                                    f" after {seconds:.1f}s: {error}{': ' + message if message else ''}. The next "
                                    "execution (a schedule or `avesa aws run`) finishes its run from where it "
                                    "stopped"), soft_wrap=True)
        raise typer.Exit(EXIT_FAILED)
    end = json.loads(described.get("output") or "{}")
    owned = {r.run_id: r for r in _owned_runs(state, arn)}
    final = end.get("run_id")
    failures = 0
    for run in owned.values():
        if run.run_id != final and state is not None:
            summary = run_summary(state, run)
            console.print(summary_table(summary, title=f"resumed run {run.run_id}"))
            _print_nulled(summary.results)
            failures += len(summary.failed)
    final_run = owned.get(final) or (state.get_run(final) if state is not None and final else None)
    summary = run_summary(state, final_run) if state is not None and final_run is not None else \
        RunSummary(run_id=final or "?", status=str(end.get("status")))
    summary.skipped = list(end.get("skipped") or [])
    summary.held_by = dict(end.get("held_by") or {})
    kind = end.get("kind") or (final_run.kind if final_run else "sync")
    console.print(summary_table(summary, title=f"{'backfill ' if kind == 'backfill' else ''}run {summary.run_id}"))
    _print_nulled(summary.results)
    for reason in summary.skipped:
        console.print(Text.assemble(("skipped", "yellow"), " ", reason))
    records = summary.records if summary.results else int(end.get("records") or 0)
    tables = len(summary.results) if summary.results else int(end.get("tables") or 0)
    failed = len(summary.failed) if summary.results else int(end.get("failed_tables") or 0)
    if not tables and not summary.skipped and not summary.held_by:
        console.print(f"nothing to run: register tenants with `avesa service add` (with AVESA_STATE_URL="
                      f"{target.state_url}, the environment's registry)", soft_wrap=True, markup=False)
    console.print(literal(f"{records:,} records in {tables} tables, {seconds:.1f}s; execution {name} in "
                          f"{target.env.value}"), soft_wrap=True)
    if end.get("superseded"):
        console.print(Text.assemble((f"run {summary.run_id} was taken over", "red"), " by another execution before "
                                    "this one finished it (`avesa jobs show` with AVESA_STATE_URL on the ledger)"),
                      soft_wrap=True)
        raise typer.Exit(EXIT_FAILED)
    if summary.status == "cancelled":
        console.print(Text.assemble((f"run {summary.run_id} was cancelled", "red"),
                                    " (`avesa jobs cancel`); the next run starts from the watermarks"))
        raise typer.Exit(EXIT_FAILED)
    if failed or failures:
        console.print(f"[red]{failed + failures} table(s) failed[/]")
        raise typer.Exit(EXIT_FAILED)
    if not tables and summary.held_by:
        tenants = ", ".join(f"{tenant} (run {holder})" for tenant, holder in sorted(summary.held_by.items()))
        console.print(Text.assemble(("nothing synced", "red"), f": other runs hold every tenant this run would sync "
                                    f"— {tenants}; run again when they finish"), soft_wrap=True)
        raise typer.Exit(EXIT_BUSY)


_INPUT_ERRORS = frozenset({UsageError.__name__, NotFoundError.__name__, ConfigError.__name__})
"""The orchestrator's errors that mean the input was wrong (exit 2, as `avesa run` for the same)."""


def _execution_error(described: dict[str, Any]) -> tuple[str, str]:
    """(error name, message) of an execution that did not succeed: a Lambda's error document's
    message when the cause is one, else the cause as it is, on one line and cut to 300 characters."""
    error = str(described.get("error") or {"ABORTED": "stopped", "TIMED_OUT": "timed out"}.get(
        described["status"], "failed"))
    cause = str(described.get("cause") or "")
    try:
        document = json.loads(cause)
    except ValueError:
        document = None
    if isinstance(document, dict) and "errorMessage" in document:
        cause = str(document["errorMessage"])
    message = " ".join(cause.split())
    return error, message if len(message) <= 300 else message[:300] + "…"


def _print_nulled(results: list[TableResult]) -> None:
    for result in results:
        if result.nulled_values:
            console.print(Text.assemble((result.table.label, "yellow"), f": {nulled_summary(result.nulled_values)} — "
                                        "not convertible to the canonical type; the raw files keep them as sent"))


def _seconds(start: datetime | None, stop: datetime | None) -> float:
    if start is None:
        return 0.0
    return ((stop or utc_now()) - start).total_seconds()

"""Is a run's owner still at work on it — when the owner is a Step Functions execution?

A run the AWS executor runs is owned by its PipelineOrchestrator execution (its ARN is the run's
owner, and every Lambda working on the run acts under it). Step Functions knows whether that
execution is still running, so a run whose execution was stopped, failed or timed out is finished
by the next execution at once; when the question cannot be asked (no permission, another region)
the engine's own rule decides (pipeline/owners.py: no lease renewed for a lease's time)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from avesa.domain.work import RunStatus
from avesa.pipeline.context import PipelineContext
from avesa.pipeline.resume import interruption
from avesa.state.ledger_records import RunRecord

EXECUTION_ARN = re.compile(r"^arn:aws[a-z-]*:states:[a-z0-9-]+:\d{12}:execution:[^:]+:[^:]+$")


def is_execution(owner: str) -> bool:
    return bool(EXECUTION_ARN.match(owner))


def execution_status(sfn: Any, owner: str) -> str | None:
    """The status of the execution `owner` (RUNNING, SUCCEEDED, FAILED, TIMED_OUT, ABORTED), or
    None when `owner` is no execution or Step Functions cannot say (then the lease rule decides)."""
    if sfn is None or not is_execution(owner):
        return None
    try:
        return str(sfn.describe_execution(executionArn=owner)["status"])
    except Exception:  # no permission, gone from the history: the ledger's rule decides
        return None


def interrupted_runs(ctx: PipelineContext, sfn: Any, now: datetime,
                     kind: str = "sync") -> Iterator[tuple[RunRecord, str]]:
    """Runs of `kind` the ledger says are running whose owner is gone, oldest first, with why. An
    owner Step Functions says is RUNNING is at work, whatever its leases say."""
    runs = sorted(ctx.state.list_runs(limit=100, status=RunStatus.RUNNING), key=lambda r: r.started_at)
    for run in runs:
        if run.owner == ctx.owner or run.kind != kind:
            continue
        status = execution_status(sfn, run.owner)
        if status == "RUNNING":
            continue
        if status is not None:
            yield run, f"its execution {run.owner.rsplit(':', 1)[-1]} ended {status}"
            continue
        found = interruption(ctx, run, now)
        if found is not None:
            yield run, found.reason

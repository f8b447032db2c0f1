"""What the CLI calls a run, table or chunk the ledger says is at work: "interrupted" when the run's
owner is gone (`pipeline/resume.py: interruption`, the rule resuming and cleanup-stuck use)."""

from __future__ import annotations

from datetime import datetime

from avesa.pipeline.context import PipelineContext
from avesa.pipeline.resume import Interruption, interruption
from avesa.state.ledger_records import RunRecord

AT_WORK = frozenset({"running", "extracting", "finalizing"})
"""Statuses of runs, tables and chunks that a worker is in the middle of ("pending" ones it never began)."""


def interruptions(ctx: PipelineContext, runs: list[RunRecord], now: datetime) -> dict[str, Interruption]:
    """The interrupted ones among `runs`, by run id."""
    looked = {run.run_id: interruption(ctx, run, now) for run in runs}
    return {run_id: found for run_id, found in looked.items() if found is not None}


def shown_status(status: str, interrupted: Interruption | None) -> str:
    """`status` as the ledger says it, or "interrupted" for work whose run's owner is gone."""
    return "interrupted" if interrupted is not None and status in AT_WORK else status

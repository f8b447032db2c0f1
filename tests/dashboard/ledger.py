"""Writing a ledger by hand through the StateStore interface, for pages whose history a real
pipeline would take hours to make (a run a day ago, failures in a row, two runs in one second)."""

from __future__ import annotations

import itertools
from datetime import datetime

from avesa.domain.work import SyncMode, TableRef
from avesa.pipeline.context import PipelineContext
from avesa.state.ledger_records import TableRunUpdate

_ids = itertools.count(1)


def record_table_run(ctx: PipelineContext, tenant_id: str, table: str, *, started: datetime, status: str,
                     finished: datetime | None = None, range_end: datetime | None = None, error: str | None = None,
                     records: int = 0, versions: int = 0, mode: SyncMode = SyncMode.INCREMENTAL,
                     service: str = "connectwise") -> str:
    """One run holding one table run, ended as `status`; returns the run id."""
    run_id = f"run-test-{next(_ids):04d}"
    ctx.state.create_run(run_id, started, {"kind": "backfill" if mode is SyncMode.BACKFILL else "sync"}, "test:1")
    ref = TableRef(run_id=run_id, tenant_id=tenant_id, service=service, table=table, mode=mode,
                   run_started_at=started)
    ctx.state.start_table_runs([ref])
    ctx.state.update_table_run(ref, TableRunUpdate(status=status, range_start=started, range_end=range_end or started,
                               records=records, versions_created=versions, error=error,
                               finished_at=finished or started))
    ctx.state.finish_run(run_id, "failed" if status == "failed" else "complete", finished or started)
    return run_id

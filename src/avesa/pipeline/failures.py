"""How anything that goes wrong with one table becomes that table's failure — never the run's.

A source error already names the tenant, service and table and says what to do. Anything else raised
while handling a table's data — a record no decoder accepts, a value pyarrow refuses, a bug — is
caught at the unit's edge and turned into the same kind of failure: recorded in the ledger with the
table's label and the reason, logged with its traceback, and reported beside the other tables' results.
The run goes on, finishes (failed) and exits 1; a resumed run does the same, so one tenant's bad data
can never stop another tenant's syncs.
"""

from __future__ import annotations

import logging
import traceback

from avesa.domain.errors import AuthenticationError, AvesaError
from avesa.domain.storage_errors import storage_problem
from avesa.domain.timeutil import utc_now
from avesa.domain.work import ChunkOutcome, TableRef, TableResult, TableStatus
from avesa.observability import events
from avesa.pipeline.context import PipelineContext
from avesa.state.ledger_records import TableRunUpdate


def failure_message(ref: TableRef, exc: BaseException) -> str:
    """What a user reads for `exc` raised while handling `ref`: an AVESA error's own message; for any
    other error its type and text, where it happened, and where the details are; for a write the machine
    refused (a full disk), what to free or change."""
    if isinstance(exc, AvesaError):
        message = str(exc)
        return message if ref.label in message else f"{ref.label}: {message}"
    refused = storage_problem(exc)
    if refused is not None:  # a full disk, a read-only folder: the next run re-reads what this one could not write
        return f"{ref.label}: {refused}"
    text = str(exc).strip() or "(no message)"
    if len(text) > 500:
        text = text[:500] + "…"
    return (f"{ref.label}: unexpected {type(exc).__name__} while handling this table's data: {text}. The other "
            "tables went on; the traceback is in the run log ($AVESA_HOME/logs/avesa.jsonl)")


def log_unexpected(ref: TableRef, exc: BaseException, stage: str) -> None:
    """The traceback of an error that is not one of AVESA's own, for whoever investigates it."""
    if isinstance(exc, AvesaError):
        return
    events.emit("table_error", level=logging.ERROR, run_id=ref.run_id, tenant_id=ref.tenant_id,
                service=ref.service, table=ref.table, stage=stage, error_type=type(exc).__name__,
                traceback="".join(traceback.format_exception(type(exc), exc, exc.__traceback__)))


def fail_table(ctx: PipelineContext, ref: TableRef, message: str, *, records: int | None = None,
               canonical_table: str | None = None) -> TableResult:
    """Record the table run as failed with `message` and return its result."""
    update = TableRunUpdate(status=TableStatus.FAILED, error=message, finished_at=utc_now())
    if records is not None:
        update.records = records
    ctx.state.update_table_run(ref, update)
    return TableResult(table=ref, status=TableStatus.FAILED, records=records or 0, error=message,
                       canonical_table=canonical_table)


def table_failed_by(ctx: PipelineContext, ref: TableRef, exc: BaseException, stage: str, *,
                    records: int | None = None, canonical_table: str | None = None) -> TableResult:
    """`exc` stopped `ref` at `stage` (plan, extract, finalize): log it and fail the table."""
    log_unexpected(ref, exc, stage)
    return fail_table(ctx, ref, failure_message(ref, exc), records=records, canonical_table=canonical_table)


def chunks_failed_message(failed: list[ChunkOutcome]) -> str:
    """One message for a table whose chunks failed: an authentication failure first (it is what the
    operator must fix), else the first failure, and how many more there were."""
    auth = next((o for o in failed if o.error_kind == AuthenticationError.__name__), None)
    first = auth or failed[0]
    message = first.error or f"chunk {first.chunk_id} {first.status.value}"
    if len(failed) > 1:
        message += f" (and {len(failed) - 1} more failed chunks)"
    return message

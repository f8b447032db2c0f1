"""Rules of the run ledger that both back ends apply, each in its own storage (SQLite in a
transaction, DynamoDB as conditional writes): written once, so that the two cannot drift apart."""

from __future__ import annotations

from datetime import datetime

from avesa.domain.work import TableStatus

DEFAULT_RETENTION_DAYS = 90.0
"""How long a finished run's chunk rows are kept (AVESA_LEDGER_RETENTION_DAYS)."""

LOCK_SCOPES = ("sync", "backfill")
"""The scopes of a tenant lock: "sync" runs (`avesa run`) exclude each other per tenant; a
"backfill" excludes other backfills of the tenant but runs beside a sync (it never moves
watermarks; merges retry on conflict)."""

ENDED_TABLE = (TableStatus.COMPLETE, TableStatus.FAILED)
"""A table run that ended on its own: cancelling or abandoning its run leaves it as it ended."""


def lease_end(now: datetime, lease_seconds: float) -> datetime:
    """When a lease taken or renewed at `now` for `lease_seconds` ends."""
    return datetime.fromtimestamp(now.timestamp() + lease_seconds, now.tzinfo)

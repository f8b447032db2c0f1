"""Recording the audit trail (`avesa audit`): one `audited` block around each registry change and
operator action, at the one place that carries it out — the pipeline function the CLI calls
(`register_service`, `cancel_run`, `abandon_interrupted`, `pipeline/registry_changes.py` with
`set_schedule`, `pipeline/onboarding.py`), or for the actions that run the engine (backfill,
resume, retry) `runtime/operator_runs.py`, which the CLI calls instead of the engine itself.

The block appends one entry when it ends: "ok", "refused" for a UsageError (bad input, nothing
changed) or "failed" otherwise, with AVESA's error message (which never carries a credential; an
unexpected exception is recorded by its type only). Details are what the code puts in them —
tables, a rate, a schedule, counts, credential field *names* — never a credential value.

A trail that cannot be written (a read-only state file) never hides what the action did or why it
failed: it is logged as an `audit_not_recorded` event instead.
"""

from __future__ import annotations

import getpass
import logging
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime

from avesa.domain.audit import AuditEntry, Outcome
from avesa.domain.errors import AvesaError, UsageError
from avesa.domain.timeutil import utc_now
from avesa.observability import events
from avesa.state.base import AuditTrail


def actor() -> str:
    """Who is acting: the OS user of this process (never a credential)."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


@dataclass
class Audited:
    """The entry an `audited` block is building; the block's code adds details or sets the outcome."""

    action: str
    tenant_id: str | None = None
    service: str | None = None
    target: str | None = None
    details: dict[str, object] = field(default_factory=dict)
    outcome: Outcome | None = None
    message: str = ""

    def failed(self, message: str) -> None:
        """The action ran and did not succeed without raising (e.g. a run with a failed table)."""
        self.outcome, self.message = Outcome.FAILED, message

    def refused(self, message: str) -> None:
        """The action changed nothing, without raising (e.g. a run another process took meanwhile)."""
        self.outcome, self.message = Outcome.REFUSED, message

    def entry(self, at: datetime, who: str) -> AuditEntry:
        return AuditEntry(entry_id=uuid.uuid4().hex, at=at, actor=who, action=self.action,
                          outcome=self.outcome or Outcome.OK, tenant_id=self.tenant_id, service=self.service,
                          target=self.target, details=self.details, message=self.message)


def append(state: AuditTrail, entries: list[AuditEntry]) -> None:
    """Append entries; a failure to is logged, never raised (see the module's docstring)."""
    if not entries:
        return
    try:
        state.append_audit(entries)
    except Exception as exc:
        events.emit("audit_not_recorded", level=logging.WARNING, action=entries[0].action,
                    entries=len(entries), error=type(exc).__name__)


def record(state: AuditTrail, entries: list[Audited], now: datetime | None = None) -> None:
    """Append several entries of one action at once (an import: one per tenant)."""
    at, who = now or utc_now(), actor()
    append(state, [e.entry(at, who) for e in entries])


@contextmanager
def audited(state: AuditTrail, action: str, *, tenant_id: str | None = None, service: str | None = None,
            target: str | None = None, **details: object) -> Iterator[Audited]:
    """Append one entry for the block's action when it ends, saying how it ended."""
    entry = Audited(action=action, tenant_id=tenant_id, service=service, target=target, details=dict(details))
    try:
        yield entry
    except UsageError as exc:
        entry.outcome, entry.message = Outcome.REFUSED, str(exc)
        record(state, [entry])
        raise
    except AvesaError as exc:
        entry.failed(str(exc))
        record(state, [entry])
        raise
    except BaseException as exc:
        entry.failed("interrupted" if isinstance(exc, KeyboardInterrupt) else
                     f"{type(exc).__name__} (see $AVESA_HOME/logs/avesa.jsonl)")
        record(state, [entry])
        raise
    record(state, [entry])

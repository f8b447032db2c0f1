"""The audit trail's entries (`avesa audit`): who changed the registry or acted on a run, when, what
and how it ended — the brief's "complete operation logging".

An entry says what was asked in plain fields (tenant, service, target) and `details` the code
chose (tables, a rate, a schedule's text, a file name, counts, the *names* of credential fields) —
never a credential value: nothing an operator typed as a secret is ever put in one.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, Field


class Outcome(StrEnum):
    OK = "ok"
    REFUSED = "refused"  # bad input or a state that does not allow it: nothing was changed
    FAILED = "failed"  # it ran and did not succeed (a table failed, an unexpected error)


class AuditEntry(BaseModel):
    at: datetime
    actor: str
    """Who: the OS user of the process (on AWS, the caller's principal)."""
    action: str
    """What, as `noun.verb`: `service.add`, `tenant.import`, `jobs.cancel`, `schedule.set` …"""
    outcome: Outcome
    tenant_id: str | None = None
    service: str | None = None
    target: str | None = None
    """What else the action names: a run id, an import file, a table."""
    details: dict[str, object] = Field(default_factory=dict)
    message: str = ""
    """The error a refused or failed action gave (AVESA's messages carry no credentials)."""
    entry_id: str = ""
    """Unique per entry (set by whoever appends it), so two at the same microsecond stay apart."""

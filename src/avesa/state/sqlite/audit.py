"""The audit trail in SQLite (`avesa audit`): an append-only table, read newest first."""

from __future__ import annotations

import json
from datetime import datetime

from avesa.domain.audit import AuditEntry
from avesa.domain.timeutil import parse_utc
from avesa.state.base import AuditTrail
from avesa.state.sqlite.codec import fixed
from avesa.state.sqlite.job import SqliteJob


class SqliteAuditTrail(SqliteJob, AuditTrail):
    def append_audit(self, entries: list[AuditEntry]) -> None:
        with self._tx() as c:
            c.executemany(
                "INSERT INTO audit_log (entry_id, at, actor, action, outcome, tenant_id, service, target, details, "
                "message) VALUES (?,?,?,?,?,?,?,?,?,?)",
                [(e.entry_id, fixed(e.at), e.actor, e.action, e.outcome.value, e.tenant_id, e.service, e.target,
                  json.dumps(e.details, sort_keys=True, default=str), e.message) for e in entries])

    def list_audit(self, tenant_id: str | None = None, action: str | None = None, since: datetime | None = None,
                   limit: int = 100) -> list[AuditEntry]:
        """Newest first. `action` matches itself and, without a dot, every `action.*` (`service`)."""
        clauses, params = [], []
        if tenant_id is not None:
            clauses.append("tenant_id=?")
            params.append(tenant_id)
        if action is not None:
            clauses.append("(action=? OR action LIKE ? ESCAPE '\\')")
            params += [action, action.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + ".%"]
        if since is not None:
            clauses.append("at>=?")
            params.append(fixed(since))
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        rows = self._query(f"SELECT * FROM audit_log {where} ORDER BY at DESC, seq DESC LIMIT ?", (*params, limit))
        return [AuditEntry(entry_id=r["entry_id"], at=parse_utc(r["at"]), actor=r["actor"], action=r["action"],
                           outcome=r["outcome"], tenant_id=r["tenant_id"], service=r["service"], target=r["target"],
                           details=json.loads(r["details"]), message=r["message"]) for r in rows]

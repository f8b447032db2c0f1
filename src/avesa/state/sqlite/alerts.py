"""Alert incidents in SQLite (alerts/incidents.py): a row per alert key, its latest incident."""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime

from avesa.domain.timeutil import parse_utc
from avesa.state.alert_records import AlertIncident, oldest_first
from avesa.state.base import AlertIncidents
from avesa.state.sqlite.codec import dt, ts
from avesa.state.sqlite.job import SqliteJob


def _alert(row: sqlite3.Row) -> AlertIncident:
    return AlertIncident(key=row["alert_key"], rule=row["rule"], tenant_id=row["tenant_id"], summary=row["summary"],
                         details=json.loads(row["details"]), opened_at=parse_utc(row["opened_at"]),
                         resolved_at=dt(row["resolved_at"]), sent=json.loads(row["sent"]),
                         resolved_sent=json.loads(row["resolved_sent"]))


class SqliteAlertIncidents(SqliteJob, AlertIncidents):
    def open_alert(self, incident: AlertIncident) -> bool:
        """Keep `incident` as its key's unless the kept one is still open; True if stored."""
        with self._tx() as c:
            cursor = c.execute(
                "INSERT INTO alert_incidents VALUES (?,?,?,?,?,?,?,?,?) ON CONFLICT(alert_key) DO UPDATE SET "
                "rule=excluded.rule, tenant_id=excluded.tenant_id, summary=excluded.summary, details=excluded.details, "
                "opened_at=excluded.opened_at, resolved_at=excluded.resolved_at, sent=excluded.sent, "
                "resolved_sent=excluded.resolved_sent WHERE alert_incidents.resolved_at IS NOT NULL",
                (incident.key, incident.rule, incident.tenant_id, incident.summary,
                 json.dumps(incident.details, sort_keys=True), ts(incident.opened_at), ts(incident.resolved_at),
                 json.dumps(incident.sent), json.dumps(incident.resolved_sent)))
            return cursor.rowcount == 1

    def get_alert(self, key: str) -> AlertIncident | None:
        rows = self._query("SELECT * FROM alert_incidents WHERE alert_key=?", (key,))
        return _alert(rows[0]) if rows else None

    def list_alerts(self, open_only: bool = True) -> list[AlertIncident]:
        where = " WHERE resolved_at IS NULL" if open_only else ""
        rows = self._query(f"SELECT * FROM alert_incidents{where}")
        return oldest_first(_alert(r) for r in rows)

    def resolve_alert(self, key: str, opened_at: datetime, resolved_at: datetime) -> bool:
        with self._tx() as c:
            return c.execute("UPDATE alert_incidents SET resolved_at=? WHERE alert_key=? AND opened_at=? "
                             "AND resolved_at IS NULL", (ts(resolved_at), key, ts(opened_at))).rowcount == 1

    def mark_alert_sent(self, key: str, opened_at: datetime, destination: str, resolved: bool = False) -> bool:
        column = "resolved_sent" if resolved else "sent"
        with self._tx() as c:
            row = c.execute(f"SELECT {column} FROM alert_incidents WHERE alert_key=? AND opened_at=?",
                            (key, ts(opened_at))).fetchone()
            if row is None:
                return False
            sent = json.loads(row[column])
            if destination not in sent:
                c.execute(f"UPDATE alert_incidents SET {column}=? WHERE alert_key=?",
                          (json.dumps([*sent, destination]), key))
            return True

"""``sys_audit_delete``: where a connector finds records deleted since its last run.

The Table API simply stops returning a deleted record. A real instance writes a row to
``sys_audit_delete`` for each deletion (``tablename``, ``documentkey`` = the sys_id,
``sys_created_on`` = when, ``payload`` = the record as XML). The sandbox derives those rows from
the ground-truth change log, so they agree with it by construction: one row per ``delete`` entry of
a data table, created at the entry's stamp (after the record's last version). Rows are added when
the table is read (and after ``mutate``), keyed by the log sequence number, so sys_id order is
deletion order.
"""

from __future__ import annotations

from typing import Any
from xml.sax.saxutils import escape

from avesa_sandbox.changelog import ChangeEntry, ChangeLog, Op
from avesa_sandbox.servicenow.ids import sys_id
from avesa_sandbox.servicenow.records import Shaper
from avesa_sandbox.servicenow.tables import AUDIT_TABLE, DATA_TABLES, TABLES
from avesa_sandbox.servicenow.timefmt import format_datetime
from avesa_sandbox.store import TableStore

Record = dict[str, Any]

DELETED_BY = "system"
"""``sys_created_by`` of audit rows (the change log does not record who deleted)."""


def payload(table: str, record: Record) -> str:
    """The deleted record as the platform's XML payload (raw values, references as sys_ids)."""
    fields = []
    for name, value in record.items():
        raw = value.get("value", "") if isinstance(value, dict) else value
        fields.append(f"<{name}>{escape(str(raw))}</{name}>")
    body = "".join(fields)
    header = '<?xml version="1.0" encoding="UTF-8"?>'
    return f'{header}<record_update table="{table}"><{table}>{body}</{table}></record_update>'


def audit_row(shaper: Shaper, entry: ChangeEntry) -> Record:
    """The ``sys_audit_delete`` row of one delete entry of the change log."""
    row = shaper.blank(AUDIT_TABLE)
    stamp = format_datetime(entry.last_updated)
    display_field = TABLES[entry.table].display_field
    row.update(
        sys_id=sys_id(AUDIT_TABLE, entry.seq),
        tablename=entry.table,
        documentkey=str(entry.id),
        display_value=str(entry.record.get(display_field, ""))[:255],
        payload=payload(entry.table, entry.record),
        sys_created_on=stamp,
        sys_created_by=DELETED_BY,
        sys_updated_on=stamp,
        sys_updated_by=DELETED_BY,
        sys_mod_count="0",
    )
    return row


class AuditSync:
    """Keeps one instance's ``sys_audit_delete`` store up to date with its change log."""

    def __init__(self) -> None:
        self.seen = 0
        """Change-log entries already looked at."""

    def reset(self) -> None:
        self.seen = 0

    def sync(self, shaper: Shaper, changelog: ChangeLog, store: TableStore) -> None:
        """Add rows for deletes logged since the last sync (call under the instance lock)."""
        if len(changelog) < self.seen:
            self.seen = 0
        for entry in changelog.entries(after_seq=self.seen):
            if entry.op is Op.DELETE and entry.table in DATA_TABLES and entry.seq not in store:
                store.put(audit_row(shaper, entry))
        self.seen = len(changelog)

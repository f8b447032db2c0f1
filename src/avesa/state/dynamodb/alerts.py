"""Alert incidents in DynamoDB (alerts/incidents.py): an item per alert key in the `ALERTS`
partition, its latest incident."""

from __future__ import annotations

from datetime import datetime

from boto3.dynamodb.conditions import Attr, Key

from avesa.domain.timeutil import parse_utc
from avesa.state.alert_records import AlertIncident, oldest_first
from avesa.state.base import AlertIncidents
from avesa.state.dynamodb import codec, layout
from avesa.state.dynamodb.gateway import Item, Update
from avesa.state.dynamodb.job import DynamoDBJob

_MARK_ATTEMPTS = 8
"""Tries of `mark_alert_sent`'s compare-and-set that met another process's mark."""


def _alert(item: Item) -> AlertIncident:
    return AlertIncident(key=item["alert_key"], rule=item["rule"], tenant_id=item.get("tenant_id"),
                         summary=item["summary"], details=item.get("details") or {},
                         opened_at=parse_utc(item["opened_at"]), resolved_at=codec.dt(item.get("resolved_at")),
                         sent=item.get("sent") or [], resolved_sent=item.get("resolved_sent") or [])


class DynamoDBAlertIncidents(DynamoDBJob, AlertIncidents):
    def open_alert(self, incident: AlertIncident) -> bool:
        """Keep `incident` as its key's unless the kept one is still open (one conditional put)."""
        item = {**layout.alert_key(incident.key), "kind": "alert", "alert_key": incident.key, "rule": incident.rule,
                "tenant_id": incident.tenant_id, "summary": incident.summary, "details": dict(incident.details),
                "opened_at": codec.ts(incident.opened_at), "resolved_at": codec.ts(incident.resolved_at),
                "sent": list(incident.sent), "resolved_sent": list(incident.resolved_sent)}
        return self._db.put(item, Attr("pk").not_exists() | Attr("resolved_at").exists())

    def get_alert(self, key: str) -> AlertIncident | None:
        item = self._db.get(layout.alert_key(key))
        return _alert(item) if item else None

    def list_alerts(self, open_only: bool = True) -> list[AlertIncident]:
        items = self._db.query(Key("pk").eq(layout.ALERTS_PK) & Key("sk").begins_with("ALERT#"))
        found = [_alert(i) for i in items]
        return oldest_first(a for a in found if a.is_open or not open_only)

    def resolve_alert(self, key: str, opened_at: datetime, resolved_at: datetime) -> bool:
        return self._db.update(layout.alert_key(key), Update(set={"resolved_at": codec.ts(resolved_at)}),
                               Attr("opened_at").eq(codec.ts(opened_at)) & Attr("resolved_at").not_exists())

    def mark_alert_sent(self, key: str, opened_at: datetime, destination: str, resolved: bool = False) -> bool:
        """Read, add, write on condition that the list is still the one read (another process's
        mark in between makes the write read again)."""
        name = "resolved_sent" if resolved else "sent"
        for _ in range(_MARK_ATTEMPTS):
            item = self._db.get(layout.alert_key(key))
            if item is None or item.get("opened_at") != codec.ts(opened_at):
                return False
            sent = list(item.get(name) or [])
            if destination in sent:
                return True
            if self._db.update(layout.alert_key(key), Update(set={name: [*sent, destination]}),
                               Attr("opened_at").eq(codec.ts(opened_at)) & Attr(name).eq(sent)):
                return True
        return False

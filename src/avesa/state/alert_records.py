"""Alert incidents as the state store keeps them: one per alert key (its latest incident), so a
restart of `avesa serve` knows what it already said (alerts/incidents.py)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from pydantic import BaseModel


class AlertIncident(BaseModel):
    key: str
    """What the incident is about, e.g. `failures:acme/connectwise/service_tickets` — one open
    incident per key at a time."""
    rule: str
    tenant_id: str | None = None
    summary: str
    details: dict[str, str] = {}
    opened_at: datetime
    resolved_at: datetime | None = None
    sent: list[str] = []
    """Destinations (by name, never by address) told that the incident opened."""
    resolved_sent: list[str] = []
    """Destinations told that it cleared."""

    @property
    def is_open(self) -> bool:
        return self.resolved_at is None


def oldest_first(incidents: Iterable[AlertIncident]) -> list[AlertIncident]:
    """The order `list_alerts` answers in: oldest opened first, then by key."""
    return sorted(incidents, key=lambda incident: (incident.opened_at, incident.key))

"""Incidents: each alert said once, and once more when it clears — across restarts.

An evaluation reads the rules' findings (alerts/rules.py) and the incidents the state store keeps:
a finding with no open incident opens one (a conditional write, so two processes evaluating at
once open it once) and is sent to its tenant's destinations; an open incident no longer found is
resolved, and its resolution goes to the destinations that were told it opened. Every delivery
is noted per destination in the store, so a restart never sends one again and a destination that
was down is told on a later evaluation, the others not twice.

Text from the ledger (a table's error) is masked with the tenant's credential values and the
alert destinations' own secrets (domain/redaction.py) before it is in a message.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from avesa.alerts.config import AlertConfig, Destination, load_alert_config
from avesa.alerts.delivery import DeliveryError, Message, Sender
from avesa.alerts.rules import Finding, evaluate
from avesa.connectors.scrubbing import redactor_for
from avesa.domain.redaction import Redactor
from avesa.domain.timeutil import utc_now
from avesa.observability import events
from avesa.pipeline.wiring import build_secret_store, build_state_store
from avesa.secrets.base import SecretStore
from avesa.settings import Settings
from avesa.state.alert_records import AlertIncident
from avesa.state.base import StateStore

RESOLUTION_RETRY = timedelta(days=1)
"""How long after an incident cleared a resolution that could not be delivered is tried again."""


@dataclass
class Report:
    """What one evaluation did (for the CLI and the tests)."""

    open: list[str] = field(default_factory=list)
    opened: list[str] = field(default_factory=list)
    resolved: list[str] = field(default_factory=list)
    sent: list[tuple[str, str, str]] = field(default_factory=list)
    """(key, phase, destination) of every delivery made."""
    failed: list[tuple[str, str, str]] = field(default_factory=list)
    """(key, destination, error) of every delivery that failed."""


def message_of(incident: AlertIncident, phase: str, at: datetime) -> Message:
    return Message(phase=phase, rule=incident.rule, key=incident.key, tenant_id=incident.tenant_id,
                   summary=incident.summary, details=dict(incident.details), at=at, opened_at=incident.opened_at)


class AlertEngine:
    """Evaluates the rules and tells the destinations. `evaluate` is blocking (state reads,
    deliveries): `avesa serve` runs it in a worker thread, one evaluation at a time."""

    def __init__(self, settings: Settings, *, config: AlertConfig | None = None, sender: Sender | None = None,
                 open_state: Callable[[], StateStore] | None = None,
                 open_secrets: Callable[[], SecretStore] | None = None,
                 clock: Callable[[], datetime] = utc_now) -> None:
        self.settings = settings
        self.config = config or load_alert_config(settings)
        self.sender = sender or Sender(self.config)
        self.clock = clock
        self._open_state = open_state or (lambda: build_state_store(settings))
        self._open_secrets = open_secrets or (lambda: build_secret_store(settings))
        self._lock = threading.Lock()

    def evaluate(self, now: datetime | None = None) -> Report:
        """One evaluation at `now` (the clock's by default)."""
        with self._lock:
            state = self._open_state()
            try:
                return self._evaluate(state, now or self.clock())
            finally:
                state.close()

    def _evaluate(self, state: StateStore, now: datetime) -> Report:
        report = Report()
        findings = {f.key: f for f in evaluate(state, self.settings, self.config, now, self._redaction())}
        kept = {a.key: a for a in state.list_alerts(open_only=False)}
        for key, finding in findings.items():
            incident = kept.get(key)
            if incident is None or not incident.is_open:
                incident = self._open(state, finding, now, report)
            if incident is not None:
                report.open.append(key)
                self._deliver(state, incident, "opened", now, report)
        for key, incident in kept.items():
            if key in findings:
                continue
            if incident.is_open:
                if not state.resolve_alert(key, incident.opened_at, now):
                    continue
                incident = incident.model_copy(update={"resolved_at": now})
                report.resolved.append(key)
                events.emit("alert_resolved", key=key, rule=incident.rule, tenant_id=incident.tenant_id,
                            summary=incident.summary, opened_at=incident.opened_at.isoformat())
            if incident.resolved_at is not None and now - incident.resolved_at <= RESOLUTION_RETRY:
                self._deliver(state, incident, "resolved", incident.resolved_at, report)
        return report

    def _open(self, state: StateStore, finding: Finding, now: datetime, report: Report) -> AlertIncident | None:
        incident = AlertIncident(key=finding.key, rule=finding.rule, tenant_id=finding.tenant_id,
                                 summary=finding.summary, details=dict(finding.details), opened_at=now)
        if not state.open_alert(incident):
            return state.get_alert(finding.key)  # another process opened it a moment ago: its incident
        report.opened.append(finding.key)
        events.emit("alert_opened", level=logging.WARNING, key=finding.key, rule=finding.rule,
                    tenant_id=finding.tenant_id, summary=finding.summary)
        return incident

    def _targets(self, incident: AlertIncident, phase: str) -> list[Destination]:
        destinations = self.config.policy(incident.tenant_id).destinations
        if phase == "resolved":  # only who was told it opened
            return [d for d in destinations if d.name in incident.sent and d.name not in incident.resolved_sent]
        return [d for d in destinations if d.name not in incident.sent]

    def _deliver(self, state: StateStore, incident: AlertIncident, phase: str, at: datetime, report: Report) -> None:
        for destination in self._targets(incident, phase):
            try:
                self.sender.send(destination, message_of(incident, phase, at))
            except DeliveryError as exc:
                report.failed.append((incident.key, destination.name, str(exc)))
                events.emit("alert_delivery_failed", level=logging.WARNING, key=incident.key, phase=phase,
                            destination=destination.name, error=str(exc))
                continue
            state.mark_alert_sent(incident.key, incident.opened_at, destination.name, resolved=phase == "resolved")
            report.sent.append((incident.key, phase, destination.name))
            events.emit("alert_sent", key=incident.key, phase=phase, destination=destination.name)

    def _redaction(self) -> Callable[[str | None, str | None, str], str]:
        """(tenant, service, text) -> text masked with that service's credentials and the alerts' own
        secrets. The secret store is opened once per evaluation, when a text needs it."""
        base = self.config.secrets()
        cache: dict[tuple[str | None, str | None], Redactor] = {}
        store: list[SecretStore] = []

        def credentials(tenant_id: str, service: str) -> Redactor:
            from avesa.catalog.loader import load_catalog
            from avesa.secrets.base import secret_ref

            if not store:
                store.append(self._open_secrets())
            values = store[0].get(secret_ref(tenant_id, service))
            redactor = redactor_for(load_catalog(self.settings.catalog_path).service(service), values)
            redactor.add(*base)
            return redactor

        def redact(tenant_id: str | None, service: str | None, text: str) -> str:
            key = (tenant_id, service)
            if key not in cache:
                try:
                    cache[key] = credentials(tenant_id, service) if tenant_id and service else Redactor(base)
                except Exception:  # no credentials kept (removed): what the ledger kept was masked already
                    cache[key] = Redactor(base)
            return cache[key].text(text)

        return redact

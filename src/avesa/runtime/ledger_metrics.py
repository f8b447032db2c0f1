"""Metrics only the ledger knows, read when Prometheus scrapes: each table's lag (now less its
watermark, the newest change a completed run landed) and, under `avesa serve`, when each tenant's
service runs next. Both are computed at collection time, so they are true whenever they are read,
whatever process moved the watermark."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from datetime import datetime

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from avesa.domain.timeutil import utc_now
from avesa.observability.metrics import NAMES
from avesa.state.base import StateStore

NextRuns = Callable[[], Iterable[tuple[str, str, str, datetime]]]
"""(tenant, service, mode, when) of every scheduled run."""


class LedgerCollector(Collector):
    """`avesa_table_lag_seconds` for every enabled table with a watermark, and
    `avesa_next_run_timestamp_seconds` when given the scheduler's next runs."""

    def __init__(self, state: StateStore, next_runs: NextRuns | None = None,
                 clock: Callable[[], datetime] = utc_now) -> None:
        self.state = state
        self.next_runs = next_runs
        self.clock = clock

    def describe(self) -> list:
        return []  # nothing to read at registration: the ledger may be busy

    def collect(self) -> Iterator[GaugeMetricFamily]:
        now = self.clock()
        lag_metric = NAMES["table_lag_seconds"]
        lag = GaugeMetricFamily(lag_metric.prometheus, lag_metric.help, labels=list(lag_metric.labels))
        enabled = {t.tenant_id for t in self.state.list_tenants() if t.enabled}
        for config in self.state.list_services():
            if config.tenant_id not in enabled or not config.enabled:
                continue
            for table in config.tables:
                watermark = self.state.get_watermark(config.tenant_id, config.service, table)
                if watermark is not None:
                    lag.add_metric([config.tenant_id, config.service, table],
                                   max(0.0, (now - watermark).total_seconds()))
        yield lag
        if self.next_runs is not None:
            metric = NAMES["next_run_timestamp_seconds"]
            upcoming = GaugeMetricFamily(metric.prometheus, metric.help, labels=list(metric.labels))
            for tenant_id, service, mode, when in self.next_runs():
                upcoming.add_metric([tenant_id, service, mode], when.timestamp())
            yield upcoming

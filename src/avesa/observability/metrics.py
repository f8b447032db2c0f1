"""The pipeline's metrics: one set of names for every executor, and their Prometheus form.

`NAMES` is the table both executors share — the local one exposes it as Prometheus/OpenMetrics
(`avesa serve`'s `/metrics`, `avesa run --metrics-file`), the AWS one as CloudWatch EMF — from the
brief's list: pipeline (runs started, completed, failed, duration), tenant (tables, failures,
duration), table (chunks, records, versions, deletes, duration, lag = now − watermark), chunk
(records, pages, API calls, retries, 429s, duration), performance (records/s, records per API call),
and the data-quality counts of full syncs. Locally, tenant, service and table are labels; on
CloudWatch they are properties, not dimensions (`Metric.cloudwatch` is the EMF name).

`EventMetrics` is fed by the run's events (`observability.events.subscribe`), never by reading the
log back: a run that reports an event updates the metric in the same call. What only the ledger
knows — lag, since a watermark belongs to no event — is read at scrape time by a collector the
caller adds (runtime/ledger_metrics.py).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Summary, write_to_textfile
from prometheus_client.exposition import push_to_gateway

from avesa.observability import events

RUN = ("mode",)
TENANT = ("tenant",)
TABLE = ("tenant", "service", "table")
SCHEDULE = ("tenant", "service", "mode")


@dataclass(frozen=True)
class Metric:
    key: str
    kind: str  # counter | gauge | histogram | summary
    unit: str  # CloudWatch's unit name: Count, Seconds, Count/Second, None
    help: str
    labels: tuple[str, ...]
    source: str = "events"
    """What feeds it: "events" (EventMetrics), "ledger" (read at scrape time), "scheduler" (serve)."""

    @property
    def prometheus(self) -> str:
        """The Prometheus name (a counter is exposed with `_total` after it)."""
        return f"avesa_{self.key}"

    @property
    def cloudwatch(self) -> str:
        """The EMF metric name: `table_records` → `TableRecords`."""
        return "".join(part.capitalize() for part in self.key.split("_"))


_ALL = (
    # pipeline
    Metric("runs_started", "counter", "Count", "Runs started", RUN),
    Metric("runs_completed", "counter", "Count", "Runs that ended with every table complete", RUN),
    Metric("runs_failed", "counter", "Count", "Runs that ended with a failed table", RUN),
    Metric("run_duration_seconds", "histogram", "Seconds", "Wall-clock time of a run", RUN),
    # tenant
    Metric("tenant_tables", "counter", "Count", "Tables a tenant's runs ended", TENANT),
    Metric("tenant_failures", "counter", "Count", "Tables of a tenant that failed", TENANT),
    Metric("tenant_duration_seconds", "summary", "Seconds", "Time a run spent on a tenant", TENANT),
    # table
    Metric("table_chunks", "counter", "Count", "Chunks that ended (complete, failed or cancelled)", TABLE),
    Metric("table_records", "counter", "Count", "Records landed in the raw lake", TABLE),
    Metric("table_versions", "counter", "Count", "SCD2 versions created in the canonical table", TABLE),
    Metric("table_deletes", "counter", "Count", "Keys closed as deleted at the source", TABLE),
    Metric("table_failures", "counter", "Count", "Table runs that failed", TABLE),
    Metric("table_duration_seconds", "summary", "Seconds", "Time a table took in a run, extraction and merge",
           TABLE),
    Metric("table_lag_seconds", "gauge", "Seconds", "Now less the table's watermark (newest change landed)", TABLE,
           "ledger"),
    Metric("table_nulled_values", "counter", "Count", "Source values the canonical types could not hold", TABLE),
    # chunk
    Metric("chunk_records", "counter", "Count", "Records chunks landed", TABLE),
    Metric("chunk_pages", "counter", "Count", "Pages chunks read", TABLE),
    Metric("chunk_api_calls", "counter", "Count", "API requests chunks made (retries included)", TABLE),
    Metric("chunk_retries", "counter", "Count", "Requests chunks sent again", TABLE),
    Metric("chunk_rate_limited", "counter", "Count", "429 (and throttling 503) answers chunks got", TABLE),
    Metric("chunk_duration_seconds", "summary", "Seconds", "Extraction time of a chunk over its attempts", TABLE),
    # performance
    Metric("records_per_second", "gauge", "Count/Second", "Records per second of the table's last run", TABLE),
    Metric("records_per_call", "gauge", "Count", "Records per API call of the table's last run", TABLE),
    # data quality (full syncs)
    Metric("table_source_count", "gauge", "Count", "The source's own count after the last full sync", TABLE),
    Metric("table_canonical_count", "gauge", "Count", "Live canonical rows after the last full sync", TABLE),
    Metric("table_count_difference", "gauge", "Count", "Source count less live canonical rows", TABLE),
    Metric("count_mismatches", "counter", "Count", "Full syncs whose counts differed beyond the tolerance", TABLE),
    # serve
    Metric("next_run_timestamp_seconds", "gauge", "Seconds", "When `avesa serve` runs this next (Unix time)",
           SCHEDULE, "scheduler"),
)

NAMES: dict[str, Metric] = {metric.key: metric for metric in _ALL}
"""Every metric by key: the names, units and labels each executor uses."""

_RUN_DURATION_BUCKETS = (1, 5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200, float("inf"))
_TYPES: dict[str, Callable[..., Any]] = {"counter": Counter, "gauge": Gauge, "histogram": Histogram,
                                         "summary": Summary}


def _build(metric: Metric, registry: CollectorRegistry) -> Any:
    kwargs: dict[str, Any] = {"registry": registry, "labelnames": metric.labels}
    if metric.kind == "histogram":
        kwargs["buckets"] = _RUN_DURATION_BUCKETS
    return _TYPES[metric.kind](metric.prometheus, metric.help, **kwargs)


def _table(fields: dict[str, Any]) -> tuple[str, str, str]:
    return str(fields.get("tenant_id")), str(fields.get("service")), str(fields.get("table"))


class EventMetrics:
    """Prometheus metrics of NAMES in their own registry, kept up to date from events (the ones the
    ledger or the scheduler feed are collectors the caller registers beside them)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self.m: dict[str, Any] = {key: _build(metric, self.registry) for key, metric in NAMES.items()
                                  if metric.source == "events"}
        self._calls: dict[tuple[str, str, str, str], list[int]] = {}  # (run, tenant, service, table) -> records, calls
        self._lock = threading.Lock()
        self._unsubscribe: Callable[[], None] | None = None

    def __enter__(self) -> EventMetrics:
        self._unsubscribe = events.subscribe(self.observe)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None

    def observe(self, event: str, fields: dict[str, Any]) -> None:
        """Update the metrics an event speaks of (the `events.Subscriber` signature)."""
        handler = getattr(self, f"_on_{event}", None)
        if handler is not None:
            handler(fields)

    def _on_run_started(self, f: dict[str, Any]) -> None:
        self.m["runs_started"].labels(f.get("mode", "incremental")).inc()

    def _on_run_finished(self, f: dict[str, Any]) -> None:
        mode = f.get("mode", "incremental")
        if f.get("status") == "complete":
            self.m["runs_completed"].labels(mode).inc()
        elif f.get("status") == "failed":
            self.m["runs_failed"].labels(mode).inc()
        if f.get("seconds") is not None:
            self.m["run_duration_seconds"].labels(mode).observe(float(f["seconds"]))

    def _on_tenant_finished(self, f: dict[str, Any]) -> None:
        tenant = str(f.get("tenant_id"))
        self.m["tenant_tables"].labels(tenant).inc(int(f.get("tables", 0)))
        self.m["tenant_failures"].labels(tenant).inc(int(f.get("failed", 0)))
        if not f.get("stopped"):
            self.m["tenant_duration_seconds"].labels(tenant).observe(float(f.get("seconds", 0.0)))

    def _on_chunk_attempt(self, f: dict[str, Any]) -> None:
        labels = _table(f)
        records, calls = int(f.get("records", 0)), int(f.get("requests", 0))
        self.m["chunk_records"].labels(*labels).inc(records)
        self.m["chunk_pages"].labels(*labels).inc(int(f.get("pages", 0)))
        self.m["chunk_api_calls"].labels(*labels).inc(calls)
        self.m["chunk_retries"].labels(*labels).inc(int(f.get("retries", 0)))
        self.m["chunk_rate_limited"].labels(*labels).inc(int(f.get("rate_limited", 0)))
        if f.get("finished"):
            self.m["table_chunks"].labels(*labels).inc()
            self.m["chunk_duration_seconds"].labels(*labels).observe(float(f.get("chunk_seconds", 0.0)))
        with self._lock:
            tally = self._calls.setdefault((str(f.get("run_id")), *labels), [0, 0])
            tally[0] += records
            tally[1] += calls

    def _on_table_finished(self, f: dict[str, Any]) -> None:
        labels = _table(f)
        records, seconds = int(f.get("records", 0)), float(f.get("seconds", 0.0))
        self.m["table_records"].labels(*labels).inc(records)
        self.m["table_versions"].labels(*labels).inc(int(f.get("versions_created", 0)))
        self.m["table_deletes"].labels(*labels).inc(int(f.get("deletes", 0)))
        self.m["table_duration_seconds"].labels(*labels).observe(seconds)
        self.m["table_nulled_values"].labels(*labels).inc(sum((f.get("nulled_values") or {}).values()))
        if f.get("status") == "failed":
            self.m["table_failures"].labels(*labels).inc()
        if seconds > 0:
            self.m["records_per_second"].labels(*labels).set(records / seconds)
        with self._lock:
            landed, calls = self._calls.pop((str(f.get("run_id")), *labels), (0, 0))
        if calls:
            self.m["records_per_call"].labels(*labels).set(landed / calls)
        source, canonical = f.get("source_count"), f.get("canonical_count")
        if source is not None and canonical is not None:
            self.m["table_source_count"].labels(*labels).set(source)
            self.m["table_canonical_count"].labels(*labels).set(canonical)
            self.m["table_count_difference"].labels(*labels).set(source - canonical)

    def _on_count_mismatch(self, f: dict[str, Any]) -> None:
        self.m["count_mismatches"].labels(*_table(f)).inc()


def write_textfile(registry: CollectorRegistry, path: Path) -> None:
    """The registry in the text format node_exporter's textfile collector reads, written atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    write_to_textfile(str(path), registry)


def push(registry: CollectorRegistry, gateway: str, job: str = "avesa") -> None:
    """The registry sent to a Prometheus Pushgateway (`host:port` or a URL)."""
    push_to_gateway(gateway, job=job, registry=registry)

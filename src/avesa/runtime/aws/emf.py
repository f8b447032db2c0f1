"""CloudWatch metrics from the Lambda handlers, as Embedded Metric Format lines on stdout.

Inside Lambda, a JSON line on stdout that follows EMF becomes metrics in CloudWatch — no API call,
no network. The metrics come from the same events the local Prometheus metrics are fed by
(observability/metrics.py: run_started, run_finished, chunk_attempt, chunk_failed,
table_finished), collected per invocation: several invocations can share one process (a warm
container, or the tests running handlers in threads), so each keeps only the events raised in its
own context (a ContextVar that asyncio tasks and `to_thread` inherit).

Names and units are `definitions.METRICS`; namespace `AVESA`; dimensions `Environment` and, for
table and chunk metrics, `Environment, Service` too. Tenant, table, run and chunk ids are
properties: high-cardinality dimensions would make every tenant a new metric to pay for.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from avesa.observability import events
from avesa.runtime.aws.definitions import METRIC_NAMESPACE, METRICS, SERVICE_METRICS


@dataclass
class Document:
    """One EMF line: metrics of one service (or none) and one tenant/table/run, with properties."""

    service: str | None
    properties: dict[str, str]
    values: dict[str, list[float]] = field(default_factory=dict)


@dataclass
class Collected:
    """The metrics one invocation produced, grouped into EMF documents."""

    documents: dict[tuple, Document] = field(default_factory=dict)

    def put(self, name: str, value: float, *, service: str | None = None, **properties: Any) -> None:
        if name not in METRICS:
            raise KeyError(f"metric {name!r} is not in definitions.METRICS")
        if name in SERVICE_METRICS and service is None:
            service = "unknown"
        props = {key: str(v) for key, v in properties.items() if v is not None}
        key = (service if name in SERVICE_METRICS else None, tuple(sorted(props.items())))
        document = self.documents.setdefault(key, Document(key[0], props))
        document.values.setdefault(name, []).append(float(value))

    def observe(self, event: str, f: dict[str, Any]) -> None:
        """The metrics an engine event speaks of (the same events EventMetrics counts)."""
        where = {"service": f.get("service"), "TenantId": f.get("tenant_id"), "Table": f.get("table"),
                 "RunId": f.get("run_id")}
        if event == "run_started":
            self.put("RunsStarted", 1, RunId=f.get("run_id"), Mode=f.get("mode"))
        elif event == "run_finished":
            status = f.get("status")
            if status in ("complete", "failed"):
                self.put("RunsCompleted" if status == "complete" else "RunsFailed", 1, RunId=f.get("run_id"),
                         Mode=f.get("mode"))
            if f.get("seconds") is not None:
                self.put("RunDurationSeconds", float(f["seconds"]), RunId=f.get("run_id"), Mode=f.get("mode"))
        elif event == "chunk_attempt":
            self.put("RecordsExtracted", int(f.get("records", 0)), **where)
            self.put("Pages", int(f.get("pages", 0)), **where)
            self.put("ApiCalls", int(f.get("requests", 0)), **where)
            self.put("Retries", int(f.get("retries", 0)), **where)
            self.put("RateLimited", int(f.get("rate_limited", 0)), **where)
            if f.get("finished"):
                self.put("ChunkDurationSeconds", float(f.get("chunk_seconds", 0.0)), **where)
        elif event == "chunk_failed":
            self.put("ChunkErrors", 1, **where)
        elif event == "table_finished":
            failed = f.get("status") == "failed"
            self.put("TablesFailed" if failed else "TablesCompleted", 1, **where)
            seconds, records = float(f.get("seconds", 0.0)), int(f.get("records", 0))
            self.put("TableDurationSeconds", seconds, **where)
            self.put("VersionsCreated", int(f.get("versions_created", 0)), **where)
            self.put("Deletes", int(f.get("deletes", 0)), **where)
            if seconds > 0 and not failed:
                self.put("RecordsPerSecond", records / seconds, **where)


_current: contextvars.ContextVar[Collected | None] = contextvars.ContextVar("avesa_emf", default=None)
_installed = threading.Lock()
_subscribed = False


def _deliver(event: str, fields: dict[str, Any]) -> None:
    collected = _current.get()
    if collected is not None:
        collected.observe(event, fields)


def _subscribe_once() -> None:
    global _subscribed
    with _installed:
        if not _subscribed:
            events.subscribe(_deliver)
            _subscribed = True


@contextlib.contextmanager
def collecting() -> Iterator[Collected]:
    """Collect the metrics of the events raised inside the block (this context only)."""
    _subscribe_once()
    collected = Collected()
    token = _current.set(collected)
    try:
        yield collected
    finally:
        _current.reset(token)


def _environment() -> Any:
    """Where EMF lines go: stdout in Lambda and locally alike. Chosen from AWS_EMF_ENVIRONMENT
    without the library's probe, which outside Lambda asks the EC2 metadata address."""
    from aws_embedded_metrics.environment.lambda_environment import LambdaEnvironment
    from aws_embedded_metrics.environment.local_environment import LocalEnvironment

    chosen = os.environ.get("AWS_EMF_ENVIRONMENT", "").lower()
    if chosen == "local" or (not chosen and not os.environ.get("AWS_LAMBDA_FUNCTION_NAME")):
        return LocalEnvironment()
    return LambdaEnvironment()


async def flush(collected: Collected, environment: str, function: str) -> int:
    """Write the collected metrics as EMF lines (one per document); returns how many."""
    from aws_embedded_metrics.logger.metrics_context import MetricsContext
    from aws_embedded_metrics.logger.metrics_logger import MetricsLogger

    target = _environment()

    async def resolve() -> Any:
        return target

    written = 0
    for document in collected.documents.values():
        logger = MetricsLogger(resolve, MetricsContext.empty())
        logger.set_namespace(METRIC_NAMESPACE)
        if document.service is None:
            logger.set_dimensions({"Environment": environment})
        else:
            logger.set_dimensions({"Environment": environment},
                                  {"Environment": environment, "Service": document.service})
        logger.set_property("Function", function)
        for key, text in document.properties.items():
            logger.set_property(key, text)
        for name, values in document.values.items():
            for value in values:
                logger.put_metric(name, value, METRICS[name])
        await logger.flush()
        written += 1
    return written


def flush_sync(collected: Collected, environment: str, function: str) -> int:
    """`flush` for a caller outside an event loop."""
    return asyncio.run(flush(collected, environment, function))

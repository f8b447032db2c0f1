"""The metrics of a one-shot command (`avesa run --metrics-file PATH` / `--metrics-push GATEWAY`):
the same names `avesa serve` exposes, fed by the run's events while it runs and written when it
ends — failed or not — as node_exporter's textfile collector reads them, or pushed to a Prometheus
Pushgateway. Table lag comes from the ledger, as it stands at the end."""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from rich.text import Text

from avesa.cli.common import err_console, load_context
from avesa.observability.metrics import EventMetrics, push, write_textfile
from avesa.runtime.ledger_metrics import LedgerCollector

F = TypeVar("F", bound=Callable[..., Any])

FILE_HELP = "write the run's metrics here when it ends (Prometheus textfile format, e.g. for node_exporter)"
PUSH_HELP = "push the run's metrics to this Prometheus Pushgateway (host:port or URL) when it ends"


def writes_metrics(func: F) -> F:
    """Collect metrics while `func` runs when its `metrics_file` or `metrics_push` is given; write or
    push them however it ends. A gateway that cannot be reached is a warning, never the run's exit."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        path: Path | None = kwargs.get("metrics_file")
        gateway: str | None = kwargs.get("metrics_push")
        if path is None and gateway is None:
            return func(*args, **kwargs)
        metrics = EventMetrics()
        try:
            with metrics:
                return func(*args, **kwargs)
        finally:
            ctx = load_context()
            try:
                metrics.registry.register(LedgerCollector(ctx.state))
                if path is not None:
                    write_textfile(metrics.registry, Path(path))
                if gateway:
                    try:
                        push(metrics.registry, gateway)
                    except OSError as exc:
                        err_console.print(Text(f"warning: metrics not pushed to {gateway}: {exc}"))
            finally:
                ctx.state.close()

    return wrapper  # type: ignore[return-value]

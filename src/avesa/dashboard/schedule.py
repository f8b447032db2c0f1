"""When each tenant's service runs next, if a scheduler says so.

`avesa serve` knows its schedule and hands `create_app` a `next_runs` callable. Alone
(`avesa dashboard`), the dashboard asks the scheduler's module, when one is installed, for the same
from the settings (`next_run_times(settings)`); without either every service shows "—"."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from datetime import datetime

from avesa.settings import Settings

NextRuns = Callable[[], Mapping[tuple[str, str], datetime]]
"""(tenant id, service) -> the next scheduled run's time (aware, UTC)."""

SCHEDULER_MODULES = ("avesa.scheduling", "avesa.schedule", "avesa.runtime.schedule", "avesa.runtime.scheduler",
                     "avesa.runtime.schedules")
"""Where a scheduler module offering `next_run_times(settings)` may live."""


def from_scheduler_module(settings: Settings) -> NextRuns | None:
    """A `NextRuns` backed by the first scheduler module found, or None."""
    for name in SCHEDULER_MODULES:
        try:
            module = importlib.import_module(name)
        except ImportError:
            continue
        compute = getattr(module, "next_run_times", None)
        if callable(compute):
            return lambda: compute(settings)
    return None


def safe_next_runs(source: NextRuns | None) -> Mapping[tuple[str, str], datetime]:
    """The schedule, or nothing when it cannot be read: a page never fails for want of it."""
    if source is None:
        return {}
    try:
        return dict(source())
    except Exception:  # the schedule is a nicety on a read-only page; the ledger is what it shows
        return {}

"""`avesa serve`'s scheduler in this process, for real over a few seconds, against the sandbox:
one run of a tenant at a time, missed slots run once, a start makes up what it missed and agrees with
`avesa status` on what comes next, schedule changes and queued backfills are picked up."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Awaitable, Callable
from datetime import UTC
from pathlib import Path
from typing import Any

import pytest
from apscheduler.events import EVENT_JOB_SUBMITTED
from typer.testing import CliRunner

from avesa.cli.app import app
from avesa.observability import events
from avesa.pipeline.context import PipelineContext
from avesa.runtime import schedules
from avesa.runtime.serve import Serve
from avesa.settings import Settings
from tests.pipeline.helpers import sync

Seen = list[tuple[float, str, dict[str, Any]]]


def _serve_for(settings: Settings, scenario: Callable[[Serve], Awaitable[None]]) -> Seen:
    """Start serve, play `scenario`, stop it; every event seen meanwhile, with its wall-clock time."""
    seen: Seen = []

    async def main() -> None:
        service = Serve(settings, lambda: PipelineContext.from_settings(settings))
        await service.start()
        try:
            await scenario(service)
        finally:
            await service.stop()
            service.close()

    unsubscribe = events.subscribe(lambda event, fields: seen.append((time.time(), event, dict(fields))))
    try:
        asyncio.run(main())
    finally:
        unsubscribe()
    return seen


def _runs(seen: Seen) -> list[dict[str, Any]]:
    """Runs started, each with its tenant, mode, start and end (wall clock)."""
    runs: dict[str, dict[str, Any]] = {}
    for at, event, fields in seen:
        if event == "run_started":
            runs[fields["run_id"]] = {"tenant": fields["tenant_id"], "mode": fields["mode"], "start": at, "end": None}
        elif event == "run_finished" and fields["run_id"] in runs:
            runs[fields["run_id"]]["end"] = at
    return sorted(runs.values(), key=lambda r: r["start"])


def _settings(home: Path, **overrides: Any) -> Settings:
    return Settings(home=home, **{"full_schedule": "off", "serve_poll_seconds": 0.3, **overrides})


@pytest.mark.slow
def test_a_tenants_sync_and_full_runs_never_overlap_and_none_is_skipped(
        new_instance, register, make_ctx, avesa_home: Path) -> None:
    tenant = register(make_ctx(), new_instance("serial"), tables=["service_tickets", "company_companies"])
    settings = _settings(avesa_home, schedule="every 1s", full_schedule="every 1s")
    seen = _serve_for(settings, lambda _: asyncio.sleep(3.5))

    runs = _runs(seen)
    assert {r["mode"] for r in runs} == {"incremental", "full"}, runs
    assert len(runs) >= 3
    for before, after in itertools.pairwise(runs):
        assert before["end"] is not None and before["end"] <= after["start"], f"two runs of {tenant} at once: {runs}"
    assert not [f for _, e, f in seen if e == "run_skipped"], "no run found its tenant held by another"


@pytest.mark.slow
def test_slots_missed_while_the_machine_slept_run_once_not_once_each(
        new_instance, register, make_ctx, avesa_home: Path) -> None:
    register(make_ctx(), new_instance("asleep"), tables=["company_companies"])
    settings = _settings(avesa_home, schedule="every 2s")
    submitted: list[tuple[float, list]] = []
    woke: list[float] = []

    async def scenario(service: Serve) -> None:
        service.scheduler.add_listener(lambda e: submitted.append((time.time(), e.scheduled_run_times))
                                       if e.job_id.startswith("incremental:") else None, EVENT_JOB_SUBMITTED)
        while not service.state.runs_ended or service.state.running:  # asleep between runs, not in one
            await asyncio.sleep(0.01)
        time.sleep(5.0)  # the loop cannot run: to the process, the machine was suspended
        woke.append(time.time())
        await asyncio.sleep(2.5)

    seen = _serve_for(settings, scenario)
    [wake] = woke
    after = [times for at, times in submitted if at >= wake]
    assert after, "the job runs on waking"
    assert len(after[0]) == 1, f"the missed slots are folded into one run: {after[0]}"
    [job_key] = list(schedules_keys(settings, avesa_home))
    trigger = schedules.trigger(schedules.Schedule("every 2s", "AVESA_SCHEDULE"), job_key, UTC)
    first_after = after[0][0]
    assert first_after.timestamp() < wake, "the run on waking is the latest slot missed"
    next_slot = trigger.get_next_fire_time(first_after, first_after).timestamp()
    runs_in_window = [r for r in _runs(seen) if wake <= r["start"] < next_slot]
    assert len(runs_in_window) == 1, f"one run for the missed slots, not one each: {runs_in_window}"


def schedules_keys(settings: Settings, home: Path) -> list[str]:
    ctx = PipelineContext.from_settings(settings)
    try:
        return [schedules.job_key(s.tenant_id, s.service, "incremental") for s in ctx.state.list_services()]
    finally:
        ctx.state.close()


def test_a_start_makes_up_a_missed_slot_once_and_agrees_with_status_on_the_next_runs(
        new_instance, register, make_ctx, avesa_home: Path) -> None:
    synced = register(make_ctx(), new_instance("synced"), tables=["company_companies"])
    fresh = register(make_ctx(), new_instance("fresh"), tables=["company_companies"])
    assert not sync(make_ctx(), tenant_id=synced).failed  # ran after its last hourly slot
    settings = _settings(avesa_home, schedule="every 1h")
    upcoming: dict[tuple[str, str, str], Any] = {}

    async def scenario(service: Serve) -> None:
        await asyncio.sleep(1.5)
        upcoming.update({(t, s, m): when for t, s, m, when in service.next_runs()})

    runs = _runs(_serve_for(settings, scenario))
    assert [r["tenant"] for r in runs] == [fresh], "only the tenant that never ran is synced at once"
    ctx = make_ctx()
    now = ctx.state.list_runs(limit=1)[0].started_at
    for tenant in (synced, fresh):
        config = ctx.state.get_service(tenant, "connectwise")
        expected = schedules.next_run(schedules.effective(settings, config, "incremental"), tenant, "connectwise",
                                      "incremental", UTC, now)
        assert upcoming[(tenant, "connectwise", "incremental")] == expected
    status = CliRunner().invoke(app, ["status"], env={"AVESA_SCHEDULE": "every 1h", "AVESA_FULL_SCHEDULE": "off"})
    assert f"{upcoming[(fresh, 'connectwise', 'incremental')]:%Y-%m-%d %H:%M:%S}" in status.output


def test_a_schedule_set_while_serving_is_picked_up_and_shown(
        new_instance, register, make_ctx, avesa_home: Path) -> None:
    tenant = register(make_ctx(), new_instance("changed"), tables=["company_companies"])
    assert not sync(make_ctx(), tenant_id=tenant).failed
    settings = _settings(avesa_home, schedule="every 1d")

    async def scenario(service: Serve) -> None:
        await asyncio.sleep(0.5)
        assert not service.state.runs_started  # synced already: nothing due for a day
        changed = CliRunner().invoke(app, ["schedule", "set", "every 1s", "--tenant", tenant])
        assert changed.exit_code == 0, changed.output
        await asyncio.sleep(2.5)

    runs = _runs(_serve_for(settings, scenario))
    assert len(runs) >= 1 and all(r["tenant"] == tenant for r in runs)
    shown = CliRunner().invoke(app, ["schedule", "show"], env={"AVESA_SCHEDULE": "every 1d"})
    assert "every 1s" in shown.output and "tenant" in shown.output
    reset = CliRunner().invoke(app, ["schedule", "set", "default", "--tenant", tenant])
    assert reset.exit_code == 0 and "every 1h (from AVESA_SCHEDULE)" in reset.output, reset.output
    assert make_ctx().state.get_service(tenant, "connectwise").schedule is None


def test_a_queued_backfill_runs_under_serve_and_leaves_the_queue(
        new_instance, register, make_ctx, avesa_home: Path) -> None:
    tenant = register(make_ctx(), new_instance("queued"), tables=["service_tickets"])
    assert not sync(make_ctx(), tenant_id=tenant).failed
    queued = CliRunner().invoke(app, ["backfill", "--tenant", tenant, "--service", "connectwise", "--queue"])
    assert queued.exit_code == 0 and "queued as #1" in queued.output, queued.output
    assert "queued backfills" in CliRunner().invoke(app, ["schedule", "show"]).output

    async def scenario(service: Serve) -> None:
        for _ in range(100):
            await asyncio.sleep(0.1)
            if not service.ctx.state.list_queued_backfills() and not service.state.running:
                return

    _serve_for(_settings(avesa_home, schedule="every 1d"), scenario)
    ctx = make_ctx()
    assert ctx.state.list_queued_backfills() == []
    [backfill] = [r for r in ctx.state.list_runs() if r.kind == "backfill"]
    assert backfill.status == "complete"


def test_a_wrong_schedule_setting_stops_serve_before_it_starts(avesa_home: Path, monkeypatch) -> None:
    monkeypatch.setenv("AVESA_SCHEDULE", "every 1h; connectwise=sometimes")
    result = CliRunner().invoke(app, ["serve", "--port", "0"])
    assert result.exit_code == 2
    assert "AVESA_SCHEDULE" in result.output and "'sometimes'" in result.output

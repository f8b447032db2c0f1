"""Schedules with a fake clock: what an operator types, where each schedule comes from, and when
APScheduler's triggers fire — the same in every process (`avesa status` and `avesa serve` agree)."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from avesa.domain.errors import ConfigError, UsageError
from avesa.domain.registry import ScheduleOverride, TenantService
from avesa.runtime import schedules
from avesa.settings import Settings

NOW = datetime(2025, 3, 8, 10, 7, 30, tzinfo=UTC)  # a Saturday


def _config(service: str = "connectwise", **override: str) -> TenantService:
    return TenantService(tenant_id="acme", service=service, tables=["service_tickets"], secret_ref="ref",
                         created_at=NOW, schedule=ScheduleOverride(**override) if override else None)


@pytest.mark.parametrize(("typed", "stored"), [
    ("every 30m", "every 30m"), ("30m", "every 30m"), ("every 2 hours", "every 2h"), ("EVERY 1D", "every 1d"),
    ("every 45s", "every 45s"), ("*/15  *  * * *", "*/15 * * * *"), ("Off", "off"),
])
def test_what_an_operator_types_is_kept_in_one_form(typed: str, stored: str) -> None:
    assert schedules.normalise(typed) == stored


@pytest.mark.parametrize("typed", ["every", "every 0m", "hourly", "61 * * * *", "* * * *", "0 3 * * 8"])
def test_a_schedule_that_is_none_says_what_is_accepted(typed: str) -> None:
    with pytest.raises(UsageError, match=r"schedule .*") as caught:
        schedules.normalise(typed)
    assert "every" in str(caught.value) or "interval" in str(caught.value)


def test_cron_weekdays_count_from_sunday_as_crontab_does() -> None:
    weekdays = schedules.Schedule("0 9 * * 1-5", "tenant")
    sundays = schedules.Schedule("0 3 * * 0", "tenant")
    # from a Saturday: the next weekday run is Monday 09:00, the next Sunday run tomorrow 03:00
    assert schedules.next_run(weekdays, "acme", "connectwise", "incremental", UTC, NOW) == datetime(
        2025, 3, 10, 9, 0, tzinfo=UTC)
    assert schedules.next_run(sundays, "acme", "connectwise", "full", UTC, NOW) == datetime(
        2025, 3, 9, 3, 0, tzinfo=UTC)


def test_cron_hours_are_in_the_schedule_time_zone() -> None:
    daily = schedules.Schedule("0 3 * * *", "AVESA_FULL_SCHEDULE")
    tz = schedules.timezone_of(Settings(schedule_timezone="America/New_York"))
    # 03:00 in New York: 08:00 UTC in winter; on 9 March 2025 the clocks went forward, 03:00 EDT is 07:00 UTC
    assert schedules.next_run(daily, "acme", "connectwise", "full", tz, NOW - timedelta(days=7)) == datetime(
        2025, 3, 2, 8, 0, tzinfo=UTC)
    assert schedules.next_run(daily, "acme", "connectwise", "full", tz, NOW) == datetime(2025, 3, 9, 7, 0, tzinfo=UTC)


def test_a_tenants_own_schedule_wins_over_the_service_default_which_wins_over_the_default() -> None:
    settings = Settings(schedule="every 1h; servicenow=every 15m", full_schedule="0 3 * * *")
    assert schedules.effective(settings, _config(), "incremental") == schedules.Schedule("every 1h", "AVESA_SCHEDULE")
    assert schedules.effective(settings, _config("servicenow"), "incremental") == schedules.Schedule(
        "every 15m", "AVESA_SCHEDULE (servicenow)")
    assert schedules.effective(settings, _config(incremental="every 5m"), "incremental") == schedules.Schedule(
        "every 5m", "tenant")
    # an override of the sync leaves the full reconciliation on its default, and "off" is a schedule
    assert schedules.effective(settings, _config(incremental="off"), "full").text == "0 3 * * *"
    assert schedules.effective(settings, _config(incremental="off"), "incremental").off
    assert schedules.effective(Settings(schedule="servicenow=every 15m"), _config(), "incremental").off


def test_a_wrong_setting_names_the_setting_and_the_entry() -> None:
    with pytest.raises(ConfigError, match=r"AVESA_SCHEDULE=.*'fortnightly'"):
        schedules.effective(Settings(schedule="every 1h; servicenow=fortnightly"), _config(), "incremental")
    with pytest.raises(ConfigError, match="AVESA_SCHEDULE_TIMEZONE"):
        schedules.timezone_of(Settings(schedule_timezone="Mars/Olympus"))


def test_intervals_are_anchored_so_every_process_computes_the_same_slots() -> None:
    hourly = schedules.Schedule("every 1h", "AVESA_SCHEDULE")
    first = schedules.next_run(hourly, "acme", "connectwise", "incremental", UTC, NOW)
    assert first is not None and NOW <= first < NOW + timedelta(hours=1)
    # a process started 20 minutes later, or the next day, sees slots on the same grid
    later = schedules.next_run(hourly, "acme", "connectwise", "incremental", UTC, NOW + timedelta(minutes=20))
    assert (later - first) % timedelta(hours=1) == timedelta(0)
    trigger = schedules.trigger(hourly, schedules.job_key("acme", "connectwise", "incremental"), UTC)
    fires = [trigger.get_next_fire_time(None, NOW)]
    for _ in range(3):
        fires.append(trigger.get_next_fire_time(fires[-1], fires[-1]))
    assert [b - a for a, b in itertools.pairwise(fires)] == [timedelta(hours=1)] * 3
    # 200 tenants on one hourly schedule do not all start on the hour
    starts = {schedules.next_run(hourly, f"t{i}", "connectwise", "incremental", UTC, NOW) for i in range(200)}
    assert len(starts) > 150


@given(seconds=st.integers(min_value=1, max_value=7 * 86400), tenant=st.from_regex(r"[a-z][a-z0-9-]{1,20}",
                                                                                    fullmatch=True),
       offset=st.integers(min_value=0, max_value=10**9))
def test_the_next_slot_of_an_interval_is_within_one_interval_and_on_its_grid(seconds: int, tenant: str,
                                                                             offset: int) -> None:
    now = datetime(2001, 1, 1, tzinfo=UTC) + timedelta(seconds=offset)
    schedule = schedules.Schedule(f"every {seconds}s", "tenant")
    first = schedules.next_run(schedule, tenant, "connectwise", "incremental", UTC, now)
    again = schedules.next_run(schedule, tenant, "connectwise", "incremental", UTC, now + timedelta(seconds=seconds))
    assert first is not None and now <= first < now + timedelta(seconds=seconds)
    assert again == first + timedelta(seconds=seconds)


def test_a_slot_missed_while_nothing_ran_is_seen_once_by_the_next_start() -> None:
    hourly = schedules.Schedule("every 1h", "AVESA_SCHEDULE")
    slot = schedules.next_run(hourly, "acme", "connectwise", "incremental", UTC, NOW)
    args = ("acme", "connectwise", "incremental", UTC)
    assert schedules.slot_passed_since(hourly, *args, None, NOW)  # never ran: run at once
    assert not schedules.slot_passed_since(hourly, *args, slot, slot + timedelta(minutes=59))
    assert schedules.slot_passed_since(hourly, *args, slot, slot + timedelta(hours=1))
    assert schedules.slot_passed_since(hourly, *args, slot, slot + timedelta(hours=9))  # nine missed: still once
    assert not schedules.slot_passed_since(schedules.Schedule("off", "tenant"), *args, None, NOW)


def test_the_dashboard_alone_reads_the_next_runs_from_the_registry(tmp_path) -> None:
    from avesa.domain.registry import Tenant
    from avesa.state.sqlite.store import SqliteStateStore

    settings = Settings(home=tmp_path, schedule="every 1h", full_schedule="off")
    store = SqliteStateStore(settings.state_path)
    store.put_tenant(Tenant(tenant_id="acme", company_name="Acme", created_at=NOW))
    store.put_tenant(Tenant(tenant_id="gone", company_name="Gone", enabled=False, created_at=NOW))
    store.put_service(_config())
    store.put_service(_config().model_copy(update={"tenant_id": "gone"}))
    store.close()
    found = schedules.next_run_times(settings, NOW)
    assert found == {("acme", "connectwise"): schedules.next_run(schedules.Schedule("every 1h", "AVESA_SCHEDULE"),
                                                                 "acme", "connectwise", "incremental", UTC, NOW)}

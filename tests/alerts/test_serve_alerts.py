"""Alerts inside `avesa serve`'s loop, against the sandbox and a webhook receiver on loopback: the
rules are evaluated after each run serve ends and on their timer, with serve's clock — a fake one
here, so "data older than its target" is reached by moving the clock rather than waiting hours."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from avesa.alerts.config import load_alert_config
from avesa.alerts.delivery import Sender
from avesa.alerts.incidents import AlertEngine
from avesa.domain.timeutil import utc_now
from avesa.pipeline.context import PipelineContext
from avesa.runtime.serve import Serve
from avesa.settings import Settings
from tests.alerts.conftest import WebhookReceiver, alert_env
from tests.conftest import sandbox_credentials
from tests.pipeline.helpers import sync


class FakeClock:
    """Serve's clock: real time, plus however far a test has moved it on."""

    def __init__(self) -> None:
        self.ahead = timedelta(0)

    def __call__(self) -> datetime:
        return utc_now() + self.ahead


async def _until(condition, timeout: float = 60.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("serve did not get there in time")
        await asyncio.sleep(0.05)


@pytest.mark.slow
def test_serve_alerts_after_a_failed_run_and_on_its_timer_with_its_clock(
        sandbox_admin, new_instance, register, make_ctx, avesa_home: Path, webhook: WebhookReceiver) -> None:
    synced = register(make_ctx(), new_instance("kept"), tables=["company_companies"])
    assert not sync(make_ctx(), tenant_id=synced).failed  # fresh data, before serve starts
    instance = new_instance("refused")
    refused = register(make_ctx(), instance, tables=["company_companies"],
                       credentials={**sandbox_credentials(sandbox_admin, instance), "private_key": "wrong-key-5513"})
    settings = Settings(home=avesa_home, schedule="every 1h", full_schedule="off", serve_poll_seconds=0.3,
                        alert_interval_seconds=0.2, freshness_target_hours=1000,
                        freshness_targets={f"{synced}/connectwise/company_companies": 2},
                        **alert_env(webhook, None))
    clock = FakeClock()
    stale = f"stale:{synced}/connectwise/company_companies"

    async def main() -> None:
        engine = AlertEngine(settings, sender=Sender(load_alert_config(settings), backoff=0.01))
        service = Serve(settings, lambda: PipelineContext.from_settings(settings), clock=clock, alerts=engine)
        await service.start()
        try:
            # the tenant that never ran runs at once; its refused credentials are an alert when it ends
            await _until(lambda: ("opened", f"auth:{refused}/connectwise") in webhook.events())
            await asyncio.sleep(0.6)  # several timer evaluations at the real time: nothing is stale yet
            assert stale not in [key for _, key in webhook.events()]
            clock.ahead = timedelta(hours=3)  # no run since: past the table's 2-hour target
            await _until(lambda: ("opened", stale) in webhook.events())
            await asyncio.sleep(0.6)
            assert service.state.alerts_open == 2
        finally:
            await service.stop()
            service.close()

    asyncio.run(main())
    assert sorted(webhook.events()) == sorted([("opened", f"auth:{refused}/connectwise"), ("opened", stale)]), \
        "each incident is sent once, however often the timer evaluates"
    assert all(b"wrong-key-5513" not in body for body in webhook.raw)
    runs = make_ctx().state.list_runs()
    assert [r.request.get("tenant_id") for r in runs if r.status == "failed"] == [refused]

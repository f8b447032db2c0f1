"""The alert rules over real runs on the sandbox, delivered to a local webhook receiver and a local
SMTP server: one message per incident (a restart sends nothing again), one when it clears, never
a secret."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from avesa.alerts.config import load_alert_config
from avesa.alerts.delivery import Sender
from avesa.alerts.incidents import AlertEngine
from avesa.cli.app import app
from avesa.domain.registry import RateLimitOverride
from avesa.domain.timeutil import utc_now
from avesa.settings import Settings
from tests.alerts.conftest import SMTP_PASSWORD, Mailbox, WebhookReceiver, alert_env
from tests.conftest import sandbox_credentials
from tests.pipeline.helpers import sync

pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")


def _engine(settings: Settings) -> Callable[[], AlertEngine]:
    """A new engine each call, as each start of `avesa serve` makes one."""
    return lambda: AlertEngine(settings, sender=Sender(load_alert_config(settings), backoff=0.01))


def _no_secret_in(webhook: WebhookReceiver, mailbox: Mailbox | None, *secrets: str) -> None:
    sent = [*webhook.raw, *(m.as_bytes() for _, m in (mailbox.messages if mailbox else []))]
    assert sent
    for secret in (*secrets, "hook-secret-9f3k", SMTP_PASSWORD):
        assert all(secret.encode() not in body for body in sent), secret


def test_refused_credentials_alert_once_across_restarts_and_clear_when_fixed(
        sandbox_admin, new_instance, register, make_ctx, avesa_home: Path, webhook: WebhookReceiver,
        mailbox: Mailbox) -> None:
    instance = new_instance("refused")
    good = sandbox_credentials(sandbox_admin, instance)
    tables = ["service_tickets", "company_companies"]
    tenant = register(make_ctx(), instance, tables=tables, credentials={**good, "private_key": "nope-secret-771"})
    settings = Settings(home=avesa_home, **alert_env(webhook, mailbox, alert_failures_in_a_row="2"))
    engine = _engine(settings)
    serving = engine()
    for _ in range(3):
        assert sync(make_ctx(), tenant_id=tenant).failed
        serving.evaluate()
    key = f"auth:{tenant}/connectwise"
    assert webhook.events() == [("opened", key)], "one alert for the service, not one per table or run"
    assert mailbox.subjects() == [f"AVESA ALERT: {tenant}/connectwise: the service refused the credentials"]
    [(recipients, mail)] = mailbox.messages
    assert recipients == ["ops@example.com"]
    assert "the service refused the credentials (HTTP 401)" in mail.get_payload(decode=True).decode()
    facts = {f["name"]: f["value"] for f in webhook.bodies[0]["sections"][0]["facts"]}
    assert facts["tables"] == "company_companies, service_tickets" and facts["tenant"] == tenant

    engine().evaluate()  # serve restarted: the incident is known, nothing is sent again
    assert len(webhook.bodies) == 1 and len(mailbox.messages) == 1
    listed = CliRunner().invoke(app, ["alerts", "list"])
    assert listed.exit_code == 0 and tenant in listed.output and "webhook, email" in listed.output

    register(make_ctx(), instance, tables=tables, credentials=good)  # fixed
    assert not sync(make_ctx(), tenant_id=tenant).failed
    report = engine().evaluate()
    assert report.resolved == [key]
    assert webhook.events() == [("opened", key), ("resolved", key)]
    assert mailbox.subjects()[-1] == f"AVESA RESOLVED: {tenant}/connectwise: the service refused the credentials"
    engine().evaluate()
    assert len(webhook.bodies) == 2 and len(mailbox.messages) == 2, "the resolution is sent once too"
    assert "no open alert incidents" in CliRunner().invoke(app, ["alerts", "list"]).output
    _no_secret_in(webhook, mailbox, "nope-secret-771", good["private_key"])


def test_a_table_failing_n_runs_in_a_row_and_a_count_difference(
        sandbox_admin, new_instance, register, make_ctx, avesa_home: Path, webhook: WebhookReceiver) -> None:
    tenant = register(make_ctx(), new_instance("failing"), tables=["service_tickets"])
    settings = Settings(home=avesa_home, **alert_env(webhook, None, alert_failures_in_a_row="2"))
    engine = _engine(settings)()
    where = f"{tenant}/connectwise/service_tickets"
    # a full sync whose source counts one ticket more than its listings return
    sandbox_admin.add_fault(tenant, "count-plus-one", count=50, table="service/tickets", scope="count")
    assert not sync(make_ctx(), tenant_id=tenant, full=True).failed
    engine.evaluate()
    assert webhook.events() == [("opened", f"count:{where}")]
    sandbox_admin.clear_faults(tenant)
    for runs in (1, 2):
        sandbox_admin.add_fault(tenant, "malformed", count=1, table="service/tickets")
        assert sync(make_ctx(), tenant_id=tenant).failed
        engine.evaluate()
        assert len(webhook.bodies) == runs, "the first failure is no alert; the second in a row is"
    opened = webhook.bodies[-1]
    assert opened["avesa"]["key"] == f"failures:{where}"
    assert opened["avesa"]["summary"] == f"{where} failed 2 runs in a row"
    assert "not valid JSON" in opened["avesa"]["details"]["last error"]
    assert not sync(make_ctx(), tenant_id=tenant, full=True).failed  # the source counts right again
    engine.evaluate()
    assert sorted(webhook.events()[2:]) == [("resolved", f"count:{where}"), ("resolved", f"failures:{where}")]


def test_a_429_storm_in_a_run_is_an_alert_and_a_calm_run_clears_it(
        sandbox_admin, new_instance, register, make_ctx, avesa_home: Path, webhook: WebhookReceiver) -> None:
    tenant = register(make_ctx(), new_instance("storm"), tables=["company_companies"])
    ctx = make_ctx()  # a budget high enough that the 429s' slow-down costs the test no time
    config = ctx.state.get_service(tenant, "connectwise")
    ctx.state.put_service(config.model_copy(update={"rate_limit": RateLimitOverride(requests_per_minute=60_000,
                                                                                     burst=1000)}))
    settings = Settings(home=avesa_home, **alert_env(webhook, None, alert_rate_limited_max="2"))
    engine = _engine(settings)()
    sandbox_admin.add_fault(tenant, "429", count=3, retry_after=0)
    assert not sync(make_ctx(), tenant_id=tenant).failed, "429s are waited out"
    engine.evaluate()
    key = f"rate_limited:{tenant}/*"
    assert webhook.events() == [("opened", key)]
    assert webhook.bodies[0]["avesa"]["details"]["HTTP 429s"] == "3"
    assert not sync(make_ctx(), tenant_id=tenant).failed
    engine.evaluate()
    assert webhook.events() == [("opened", key), ("resolved", key)]


def test_stale_data_and_a_stuck_run_are_found_without_a_run(
        new_instance, register, make_ctx, avesa_home: Path, webhook: WebhookReceiver) -> None:
    tenant = register(make_ctx(), new_instance("quiet"), tables=["company_companies"])
    assert not sync(make_ctx(), tenant_id=tenant).failed
    settings = Settings(home=avesa_home, freshness_targets={f"{tenant}/connectwise/company_companies": 2},
                        **alert_env(webhook, None))
    engine = _engine(settings)()
    now = utc_now()
    assert engine.evaluate(now + timedelta(hours=1)).open == []
    engine.evaluate(now + timedelta(hours=3))  # no run since: past its 2-hour target
    key = f"stale:{tenant}/connectwise/company_companies"
    assert webhook.events() == [("opened", key)]
    assert "past its 2h 00m target" in webhook.bodies[0]["avesa"]["summary"]
    engine.evaluate(now + timedelta(hours=4))
    assert len(webhook.bodies) == 1

    state = make_ctx().state
    state.create_run("run-hung", now - timedelta(hours=7), {"tenant_id": tenant, "service": "connectwise"}, "host:1")
    engine.evaluate(now)
    assert sorted(webhook.events()[1:]) == [("opened", "stuck:run-hung"), ("resolved", key)]
    [stuck] = [b["avesa"] for b in webhook.bodies if b["avesa"]["key"] == "stuck:run-hung"]
    assert "is still running after 7h" in stuck["summary"] and stuck["details"]["owner"] == "host:1"
    state.finish_run("run-hung", "cancelled", now)
    engine.evaluate(now)
    assert webhook.events()[-1] == ("resolved", "stuck:run-hung")


def test_a_tenants_rules_file_sends_its_alerts_to_its_own_destinations_only(
        sandbox_admin, new_instance, register, make_ctx, avesa_home: Path, webhook: WebhookReceiver,
        mailbox: Mailbox, monkeypatch: pytest.MonkeyPatch) -> None:
    own, shared = new_instance("own"), new_instance("shared")
    for instance in (own, shared):
        register(make_ctx(), instance, tables=["company_companies"],
                 credentials={**sandbox_credentials(sandbox_admin, instance), "private_key": "nope"})
    rules = avesa_home / "alerts.toml"
    rules.write_text(f'[tenants.{own}]\nemail_to = ["{own}-oncall@example.com"]\nglobal_destinations = false\n'
                     f'[tenants.{shared}]\nrules = ["stale"]\n')
    settings = Settings(home=avesa_home, alert_rules_file=rules, **alert_env(webhook, mailbox))
    assert sync(make_ctx()).failed
    _engine(settings)().evaluate()
    assert webhook.bodies == [], "one tenant sends only to its own address, the other wants only staleness"
    [(recipients, mail)] = mailbox.messages
    assert recipients == [f"{own}-oncall@example.com"] and own in mail["Subject"]

"""Alert settings and the per-tenant rules file: what an operator writes, and a clear one-line error
for what is wrong."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from avesa.alerts.config import RULES, Email, Webhook, load_alert_config
from avesa.cli.app import app
from avesa.domain.errors import ConfigError
from avesa.settings import Settings

RULES_FILE = """
[tenants.acme]
rules = ["auth", "failures"]
failures_in_a_row = 5
email_to = ["acme-oncall@example.com"]
webhook_url_env = "ACME_ALERT_WEBHOOK"
global_destinations = false

[tenants.globex]
rate_limited_max = 0
"""


def _settings(tmp_path: Path, text: str | None = None, **more: object) -> Settings:
    path = None
    if text is not None:
        path = tmp_path / "alerts.toml"
        path.write_text(text)
    return Settings(home=tmp_path, alert_rules_file=path, **more)


def test_tenants_get_their_own_rules_thresholds_and_destinations(tmp_path: Path) -> None:
    settings = _settings(tmp_path, RULES_FILE, alert_webhook_url="https://hooks.example/T/B/x",
                         alert_smtp_host="smtp.example", alert_email_to="ops@msp.example")
    config = load_alert_config(settings, {"ACME_ALERT_WEBHOOK": "https://hooks.example/acme"})
    acme, globex, other = config.policy("acme"), config.policy("globex"), config.policy("initech")
    assert acme.rules == {"auth", "failures"} and acme.failures_in_a_row == 5
    assert acme.destinations == (Webhook("webhook:acme", "https://hooks.example/acme"),
                                 Email("email:acme", ("acme-oncall@example.com",)))
    assert globex.rules == set(RULES) and globex.rate_limited_max == 0 and globex.failures_in_a_row == 3
    assert [d.name for d in globex.destinations] == ["webhook", "email"]
    assert other is config.default and config.smtp.port == 587
    assert set(config.secrets()) == {"https://hooks.example/T/B/x", "https://hooks.example/acme"}
    assert "hooks.example" not in repr(config), "a webhook address is a secret, never in a repr"


@pytest.mark.parametrize(("text", "more", "expected"), [
    ('[tenants.acme]\nrules = ["auth", "flaky"]', {}, "tenants.acme.rules: unknown alert rule 'flaky'"),
    ('[tenants.acme]\nfailures_in_a_row = 0', {}, "tenants.acme.failures_in_a_row: input should be greater"),
    ('[tenants.acme]\nwebhook = "https://x"', {}, "tenants.acme.webhook: extra inputs are not permitted"),
    ('[tenants.acme]\nwebhook_url_env = "NOPE_UNSET"', {}, "the variable NOPE_UNSET is not set"),
    ('[tenants.acme]\nemail_to = ["a@b.c"]', {}, "AVESA_ALERT_SMTP_HOST is not set"),
    ("[tenants.acme\n", {}, "not valid TOML"),
    (None, {"alert_rules": "auth,sometimes"}, "AVESA_ALERT_RULES: unknown alert rule 'sometimes'"),
    (None, {"alert_email_to": "ops@x.example"}, "AVESA_ALERT_EMAIL_TO is set but AVESA_ALERT_SMTP_HOST is not"),
])
def test_a_wrong_setting_or_rules_file_is_one_clear_error(tmp_path: Path, text: str | None, more: dict,
                                                         expected: str) -> None:
    with pytest.raises(ConfigError) as refused:
        load_alert_config(_settings(tmp_path, text, **more), {})
    assert expected in str(refused.value)


def test_rules_off_and_a_missing_rules_file(tmp_path: Path) -> None:
    assert load_alert_config(_settings(tmp_path, alert_rules="off")).default.rules == frozenset()
    assert load_alert_config(_settings(tmp_path, alert_rules="stale, auth")).default.rules == {"stale", "auth"}
    with pytest.raises(ConfigError, match="no such file"):
        load_alert_config(Settings(home=tmp_path, alert_rules_file=tmp_path / "missing.toml"))


def test_alerts_test_without_a_destination_says_what_to_set(avesa_home: Path) -> None:
    result = CliRunner().invoke(app, ["alerts", "test"])
    assert result.exit_code == 2
    assert "no alert destination is configured: set AVESA_ALERT_WEBHOOK_URL" in result.output

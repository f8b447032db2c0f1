"""cdk-nag gates the synth; the deployment's context is checked before any resource exists."""

from __future__ import annotations

import pytest
from infrastructure.config import event_bridge_expression, load_config

from avesa.domain.errors import ConfigError, UsageError


@pytest.mark.slow
def test_an_unacknowledged_cdk_nag_finding_fails_the_synth(tmp_path):
    from aws_cdk import aws_s3 as s3
    from infrastructure.app import build_app, stack_names

    app, _ = build_app({"environment": "dev"}, outdir=str(tmp_path))
    pipeline = app.node.find_child(stack_names("dev")["DataPipeline"])
    s3.Bucket(pipeline, "Careless")  # no access logs, no TLS-only policy
    with pytest.raises(Exception, match=r"AwsSolutions-S1|AwsSolutions-S10"):
        app.synth()


@pytest.mark.parametrize(("schedule", "expression"), [
    ("every 15m", "rate(15 minutes)"), ("every 1h", "rate(1 hour)"), ("every 2d", "rate(2 days)"),
    ("every 120s", "rate(2 minutes)"), ("*/10 * * * *", "cron(*/10 * * * ? *)"),
    ("0 3 * * *", "cron(0 3 * * ? *)"), ("30 6 * * 1-5", "cron(30 6 ? * MON-FRI *)"),
    ("0 0 * * 7", "cron(0 0 ? * SUN *)"), ("off", None),
])
def test_avesa_schedules_become_event_bridge_expressions(schedule, expression):
    assert event_bridge_expression(schedule, "schedule") == expression


@pytest.mark.parametrize(("context", "message"), [
    ({}, "no environment given"),
    ({"environment": "production"}, "dev, staging, prod"),
    ({"environment": "dev", "schedule": "every 30s"}, "at least a minute"),
    ({"environment": "dev", "schedule": "sometimes"}, "schedule"),
    ({"environment": "dev", "full_schedule": "0 3 1 * 1"}, "day of month with a day of week"),
    ({"environment": "dev", "account": "12345"}, "12-digit"),
    ({"environment": "dev", "tenants": "Acme Corp"}, "tenant ids"),
    ({"environment": "dev", "freshness_targets": {"servicenow": 0}}, "hours between"),
    ({"environment": "dev", "alarm_email": "nobody"}, "e-mail"),
])
def test_bad_context_is_refused_naming_the_key(context, message):
    with pytest.raises((UsageError, ConfigError), match=message):
        load_config(context)


def test_per_service_schedules_add_rules_for_that_service():
    config = load_config({"environment": "dev", "schedule": "every 1h; servicenow=every 20m; salesforce=off",
                          "full_schedule": "off"})
    assert [(s.name, s.mode, s.service, s.expression) for s in config.schedules] == [
        ("incremental", "incremental", None, "rate(1 hour)"),
        ("incremental-servicenow", "incremental", "servicenow", "rate(20 minutes)")]

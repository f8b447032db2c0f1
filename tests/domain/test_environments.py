"""The naming rule every deployed resource follows: `{name}-{env}`, production without a suffix."""

from __future__ import annotations

import pytest

from avesa.domain.environments import Environment, environment, resource_name, secrets_prefix, state_prefix
from avesa.domain.errors import UsageError
from avesa.settings import Settings


@pytest.mark.parametrize(("env", "name"), [("dev", "avesa-lake-dev"), ("staging", "avesa-lake-staging"),
                                           ("prod", "avesa-lake"), (Environment.PROD, "avesa-lake")])
def test_resource_names_carry_the_environment_except_in_production(env, name):
    assert resource_name("avesa-lake", env) == name


def test_state_and_secrets_prefixes_follow_the_rule():
    assert state_prefix("dev") == "avesa-dev" and state_prefix("prod") == "avesa"
    assert secrets_prefix("staging") == "avesa/staging" and secrets_prefix("prod") == "avesa/prod"


@pytest.mark.parametrize("bad", ["production", "Dev", "test", "", " dev"])
def test_an_environment_outside_dev_staging_prod_is_refused(bad):
    with pytest.raises(UsageError, match="dev, staging, prod"):
        resource_name("avesa", bad)
    with pytest.raises(UsageError):
        environment(bad)


def test_settings_use_the_same_environments(monkeypatch):
    monkeypatch.setenv("AVESA_ENV", "staging")
    assert Settings().env is Environment.STAGING

"""Which stores a process uses: AVESA_STATE_URL and AVESA_SECRETS_URL, read through the standard
AWS environment (moto's server over real HTTP stands in for AWS)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from avesa.domain.errors import ConfigError
from avesa.domain.registry import Tenant
from avesa.domain.timeutil import utc_now
from avesa.pipeline.wiring import (
    DynamoDBState,
    EncryptedFileSecrets,
    SecretsManagerSecrets,
    SqliteState,
    build_secret_store,
    build_state_store,
    parse_secrets_url,
    parse_state_url,
)
from avesa.settings import Settings
from tests.aws_support import REGION, aws_client, isolate_aws_environment, unique_prefix

HOME = Path("/data/avesa")


@pytest.mark.parametrize(("value", "expected"), [
    (None, SqliteState(HOME / "state.sqlite3")),
    ("", SqliteState(HOME / "state.sqlite3")),
    ("sqlite:///state/ledger.db", SqliteState(Path("state/ledger.db"))),
    ("sqlite:////var/lib/avesa/state.db", SqliteState(Path("/var/lib/avesa/state.db"))),
    ("/var/lib/avesa/state.db", SqliteState(Path("/var/lib/avesa/state.db"))),
    ("dynamodb://avesa-prod", DynamoDBState("avesa-prod")),
    ("dynamodb://avesa-dev/?region=eu-west-1", DynamoDBState("avesa-dev", "eu-west-1")),
    ("dynamodb://Avesa_Dev.1?create=true&region=us-east-2", DynamoDBState("Avesa_Dev.1", "us-east-2", True)),
])
def test_state_urls(value: str | None, expected: object) -> None:
    assert parse_state_url(value, HOME) == expected


@pytest.mark.parametrize(("value", "expected"), [
    (None, EncryptedFileSecrets()),
    ("secretsmanager://avesa-prod", SecretsManagerSecrets("avesa-prod")),
    ("secretsmanager://avesa/staging/?region=eu-west-1", SecretsManagerSecrets("avesa/staging", "eu-west-1")),
])
def test_secrets_urls(value: str | None, expected: object) -> None:
    assert parse_secrets_url(value) == expected


@pytest.mark.parametrize("value", [
    "postgres://db/avesa", "sqlite://", "sqlite:///", "dynamodb://", "dynamodb://a#b", "dynamodb://p/extra",
    "dynamodb://p?regoin=eu-west-1", "dynamodb://p?create=maybe", "dynamodb://p?region=a&region=b",
    "dynamodb://p?region=",
])
def test_a_state_url_not_understood_names_the_setting_and_the_accepted_forms(value: str) -> None:
    with pytest.raises(ConfigError) as refused:
        parse_state_url(value, HOME)
    message = str(refused.value)
    assert message.startswith("AVESA_STATE_URL=") and "sqlite:///PATH" in message and "dynamodb://" in message
    assert "\n" not in message


@pytest.mark.parametrize("value", ["vault://x", "/some/file", "secretsmanager://", "secretsmanager://p?kms=x",
                                   "secretsmanager://a b"])
def test_a_secrets_url_not_understood_names_the_setting_and_the_accepted_forms(value: str) -> None:
    with pytest.raises(ConfigError, match=r"^AVESA_SECRETS_URL=.*secretsmanager://NAME_PREFIX"):
        parse_secrets_url(value)


def test_a_url_with_credentials_is_not_echoed() -> None:
    with pytest.raises(ConfigError) as refused:
        parse_state_url("postgres://admin:hunter2@db/avesa", HOME)
    assert "hunter2" not in str(refused.value)


@pytest.mark.parametrize(("setting", "value"), [("AVESA_STATE_URL", "postgres://db/avesa"),
                                                ("AVESA_SECRETS_URL", "vault://avesa")])
def test_avesa_refuses_a_bad_store_url_with_exit_2(avesa_home: Path, monkeypatch: pytest.MonkeyPatch,
                                                   setting: str, value: str) -> None:
    from avesa.cli.app import app

    monkeypatch.setenv(setting, value)
    result = CliRunner().invoke(app, ["tenant", "list"])
    assert result.exit_code == 2, result.output
    assert setting in result.output and "use " in result.output and "Traceback" not in result.output


def test_per_service_endpoints_and_aws_region_come_from_the_standard_environment(
        moto_endpoint: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    isolate_aws_environment(monkeypatch, tmp_path)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    monkeypatch.setenv("AWS_REGION", REGION)  # what Lambda sets; botocore itself reads AWS_DEFAULT_REGION only
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", moto_endpoint)
    monkeypatch.setenv("AWS_ENDPOINT_URL_SECRETS_MANAGER", moto_endpoint)
    prefix = unique_prefix("wired")
    settings = Settings(home=tmp_path / "home", state_url=f"dynamodb://{prefix}?create=true",
                        secrets_url=f"secretsmanager://{prefix}")

    state = build_state_store(settings)
    state.put_tenant(Tenant(tenant_id="acme", company_name="Acme", created_at=utc_now()))
    build_secret_store(settings).put("avesa/acme/connectwise", {"private_key": "s3cr3t"})

    # what landed is in moto, read with clients that name the endpoint themselves
    items = aws_client("dynamodb", moto_endpoint).scan(TableName=f"{prefix}-state")["Items"]
    assert [i["tenant_id"]["S"] for i in items] == ["acme"]
    secret = aws_client("secretsmanager", moto_endpoint).get_secret_value(SecretId=f"{prefix}/acme/connectwise")
    assert "s3cr3t" in secret["SecretString"]
    assert not (tmp_path / "home").exists()  # nothing local: no state file, no key, no secrets file


def test_the_region_in_the_url_wins_and_no_region_at_all_is_a_config_error(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    isolate_aws_environment(monkeypatch, tmp_path)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-2")
    settings = Settings(home=tmp_path, state_url="dynamodb://p?region=ap-south-1", secrets_url="secretsmanager://p")
    assert build_state_store(settings)._db.client.meta.region_name == "ap-south-1"
    assert build_secret_store(settings)._client.meta.region_name == "eu-west-2"
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    with pytest.raises(ConfigError, match="AVESA_SECRETS_URL: no AWS region: add \\?region=REGION"):
        build_secret_store(settings)


def test_clients_share_the_parsed_service_models_but_not_the_environment(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Every Lambda invocation builds its stores afresh: the services' JSON models are parsed once
    per process, while credentials, region and endpoint stay each client's, from the environment."""
    from avesa.pipeline.wiring import aws_client as avesa_client

    isolate_aws_environment(monkeypatch, tmp_path)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "first")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    first = avesa_client("dynamodb", "eu-west-1", "AVESA_STATE_URL")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "second")
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    second = avesa_client("dynamodb", "ap-south-1", "AVESA_STATE_URL")
    models = [c.meta.service_model._service_description for c in (first, second)]
    assert models[0] is models[1]  # parsed once
    assert (first.meta.region_name, second.meta.region_name) == ("eu-west-1", "ap-south-1")
    assert first.meta.endpoint_url == "https://dynamodb.eu-west-1.amazonaws.com"
    assert second.meta.endpoint_url == "http://127.0.0.1:9"
    assert first._request_signer._credentials.access_key == "first"
    assert second._request_signer._credentials.access_key == "second"
    third = avesa_client("secretsmanager", "eu-west-1", "AVESA_SECRETS_URL")
    assert third.meta.service_model.service_name == "secretsmanager"

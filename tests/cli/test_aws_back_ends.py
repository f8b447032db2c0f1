"""`avesa service add` and `avesa run` as a user types them, with the state in DynamoDB and the
credentials in Secrets Manager (AVESA_STATE_URL / AVESA_SECRETS_URL and the standard AWS
variables pointing at moto's server over real HTTP), against the sandbox over real HTTP."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from avesa.cli.app import app
from avesa.state.dynamodb.store import DynamoDBStateStore
from avesa_sandbox import SandboxAdmin
from tests.aws_support import aws_client, aws_environment, isolate_aws_environment, unique_prefix
from tests.conftest import sandbox_credentials

runner = CliRunner()


@pytest.fixture
def instance(sandbox_admin: SandboxAdmin) -> Iterator[str]:
    """A tiny ConnectWise instance of this test's own. Not from `new_instance`: the data of the
    instances made after it depend on its name counter, and some tests rely on theirs."""
    name = unique_prefix("aws")
    sandbox_admin.create_instance(name, scale="tiny", seed=1, service="connectwise",
                                  knobs={"rate_limit_per_minute": None})
    yield name
    sandbox_admin.delete_instance(name)


def test_service_add_and_run_keep_the_ledger_in_dynamodb_and_the_credentials_in_secrets_manager(
        sandbox_admin: SandboxAdmin, instance: str, avesa_home: Path, moto_endpoint: str,
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    isolate_aws_environment(monkeypatch, tmp_path)
    for name, value in aws_environment(moto_endpoint).items():
        monkeypatch.setenv(name, value)
    prefix = unique_prefix("e2e")
    monkeypatch.setenv("AVESA_STATE_URL", f"dynamodb://{prefix}?create=true")
    monkeypatch.setenv("AVESA_SECRETS_URL", f"secretsmanager://{prefix}")
    tenant = instance
    credentials = sandbox_credentials(sandbox_admin, tenant)
    env = {f"CONNECTWISE_{k.upper()}": v for k, v in credentials.items()}

    added = runner.invoke(app, ["service", "add", "--tenant-id", tenant, "--company-name", "Aws Co", "--service",
                                "connectwise", "--tables", "service_tickets,company_companies"], env=env)
    assert added.exit_code == 0, added.output
    ran = runner.invoke(app, ["run"])
    assert ran.exit_code == 0, ran.output
    status = runner.invoke(app, ["status"])
    assert status.exit_code == 0 and f"{tenant}/connectwise/service_tickets" in status.output

    # the registry and the ledger are in DynamoDB
    state = DynamoDBStateStore(aws_client("dynamodb", moto_endpoint), prefix)
    assert state.get_tenant(tenant).company_name == "Aws Co"
    assert state.get_service(tenant, "connectwise").secret_ref == f"avesa/{tenant}/connectwise"
    [run] = state.list_runs()
    assert run.status == "complete"
    tickets = len(sandbox_admin.record_ids(tenant, "service/tickets"))
    table_runs = {tr.table: tr for tr in state.list_table_runs(run_id=run.run_id)}
    assert table_runs["service_tickets"].status == "complete" and table_runs["service_tickets"].records == tickets
    assert state.get_watermark(tenant, "connectwise", "service_tickets") is not None

    # the credentials are in Secrets Manager, and nowhere else
    secrets = aws_client("secretsmanager", moto_endpoint)
    stored = json.loads(secrets.get_secret_value(SecretId=f"{prefix}/{tenant}/connectwise")["SecretString"])
    assert stored["private_key"] == credentials["private_key"]
    items = aws_client("dynamodb", moto_endpoint).scan(TableName=f"{prefix}-state")["Items"]
    assert items and credentials["private_key"] not in json.dumps(items)
    assert not any((avesa_home / name).exists() for name in ("state.sqlite3", "secrets.enc", "secret.key"))
    private_key = credentials["private_key"].encode()
    assert [p for p in avesa_home.rglob("*") if p.is_file() and private_key in p.read_bytes()] == []

    # and the lake has the tenant's data, built from that ledger
    queried = runner.invoke(app, ["query", "SELECT count(*) AS n FROM tickets", "--format", "json"])
    assert queried.exit_code == 0, queried.output
    assert json.loads(queried.output) == [{"n": tickets}]

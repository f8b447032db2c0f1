"""`avesa state init` creates what the configured back ends need before a first run, for users
without the deployment's stacks, and says clearly what AWS refused."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from avesa.cli.app import app
from tests.aws_support import aws_client, aws_environment, isolate_aws_environment, unique_prefix

runner = CliRunner()


@pytest.fixture
def on_moto(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> str:
    isolate_aws_environment(monkeypatch, tmp_path)
    for name, value in aws_environment(moto_endpoint).items():
        monkeypatch.setenv(name, value)
    return moto_endpoint


def test_state_init_creates_the_dynamodb_table_and_the_lake_bucket_and_can_be_repeated(
        on_moto: str, avesa_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    prefix = unique_prefix("init")
    monkeypatch.setenv("AVESA_STATE_URL", f"dynamodb://{prefix}")
    monkeypatch.setenv("AVESA_LAKE_URL", f"s3://{prefix}/lake")
    before = runner.invoke(app, ["tenant", "list"])
    assert before.exit_code == 2 and f"the DynamoDB table {prefix}-state does not exist" in before.output
    assert "avesa state init" in before.output

    for _ in range(2):
        made = runner.invoke(app, ["state", "init", "--bucket"])
        assert made.exit_code == 0, made.output
    assert f"DynamoDB table {prefix}-state ready" in made.output
    assert f"S3 bucket {prefix} already there" in made.output
    table = aws_client("dynamodb", on_moto).describe_table(TableName=f"{prefix}-state")["Table"]
    assert table["TableStatus"] == "ACTIVE"
    assert prefix in [b["Name"] for b in aws_client("s3", on_moto).list_buckets()["Buckets"]]
    listed = runner.invoke(app, ["tenant", "list"])
    assert listed.exit_code == 0, listed.output


def test_state_init_of_the_default_sqlite_state_creates_its_file(avesa_home: Path) -> None:
    made = runner.invoke(app, ["state", "init", "--bucket"])
    assert made.exit_code == 0, made.output
    assert (avesa_home / "state.sqlite3").exists()
    assert "SQLite state" in made.output and "is not on S3: nothing to create" in made.output


def test_an_unreachable_endpoint_is_one_line_naming_the_setting(
        on_moto: str, monkeypatch: pytest.MonkeyPatch, avesa_home: Path) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # the discard port: nothing listens
    monkeypatch.setenv("AVESA_STATE_URL", "dynamodb://nowhere")
    failed = runner.invoke(app, ["state", "init"])
    assert failed.exit_code == 2
    assert "cannot reach DynamoDB for AVESA_STATE_URL at http://127.0.0.1:9" in failed.output
    assert "Traceback" not in failed.output

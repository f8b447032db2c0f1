"""The lake on S3 (moto's server over real HTTP) reached through the standard AWS environment alone —
`AWS_ENDPOINT_URL`, the region, the credential variables, `AWS_ALLOW_HTTP` — with no AVESA-specific
setting: raw files, the canonical merge, `avesa status` and `avesa query` all go there."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from avesa.cli.app import app
from avesa_sandbox import SandboxAdmin
from tests.conftest import sandbox_credentials

moto_server = pytest.importorskip("moto.server", reason="moto[server] is not installed")
boto3 = pytest.importorskip("boto3")

runner = CliRunner()
BUCKET = "avesa-lake-test"


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def aws_environment(s3_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> str:
    for name, value in {"AWS_ENDPOINT_URL": s3_endpoint, "AWS_ACCESS_KEY_ID": "testing",
                        "AWS_SECRET_ACCESS_KEY": "testing", "AWS_REGION": "us-east-1",
                        "AWS_ALLOW_HTTP": "true"}.items():
        monkeypatch.setenv(name, value)
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL_S3"):
        monkeypatch.delenv(name, raising=False)
    s3 = boto3.client("s3")
    if BUCKET not in [b["Name"] for b in s3.list_buckets()["Buckets"]]:
        s3.create_bucket(Bucket=BUCKET)
    return s3_endpoint


def _keys(prefix: str) -> list[str]:
    pages = boto3.client("s3").get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix)
    return [item["Key"] for page in pages for item in page.get("Contents", [])]


def test_run_status_and_query_with_the_lake_on_s3(sandbox_admin: SandboxAdmin, new_instance, avesa_home: Path,
                                                   aws_environment: str, monkeypatch: pytest.MonkeyPatch) -> None:
    name = new_instance("s3")
    monkeypatch.setenv("AVESA_LAKE_URL", f"s3://{BUCKET}/{name}-lake")
    env = {f"CONNECTWISE_{k.upper()}": v for k, v in sandbox_credentials(sandbox_admin, name).items()}
    added = runner.invoke(app, ["service", "add", "--tenant-id", name, "--company-name", "S3 Co", "--service",
                                "connectwise", "--tables", "service_tickets,company_companies"], env=env)
    assert added.exit_code == 0, added.output

    for _ in range(2):  # a first sync, then one that merges into the tables the first created
        ran = runner.invoke(app, ["run"])
        assert ran.exit_code == 0, ran.output
    raw = [k for k in _keys(f"{name}-lake/{name}/raw/connectwise/service_tickets/") if k.endswith(".parquet")]
    assert raw
    assert any(k.startswith(f"{name}-lake/{name}/canonical/tickets/_delta_log/") for k in _keys(f"{name}-lake/"))
    assert not (avesa_home / "lake").exists()  # nothing fell back to the local disk

    body = boto3.client("s3").get_object(Bucket=BUCKET, Key=raw[0])["Body"].read()
    assert pq.read_table(io.BytesIO(body)).num_rows > 0

    status = runner.invoke(app, ["status"])
    assert status.exit_code == 0 and f"{name}/connectwise/service_tickets" in status.output, status.output
    queried = runner.invoke(app, ["query", "SELECT count(*) AS n FROM tickets WHERE is_current", "--format", "json"])
    assert queried.exit_code == 0, queried.output
    assert json.loads(queried.output) == [{"n": len(sandbox_admin.record_ids(name, "service/tickets"))}]

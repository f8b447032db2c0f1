"""Helpers for tests against moto's server (the `moto_endpoint` fixture in tests/conftest.py)."""

from __future__ import annotations

import uuid
from typing import Any

REGION = "us-east-1"
CREDENTIALS = {"aws_access_key_id": "test", "aws_secret_access_key": "test"}


def aws_client(service: str, endpoint: str) -> Any:
    """A boto3 client of `service` on moto's server, whatever the environment says."""
    import boto3

    return boto3.client(service, endpoint_url=endpoint, region_name=REGION, **CREDENTIALS)


def unique_prefix(label: str) -> str:
    """A name prefix no other test uses: one server serves the whole session."""
    return f"{label}-{uuid.uuid4().hex[:12]}"


def aws_environment(endpoint: str) -> dict[str, str]:
    """The standard AWS variables that point boto3 at moto's server (no real account reachable)."""
    return {"AWS_ENDPOINT_URL": endpoint, "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test",
            "AWS_DEFAULT_REGION": REGION, "AWS_REGION": REGION}


def isolate_aws_environment(monkeypatch: Any, tmp_path: Any) -> None:
    """No AWS setting of this machine reaches the test: no variables, no config or credentials
    files, and never the instance metadata address."""
    import os

    for name in list(os.environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")

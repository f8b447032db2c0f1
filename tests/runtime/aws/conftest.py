"""Fixtures for the AWS executor's tests: the state machines and functions deployed on moto's
server, the handlers' environment pointing at one state table, secrets prefix and lake bucket."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.aws_support import aws_client, aws_environment, isolate_aws_environment, unique_prefix
from tests.runtime.aws.sfn_support import Deployment, deploy
from tests.runtime.test_proof_executor import TUNING, Backends


@pytest.fixture
def aws_backends(moto_endpoint: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Backends, Backends]:
    """Two back-end sets on moto: the embedded executor's (explicit settings) and the state
    machines' (the handlers read theirs from the environment, as a Lambda does)."""
    isolate_aws_environment(monkeypatch, tmp_path)
    aws = aws_environment(moto_endpoint)
    for name, value in aws.items():
        monkeypatch.setenv(name, value)
    sets = []
    for label in ("local", "sfn"):
        prefix = unique_prefix(f"sfn-{label}")
        aws_client("s3", moto_endpoint).create_bucket(Bucket=prefix)
        urls = {"state_url": f"dynamodb://{prefix}?create=true", "secrets_url": f"secretsmanager://{prefix}",
                "lake_url": f"s3://{prefix}/lake"}
        sets.append(Backends(tmp_path / label, urls, aws))
    for name, value in sets[1].environment().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("AWS_EMF_ENVIRONMENT", "Local")
    monkeypatch.setenv("AVESA_CHUNK_TIME_MARGIN_SECONDS", "5")
    return sets[0], sets[1]


@pytest.fixture
def deployment(moto_endpoint: str, aws_backends: tuple[Backends, Backends],
               monkeypatch: pytest.MonkeyPatch) -> Iterator[Deployment]:
    with deploy(moto_endpoint, monkeypatch) as deployed:
        yield deployed


__all__ = ["TUNING"]

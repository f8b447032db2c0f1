"""Helpers for tests against moto's server (the `moto_endpoint` fixture in tests/conftest.py)."""

from __future__ import annotations

import functools
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
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


class AtomicWrites:
    """What `atomic_dynamodb` saw: how many writes were in moto at once (waiting for the lock or
    inside it), which says whether a test's writes really raced."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.now = 0
        self.most_at_once = 0
        self.writes = 0

    @contextmanager
    def attempt(self) -> Iterator[None]:
        with self._lock:
            self.now += 1
            self.writes += 1
            self.most_at_once = max(self.most_at_once, self.now)
        try:
            yield
        finally:
            with self._lock:
                self.now -= 1


ATOMIC_WRITES = ("put_item", "update_item", "delete_item", "transact_write_items", "batch_write_item")
"""moto's DynamoDB backend methods that check a condition and write."""


@contextmanager
def atomic_dynamodb() -> Iterator[AtomicWrites]:
    """Make moto's DynamoDB writes atomic, as DynamoDB's are per item, while the block runs.

    moto evaluates a write's condition and applies it without a lock, so two racing conditional
    writes can both succeed (aws notes: 2-4 winners of 8 in a quarter of trials). moto's server
    (`moto_endpoint`) runs in the test process, so wrapping its backend's write methods in one lock
    serialises every write it serves — reads stay concurrent, as they are on DynamoDB."""
    from moto.dynamodb.models import DynamoDBBackend

    lock = threading.RLock()  # a transaction's parts call the other write methods
    seen = AtomicWrites()
    originals = {name: getattr(DynamoDBBackend, name) for name in ATOMIC_WRITES}

    def serialised(original: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(original)
        def write(self: Any, *args: Any, **kwargs: Any) -> Any:
            if lock._is_owned():  # type: ignore[attr-defined]  # a part of a transaction already inside
                return original(self, *args, **kwargs)
            with seen.attempt(), lock:
                return original(self, *args, **kwargs)

        return write

    for name, original in originals.items():
        setattr(DynamoDBBackend, name, serialised(original))
    try:
        yield seen
    finally:
        for name, original in originals.items():
            setattr(DynamoDBBackend, name, original)

"""The `store` fixture of the state store's contract suites: every test that takes it runs against
every back end — SQLite, and DynamoDB on moto's server over real HTTP (a fresh table per test,
Query pages of two items so that every read follows LastEvaluatedKey)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.aws_support import aws_client, unique_prefix

from avesa.state.base import StateStore
from avesa.state.sqlite.store import SqliteStateStore


@pytest.fixture(params=["sqlite", "dynamodb"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StateStore]:
    if request.param == "sqlite":
        backend: StateStore = SqliteStateStore(tmp_path / "state.sqlite3")
    else:
        from avesa.state.dynamodb.layout import ensure_tables
        from avesa.state.dynamodb.store import DynamoDBStateStore

        client = aws_client("dynamodb", request.getfixturevalue("moto_endpoint"))
        prefix = unique_prefix("state")
        ensure_tables(client, prefix)
        backend = DynamoDBStateStore(client, prefix, page_size=2)
    yield backend
    backend.close()

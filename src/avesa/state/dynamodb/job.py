"""What every job of the DynamoDB store works on: the gateway to its one table, and the cache of
chunk locators (a chunk named by its id alone: written by the ledger, dropped by a tenant's reset)."""

from __future__ import annotations

from boto3.dynamodb.conditions import Attr, ConditionBase

from avesa.domain.work import RunStatus
from avesa.state.dynamodb.gateway import Gateway


class DynamoDBJob:
    """The base of each job's class; `store.DynamoDBStateStore` makes the gateway."""

    _db: Gateway
    _locators: dict[str, dict[str, str]]


def run_not_cancelled() -> ConditionBase:
    """On a run item: it is not cancelled (or there is no such run, as SQLite's join allows) — the
    check of every write a worker makes under a chunk's lease, and of watermarks and delta links."""
    return Attr("pk").not_exists() | Attr("run_status").ne(RunStatus.CANCELLED.value)

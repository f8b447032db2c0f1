"""Rate budgets in DynamoDB: a token bucket per (tenant, service) on one item, read and written
back on condition that its `version` is still the one read (state/rate_bucket.py's rule)."""

from __future__ import annotations

from datetime import datetime

from boto3.dynamodb.conditions import Attr, ConditionBase

from avesa.state import rate_bucket
from avesa.state.base import RateBudgets
from avesa.state.dynamodb import layout
from avesa.state.dynamodb.gateway import Item
from avesa.state.dynamodb.job import DynamoDBJob

_BUDGET_ATTEMPTS = 16
"""Tries of a rate budget's compare-and-set that met other workers' writes before the taker is
told to come back a moment later."""
_CONTENDED_WAIT = 0.02


def _bucket(item: Item | None) -> rate_bucket.BucketState | None:
    if item is None:
        return None
    return rate_bucket.BucketState(float(item["tokens"]), float(item["updated_at"]), float(item["paused_until"]))


def _bucket_item(key: dict[str, str], tenant_id: str, service: str, state: rate_bucket.BucketState,
                 read: Item | None) -> Item:
    version = 0 if read is None else int(read["version"])
    return {**key, "kind": "rate_budget", "tenant_id": tenant_id, "service": service, "tokens": state.tokens,
            "updated_at": state.updated_at, "paused_until": state.paused_until, "version": version + 1}


def _unchanged(read: Item | None) -> ConditionBase:
    """The budget item is as it was read (compare-and-set on its version)."""
    return Attr("pk").not_exists() if read is None else Attr("version").eq(int(read["version"]))


class DynamoDBRateBudgets(DynamoDBJob, RateBudgets):
    def take_rate_token(self, tenant_id: str, service: str, requests_per_minute: float, burst: int,
                        now: datetime) -> float:
        """See SqliteStateStore.take_rate_token: the budget item is read and written back on
        condition that nobody wrote it meanwhile; one who did makes this read again."""
        key = layout.budget_key(tenant_id, service)
        for _ in range(_BUDGET_ATTEMPTS):
            item = self._db.get(key)
            new, wait = rate_bucket.take(_bucket(item), requests_per_minute, burst, now.timestamp())
            if new is None:
                return wait
            if self._db.put(_bucket_item(key, tenant_id, service, new, item), _unchanged(item)):
                return 0.0
        return _CONTENDED_WAIT

    def pause_rate_budget(self, tenant_id: str, service: str, until: datetime) -> None:
        """Every worker of the (tenant, service) budget waits until `until` (a later pause wins)."""
        key = layout.budget_key(tenant_id, service)
        for _ in range(_BUDGET_ATTEMPTS):
            item = self._db.get(key)
            new = rate_bucket.pause(_bucket(item), until.timestamp())
            if new is None or self._db.put(_bucket_item(key, tenant_id, service, new, item), _unchanged(item)):
                return
        raise RuntimeError(f"the rate budget of {tenant_id}/{service} kept changing while it was paused")

"""Tenant locks in DynamoDB: a lock item in the tenant's partition per scope
(ledger_rules.LOCK_SCOPES), and a marker in its run's collection, so that a run frees its locks
without a scan."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from boto3.dynamodb.conditions import Attr, Key

from avesa.domain.timeutil import parse_utc
from avesa.state.base import Locks
from avesa.state.dynamodb import codec, layout
from avesa.state.dynamodb.gateway import Gateway
from avesa.state.dynamodb.job import DynamoDBJob
from avesa.state.ledger_rules import LOCK_SCOPES

_LOCK_ATTEMPTS = 8
"""Tries of a lock's compare-and-set that met another taker's write."""


def release_locks(db: Gateway, run_id: str) -> None:
    """Free every lock `run_id` holds, whatever its scope (a lock taken over since stays)."""
    for marker in db.query(Key("pk").eq(layout.run_pk(run_id)) & Key("sk").begins_with("LOCK#")):
        db.delete(layout.lock_key(marker["tenant_id"], marker["scope"]), Attr("run_id").eq(run_id))
        db.delete(layout.key_of(marker))


class DynamoDBLocks(DynamoDBJob, Locks):
    def lock_tenant(self, tenant_id: str, run_id: str, owner: str, now: datetime,
                    is_stale: Callable[[str, str], bool], scope: str = "sync") -> tuple[str, str, datetime] | None:
        """See SqliteStateStore.lock_tenant. The lock is written on condition that it is still as
        read (absent, ours, or the stale holder's); one that changed meanwhile is read again."""
        if scope not in LOCK_SCOPES:
            raise KeyError(scope)
        key = layout.lock_key(tenant_id, scope)
        for _ in range(_LOCK_ATTEMPTS):
            held = self._db.get(key)
            if held is not None and held["run_id"] != run_id and not is_stale(held["run_id"], held["owner"]):
                return held["run_id"], held["owner"], parse_utc(held["acquired_at"])
            unchanged = Attr("pk").not_exists() if held is None else Attr("run_id").eq(held["run_id"])
            lock = {**key, "kind": "lock", "tenant_id": tenant_id, "scope": scope, "run_id": run_id, "owner": owner,
                    "acquired_at": codec.ts(now)}
            marker = {**layout.lock_marker_key(run_id, scope, tenant_id), "kind": "lock_marker",
                      "tenant_id": tenant_id, "scope": scope}
            if self._db.transact([self._db.put_part(lock, unchanged), self._db.put_part(marker)]):
                return None
        raise RuntimeError(f"the {scope} lock of tenant {tenant_id} kept changing while it was taken")

    def unlock_tenants(self, run_id: str) -> None:
        """Free every lock `run_id` holds, whatever its scope (a lock taken over since stays)."""
        release_locks(self._db, run_id)

    def forget_tenant_history(self, tenant_id: str) -> None:
        """Drop a tenant's ledger items and watermarks (the demo's reset); the registry stays.
        Its table runs and chunks are found through the `by_tenant` index: call it when none of the
        tenant's runs is going on."""
        tenant = Key("gsi_tenant").eq(layout.key_part(tenant_id))
        for item in self._db.query(tenant, index=layout.BY_TENANT):
            self._db.delete(layout.key_of(item))
            if item.get("kind") == "chunk":
                self._db.delete(layout.locator_key(item["chunk_id"]))
                self._locators.pop(item["chunk_id"], None)
        for item in self._db.query(Key("pk").eq(layout.tenant_pk(tenant_id))):
            if item.get("kind") == "lock":
                self._db.delete(layout.lock_marker_key(item["run_id"], item["scope"], tenant_id))
            self._db.delete(layout.key_of(item))


"""The audit trail in DynamoDB (`avesa audit`): the one `AUDIT` partition, sorted by time."""

from __future__ import annotations

from datetime import datetime

from boto3.dynamodb.conditions import Key

from avesa.domain.audit import AuditEntry
from avesa.state.base import AuditTrail
from avesa.state.dynamodb import codec, layout
from avesa.state.dynamodb.gateway import MAX_TRANSACTION_ITEMS
from avesa.state.dynamodb.job import DynamoDBJob


class DynamoDBAuditTrail(DynamoDBJob, AuditTrail):
    def append_audit(self, entries: list[AuditEntry]) -> None:
        """Entries in transactions of up to 100 (an import appends one per tenant)."""
        items = [codec.audit_item(e) for e in entries]
        for start in range(0, len(items), MAX_TRANSACTION_ITEMS):
            self._db.transact([self._db.put_part(i) for i in items[start:start + MAX_TRANSACTION_ITEMS]])

    def list_audit(self, tenant_id: str | None = None, action: str | None = None, since: datetime | None = None,
                   limit: int = 100) -> list[AuditEntry]:
        """Newest first, read from the one `AUDIT` partition down to `since`; the tenant and action
        are matched while reading (operator actions are few: thousands a year)."""
        condition = Key("pk").eq(layout.AUDIT_PK)
        condition &= (Key("sk").gte(f"AT#{codec.ts(since)}") if since is not None else Key("sk").begins_with("AT#"))
        found: list[AuditEntry] = []
        for item in self._db.query(condition, forward=False):
            if tenant_id is not None and item.get("tenant_id") != tenant_id:
                continue
            if action is not None and item["action"] != action and not item["action"].startswith(action + "."):
                continue
            found.append(codec.audit(item))
            if len(found) >= limit:
                break
        return found

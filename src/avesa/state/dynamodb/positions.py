"""Where each table is, in DynamoDB: watermark, delta link and reconciliation items in the
tenant's partition; the speed of earlier runs from the `throughput` index of finished chunks."""

from __future__ import annotations

from datetime import datetime

from boto3.dynamodb.conditions import Attr, Key

from avesa.state.base import Positions
from avesa.state.dynamodb import codec, layout
from avesa.state.dynamodb.job import DynamoDBJob, run_not_cancelled


class DynamoDBPositions(DynamoDBJob, Positions):
    # ---- watermarks -----------------------------------------------------------------------
    def get_watermark(self, tenant_id: str, service: str, table: str) -> datetime | None:
        item = self._db.get(layout.table_state_key("WATERMARK", tenant_id, service, table))
        return codec.dt(item["watermark"]) if item else None

    def set_watermark(self, tenant_id: str, service: str, table: str, value: datetime, run_id: str) -> None:
        """Only ever moves forward, and never for a cancelled run (one transaction)."""
        key = layout.table_state_key("WATERMARK", tenant_id, service, table)
        stamp = codec.ts(value)
        self._db.transact([
            self._db.check_part(layout.run_key(run_id), run_not_cancelled()),
            self._db.put_part({**key, "kind": "watermark", "watermark": stamp, "run_id": run_id},
                              Attr("pk").not_exists() | Attr("watermark").lt(stamp)),
        ])

    # ---- sync tokens (delta links) -----------------------------------------------------------
    def get_sync_token(self, tenant_id: str, service: str, table: str) -> str | None:
        item = self._db.get(layout.table_state_key("SYNC", tenant_id, service, table))
        return item["token"] if item else None

    def set_sync_token(self, tenant_id: str, service: str, table: str, token: str | None, run_id: str) -> None:
        """Keep (or with None, forget) a delta table's link; never for a cancelled run."""
        key = layout.table_state_key("SYNC", tenant_id, service, table)
        write = (self._db.delete_part(key) if token is None else
                 self._db.put_part({**key, "kind": "sync_token", "token": token, "run_id": run_id}))
        self._db.transact([self._db.check_part(layout.run_key(run_id), run_not_cancelled()), write])

    # ---- delete reconciliation --------------------------------------------------------------
    def get_last_reconciliation(self, tenant_id: str, service: str, table: str) -> datetime | None:
        item = self._db.get(layout.table_state_key("RECONCILED", tenant_id, service, table))
        return codec.dt(item["last_at"]) if item else None

    def set_last_reconciliation(self, tenant_id: str, service: str, table: str, value: datetime) -> None:
        self._db.put({**layout.table_state_key("RECONCILED", tenant_id, service, table), "kind": "reconciliation",
                      "last_at": codec.ts(value)})

    # ---- speed of earlier runs -------------------------------------------------------------
    def recent_throughput(self, tenant_id: str, service: str, table: str,
                          chunks: int = 20) -> tuple[int, float] | None:
        """(records, seconds) over the table's last completed chunks that read something."""
        items = list(self._db.query(Key("tp_key").eq(layout.throughput_key(tenant_id, service, table)),
                                    index=layout.THROUGHPUT, forward=False, limit=chunks))
        records = sum(int(i.get("records", 0)) for i in items)
        if not records:
            return None
        return records, float(sum(float(i.get("seconds", 0.0)) for i in items))

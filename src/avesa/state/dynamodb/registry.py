"""The registry in DynamoDB: tenants and services in the one `REGISTRY` partition; in bulk as
transactions of up to 100 items, undone if a later one fails."""

from __future__ import annotations

from boto3.dynamodb.conditions import Attr, Key

from avesa.domain.registry import Tenant, TenantService
from avesa.state.base import Registry
from avesa.state.dynamodb import codec, layout
from avesa.state.dynamodb.gateway import MAX_TRANSACTION_ITEMS, Item, Update
from avesa.state.dynamodb.job import DynamoDBJob


class DynamoDBRegistry(DynamoDBJob, Registry):
    def put_tenant(self, tenant: Tenant) -> None:
        self._db.update(layout.tenant_key(tenant.tenant_id), Update(
            set=codec.tenant_item(tenant), if_missing={"created_at": codec.ts(tenant.created_at)}))

    def get_tenant(self, tenant_id: str) -> Tenant | None:
        item = self._db.get(layout.tenant_key(tenant_id))
        return codec.tenant(item) if item else None

    def list_tenants(self) -> list[Tenant]:
        items = self._db.query(Key("pk").eq(layout.REGISTRY_PK) & Key("sk").begins_with("TENANT#"))
        return sorted((codec.tenant(i) for i in items), key=lambda t: t.tenant_id)

    def put_service(self, service: TenantService) -> None:
        self._db.update(layout.service_key(service.tenant_id, service.service), Update(
            set=codec.service_item(service), if_missing={"created_at": codec.ts(service.created_at)}))

    def get_service(self, tenant_id: str, service: str) -> TenantService | None:
        item = self._db.get(layout.service_key(tenant_id, service))
        return codec.service(item) if item else None

    def list_services(self, tenant_id: str | None = None) -> list[TenantService]:
        prefix = "SERVICE#" if tenant_id is None else f"SERVICE#{layout.key_part(tenant_id)}#"
        items = self._db.query(Key("pk").eq(layout.REGISTRY_PK) & Key("sk").begins_with(prefix))
        return sorted((codec.service(i) for i in items), key=lambda s: (s.tenant_id, s.service))

    # ---- registry in bulk, removals -----------------------------------------------------------
    def apply_registry(self, tenants: list[Tenant], services: list[TenantService]) -> None:
        """Every tenant and service, or none. DynamoDB's transactions hold at most 100 items, so the
        items go in transactions of 100; what they replace is read first, and if a later
        transaction fails the earlier ones are undone (each item put back as it was, or deleted),
        then the error is raised. Not isolated: a reader during those milliseconds may see part."""
        items = [codec.full_tenant_item(t) for t in tenants] + [codec.full_service_item(s) for s in services]
        keys = [layout.key_of(i) for i in items]
        if len({(k["pk"], k["sk"]) for k in keys}) != len(keys):
            raise ValueError("apply_registry was given one tenant or service twice")
        before = {(i["pk"], i["sk"]): i for i in self._db.get_many(keys)}
        for item in items:  # a tenant or service already registered keeps when it was first registered
            old = before.get((item["pk"], item["sk"]))
            if old is not None and old.get("created_at"):
                item["created_at"] = old["created_at"]
        batches = [items[i:i + MAX_TRANSACTION_ITEMS] for i in range(0, len(items), MAX_TRANSACTION_ITEMS)]
        written: list[Item] = []
        try:
            for batch in batches:
                self._db.transact([self._db.put_part(item) for item in batch])
                written += batch
        except BaseException:
            self._undo(written, before)
            raise

    def _undo(self, written: list[Item], before: dict[tuple[str, str], Item]) -> None:
        """Put every item of `written` back as it was in `before` (deleting the ones that were new)."""
        parts = []
        for item in written:
            old = before.get((item["pk"], item["sk"]))
            parts.append(self._db.put_part(old) if old is not None else self._db.delete_part(layout.key_of(item)))
        for start in range(0, len(parts), MAX_TRANSACTION_ITEMS):
            self._db.transact(parts[start:start + MAX_TRANSACTION_ITEMS])

    def remove_service(self, tenant_id: str, service: str) -> bool:
        return self._db.delete(layout.service_key(tenant_id, service), Attr("pk").exists())

    def remove_tenant(self, tenant_id: str) -> bool:
        """The tenant and its services in one transaction (a tenant has a handful of services)."""
        services = list(self._db.query(
            Key("pk").eq(layout.REGISTRY_PK) & Key("sk").begins_with(f"SERVICE#{layout.key_part(tenant_id)}#"),
            attributes=("pk", "sk")))
        parts = [self._db.delete_part(layout.tenant_key(tenant_id), Attr("pk").exists())]
        parts += [self._db.delete_part(layout.key_of(s)) for s in services[:MAX_TRANSACTION_ITEMS - 1]]
        if not self._db.transact(parts):
            return False
        for rest in services[MAX_TRANSACTION_ITEMS - 1:]:
            self._db.delete(layout.key_of(rest))
        return True

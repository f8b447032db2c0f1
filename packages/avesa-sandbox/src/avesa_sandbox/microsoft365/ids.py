"""Graph object ids: GUIDs that sort like the store's integer keys, and subscribedSku ids.

The shared store indexes records by a positive 31-bit integer key. A Graph id is a GUID, so the
key is written as its first eight hex digits and the rest is a hash of (instance, table, key):
ids look random, are unique across tables and tenants, and ``"1a2b3c4d-..." < "1a2b3c4e-..."``
exactly when the keys compare so, which keeps keyset paging by id a bisect. A GUID whose tail does
not match its key is not an id of this instance (the API answers 404 for it, the admin API too).

A subscribedSku's id is ``{tenantId}_{skuId}`` (the real format), where ``skuId`` is Microsoft's
product GUID; keys number the known SKUs in skuId order, so those ids sort like their keys too.
"""

from __future__ import annotations

import hashlib
import re

from avesa_sandbox.microsoft365.vocab import SKUS_BY_ID_ORDER

GUID_PATTERN = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")

_MAX_KEY = (1 << 31) - 1


def _digest(*parts: object) -> str:
    return hashlib.sha256("/".join(str(p) for p in parts).encode()).hexdigest()


def instance_salt(instance: str) -> str:
    """What makes one tenant's ids differ from another's (from the instance name alone)."""
    return _digest("avesa-sandbox/microsoft365", instance)[:16]


def guid_for(salt: str, table: str, key: int) -> str:
    """The GUID of ``key`` in ``table``: key in the first eight hex digits, a version-4 layout after."""
    h = _digest(salt, table, key)
    return f"{key:08x}-{h[0:4]}-4{h[4:7]}-{'89ab'[int(h[7], 16) & 3]}{h[8:11]}-{h[11:23]}"


def key_of_guid(salt: str, table: str, value: str) -> int:
    """The key of a GUID: ValueError if it is not a GUID, KeyError if it is not one of this table's."""
    if not isinstance(value, str) or not GUID_PATTERN.match(value):
        raise ValueError(f"{value!r} is not a GUID")
    key = int(value[:8], 16)
    if not 0 < key <= _MAX_KEY or guid_for(salt, table, key) != value.lower():
        raise KeyError(f"{table} has no object with id {value}")
    return key


def sku_key(sku_id: str) -> int:
    """Key of a SKU by its product GUID (position in skuId order, from 1); KeyError if unknown."""
    for index, sku in enumerate(SKUS_BY_ID_ORDER, start=1):
        if sku.sku_id == sku_id.lower():
            return index
    raise KeyError(f"unknown skuId {sku_id}")


def subscribed_sku_id(tenant_id: str, key: int) -> str:
    """``{tenantId}_{skuId}`` of the SKU numbered ``key``."""
    if not 0 < key <= len(SKUS_BY_ID_ORDER):
        raise KeyError(f"the sandbox knows {len(SKUS_BY_ID_ORDER)} SKUs; there is no SKU number {key}")
    return f"{tenant_id}_{SKUS_BY_ID_ORDER[key - 1].sku_id}"


def key_of_subscribed_sku(tenant_id: str, value: str) -> int:
    """Key of a subscribedSku id: ValueError if malformed, KeyError if not this tenant's or unknown."""
    if not isinstance(value, str):
        raise ValueError(f"{value!r} is not a subscribedSku id")
    tenant, separator, sku_id = value.partition("_")
    if not separator or not GUID_PATTERN.match(tenant) or not GUID_PATTERN.match(sku_id):
        raise ValueError(f"{value!r} is not a subscribedSku id ({{tenantId}}_{{skuId}})")
    if tenant.lower() != tenant_id:
        raise KeyError(f"subscribedSkus has no object with id {value}")
    return sku_key(sku_id)

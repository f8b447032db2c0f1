"""ServiceNow ``sys_id``s derived from the store's integer keys, order-preserving.

A sys_id is 32 lowercase hex characters. The sandbox's is the key as 8 hex digits followed by 24
hex digits hashed from (table, key): comparing two sys_ids as strings compares their keys, so a
``sys_id>X`` condition becomes a key bound (a bisect in the store, not a scan), and a sys_id names
its table too (the suffix only matches the table it was made for). Generated keys are spread over a
wide range in random order, so sys_id order says nothing about creation order, as in a real instance.
"""

from __future__ import annotations

import bisect
import functools
import hashlib
import re
from typing import Any

SYS_ID = re.compile(r"^[0-9a-f]{32}$")

MAX_KEY = (1 << 31) - 1
"""Largest key the store accepts (31 bits)."""


@functools.lru_cache(maxsize=1 << 20)
def sys_id(table: str, key: int) -> str:
    """The sys_id of ``key`` in ``table``."""
    suffix = hashlib.blake2b(f"{table}/{key}".encode(), digest_size=12).hexdigest()
    return f"{key:08x}{suffix}"


def key_of(table: str, value: Any) -> int:
    """The key of a sys_id of ``table``; ValueError if it is not one (malformed, or another table's)."""
    if not isinstance(value, str) or not SYS_ID.match(value):
        raise ValueError(f"sys_id must be 32 lowercase hex characters, got {value!r}")
    key = int(value[:8], 16)
    if not 0 < key <= MAX_KEY or sys_id(table, key) != value:
        raise ValueError(f"{value} is not a sys_id of a {table} record")
    return key


def key_or_none(table: str, value: str) -> int | None:
    """Like ``key_of`` but None instead of an error (for URL lookups that answer 404)."""
    try:
        return key_of(table, value)
    except ValueError:
        return None


def first_key_above(table: str, value: str, inclusive: bool) -> int:
    """The smallest key whose sys_id is ``> value`` (``>= value`` if ``inclusive``), compared as strings.

    Keys and sys_ids sort alike, so this is a bisect over the key space (32 hashes at most); it may
    return ``MAX_KEY + 1`` (no key qualifies)."""
    keys = range(MAX_KEY + 1)
    if inclusive:
        return bisect.bisect_left(keys, value, key=lambda k: sys_id(table, k))
    return bisect.bisect_right(keys, value, key=lambda k: sys_id(table, k))


class SysIds:
    """The id part of the ``ServiceSimulator`` protocol for ServiceNow (mixed into the simulator)."""

    id_field = "sys_id"

    def record_key(self, record: dict[str, Any]) -> int:
        return int(record["sys_id"][:8], 16)

    def public_id(self, table: str, key: int) -> Any:
        return sys_id(table, key)

    def parse_id(self, table: str, value: Any) -> int:
        return key_of(table, value)

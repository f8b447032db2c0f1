"""Salesforce record ids: 18 characters, key prefix first, order-preserving from the sandbox's integer key.

A Salesforce id is ``PPP`` (the object's key prefix: ``001`` Account, ``003`` Contact...), two
characters naming the pod, a reserved ``0``, a nine-digit base-62 counter, and a three-character
suffix that encodes the case of the first fifteen characters (so case-insensitive tools can
restore them). The counter digits use ``0-9A-Za-z``, which sorts in ASCII order, so ids of one
object compare like their keys: ``ORDER BY Id`` and ``Id > '...'`` keyset paging behave exactly
as the store's integer index does.
"""

from __future__ import annotations

import re

DIGITS = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_VALUE = {char: index for index, char in enumerate(DIGITS)}
_SUFFIX = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
COUNTER_WIDTH = 9
POD = "5g"
"""Pod characters of every id the sandbox makes (a real org's ids share them too)."""

_SHAPE = re.compile(r"^[0-9A-Za-z]{15}([0-9A-Za-z]{3})?$")


def checksum(id15: str) -> str:
    """The three-character case suffix of a 15-character id."""
    out = []
    for start in (0, 5, 10):
        bits = 0
        for offset, char in enumerate(id15[start : start + 5]):
            if "A" <= char <= "Z":
                bits |= 1 << offset
        out.append(_SUFFIX[bits])
    return "".join(out)


def encode(prefix: str, key: int) -> str:
    """The 18-character id of ``key`` under a three-character key prefix."""
    if key < 0:
        raise ValueError(f"key must be >= 0, got {key}")
    digits = []
    value = key
    while value:
        value, rest = divmod(value, 62)
        digits.append(DIGITS[rest])
    counter = "".join(reversed(digits)).rjust(COUNTER_WIDTH, "0")
    if len(counter) > COUNTER_WIDTH:
        raise ValueError(f"key {key} does not fit a Salesforce id")
    id15 = f"{prefix}{POD}0{counter}"
    return id15 + checksum(id15)


def is_valid(value: object) -> bool:
    """Whether ``value`` has the shape of a 15- or 18-character id (and a matching suffix if 18)."""
    if not isinstance(value, str) or not _SHAPE.match(value):
        return False
    return len(value) == 15 or checksum(value[:15]) == value[15:]


def to18(value: str) -> str:
    """An id in its 18-character form (15-character ids get their suffix); ValueError if not an id.

    The suffix is case-insensitive in real Salesforce: an 18-character id whose suffix only differs
    in case is accepted and normalised too."""
    if not isinstance(value, str) or not _SHAPE.match(value):
        raise ValueError(f"invalid ID field: {value}")
    id15 = value[:15]
    suffix = checksum(id15)
    if len(value) == 18 and value[15:].upper() != suffix:
        raise ValueError(f"invalid ID field: {value}")
    return id15 + suffix


def decode(value: str, prefix: str | None = None) -> int:
    """The key of an id (15 or 18 characters), checking the key prefix if given; ValueError otherwise."""
    full = to18(value)
    if prefix is not None and full[:3] != prefix:
        raise ValueError(f"id {value!r} is not a {prefix} id")
    key = 0
    for char in full[6:15]:
        key = key * 62 + _VALUE[char]
    return key


def key_of(value: str) -> int:
    """Key of a well-formed 18-character id made by ``encode`` (hot path: no validation)."""
    key = 0
    for char in value[6:15]:
        key = key * 62 + _VALUE[char]
    return key

"""Split a response body into records without building Python objects for them.

Every connector needs the same few things from a page: each record's bytes exactly as the API sent
them (they land unchanged), its id, its change timestamp, whether it marks a deletion, whether it
holds a deny-listed field, and a few body fields beside the list (the next link). msgspec reads
exactly those in C and skips the rest; a generic JSON parse of 1,000 records costs more CPU than
everything else extraction does.
"""

from __future__ import annotations

import operator
import re
from dataclasses import dataclass
from typing import Any

import msgspec

UNSET = msgspec.UNSET
_SPLIT = re.compile(r"[./]")


@dataclass(slots=True)
class RawRecords:
    """One page, column by column."""

    raws: list[bytes]
    ids: list[Any]
    changes: list[Any]
    deleted: list[int]
    sensitive: list[int]
    extras: dict[str, Any]


def _nested(path: list[str], leaf: Any, name: str) -> tuple[str, Any]:
    """A struct type for reading ``path`` (``_info/lastUpdated``) and the attribute name to reach it."""
    if len(path) == 1:
        return path[0], leaf
    inner_attr, inner_type = _nested(path[1:], leaf, name + "_")
    struct = msgspec.defstruct(f"{name}_{len(path)}", [("v", inner_type | None, msgspec.field(default=None,
                                                                                                name=inner_attr))],
                               gc=False)
    return path[0], struct


class RecordReader:
    """Reads pages of one table. ``records`` is where the list is in the body ("" = the body is it)."""

    def __init__(self, *, records: str, id_field: str, change_field: str | None = None,
                 deleted_field: str | None = None, sensitive_fields: list[str] | None = None,
                 extras: list[str] | None = None) -> None:
        self._records = records
        self._change_path = _SPLIT.split(change_field) if change_field else None
        fields: list[tuple] = [("rid", Any, msgspec.field(default=None, name=id_field))]
        if self._change_path:
            top, kind = _nested(self._change_path, Any, "Change")
            fields.append(("chg", kind | None, msgspec.field(default=None, name=top)))
        if deleted_field:
            fields.append(("deleted", Any, msgspec.field(default=None, name=deleted_field)))
        self._deny = [f"deny_{i}" for i in range(len(sensitive_fields or []))]
        fields += [(slot, Any, msgspec.field(default=UNSET, name=name))
                   for slot, name in zip(self._deny, sensitive_fields or [], strict=True)]
        self._has_deleted = bool(deleted_field)
        self._deny_values = operator.attrgetter(*self._deny) if self._deny else None
        """One C call per record: a deny slot's value, or a tuple of them (UNSET where absent)."""
        self._no_deny: Any = UNSET if len(self._deny) == 1 else (UNSET,) * len(self._deny)
        # A class made at run time: mypy cannot know its fields, so it and the decoders built on it are Any.
        # gc=False: decoded JSON holds no reference cycles, and a page's thousands of envelopes would
        # otherwise be tracked (and scanned) by the garbage collector while they live.
        envelope: Any = msgspec.defstruct("Envelope", fields, gc=False)
        self._extras = list(extras or [])
        if records:
            extra_fields = [(f"x{i}", Any, msgspec.field(default=None, name=n)) for i, n in enumerate(self._extras)]
            self._split: msgspec.json.Decoder[Any] = msgspec.json.Decoder(msgspec.defstruct("SplitBody", [
                ("items", list[msgspec.Raw] | None, msgspec.field(default=None, name=records)), *extra_fields]))
            self._envelopes: msgspec.json.Decoder[Any] = msgspec.json.Decoder(msgspec.defstruct("EnvelopeBody", [
                ("items", list[envelope] | None, msgspec.field(default=None, name=records))]))
        else:
            self._split = msgspec.json.Decoder(list[msgspec.Raw])
            self._envelopes = msgspec.json.Decoder(list[envelope])

    def _change(self, envelope: Any) -> Any:
        value = envelope.chg
        for _ in range(len(self._change_path or []) - 1):
            if value is None:
                return None
            value = value.v
        return value

    def _changes(self, items: list[Any]) -> list[Any]:
        """Each record's change value; the usual depths (``sys_updated_on``, ``_info/lastUpdated``)
        without a Python call per record."""
        depth = len(self._change_path or [])
        if depth == 0:
            return []
        if depth == 1:
            return list(map(_CHANGE, items))
        if depth == 2:
            return [None if (inner := e.chg) is None else inner.v for e in items]
        return [self._change(e) for e in items]

    def read(self, body: bytes) -> RawRecords:
        """Raises msgspec.DecodeError (or ValueError) when the body is not the expected JSON.

        Two C-speed passes over the body (one slices it into raw records, one decodes only the
        envelope fields), then one C-level map per column: no Python function runs per record."""
        try:
            split = self._split.decode(body)
            envelopes = self._envelopes.decode(body)
        except RecursionError:
            raise ValueError("JSON nested deeper than the decoder's limit") from None
        if self._records:
            if split.items is None:
                raise ValueError(f"the body has no {self._records!r} list")
            raws, items = split.items, envelopes.items or []
            extras = {name: getattr(split, f"x{i}") for i, name in enumerate(self._extras)}
        else:
            raws, items, extras = split, envelopes, {}
        deleted: list[int] = []
        if self._has_deleted:
            deleted = [position for position, value in enumerate(map(_DELETED, items))
                       if value not in (None, False, "false")]
        sensitive: list[int] = []
        if self._deny_values is not None:
            absent = self._no_deny
            sensitive = [position for position, value in enumerate(map(self._deny_values, items))
                         if value != absent]
        return RawRecords(raws=list(map(bytes, raws)), ids=list(map(_RID, items)), changes=self._changes(items),
                          deleted=deleted, sensitive=sensitive, extras=extras)


_RID = operator.attrgetter("rid")
_CHANGE = operator.attrgetter("chg")
_DELETED = operator.attrgetter("deleted")

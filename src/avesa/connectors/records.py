"""Split a response body into records without building Python objects for them.

Every connector needs the same few things from a page: each record's bytes exactly as the API sent
them (they land unchanged), its id, its change timestamp, whether it marks a deletion, whether it
holds a deny-listed field, and a few body fields beside the list (the next link). msgspec reads
exactly those in C and skips the rest; a generic JSON parse of 1,000 records costs more CPU than
everything else extraction does.
"""

from __future__ import annotations

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
                                                                                                name=inner_attr))])
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
        # A class made at run time: mypy cannot know its fields, so it and the decoders built on it are Any.
        envelope: Any = msgspec.defstruct("Envelope", fields)
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

    def read(self, body: bytes) -> RawRecords:
        """Raises msgspec.DecodeError (or ValueError) when the body is not the expected JSON."""
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
        has_change = self._change_path is not None
        has_deleted = hasattr(items[0], "deleted") if items else False
        ids, changes, deleted, sensitive = [], [], [], []
        for position, envelope in enumerate(items):
            ids.append(envelope.rid)
            if has_change:
                changes.append(self._change(envelope))
            if has_deleted and envelope.deleted not in (None, False, "false"):
                deleted.append(position)
            if self._deny and any(getattr(envelope, slot) is not UNSET for slot in self._deny):
                sensitive.append(position)
        return RawRecords(raws=[bytes(r) for r in raws], ids=ids, changes=changes, deleted=deleted,
                          sensitive=sensitive, extras=extras)

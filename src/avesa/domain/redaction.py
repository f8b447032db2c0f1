"""Masking secrets in text quoted from outside before it becomes an error message.

An error that quotes a response body or a record ("HTTP 400: {...}", "a record without id: {...}")
carries whatever the source put there: an API that echoes the request sends the Authorization
header back, and a record may hold a deny-listed field (a portal password). Such messages reach the
run ledger, the JSON-lines log and the terminal, so every place that builds one from external text
passes it through a `Redactor` first: it knows the credential values of one tenant's service (and
the forms they travel in: percent-encoded, JSON-escaped) and the service's sensitive field names, and
masks both — then cuts the text to length, so a cut never leaves half a secret readable.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from urllib.parse import quote, quote_plus, unquote

MASK = "[redacted]"

_URL_PASSWORD = re.compile(r"(?P<head>\b[a-z][a-z0-9+.-]*://[^/\s:@'\"]*:)(?P<password>[^@\s/'\"]+)(?P<at>@)",
                           re.IGNORECASE)
"""``scheme://user:password@`` in any text: the password is masked whoever it belongs to."""
_CLOSERS = {"{": "}", "[": "]"}
_SCALAR_END = re.compile(r"[,}\]\s]")


def _forms(value: str) -> set[str]:
    """The ways a credential value appears in text: as is, percent-encoded, decoded, JSON-escaped."""
    return {value, quote(value, safe=""), quote_plus(value), unquote(value), json.dumps(value)[1:-1]} - {""}


def _string_end(text: str, start: int, delimiter: str) -> int:
    """Index just past the string starting at ``start`` (its opening delimiter), or the end of text."""
    i = start + len(delimiter)
    while i < len(text):
        if text.startswith(delimiter, i):
            return i + len(delimiter)
        i += 2 if text[i] == "\\" and len(delimiter) == 1 else 1
    return len(text)


def _value_end(text: str, start: int, quote_: str) -> int:
    """Index just past the JSON (or Python repr) value starting at ``start``: a string, a nested
    object or list (brackets balanced, strings skipped), or a scalar. Cut-off text ends it."""
    if start >= len(text):
        return start
    first = text[start]
    if text.startswith(quote_, start) or first in "\"'":
        return _string_end(text, start, quote_ if text.startswith(quote_, start) else first)
    if first in _CLOSERS:
        depth, i = 0, start
        while i < len(text):
            char = text[i]
            if char in "\"'":
                i = _string_end(text, i, char)
                continue
            if char in "{[":
                depth += 1
            elif char in "}]":
                depth -= 1
                if depth == 0:
                    return i + 1
            i += 1
        return len(text)
    end = _SCALAR_END.search(text, start)
    return end.start() if end else len(text)


class Redactor:
    """Masks one tenant's service's credential values and its sensitive fields in external text."""

    def __init__(self, secrets: Iterable[str] = (), fields: Iterable[str] = ()) -> None:
        self._secrets: set[str] = set()
        self._secret_pattern: re.Pattern[str] | None = None
        names = sorted({f for f in fields if f}, key=len, reverse=True)
        # "name": value, 'name': value (a Python repr) or \"name\": value (JSON quoted inside a string)
        self._field_pattern = re.compile(
            r"(?P<q>\\?[\"'])(?:" + "|".join(re.escape(n) for n in names) + r")(?P=q)\s*[:=]\s*",
            re.IGNORECASE) if names else None
        self.add(*secrets)

    def add(self, *values: str | None) -> None:
        """Mask these values too (a token issued at run time, a header built from the credentials)."""
        new = set().union(*(_forms(v) for v in values if v)) - self._secrets
        if not new:
            return
        self._secrets |= new
        ordered = sorted(self._secrets, key=len, reverse=True)  # the longest first: no half-masked overlap
        self._secret_pattern = re.compile("|".join(re.escape(v) for v in ordered))

    def text(self, text: str) -> str:
        """``text`` with every credential value, URL password and sensitive field's value masked."""
        if self._secret_pattern is not None:
            text = self._secret_pattern.sub(MASK, text)
        text = _URL_PASSWORD.sub(lambda m: m["head"] + MASK + m["at"], text)
        if self._field_pattern is not None:
            text = self._mask_fields(text)
        return text

    def quote(self, external: bytes | str, limit: int = 300) -> str:
        """A body or record for a message: masked first, then cut to ``limit`` characters."""
        raw = external.decode("utf-8", "replace") if isinstance(external, bytes | bytearray) else str(external)
        masked = self.text(raw).strip()
        return masked if len(masked) <= limit else masked[:limit] + "…"

    def _mask_fields(self, text: str) -> str:
        assert self._field_pattern is not None
        out: list[str] = []
        position = 0
        while (match := self._field_pattern.search(text, position)) is not None:
            quote_ = match["q"]
            end = _value_end(text, match.end(), quote_)
            out.append(text[position:match.end()])
            out.append(f"{quote_}{MASK}{quote_}")
            position = max(end, match.end())
        out.append(text[position:])
        return "".join(out)

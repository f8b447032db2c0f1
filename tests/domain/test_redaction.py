"""The redactor every error quoting external text passes: credential values and sensitive fields
never come out, whatever text surrounds them and wherever the quote is cut."""

from __future__ import annotations

import base64
import json
import string
from typing import Any
from urllib.parse import quote, quote_plus

from hypothesis import assume, given
from hypothesis import strategies as st

from avesa.domain.redaction import MASK, Redactor

SECRET_TEXT = st.text(alphabet=string.ascii_letters + string.digits + "+/=-_.!$%&", min_size=1, max_size=40)


def _overlaps_mask(secret: str) -> bool:
    """A secret that is part of the mask (or starts where it ends) can reappear next to one."""
    ends = MASK + "…"
    return secret in ends or any(ends.endswith(secret[:i]) or ends.startswith(secret[-i:])
                                 for i in range(1, len(secret) + 1))


@given(secret=SECRET_TEXT, before=st.text(max_size=300), after=st.text(max_size=300),
       limit=st.integers(min_value=1, max_value=700))
def test_a_credential_never_survives_a_quote(secret: str, before: str, after: str, limit: int) -> None:
    assume(not _overlaps_mask(secret))
    redactor = Redactor([secret])
    for form in (secret, json.dumps(secret)[1:-1], quote(secret, safe=""), quote_plus(secret)):
        quoted = redactor.quote(f"{before}{form}{after}".encode(), limit)
        assert secret not in quoted
        assert form not in quoted or _overlaps_mask(form)


def test_a_basic_header_echoed_back_is_masked_in_every_form() -> None:
    header = "Basic " + base64.b64encode(b"acme+pub:priv").decode()
    redactor = Redactor(["pub", "priv", header, header.partition(" ")[2]])
    body = json.dumps({"request": {"headers": {"authorization": header}, "url": "https://x/?key=priv%2B"}})
    quoted = redactor.quote(body)
    assert header.partition(" ")[2] not in quoted and "priv" not in quoted
    assert quoted.count(MASK) >= 2


def test_a_password_in_a_url_is_masked_whoever_it_belongs_to() -> None:
    text = "connection failed to https://svc:hunter2@api.example.com/v1 (refused)"
    assert Redactor().text(text) == f"connection failed to https://svc:{MASK}@api.example.com/v1 (refused)"


KEY = st.text(alphabet=string.ascii_lowercase + "_", min_size=1, max_size=12)
SCALAR = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False, allow_infinity=False),
                   st.text(alphabet=string.ascii_letters + string.digits + " -:@[]/{},", max_size=30))
JSON = st.recursive(SCALAR, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                    st.dictionaries(KEY, inner, max_size=4)), max_leaves=12)


def _expected(value: Any, sensitive: set[str]) -> Any:
    if isinstance(value, dict):
        return {k: MASK if k.lower() in sensitive else _expected(v, sensitive) for k, v in value.items()}
    if isinstance(value, list):
        return [_expected(v, sensitive) for v in value]
    return value


@given(record=st.dictionaries(KEY, JSON, min_size=1, max_size=6), sensitive=st.sets(KEY, min_size=1, max_size=3),
       indent=st.sampled_from([None, 1]))
def test_sensitive_fields_are_masked_and_nothing_else_changes(record: dict[str, Any], sensitive: set[str],
                                                              indent: int | None) -> None:
    """A JSON record with its deny-listed fields masked — at any depth, whatever their value (a nested
    object too) — is still JSON and otherwise the same record."""
    text = Redactor(fields=sensitive).text(json.dumps(record, indent=indent))
    assert json.loads(text) == _expected(record, {s.lower() for s in sensitive})


def test_sensitive_fields_in_a_python_repr_and_in_a_cut_off_record() -> None:
    redactor = Redactor(fields=["portalPassword", "passwordProfile"])
    assert redactor.text(str({"id": 1, "portalPassword": "s3cr3t"})) == f"{{'id': 1, 'portalPassword': '{MASK}'}}"
    cut = '{"id":null,"passwordProfile":{"password":"Tr0ub4dor","forceChange'
    assert "Tr0ub4dor" not in redactor.text(cut)
    quoted_inside = json.dumps({"message": json.dumps({"portalPassword": "s3cr3t"})})
    assert "s3cr3t" not in redactor.text(quoted_inside)

"""The redactor a connector scrubs its error messages with: what one tenant's service must never
show in an error, known where the credentials are.

Everything the secret store holds for the service is masked: the fields the spec marks ``secret``
and any other stored value the spec does not declare as a plain setting (a password taken out of a
URL at `avesa service add`). So are the Authorization headers built from them — the spec's (SourceHttp
adds it) and the Basic one httpx builds from a URL's ``user:password@`` (added here): Basic
credentials travel base64-encoded — and access tokens issued at run time (OAuth2Auth adds them), and
the values of the spec's ``sensitive_fields`` in any record or body quoted.
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import unquote, urlsplit

from avesa.catalog.models import ServiceSpec
from avesa.connectors.auth import basic_header
from avesa.domain.redaction import Redactor


def redactor_for(spec: ServiceSpec, credentials: Mapping[str, str]) -> Redactor:
    settings = {f.name for f in spec.credentials if not f.secret}
    redactor = Redactor((value for name, value in credentials.items() if name not in settings),
                        spec.sensitive_fields)
    for value in credentials.values():
        header = _url_basic_header(value)
        if header:
            redactor.add(*credential_headers({"Authorization": header}))
    return redactor


def _url_basic_header(value: str) -> str | None:
    """The Authorization header httpx sends for a URL with ``user:password@``, if ``value`` is one."""
    try:
        parts = urlsplit(value)
    except ValueError:
        return None
    if not parts.scheme or parts.password is None:
        return None
    return basic_header(unquote(parts.username or ""), unquote(parts.password))


def credential_headers(headers: Mapping[str, str]) -> list[str]:
    """Header values that carry credentials: the Authorization value, and its token alone (an echo
    may quote either)."""
    values: list[str] = []
    for name, value in headers.items():
        if name.lower() in ("authorization", "proxy-authorization") and value:
            values += [value, value.partition(" ")[2]]
    return values

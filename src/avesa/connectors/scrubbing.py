"""The redactor a connector scrubs its error messages with: what one tenant's service must never
show in an error, known where the credentials are.

Everything the secret store holds for the service is masked: the fields the spec marks ``secret``
and any other stored value the spec does not declare as a plain setting (a password taken out of a
URL at `avesa service add`). So are the Authorization header built from them (SourceHttp adds it:
Basic credentials travel base64-encoded) and access tokens issued at run time (OAuth2Auth adds
them), and the values of the spec's ``sensitive_fields`` in any record or body quoted.
"""

from __future__ import annotations

from collections.abc import Mapping

from avesa.catalog.models import ServiceSpec
from avesa.domain.redaction import Redactor


def redactor_for(spec: ServiceSpec, credentials: Mapping[str, str]) -> Redactor:
    settings = {f.name for f in spec.credentials if not f.secret}
    return Redactor((value for name, value in credentials.items() if name not in settings),
                    spec.sensitive_fields)


def credential_headers(headers: Mapping[str, str]) -> list[str]:
    """Header values that carry credentials: the Authorization value, and its token alone (an echo
    may quote either)."""
    values: list[str] = []
    for name, value in headers.items():
        if name.lower() in ("authorization", "proxy-authorization") and value:
            values += [value, value.partition(" ")[2]]
    return values

"""How a ServiceNow connector is set up from a spec and a tenant's credentials, decided before any
request: the instance URL as users type it, Basic or OAuth, and names that are safe in a query."""

from __future__ import annotations

import re

from avesa.catalog.models import AuthSpec, ServiceSpec
from avesa.domain.errors import ConfigError

TOKEN_PATH = "/oauth_token.do"
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
"""A table or column name as ServiceNow spells them: nothing that could change a query's meaning."""


def normalize_instance_url(value: str) -> str:
    """``acme`` -> ``https://acme.service-now.com``; a full URL loses its trailing slash."""
    url = value.strip().rstrip("/")
    if url and "://" not in url:
        url = f"https://{url}" if "." in url or ":" in url else f"https://{url}.service-now.com"
    return url


def spec_with_auth(spec: ServiceSpec, credentials: dict[str, str], where: str) -> ServiceSpec:
    """The spec's Basic auth, or the OAuth password grant when an OAuth client is configured."""
    client_id, client_secret = credentials.get("client_id"), credentials.get("client_secret")
    if not client_id and not client_secret:
        return spec
    if not (client_id and client_secret):
        raise ConfigError(f"{where}: OAuth needs both client_id and client_secret (or neither, for Basic auth); "
                          f"run `avesa service add --service {spec.service}` again")
    oauth = AuthSpec(type="oauth2_password", token_url="{instance_url}" + TOKEN_PATH,
                     username=spec.auth.username or "{username}", password=spec.auth.password or "{password}",
                     headers=dict(spec.auth.headers))
    return spec.model_copy(update={"auth": oauth})


def check_names(spec: ServiceSpec) -> None:
    """Every name that goes into a query must be one ServiceNow cannot misread (and so ignore)."""
    for name, table in spec.tables.items():
        for what, value in (("path", table.path), ("id_field", table.id_field), ("change_field", table.change_field)):
            if value is not None and not _NAME.match(value):
                raise ConfigError(f"service {spec.service} table {name}: {what} {value!r} is not a plain ServiceNow "
                                  "name (lowercase letters, digits, _); a query ServiceNow cannot read is "
                                  "silently ignored")
            if value is not None and what != "path" and table.fields and value not in table.fields:
                raise ConfigError(f"service {spec.service} table {name}: {what} {value!r} is not in its fields")
        if "sysparm_query" in table.params or "sysparm_fields" in table.params:
            raise ConfigError(f"service {spec.service} table {name}: params may not set sysparm_query or "
                              "sysparm_fields; the connector writes them")

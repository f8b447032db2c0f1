"""Build the connector for a tenant's service from the catalog spec and its credentials."""

from __future__ import annotations

from avesa.catalog.models import ServiceSpec
from avesa.connectors.base import SourceConnector
from avesa.connectors.connectwise import ConnectWiseConnector
from avesa.connectors.http_client import HttpOptions
from avesa.connectors.rate_budget import RateBudget
from avesa.domain.errors import ConfigError


def build_connector(
    spec: ServiceSpec,
    credentials: dict[str, str],
    *,
    tenant_id: str,
    budget: RateBudget,
    options: HttpOptions,
    page_size: int,
) -> SourceConnector:
    if spec.service == "connectwise":
        return ConnectWiseConnector(spec=spec, credentials=credentials, tenant_id=tenant_id, budget=budget,
                                    options=options, page_size=page_size)
    raise ConfigError(f"no connector implementation for service {spec.service!r}")

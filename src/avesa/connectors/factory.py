"""Build the connector for a tenant's service from the catalog spec and its credentials.

A spec names its implementation in ``connector``: ``rest`` (everything from the spec) or a built-in
service's subclass for its API's quirks. Implementations are imported on first use.
"""

from __future__ import annotations

import importlib

from avesa.catalog.models import ServiceSpec
from avesa.connectors.base import SourceConnector
from avesa.connectors.http_client import HttpOptions
from avesa.connectors.rate_budget import RateBudget
from avesa.domain.errors import ConfigError

IMPLEMENTATIONS: dict[str, str] = {
    "rest": "avesa.connectors.rest:RestConnector",
    "connectwise": "avesa.connectors.connectwise:ConnectWiseConnector",
    "servicenow": "avesa.connectors.servicenow:ServiceNowConnector",
    "salesforce": "avesa.connectors.salesforce:SalesforceConnector",
    "microsoft365": "avesa.connectors.microsoft365:GraphConnector",
}


def connector_class(name: str) -> type:
    target = IMPLEMENTATIONS.get(name)
    if target is None:
        raise ConfigError(f"no connector implementation {name!r}; known: {', '.join(sorted(IMPLEMENTATIONS))} "
                          "(use \"rest\" for a service described by its spec alone)")
    module, _, attribute = target.partition(":")
    return getattr(importlib.import_module(module), attribute)


def build_connector(
    spec: ServiceSpec,
    credentials: dict[str, str],
    *,
    tenant_id: str,
    budget: RateBudget,
    options: HttpOptions,
    page_size: int,
) -> SourceConnector:
    cls = connector_class(spec.connector)
    return cls(spec=spec, credentials=credentials, tenant_id=tenant_id, budget=budget,
               options=options, page_size=page_size)

"""Build the connector for a tenant's service from the catalog spec and its credentials.

A spec names its implementation in ``connector``: ``rest`` (everything from the spec), a built-in
service's subclass for its API's quirks, or a connector class of the user's own — registered by
the package that ships it under the ``avesa.connectors`` entry point group::

    [project.entry-points."avesa.connectors"]
    acme_helpdesk = "acme_avesa.connector:HelpdeskConnector"

so that a spec in ``AVESA_CATALOG_PATH`` says ``"connector": "acme_helpdesk"`` and AVESA runs it
without being edited. Implementations are imported on first use.
"""

from __future__ import annotations

import importlib
from importlib.metadata import EntryPoint, entry_points

from avesa.catalog.models import ServiceSpec
from avesa.connectors.base import SourceConnector
from avesa.connectors.http_client import HttpOptions
from avesa.connectors.rate_budget import RateBudget
from avesa.domain.errors import ConfigError

ENTRY_POINT_GROUP = "avesa.connectors"

IMPLEMENTATIONS: dict[str, str] = {
    "rest": "avesa.connectors.rest:RestConnector",
    "connectwise": "avesa.connectors.connectwise:ConnectWiseConnector",
    "servicenow": "avesa.connectors.servicenow:ServiceNowConnector",
    "salesforce": "avesa.connectors.salesforce:SalesforceConnector",
    "microsoft365": "avesa.connectors.microsoft365:GraphConnector",
}
"""The built-in implementations: name → `module:class`."""


def installed_connectors() -> dict[str, EntryPoint]:
    """Connector classes other installed packages register (a built-in name is never replaced)."""
    return {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP) if ep.name not in IMPLEMENTATIONS}


def connector_class(name: str) -> type:
    """The class a spec's ``connector`` names; ConfigError naming the known ones for any other."""
    target = IMPLEMENTATIONS.get(name)
    if target is not None:
        module, _, attribute = target.partition(":")
        return getattr(importlib.import_module(module), attribute)
    installed = installed_connectors()
    if name not in installed:
        known = ", ".join(sorted(IMPLEMENTATIONS))
        others = f"; installed by other packages: {', '.join(sorted(installed))}" if installed else ""
        raise ConfigError(f"no connector implementation {name!r}; built in: {known}{others} (use \"rest\" for a "
                          f"service described by its spec alone, or install the package that registers {name!r} "
                          f"under the {ENTRY_POINT_GROUP!r} entry points)")
    entry = installed[name]
    try:
        loaded = entry.load()
    except Exception as exc:  # the user's package: any import error is theirs to fix, said plainly
        raise ConfigError(f"connector {name!r} ({entry.value}) could not be imported: {type(exc).__name__}: {exc}") \
            from None
    if not isinstance(loaded, type) or not all(callable(getattr(loaded, m, None)) for m in _REQUIRED):
        raise ConfigError(f"connector {name!r} ({entry.value}) is not a connector class: it needs "
                          f"{', '.join(_REQUIRED)} (subclass avesa.connectors.rest.RestConnector)")
    return loaded


_REQUIRED = ("check", "count", "span", "pages", "list_ids", "aclose")
"""What the pipeline calls on a connector (avesa.connectors.base.SourceConnector)."""


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
    connector: SourceConnector = cls(spec=spec, credentials=credentials, tenant_id=tenant_id, budget=budget,
                                     options=options, page_size=page_size)
    return connector

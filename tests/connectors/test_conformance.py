"""The connector conformance suite (avesa.testing.conformance) run for every built-in service and
for a service described by its spec alone (the guide's Acme Helpdesk), each against its sandbox
over real HTTP — the same suite a user runs against a connector of their own."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest

from avesa.catalog.loader import Catalog
from avesa.connectors.base import SourceConnector
from avesa.connectors.factory import build_connector
from avesa.connectors.http_client import HttpOptions
from avesa.connectors.rate_budget import RateBudget
from avesa.testing.conformance import ConformanceCase, ConnectorConformance
from avesa_sandbox import SandboxAdmin
from tests.connectors.test_rate_limits import CASES, Case, guide_catalog  # noqa: F401 (a fixture)

_names = itertools.count(1)
SECRET_PARTS = ("key", "secret", "password", "token")


def _connector(admin: SandboxAdmin, catalog: Catalog, case: Case, instance: str, *,
               refused: bool = False) -> SourceConnector:
    spec = catalog.service(case.service)
    connection = admin.connection(instance)
    credentials = {f.name: connection[f.name] for f in spec.credentials if f.name in connection}
    if refused:
        credentials = {name: f"wrong-{value}" if any(p in name.lower() for p in SECRET_PARTS) else value
                       for name, value in credentials.items()}
    return build_connector(spec, credentials, tenant_id=instance, budget=RateBudget(6000, 100),
                           options=HttpOptions(max_attempts=2), page_size=case.page_size)


class TestBuiltInConnectors(ConnectorConformance):
    @pytest.fixture(params=CASES, ids=[c.service for c in CASES])
    def conformance_case(self, request: pytest.FixtureRequest, sandbox_admin: SandboxAdmin,
                         guide_catalog: Catalog) -> Iterator[ConformanceCase]:  # noqa: F811
        case: Case = request.param
        counts = {"deviceManagement/managedDevices": 12} if case.service == "microsoft365" else None
        instance = f"conf-{case.service}-{next(_names)}"
        sandbox_admin.create_instance(instance, service=case.service, scale="tiny", seed=3, counts=counts,
                                      knobs={"rate_limit_per_minute": None, **case.knobs})
        try:
            yield ConformanceCase(
                connect=lambda: _connector(sandbox_admin, guide_catalog, case, instance),
                refused=lambda: _connector(sandbox_admin, guide_catalog, case, instance, refused=True),
                table=case.table, ids={str(i) for i in sandbox_admin.record_ids(instance, case.sandbox_table)},
                window=case.window, windowed=case.window[0] != case.window[1])
        finally:
            sandbox_admin.delete_instance(instance)

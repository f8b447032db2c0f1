"""Everything a pipeline unit needs, built once per process from Settings."""

from __future__ import annotations

import asyncio
import os
import socket
from dataclasses import dataclass, field
from typing import cast

from avesa.catalog.loader import Catalog, load_catalog
from avesa.connectors.base import SourceConnector
from avesa.connectors.factory import build_connector
from avesa.connectors.http_client import HttpOptions
from avesa.connectors.rate_budget import RateBudget, RateBudgets
from avesa.connectors.shared_budget import SharedRateBudget
from avesa.domain.errors import NotFoundError
from avesa.domain.url_credentials import restore_passwords
from avesa.lake.paths import LakeLayout
from avesa.observability import events
from avesa.pipeline.wiring import (
    SqliteState,
    build_secret_store,
    build_state_store,
    parse_state_url,
    shares_rate_budgets,
)
from avesa.secrets.base import SecretStore
from avesa.settings import Settings
from avesa.state.base import StateStore


def registered_tenants(settings: Settings) -> list[str]:
    """The tenant ids in `settings`' state, creating nothing: none when it has no state yet (what a
    command checks before it makes a home its own, as `avesa demo` does)."""
    where = parse_state_url(settings.state_url, settings.home)
    if isinstance(where, SqliteState) and not where.path.exists():
        return []
    store = build_state_store(settings)
    try:
        return [tenant.tenant_id for tenant in store.list_tenants()]
    finally:
        store.close()


@dataclass
class PipelineContext:
    settings: Settings
    state: StateStore
    secrets: SecretStore
    catalog: Catalog
    lake: LakeLayout
    budgets: RateBudgets = field(default_factory=RateBudgets)
    http: HttpOptions = field(default_factory=HttpOptions)
    shared_budgets: bool = False
    """Rate budgets held in the state store, shared by every process (AVESA_SHARED_RATE_BUDGETS)."""
    owner: str = field(default_factory=lambda: f"{socket.gethostname()}:{os.getpid()}")
    _connectors: dict[tuple[str, str], SourceConnector] = field(default_factory=dict)

    @classmethod
    def from_settings(cls, settings: Settings) -> PipelineContext:
        settings.home.mkdir(parents=True, exist_ok=True)
        events.configure(settings.home)
        secrets = build_secret_store(settings)  # AVESA_SECRETS_URL: the encrypted file, or Secrets Manager
        return cls(
            settings=settings,
            state=build_state_store(settings),  # AVESA_STATE_URL: SQLite by default, or DynamoDB
            secrets=secrets,
            catalog=load_catalog(settings.catalog_path),
            lake=LakeLayout(settings.lake_root),
            shared_budgets=shares_rate_budgets(settings),
            http=HttpOptions(
                timeout_seconds=settings.http_timeout_seconds,
                max_attempts=settings.max_attempts,
                rate_limit_max_wait_seconds=settings.rate_limit_max_wait_seconds,
                in_flight=asyncio.Semaphore(settings.max_requests_in_flight),
            ),
        )

    def connector(self, tenant_id: str, service: str) -> SourceConnector:
        """One connector (one HTTP connection pool, one rate budget) per tenant's service."""
        key = (tenant_id, service)
        if key not in self._connectors:
            config = self.state.get_service(tenant_id, service)
            if config is None:
                known = [s.service for s in self.state.list_services(tenant_id)]
                raise NotFoundError("service", service, known, f"for tenant {tenant_id}")
            spec = self.catalog.service(service)
            rate = spec.rate_limit
            rpm = (config.rate_limit and config.rate_limit.requests_per_minute) or rate.requests_per_minute
            burst = (config.rate_limit and config.rate_limit.burst) or rate.burst
            credentials = restore_passwords({**config.settings, **self.secrets.get(config.secret_ref)})
            budget = self.budgets.get(tenant_id, service, rpm, burst)
            if self.shared_budgets:  # slots and pauses from the state store, for every process
                budget = cast(RateBudget, SharedRateBudget(budget, self.state, tenant_id, service))
            self._connectors[key] = build_connector(
                spec, credentials, tenant_id=tenant_id,
                budget=budget,
                options=self.http, page_size=self.settings.page_size,
            )
        return self._connectors[key]

    async def aclose(self) -> None:
        for connector in self._connectors.values():
            await connector.aclose()
        self._connectors.clear()

"""The state machines a deployment runs (the ASL files, with the real Lambda handlers) executed in
moto's Step Functions against DynamoDB, S3 and Secrets Manager over HTTP and the sandbox APIs: they
build the lake the embedded executor builds from the same source data, and survive what a
serverless run meets — transient faults, a table that cannot run, a chunk out of time, a second
execution, an execution stopped half-way."""

from __future__ import annotations

import json

import pytest

from avesa.domain.work import RunRequest
from avesa.lake.delta_tables import read_canonical
from avesa.pipeline.registration import register_service
from avesa.runtime.local import run_sync
from avesa_sandbox import SandboxAdmin
from tests.connectors.test_servicenow import sn_credentials
from tests.pipeline.helpers import CONNECTWISE_SYNCED, let_source_clock_pass
from tests.runtime.aws.sfn_support import Deployment
from tests.runtime.test_proof_executor import LOAD_COLUMNS, TUNING, Backends, _without_load

CANONICAL = ("companies", "contacts", "tickets", "time_entries")


TABLES = {"connectwise": ["service_tickets", "time_entries"], "servicenow": ["incident"]}
"""Two ConnectWise tables and one ServiceNow table a tenant: each Lambda call builds its context
afresh over HTTP, so every table costs seconds here."""


def _register(where: Backends, sandbox_admin: SandboxAdmin, tenants: dict[str, str]) -> None:
    ctx = where.context(**TUNING)
    for tenant, service in tenants.items():
        credentials = (sn_credentials(sandbox_admin, tenant) if service == "servicenow"
                       else sandbox_admin.connection(tenant))
        register_service(ctx, tenant_id=tenant, company_name=tenant.title(), service=service, credentials=credentials,
                         tables=TABLES[service])
    ctx.state.close()


def _history(where: Backends, tenant: str, table: str) -> list[str] | None:
    """Every row of a canonical table but for the load columns; None when the table is not there."""
    ctx = where.context()
    found = read_canonical(ctx.lake.canonical_uri(tenant, table))
    if found is None:
        return None
    rows = found.drop_columns(list(LOAD_COLUMNS)).to_pylist()
    for row in rows:
        row["absorbed_versions"] = _without_load(row["absorbed_versions"])
    return sorted(json.dumps(row, default=str, sort_keys=True) for row in rows)


@pytest.mark.slow
def test_state_machines_build_the_lake_the_embedded_executor_builds(
        deployment: Deployment, aws_backends: tuple[Backends, Backends], sandbox_admin: SandboxAdmin,
        new_instance) -> None:
    local, sfn = aws_backends
    tenants = {new_instance("sfa", counts={"service/tickets": 120}): "connectwise",
               new_instance("sfsn", service="servicenow"): "servicenow"}
    for where in aws_backends:
        _register(where, sandbox_admin, tenants)

    for round_ in range(2):  # a first sync, then an incremental one over updates, inserts and deletes
        if round_:
            for tenant, service in tenants.items():
                if service == "connectwise":
                    sandbox_admin.mutate(tenant, updates=20, inserts=6, deletes=3, seed=5,
                                         tables=CONNECTWISE_SYNCED[:2])
            let_source_clock_pass(sandbox_admin, list(tenants))
        here = run_sync(local.context(**TUNING), RunRequest())
        end = deployment.run({}, timeout=150)
        assert here.status == end["status"] == "complete", end
        assert end["records"] == here.records and end["tables"] == len(here.results)

    assert len(deployment.executions("TenantProcessor")) == 2 * len(tenants)
    chunk_calls = deployment.invocations.of("chunk_processor")
    assert len({c["chunk_id"] for c in chunk_calls}) > len(deployment.executions("TableProcessor"))  # tables split
    compared = 0
    for tenant in tenants:
        for table in CANONICAL:
            theirs = _history(sfn, tenant, table)
            assert theirs == _history(local, tenant, table), (tenant, table)
            compared += theirs is not None
    assert compared == 3  # tickets and time entries of ConnectWise, tickets of ServiceNow

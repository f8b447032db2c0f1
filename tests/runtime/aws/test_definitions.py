"""The state machine files, their placeholders, execution names and payload sizes."""

from __future__ import annotations

import json
import re

import pytest

from avesa.runtime.aws import definitions
from avesa.runtime.aws.names import MAX_NAME, table_execution_name, tenant_name_prefix

ARNS = {**{p: f"arn:aws:lambda:us-east-1:123456789012:function:{p}"
           for p in definitions.FUNCTION_PLACEHOLDERS.values()},
        **{p: f"arn:aws:states:us-east-1:123456789012:stateMachine:{p}"
           for p in definitions.STATE_MACHINE_PLACEHOLDERS.values()}}


@pytest.mark.parametrize("name", list(definitions.STATE_MACHINES))
def test_every_definition_is_json_with_only_the_contract_placeholders(name: str) -> None:
    text = definitions.definition(name)
    json.loads(text)
    used = set(re.findall(r"\$\{([A-Za-z]+)\}", text))
    assert used and used <= set(ARNS)
    rendered = json.loads(definitions.render(name, ARNS))
    assert "${" not in json.dumps(rendered)


def test_substitutions_need_every_arn() -> None:
    functions = {role: f"arn:{role}" for role in definitions.FUNCTIONS}
    machines = {name: f"arn:{name}" for name in definitions.STATE_MACHINE_PLACEHOLDERS}
    assert set(definitions.substitutions(functions, machines)) == set(ARNS)
    with pytest.raises(KeyError, match="chunk_processor"):
        definitions.substitutions({k: v for k, v in functions.items() if k != "chunk_processor"}, machines)


def test_pipeline_input_refuses_what_the_orchestrator_cannot_run() -> None:
    assert definitions.PipelineInput().plan_request().sync is not None
    assert definitions.PipelineInput(mode="full").plan_request().sync.full
    with pytest.raises(ValueError, match="tenant and service"):
        definitions.PipelineInput(mode="backfill")
    with pytest.raises(ValueError, match="backfill only"):
        definitions.PipelineInput(since="2025-01-01T00:00:00Z")
    with pytest.raises(ValueError):
        definitions.PipelineInput(mode="sometimes")


def test_execution_names_are_deterministic_short_and_unique_per_run_and_execution() -> None:
    tenant = "t" * 63
    prefix = tenant_name_prefix("run-20261203T061140Z-abc123", "exec-1")
    assert prefix == tenant_name_prefix("run-20261203T061140Z-abc123", "exec-1")
    assert prefix != tenant_name_prefix("run-20261203T061140Z-abc123", "exec-2")
    tenant_execution = f"{prefix}-{tenant}"
    assert len(tenant_execution) <= MAX_NAME
    table = table_execution_name(tenant_execution, "connectwise", "service_tickets_with_a_long_name" * 3)
    assert len(f"{table}-999") <= MAX_NAME and re.fullmatch(r"[A-Za-z0-9_-]+", table)
    assert table != table_execution_name(tenant_execution, "connectwise", "companies")


def test_a_plan_of_500_tenants_and_15_tables_keeps_every_payload_far_under_256_kib() -> None:
    """The largest payloads a run hands between states: the orchestrator's tenant list, one
    tenant's tables (TableRefs with their execution names) and a round of chunk ids."""
    tenants = [f"tenant-{i:04d}-{'x' * 40}" for i in range(500)]
    plan = {"run": {"run_id": "run-20261203T061140Z-abc123", "owner": "arn:aws:states:us-east-1:123456789012:"
                    "execution:avesa-pipeline-orchestrator:avesa-incremental-20261203T061140Z-abcd"},
            "tenants": tenants, "name_prefix": "0123456789ab", "max_concurrency": 10, "resumed": False,
            "hand_back_to": None, "skipped": ["x" * 200] * 20, "held_by": {}}
    table = {"run_id": plan["run"]["run_id"], "tenant_id": tenants[0], "service": "connectwise",
             "table": "service_tickets", "mode": "incremental", "run_started_at": "2026-12-03T06:11:40Z",
             "backfill": None}
    tables = {"tables": [{"table": table, "name": "n" * 76}] * 15, "max_concurrency": 4}
    chunks = {"chunks": ["service_tickets-0000-0123456789.12345"] * 100}
    for payload in (plan, tables, chunks):
        assert len(json.dumps(payload).encode()) < 64 * 1024

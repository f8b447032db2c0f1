"""What a deployment needs to know about the AWS executor, in one place: the functions and their
handlers, the state machine files and their placeholders, the environment every function reads,
the input the pipeline state machine accepts, and the metrics the handlers emit.

The CDK app (infrastructure/) reads this module; the tests that execute the state machines in moto
read the same files through `definition()` and `substitutions()`, so what is tested is what is
deployed."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from importlib import resources
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from avesa.domain.work import BackfillRequest, PlanRunRequest, RunRequest

FUNCTIONS: dict[str, str] = {
    "orchestrator": "avesa.runtime.aws.handlers.orchestrator",
    "tenant_processor": "avesa.runtime.aws.handlers.tenant_processor",
    "table_processor": "avesa.runtime.aws.handlers.table_processor",
    "chunk_processor": "avesa.runtime.aws.handlers.chunk_processor",
    "finalize_table": "avesa.runtime.aws.handlers.finalize_table",
    "finish_run": "avesa.runtime.aws.handlers.finish_run",
}
"""Function role → the handler the container image runs for it (its CMD)."""

STATE_MACHINES: dict[str, str] = {
    "PipelineOrchestrator": "pipeline_orchestrator.asl.json",
    "TenantProcessor": "tenant_processor.asl.json",
    "TableProcessor": "table_processor.asl.json",
}
"""State machine logical name → its Amazon States Language file in `statemachines/`."""

FUNCTION_PLACEHOLDERS: dict[str, str] = {
    "orchestrator": "OrchestratorFunctionArn",
    "tenant_processor": "TenantProcessorFunctionArn",
    "table_processor": "TableProcessorFunctionArn",
    "chunk_processor": "ChunkProcessorFunctionArn",
    "finalize_table": "FinalizeTableFunctionArn",
    "finish_run": "FinishRunFunctionArn",
}
STATE_MACHINE_PLACEHOLDERS: dict[str, str] = {
    "TenantProcessor": "TenantProcessorStateMachineArn",
    "TableProcessor": "TableProcessorStateMachineArn",
}
"""The `${...}` names inside the ASL files (only inside JSON strings, so each file is valid JSON)."""

CALLS: dict[str, tuple[str, ...]] = {
    "PipelineOrchestrator": ("orchestrator", "tenant_processor", "finish_run", "TenantProcessor"),
    "TenantProcessor": ("tenant_processor", "finalize_table", "TableProcessor"),
    "TableProcessor": ("table_processor", "chunk_processor", "finalize_table"),
}
"""What each state machine invokes (functions by role, state machines by name): its role's grants.
A state machine that starts another with `.sync:2` also needs states:DescribeExecution and
states:StopExecution on that one's executions and the events:PutTargets/PutRule/DescribeRule
permissions on `StepFunctionsGetEventsForStepFunctionsExecutionRule`."""

ORCHESTRATOR_DESCRIBES_EXECUTIONS = True
"""The orchestrator function calls states:DescribeExecution on PipelineOrchestrator executions: a
run whose owning execution has ended (stopped, failed, timed out) is finished by the next execution
at once, without waiting for its leases to expire."""

FUNCTION_ENVIRONMENT_KEYS: dict[str, str | None] = {
    "AVESA_ENV": None,  # dev | staging | prod
    "AVESA_STATE_URL": None,  # dynamodb://{state_prefix(env)}?region=REGION  (table {prefix}-state)
    "AVESA_SECRETS_URL": None,  # secretsmanager://avesa/{env}?region=REGION
    "AVESA_LAKE_URL": None,  # s3://{bucket}/lake
    "AVESA_HOME": "/tmp/avesa",  # logs and scratch: /tmp is a Lambda's only writable place
    "AVESA_LOG_LEVEL": "INFO",
    "AVESA_CHUNK_TIME_MARGIN_SECONDS": "60",
    "AVESA_HTTP_TIMEOUT_SECONDS": "30",  # below the chunk margin: a last page never outlives its Lambda
    "AVESA_MAX_CHUNKS_PER_TABLE": "4",
    "AVESA_MAX_TABLES_PER_TENANT": "4",
    "AVESA_SFN_MAX_TENANTS": "10",
    "AVESA_SFN_CHUNKS_PER_ROUND": "100",
    "AVESA_SFN_HISTORY_BUDGET": "20000",
    "AVESA_SFN_MAX_RESUMES": "5",
    "AWS_EMF_ENVIRONMENT": "Lambda",
}
"""Every environment variable the functions read → its default (None: the deployment sets it)."""

METRICS: dict[str, str] = {
    "RunsStarted": "Count",
    "RunsCompleted": "Count",
    "RunsFailed": "Count",
    "RunDurationSeconds": "Seconds",
    "TablesCompleted": "Count",
    "TablesFailed": "Count",
    "TableDurationSeconds": "Seconds",
    "ChunkErrors": "Count",
    "ChunkDurationSeconds": "Seconds",
    "RecordsExtracted": "Count",
    "Pages": "Count",
    "ApiCalls": "Count",
    "Retries": "Count",
    "RateLimited": "Count",
    "VersionsCreated": "Count",
    "Deletes": "Count",
    "LagSeconds": "Seconds",
    "RecordsPerSecond": "Count/Second",
}
"""The EMF metrics the handlers emit (namespace METRIC_NAMESPACE) → their CloudWatch unit.

Dimensions: `Environment` on every metric, and `Environment, Service` on the table and chunk ones
(ChunkErrors, ChunkDurationSeconds, RecordsExtracted, Pages, ApiCalls, Retries, RateLimited,
TablesCompleted, TablesFailed, TableDurationSeconds, VersionsCreated, Deletes, LagSeconds,
RecordsPerSecond) — which are emitted under both dimension sets, so an alarm can watch the
environment as a whole. Tenant, table, run and chunk ids are properties, never dimensions."""

METRIC_NAMESPACE = "AVESA"
SERVICE_METRICS = frozenset(METRICS) - {"RunsStarted", "RunsCompleted", "RunsFailed", "RunDurationSeconds"}


class PipelineInput(BaseModel):
    """What a PipelineOrchestrator execution accepts (an EventBridge rule's input, or `avesa aws
    run/backfill`): an incremental or full sync of every tenant, one tenant, one service; or a
    backfill of one tenant's service."""

    model_config = ConfigDict(extra="forbid")

    mode: Literal["incremental", "full", "backfill"] = "incremental"
    tenant: str | None = None
    service: str | None = None
    table: str | None = None
    since: datetime | None = None
    """Backfill only: the start of the range (default: the service spec's look-back)."""
    until: datetime | None = None
    """Backfill only: the end of the range (default: now)."""
    window_days: int | None = Field(default=None, ge=1)
    """Backfill only: the window size (default: the service spec's)."""
    max_tenants_in_parallel: int | None = Field(default=None, ge=1, le=40)
    """The tenant Map's concurrency for this execution (default AVESA_SFN_MAX_TENANTS)."""

    @model_validator(mode="after")
    def _backfill_fields(self) -> PipelineInput:
        if self.mode == "backfill":
            if self.tenant is None or self.service is None:
                raise ValueError("a backfill needs tenant and service")
        elif any(v is not None for v in (self.since, self.until, self.window_days)):
            raise ValueError("since, until and window_days are for mode backfill only")
        return self

    def plan_request(self) -> PlanRunRequest:
        """The plan-run unit's payload for this input."""
        if self.mode == "backfill":
            assert self.tenant is not None and self.service is not None
            return PlanRunRequest(backfill=BackfillRequest(
                tenant_id=self.tenant, service=self.service, table=self.table, since=self.since,
                until=self.until, window_days=self.window_days))
        return PlanRunRequest(sync=RunRequest(tenant_id=self.tenant, service=self.service, table=self.table,
                                              full=self.mode == "full"))


def definition(name: str) -> str:
    """The ASL text of state machine `name` (a key of STATE_MACHINES), placeholders unfilled."""
    try:
        file = STATE_MACHINES[name]
    except KeyError:
        raise KeyError(f"no state machine {name!r}; they are {', '.join(STATE_MACHINES)}") from None
    return resources.files("avesa.runtime.aws.statemachines").joinpath(file).read_text("utf-8")


def substitutions(function_arns: Mapping[str, str], state_machine_arns: Mapping[str, str]) -> dict[str, str]:
    """The placeholder → ARN dict for CDK's `definition_substitutions` (and the tests), from the
    functions' ARNs by role and the state machines' by logical name. Every placeholder must be
    given: a missing one is a KeyError naming it."""
    result: dict[str, str] = {}
    for role, placeholder in FUNCTION_PLACEHOLDERS.items():
        if role not in function_arns:
            raise KeyError(f"no ARN for function {role!r} (placeholder ${{{placeholder}}})")
        result[placeholder] = function_arns[role]
    for name, placeholder in STATE_MACHINE_PLACEHOLDERS.items():
        if name not in state_machine_arns:
            raise KeyError(f"no ARN for state machine {name!r} (placeholder ${{{placeholder}}})")
        result[placeholder] = state_machine_arns[name]
    return result


def render(name: str, values: Mapping[str, str]) -> str:
    """`definition(name)` with its placeholders filled from `values` (what CloudFormation does with
    DefinitionSubstitutions); a placeholder left unfilled is a KeyError."""
    text = definition(name)
    for placeholder, value in values.items():
        text = text.replace("${" + placeholder + "}", value)
    if "${" in text:
        start = text.index("${")
        raise KeyError(f"{name}: placeholder {text[start:text.index('}', start) + 1]} has no value")
    return text

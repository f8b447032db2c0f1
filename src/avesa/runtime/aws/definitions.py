"""PROVISIONAL (branch i12-cdk, coded against docs of the i12-sfn contract; replaced by i12-sfn's
file on merge): what the CDK app reads about the functions and state machines."""

from __future__ import annotations

from collections.abc import Mapping
from importlib import resources
from typing import Literal

from pydantic import BaseModel, ConfigDict

FUNCTIONS: dict[str, str] = {
    "orchestrator": "avesa.runtime.aws.handlers.orchestrator",
    "tenant_processor": "avesa.runtime.aws.handlers.tenant_processor",
    "table_processor": "avesa.runtime.aws.handlers.table_processor",
    "chunk_processor": "avesa.runtime.aws.handlers.chunk_processor",
    "finalize_table": "avesa.runtime.aws.handlers.finalize_table",
    "finish_run": "avesa.runtime.aws.handlers.finish_run",
}
STATE_MACHINES: dict[str, str] = {
    "PipelineOrchestrator": "pipeline_orchestrator.asl.json",
    "TenantProcessor": "tenant_processor.asl.json",
    "TableProcessor": "table_processor.asl.json",
}
FUNCTION_ENVIRONMENT_KEYS: dict[str, str | None] = {
    "AVESA_ENV": None,
    "AVESA_STATE_URL": None,
    "AVESA_SECRETS_URL": None,
    "AVESA_LAKE_URL": None,
    "AVESA_CHUNK_TIME_MARGIN_SECONDS": "60",
}
METRICS: dict[str, str] = {
    "RunsStarted": "Count", "RunsCompleted": "Count", "RunsFailed": "Count", "RunDurationSeconds": "Seconds",
    "TablesFailed": "Count", "ChunkErrors": "Count", "RecordsExtracted": "Count", "VersionsCreated": "Count",
    "Deletes": "Count", "ApiCalls": "Count", "Retries": "Count", "RateLimited": "Count",
    "ChunkDurationSeconds": "Seconds", "LagSeconds": "Seconds", "RecordsPerSecond": "Count/Second",
    "TenantTables": "Count",
}
_PLACEHOLDER = {
    "orchestrator": "OrchestratorFunctionArn", "tenant_processor": "TenantProcessorFunctionArn",
    "table_processor": "TableProcessorFunctionArn", "chunk_processor": "ChunkProcessorFunctionArn",
    "finalize_table": "FinalizeTableFunctionArn", "finish_run": "FinishRunFunctionArn",
    "TenantProcessor": "TenantProcessorStateMachineArn", "TableProcessor": "TableProcessorStateMachineArn",
}


class PipelineInput(BaseModel):
    model_config = ConfigDict(extra="forbid")
    mode: Literal["incremental", "full"] = "incremental"
    tenant: str | None = None
    service: str | None = None
    since: str | None = None


def definition(name: str) -> str:
    return resources.files("avesa.runtime.aws.statemachines").joinpath(STATE_MACHINES[name]).read_text("utf-8")


def substitutions(function_arns: Mapping[str, str], state_machine_arns: Mapping[str, str]) -> dict[str, str]:
    found = {**function_arns, **state_machine_arns}
    return {_PLACEHOLDER[key]: value for key, value in found.items() if key in _PLACEHOLDER}

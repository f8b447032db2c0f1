"""What the handlers leave behind besides data: EMF metric lines CloudWatch turns into the metrics
the dashboards and alarms use (definitions.METRICS), and payloads that stay far under Step
Functions' 256 KiB however large a run is."""

from __future__ import annotations

import json
import threading

import pytest

from avesa.observability import events
from avesa.runtime.aws import emf, names
from avesa.runtime.aws.definitions import FUNCTIONS, METRICS, STATE_MACHINES, PipelineInput, definition
from avesa.runtime.aws.tuning import AwsTuning

PAYLOAD_LIMIT = 256 * 1024


def _lines(captured: str) -> list[dict]:
    return [json.loads(line) for line in captured.splitlines() if line.startswith("{") and '"_aws"' in line]


def test_engine_events_become_emf_lines_with_low_cardinality_dimensions(
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_EMF_ENVIRONMENT", "Local")
    with emf.collecting() as collected:
        events.emit("run_started", run_id="run-1", mode="incremental")
        events.emit("chunk_attempt", run_id="run-1", tenant_id="acme", service="connectwise", table="tickets",
                    records=40, pages=2, requests=3, retries=1, rate_limited=0, finished=True, chunk_seconds=1.5)
        events.emit("chunk_failed", run_id="run-1", tenant_id="acme", service="connectwise", table="contacts")
        events.emit("table_finished", run_id="run-1", tenant_id="acme", service="connectwise", table="tickets",
                    status="complete", seconds=4.0, records=40, versions_created=38, deletes=2)
        outside: list[emf.Collected] = []
        thread = threading.Thread(target=lambda: outside.append(emf.Collected()))  # another invocation's context
        thread.start()
        thread.join()
    assert emf.flush_sync(collected, "staging", "chunk_processor") == 3
    lines = _lines(capsys.readouterr().out)
    assert len(lines) == 3
    by_metric = {m["Name"]: (line, m) for line in lines
                 for d in line["_aws"]["CloudWatchMetrics"] for m in d["Metrics"]}
    for name, (line, metric) in by_metric.items():
        assert metric["Unit"] == METRICS[name]
        dims = line["_aws"]["CloudWatchMetrics"][0]["Dimensions"]
        assert line["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "AVESA"
        assert ["Environment"] in dims and all(set(d) <= {"Environment", "Service"} for d in dims)
        assert line["Environment"] == "staging" and line["Function"] == "chunk_processor"
    assert by_metric["RunsStarted"][0]["RunsStarted"] == 1 and "Service" not in by_metric["RunsStarted"][0]
    ticket = by_metric["VersionsCreated"][0]
    assert ticket["Service"] == "connectwise" and ticket["TenantId"] == "acme" and ticket["RunId"] == "run-1"
    assert ["Environment", "Service"] in ticket["_aws"]["CloudWatchMetrics"][0]["Dimensions"]
    assert ticket["VersionsCreated"] == 38 and ticket["Deletes"] == 2 and ticket["RecordsPerSecond"] == 10
    assert ticket["RecordsExtracted"] == 40 and ticket["ApiCalls"] == 3 and ticket["Retries"] == 1
    assert by_metric["ChunkErrors"][0]["Table"] == "contacts"


def test_an_event_outside_an_invocation_is_no_metric(capsys: pytest.CaptureFixture[str]) -> None:
    events.emit("run_started", run_id="run-x", mode="full")
    with emf.collecting() as collected:
        pass
    assert emf.flush_sync(collected, "dev", "orchestrator") == 0
    assert _lines(capsys.readouterr().out) == []


def test_a_metric_not_in_the_contract_is_refused() -> None:
    with pytest.raises(KeyError, match=r"not in definitions\.METRICS"):
        emf.Collected().put("Made-Up", 1)


def test_the_largest_planned_payloads_stay_far_under_the_step_functions_limit() -> None:
    """500 tenants of 15 tables: the orchestrator hands out tenant ids (63 characters, the longest
    allowed), a tenant its 15 tables, a table one round of chunk ids — never the whole plan."""
    tuning = AwsTuning()
    tenants = [f"tenant-{i:03d}-" + "x" * 52 for i in range(500)]
    run = {"run_id": "run-20261203T070000Z-abcdef", "owner": "arn:aws:states:eu-west-1:123456789012:execution:"
           "avesa-prod-PipelineOrchestrator:" + "n" * 80, "kind": "sync"}
    plan = {"run": run, "tenants": tenants, "name_prefix": names.tenant_name_prefix(run["run_id"], "n" * 80),
            "max_concurrency": tuning.sfn_max_tenants, "resumed": False, "hand_back_to": None,
            "skipped": ["x" * 200] * 20, "held_by": {}}
    assert len(json.dumps(plan)) < PAYLOAD_LIMIT / 4
    tenant_execution = f"{plan['name_prefix']}-{tenants[0]}"
    assert len(tenant_execution) <= names.MAX_NAME
    table = {"run_id": run["run_id"], "tenant_id": tenants[0], "service": "connectwise", "table": "x" * 40,
             "mode": "incremental", "run_started_at": "2026-12-03T07:00:00Z"}
    tables = {"tables": [{"table": table,
                          "name": names.table_execution_name(tenant_execution, "connectwise", f"t{i}" * 20)}
                         for i in range(15)], "max_concurrency": 4}
    assert len(json.dumps(tables)) < 16 * 1024
    for item in tables["tables"]:
        assert len(f"{item['name']}-999") <= names.MAX_NAME
    chunk_ids = [f"{run['run_id']}:{tenants[0]}:connectwise:{'x' * 40}:{i:06d}"
                 for i in range(tuning.sfn_chunks_per_round)]
    round_ = {"table": table, "run": run, "chunks": chunk_ids, "events": 19_000, "continuation": 3, "next": "chunks"}
    assert len(json.dumps(round_)) < PAYLOAD_LIMIT / 8
    per_item = {"chunk_id": chunk_ids[0], "table": table, "run": run, "attempts": 9, "stalls": 0, "landed": 40,
                "finished": False, "wait_seconds": 0, "status": "incomplete", "split_off": 2}
    # the chunk Map's result: one small object per item ({"a": attempts}), not the items' states
    assert len(json.dumps([{"a": 9}] * tuning.sfn_chunks_per_round)) + len(json.dumps(per_item)) < 8 * 1024


def test_every_state_machine_names_only_contract_placeholders_and_the_input_is_validated() -> None:
    allowed = {"OrchestratorFunctionArn", "TenantProcessorFunctionArn", "TableProcessorFunctionArn",
               "ChunkProcessorFunctionArn", "FinalizeTableFunctionArn", "FinishRunFunctionArn",
               "TenantProcessorStateMachineArn", "TableProcessorStateMachineArn"}
    import re

    for name in STATE_MACHINES:
        text = definition(name)
        json.loads(text)
        assert set(re.findall(r"\$\{(\w+)\}", text)) <= allowed
    assert set(FUNCTIONS) == {"orchestrator", "tenant_processor", "table_processor", "chunk_processor",
                              "finalize_table", "finish_run"}
    assert PipelineInput.model_validate({"mode": "full", "tenant": "acme"}).plan_request().sync.full
    with pytest.raises(ValueError, match="backfill needs tenant and service"):
        PipelineInput.model_validate({"mode": "backfill"})
    with pytest.raises(ValueError):
        PipelineInput.model_validate({"mode": "incremental", "tenantt": "x"})

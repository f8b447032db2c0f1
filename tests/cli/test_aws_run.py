"""`avesa aws run`, `avesa aws backfill` and `avesa aws follow` against a "deployed" dev
environment: the real state machines under their deployed names (`avesa-pipeline-orchestrator-dev`…)
in moto's Step Functions over HTTP, the real Lambda handlers, and the dev ledger (`avesa-dev-state`)
in moto's DynamoDB. What the commands print is checked against what the ledger holds.

One deployment and one small tenant serve the module (each execution costs seconds); the
refusals need no deployment at all."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from avesa.cli import aws_run_commands
from avesa.cli.app import app
from avesa.domain.work import BackfillRequest, PlanRunRequest, RunRequest
from avesa.pipeline.cancel import cancel_run
from avesa.pipeline.registration import register_service
from avesa.pipeline.units import plan_work
from avesa.runtime.aws.names import state_machine_name
from avesa.state.base import StateStore
from avesa_sandbox import SandboxAdmin
from tests.aws_support import aws_client, aws_environment, isolate_aws_environment, unique_prefix
from tests.runtime.aws.sfn_support import Deployment, deploy
from tests.runtime.test_proof_executor import Backends

runner = CliRunner()
TABLE = "service_tickets"
HISTORY = {"orchestrator": 22, "per_tenant": 10, "tenant": 13, "per_table": 12, "table_of_one_chunk": 38}
"""History events measured here (moto's interpreter records the events AWS does): an orchestrator
execution's own, and each tenant's Map iteration; a tenant execution's own, and each table's; a
table execution that plans, runs one chunk in one attempt, and finalizes."""


@dataclass
class Dev:
    deployment: Deployment
    backends: Backends
    tenant: str
    bad_tenant: str

    def ledger(self) -> StateStore:
        return self.backends.context().state


@pytest.fixture(scope="module")
def dev(moto_endpoint: str, sandbox_admin: SandboxAdmin, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dev]:
    """The dev environment deployed on moto: its state machines by the naming rule, its functions'
    environment on the dev state table, one tenant of one table — and one whose password is wrong."""
    tmp = tmp_path_factory.mktemp("aws-run")
    tenant, bad = unique_prefix("awsrun"), unique_prefix("awsbad")
    with pytest.MonkeyPatch.context() as patch:
        isolate_aws_environment(patch, tmp)
        aws = aws_environment(moto_endpoint)
        for name, value in aws.items():
            patch.setenv(name, value)
        bucket = unique_prefix("awsrun-lake")
        aws_client("s3", moto_endpoint).create_bucket(Bucket=bucket)
        urls = {"state_url": "dynamodb://avesa-dev?create=true", "secrets_url": f"secretsmanager://{bucket}",
                "lake_url": f"s3://{bucket}/lake"}
        backends = Backends(tmp / "functions", urls, aws)
        for name, value in backends.environment().items():
            patch.setenv(name, value)
        patch.setenv("AWS_EMF_ENVIRONMENT", "Local")
        patch.setenv("AVESA_CHUNK_TIME_MARGIN_SECONDS", "5")
        patch.setenv("AVESA_TARGET_CHUNK_RECORDS", "1000")  # one chunk a table: each Lambda call costs time
        patch.setenv("AVESA_PAGE_SIZE", "100")
        patch.setenv("AVESA_PROGRESS_INTERVAL_SECONDS", "3600")
        sandbox_admin.create_instance(tenant, scale="tiny", seed=3, counts={"service/tickets": 30},
                                      knobs={"rate_limit_per_minute": None})
        sandbox_admin.create_instance(bad, scale="tiny", seed=4, knobs={"rate_limit_per_minute": None})
        ctx = backends.context()
        register_service(ctx, tenant_id=tenant, company_name="Run", service="connectwise",
                         credentials=sandbox_admin.connection(tenant), tables=[TABLE])
        wrong = {**sandbox_admin.connection(bad), "private_key": "wrong"}
        register_service(ctx, tenant_id=bad, company_name="Bad", service="connectwise", credentials=wrong,
                         tables=[TABLE])
        ctx.state.close()
        try:
            with deploy(moto_endpoint, patch, machine_name=lambda name: state_machine_name(name, "dev")) as deployed:
                yield Dev(deployed, backends, tenant, bad)
        finally:
            sandbox_admin.delete_instance(tenant)
            sandbox_admin.delete_instance(bad)


def aws(*args: str):
    return runner.invoke(app, ["aws", *args, "--environment", "dev", "--poll-seconds", "0.25"])


def execution_of(output: str) -> str:
    return re.search(r"execution (cli-\S+) of avesa-pipeline-orchestrator-dev", output).group(1)


def summary_rows(output: str) -> dict[tuple[str, str, str], list[str]]:
    """The summary table's rows: (tenant, service, table) → the other cells."""
    rows = {}
    for line in output.splitlines():
        cells = [c.strip() for c in line.strip("│┃|").split("│")]
        if len(cells) == 10 and cells[1] == "connectwise":
            rows[(cells[0], cells[1], cells[2])] = cells[3:]
    return rows


def owned_run_arn(dev: Dev, execution: str) -> str:
    return f"{dev.deployment.state_machines['PipelineOrchestrator'].replace(':stateMachine:', ':execution:')}:" \
           f"{execution}"


def owned_run(dev: Dev, execution: str):
    arn = owned_run_arn(dev, execution)
    runs = [r for r in dev.ledger().list_runs(limit=50) if r.owner == arn]
    assert len(runs) == 1, runs
    return runs[0], arn


@pytest.mark.slow
def test_aws_run_follows_the_execution_to_the_ledgers_summary_ctrl_c_stops_only_the_following(
        dev: Dev, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every tenant: one syncs, the other's credentials are refused — its table fails, the
    run goes on, and the command exits 1. Started with --no-wait, followed, Ctrl-C'd, followed again."""
    started = aws("run", "--no-wait")
    assert started.exit_code == 0, started.output
    execution = execution_of(started.output)
    assert "started an incremental run of every tenant in dev" in started.output
    assert execution.startswith("cli-") and "-incremental-all-" in execution
    assert f"follow it with `avesa aws follow {execution} --environment dev --region us-east-1`" in started.output

    class Interrupting:
        def __getattr__(self, name: str):
            return getattr(time, name)

        @staticmethod
        def sleep(seconds: float) -> None:
            raise KeyboardInterrupt

    monkeypatch.setattr(aws_run_commands, "time", Interrupting())
    stopped = aws("follow", execution)
    assert stopped.exit_code == 130, stopped.output
    assert f"stopped following (Ctrl-C); execution {execution} goes on in Step Functions" in stopped.output
    assert f"avesa aws follow {execution} --environment dev --region us-east-1" in stopped.output
    monkeypatch.undo()

    result = aws("follow", execution)
    assert result.exit_code == 1, result.output
    assert re.search(r"sync run run-\S+: \d/2 tables done", result.output)  # progress from the ledger
    run, arn = owned_run(dev, execution)
    described = dev.deployment.sfn.describe_execution(executionArn=arn)
    assert described["status"] == "SUCCEEDED" and json.loads(described["input"]) == {"mode": "incremental"}
    assert run.status == "failed" and json.loads(described["output"])["run_id"] == run.run_id
    ledger = {t.tenant_id: t for t in dev.ledger().list_table_runs(run_id=run.run_id)}
    good, bad = ledger[dev.tenant], ledger[dev.bad_tenant]
    assert (good.status, good.records, bad.status, bad.records) == ("complete", 30, "failed", 0)
    rows = summary_rows(result.output)
    assert set(rows) == {(t, "connectwise", TABLE) for t in ledger}
    row = rows[(dev.tenant, "connectwise", TABLE)]
    assert row[:4] == ["incremental", f"{good.records:,}", f"{good.versions_created:,}", f"{good.deletes:,}"]
    assert row[-1] == "ok" and rows[(dev.bad_tenant, "connectwise", TABLE)][-1].startswith("failed")
    assert "HTTP 401" in result.output  # the failed table's error, folded in its cell
    assert f"run {run.run_id}" in result.output and "1 table(s) failed" in result.output
    assert f"{good.records + bad.records} records in 2 tables" in result.output
    assert f"execution {execution} in dev" in result.output

    # the history sizes docs/aws.md ("Execution") scales to 500 tenants × 15 tables
    def events(execution_arn: str) -> int:
        return len(dev.deployment.sfn.get_execution_history(executionArn=execution_arn, maxResults=1000)["events"])

    assert events(arn) <= HISTORY["orchestrator"] + HISTORY["per_tenant"] * 2
    children = {name: [e["executionArn"] for e in dev.deployment.executions(name)
                       if dev.tenant in e["name"] or dev.bad_tenant in e["name"]]
                for name in ("TenantProcessor", "TableProcessor")}
    assert len(children["TenantProcessor"]) == len(children["TableProcessor"]) == 2
    for tenant_arn in children["TenantProcessor"]:
        assert events(tenant_arn) <= HISTORY["tenant"] + HISTORY["per_table"]
    for table_arn in children["TableProcessor"]:
        assert events(table_arn) <= HISTORY["table_of_one_chunk"]


@pytest.mark.slow
def test_aws_backfill_starts_the_backfill_path(dev: Dev) -> None:
    result = aws("backfill", "--tenant", dev.tenant, "--service", "connectwise", "--since", "2023-12-01",
                 "--window-days", "1200")
    assert result.exit_code == 0, result.output
    execution = execution_of(result.output)
    run, arn = owned_run(dev, execution)
    described = dev.deployment.sfn.describe_execution(executionArn=arn)
    assert json.loads(described["input"]) == {"mode": "backfill", "tenant": dev.tenant, "service": "connectwise",
                                              "since": "2023-12-01T00:00:00Z", "window_days": 1200}
    assert run.kind == "backfill" and run.status == "complete"
    [table_run] = dev.ledger().list_table_runs(run_id=run.run_id)
    assert table_run.mode == "backfill" and table_run.records == 30 and table_run.chunks_total == 1
    assert summary_rows(result.output)[(dev.tenant, "connectwise", TABLE)][:2] == ["backfill", f"{table_run.records:,}"]
    assert f"backfill run {run.run_id}" in result.output


# ---------------------------------------------------------------------------- refusals, one line each


def one_line(result, code: int = 2) -> str:
    text = result.output.strip()
    assert result.exit_code == code, text
    assert len(text.splitlines()) == 1 and "Traceback" not in text, text
    return text


def test_an_environment_outside_dev_staging_prod_is_refused() -> None:
    text = one_line(runner.invoke(app, ["aws", "run", "--environment", "production"]))
    assert "environment 'production' is not one AVESA deploys to: use one of dev, staging, prod" in text


def test_no_credentials_is_one_line(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    isolate_aws_environment(monkeypatch, tmp_path)
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    text = one_line(runner.invoke(app, ["aws", "run", "--environment", "dev"]))
    assert "no AWS credentials found" in text and "AWS_PROFILE" in text


def test_an_environment_not_deployed_says_deploy_first(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch,
                                                        tmp_path: Path) -> None:
    isolate_aws_environment(monkeypatch, tmp_path)
    for name, value in aws_environment(moto_endpoint).items():
        monkeypatch.setenv(name, value)
    text = one_line(runner.invoke(app, ["aws", "backfill", "--tenant", "acme", "--service", "connectwise",
                                        "--since", "2024-01-01", "--environment", "staging"]))
    assert "avesa-pipeline-orchestrator-staging is not deployed" in text
    assert text.endswith("deploy first: avesa aws deploy --environment staging")
    text = one_line(runner.invoke(app, ["aws", "run", "--environment", "prod"]))
    assert "avesa-pipeline-orchestrator is not deployed" in text and "--environment prod" in text


@pytest.mark.parametrize(("args", "expected"), [
    (["--since", "2025-01-01", "--until", "2024-01-01"], "--since 2025-01-01 is not before --until 2024-01-01"),
    (["--since", "last tuesday"], "--since 'last tuesday' is not a date"),
])
def test_a_bad_backfill_range_is_refused_before_aws_is_asked(args: list[str], expected: str,
                                                             monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    isolate_aws_environment(monkeypatch, tmp_path)  # nothing to reach: refused before
    text = one_line(runner.invoke(app, ["aws", "backfill", "--tenant", "acme", "--service", "connectwise", *args]))
    assert expected in text


def test_following_an_unknown_execution_is_one_line(dev: Dev) -> None:
    text = one_line(aws("follow", "cli-nothing-like-this"))
    assert "avesa-pipeline-orchestrator-dev has no execution 'cli-nothing-like-this'" in text


@pytest.mark.slow
def test_a_tenant_another_backfill_holds_exits_3_and_names_the_holder(dev: Dev) -> None:
    ctx = dev.backends.context()
    holder = plan_work(ctx, PlanRunRequest(backfill=BackfillRequest(
        tenant_id=dev.tenant, service="connectwise", since=datetime(2024, 1, 1, tzinfo=UTC))))
    assert holder is not None
    try:
        result = aws("backfill", "--tenant", dev.tenant, "--service", "connectwise", "--since", "2024-06-01")
        assert result.exit_code == 3, result.output
        assert "nothing started by execution cli-" in result.output
        assert f"{dev.tenant} is being backfilled by run {holder.run_id}" in result.output
        assert "Traceback" not in result.output and "stackTrace" not in result.output
    finally:
        cancel_run(ctx, holder.run_id)
        ctx.state.close()


def test_an_input_the_orchestrator_refuses_is_exit_2_with_its_reason(dev: Dev) -> None:
    result = aws("run", "--tenant", "no-such-tenant", "--full")
    assert result.exit_code == 2, result.output
    described = dev.deployment.sfn.describe_execution(executionArn=owned_run_arn(dev, execution_of(result.output)))
    assert json.loads(described["input"]) == {"mode": "full", "tenant": "no-such-tenant"}
    error = result.output.strip().splitlines()[-1]
    assert error.startswith("error: execution cli-") and "refused its input" in error and "no-such-tenant" in error


@pytest.mark.slow
def test_a_sync_of_a_tenant_a_live_run_holds_exits_3_and_names_the_holder(dev: Dev) -> None:
    ctx = dev.backends.context()
    holder = plan_work(ctx, PlanRunRequest(sync=RunRequest(tenant_id=dev.tenant)))
    assert holder is not None and holder.tables
    try:
        result = aws("run", "--tenant", dev.tenant)
        assert result.exit_code == 3, result.output
        assert f"nothing synced: other runs hold every tenant this run would sync — {dev.tenant} (run " \
               f"{holder.run_id})" in result.output
        assert "0 records in 0 tables" in result.output
    finally:
        cancel_run(ctx, holder.run_id)
        ctx.state.close()

"""`avesa aws synth` and the refusals of `avesa aws deploy`, each one line saying what to fix.

The bootstrap check runs against moto's server (CloudFormation, SSM, STS over real HTTP); each test
uses its own region, so one test's bootstrap never counts for another's account."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest
from typer.testing import CliRunner

from avesa.cli.app import app
from tests.aws_support import aws_client, aws_environment, isolate_aws_environment

REPO_ROOT = Path(__file__).resolve().parents[2]
runner = CliRunner()
MINIMAL_TEMPLATE = json.dumps({"Resources": {"Assets": {"Type": "AWS::S3::Bucket"}}})


def deploy(*args: str):
    return runner.invoke(app, ["aws", "deploy", *args])


@pytest.fixture
def in_checkout(monkeypatch):
    monkeypatch.chdir(REPO_ROOT)


def on_moto(monkeypatch, endpoint: str, region: str) -> None:
    for key, value in aws_environment(endpoint).items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("AWS_DEFAULT_REGION", region)
    monkeypatch.setenv("AWS_REGION", region)


def bootstrap(endpoint: str, region: str, *, parameter: bool = True) -> None:
    """What `cdk bootstrap` leaves in a region: the CDKToolkit stack and its version parameter."""
    import boto3

    session = {"endpoint_url": endpoint, "region_name": region, "aws_access_key_id": "test",
               "aws_secret_access_key": "test"}
    boto3.client("cloudformation", **session).create_stack(StackName="CDKToolkit", TemplateBody=MINIMAL_TEMPLATE)
    if parameter:
        boto3.client("ssm", **session).put_parameter(Name="/cdk-bootstrap/hnb659fds/version", Value="29",
                                                     Type="String")


def one_line(result) -> str:
    text = result.output.strip()
    assert result.exit_code == 2, text
    assert len(text.splitlines()) == 1, text
    return text


@pytest.mark.parametrize("command", ["synth", "deploy"])
def test_an_environment_outside_dev_staging_prod_is_refused(in_checkout, command):
    text = one_line(runner.invoke(app, ["aws", command, "--environment", "production"]))
    assert "environment 'production' is not one AVESA deploys to: use one of dev, staging, prod" in text


def test_deploy_without_aws_credentials_says_how_to_give_them(in_checkout, monkeypatch, tmp_path):
    isolate_aws_environment(monkeypatch, tmp_path)
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    text = one_line(deploy("--environment", "dev"))
    assert "no AWS credentials found" in text and "AWS_PROFILE" in text


def test_deploy_to_an_account_not_bootstrapped_names_the_bootstrap_command(in_checkout, monkeypatch,
                                                                           moto_endpoint):
    on_moto(monkeypatch, moto_endpoint, "ap-southeast-2")
    account = aws_client("sts", moto_endpoint).get_caller_identity()["Account"]
    text = one_line(deploy("--environment", "dev"))
    assert f"account {account} is not bootstrapped for CDK in ap-southeast-2 (no CDKToolkit stack)" in text
    assert f"npx cdk bootstrap aws://{account}/ap-southeast-2" in text


def test_a_bootstrap_stack_without_its_version_parameter_is_not_bootstrapped(in_checkout, monkeypatch,
                                                                             moto_endpoint):
    on_moto(monkeypatch, moto_endpoint, "sa-east-1")
    bootstrap(moto_endpoint, "sa-east-1", parameter=False)
    text = one_line(deploy("--environment", "staging"))
    assert "is not bootstrapped for CDK in sa-east-1 (no /cdk-bootstrap/hnb659fds/version parameter)" in text


def test_deploy_without_docker_says_the_image_needs_it(in_checkout, monkeypatch, moto_endpoint, tmp_path):
    on_moto(monkeypatch, moto_endpoint, "eu-central-1")
    bootstrap(moto_endpoint, "eu-central-1")
    empty = tmp_path / "bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    text = one_line(deploy("--environment", "prod"))
    assert "Docker is not installed (no `docker` on PATH)" in text


def test_deploy_with_dockers_daemon_down_says_to_start_it(in_checkout, monkeypatch, moto_endpoint, tmp_path):
    on_moto(monkeypatch, moto_endpoint, "eu-north-1")
    bootstrap(moto_endpoint, "eu-north-1")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    docker = bin_dir / "docker"
    docker.write_text("#!/bin/sh\necho 'Cannot connect to the Docker daemon' >&2\nexit 1\n")
    docker.chmod(docker.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    text = one_line(deploy("--environment", "dev"))
    assert "Docker is installed but its daemon does not answer" in text


def test_synth_outside_a_checkout_says_where_to_run_it(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    text = one_line(runner.invoke(app, ["aws", "synth", "--environment", "dev"]))
    assert "no infrastructure/cdk.json" in text


@pytest.mark.slow
def test_synth_writes_the_cloud_assembly_and_prints_the_stacks(in_checkout, tmp_path):
    pytest.importorskip("aws_cdk")
    result = runner.invoke(app, ["aws", "synth", "--environment", "staging", "--tenant", "acme",
                                 "--output", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    assert "synthesised 3 stacks for staging" in result.output
    for stack in ("AVESA-DataPipeline-staging", "AVESA-Monitoring-staging", "AVESA-Backfill-staging"):
        assert stack in result.output
        assert (tmp_path / "out" / f"{stack}.template.json").is_file()
    monitoring = json.loads((tmp_path / "out" / "AVESA-Monitoring-staging.template.json").read_text())
    names = [r["Properties"].get("DashboardName") for r in monitoring["Resources"].values()
             if r["Type"] == "AWS::CloudWatch::Dashboard"]
    assert "AVESA-Tenant-acme-staging" in names

"""`avesa aws synth` and `avesa aws deploy`: the CDK app in the repository's `infrastructure/`.

`synth` is offline: it runs the CDK app (`infrastructure/app.py`) the way the CDK CLI does — context
in `CDK_CONTEXT_JSON`, output folder in `CDK_OUTDIR` — so cdk-nag's checks run and any unacknowledged
finding fails it, and prints the stacks it wrote. `deploy` runs the CDK CLI the repository installs
(`npm ci` puts it in node_modules), after checking, each in one line, what would otherwise fail
minutes into a deploy: an environment outside dev|staging|prod, no AWS credentials, an account not
bootstrapped for CDK, no Docker to build the functions' image.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import typer

from avesa.cli.aws_app import aws_app
from avesa.cli.common import console, friendly_errors
from avesa.domain.environments import ENVIRONMENTS, environment
from avesa.domain.errors import ConfigError, UsageError

BOOTSTRAP_STACK = "CDKToolkit"
BOOTSTRAP_VERSION_PARAMETER = "/cdk-bootstrap/hnb659fds/version"  # the default qualifier's
ENVIRONMENT_HELP = f"where to deploy: {' | '.join(ENVIRONMENTS)} (prod's resources carry no suffix)"


def repository_root(start: Path | None = None) -> Path:
    """The checkout holding `infrastructure/cdk.json`, from `start` (the working folder) upwards."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "infrastructure" / "cdk.json").is_file():
            return folder
    raise UsageError(f"no infrastructure/cdk.json in {here} or above: `avesa aws synth|deploy` run in a checkout "
                     "of the AVESA repository (the CDK app is not part of the installed package)")


def deployment_context(root: Path, env: str, *, tenants: list[str] | None, account: str | None,
                       region: str | None) -> dict[str, Any]:
    """cdk.json's context with this command's choices over it."""
    try:
        context = dict(json.loads((root / "infrastructure" / "cdk.json").read_text()).get("context", {}))
    except (OSError, json.JSONDecodeError) as exc:
        raise ConfigError(f"{root / 'infrastructure' / 'cdk.json'} cannot be read as JSON ({exc})") from None
    context["environment"] = env
    if tenants:
        context["tenants"] = ",".join(tenants)
    if account:
        context["account"] = account
    if region:
        context["region"] = region
    return context


def synthesise(root: Path, context: dict[str, Any], outdir: Path) -> list[dict[str, Any]]:
    """Run the CDK app into `outdir`; the stacks it wrote (name, template, resource count)."""
    variables = {**os.environ, "CDK_CONTEXT_JSON": json.dumps(context), "CDK_OUTDIR": str(outdir),
                 "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20"}
    result = subprocess.run([sys.executable, str(root / "infrastructure" / "app.py")], cwd=root, env=variables,
                            capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise ConfigError(f"the CDK synth failed:\n{_app_error(result.stderr or result.stdout)}")
    manifest = json.loads((outdir / "manifest.json").read_text())
    stacks = []
    for artifact in manifest["artifacts"].values():
        if artifact.get("type") != "aws:cloudformation:stack":
            continue
        template_file = outdir / artifact["properties"]["templateFile"]
        template = json.loads(template_file.read_text())
        stacks.append({"name": artifact["properties"].get("stackName") or template_file.stem.split(".")[0],
                       "template": template_file, "resources": len(template.get("Resources", {}))})
    return sorted(stacks, key=lambda s: s["name"])


def _app_error(text: str) -> str:
    """What the app said, without jsii's JavaScript stack frames."""
    lines = [line for line in text.splitlines() if line.strip() and not line.lstrip().startswith("at ")]
    ours = [line for line in lines if line.startswith("error:")]
    return "\n".join(ours or lines[-40:])


@aws_app.command("synth")
@friendly_errors
def synth(
    environment_name: str = typer.Option(..., "--environment", "-e", help=ENVIRONMENT_HELP),
    tenant: list[str] = typer.Option(None, "--tenant", help="a tenant that gets its own dashboard (repeatable)"),
    account: str = typer.Option(None, "--account", help="the AWS account id (default: none, account-agnostic)"),
    region: str = typer.Option(None, "--region", help="the AWS region (default: none, region-agnostic)"),
    output: Path = typer.Option(None, "--output", help="the cloud assembly folder (default: cdk.out in the checkout)"),
) -> None:
    """Write the CloudFormation of the environment's stacks to cdk.out, offline; cdk-nag must pass."""
    env = environment(environment_name).value
    root = repository_root()
    outdir = (output or root / "cdk.out").resolve()
    stacks = synthesise(root, deployment_context(root, env, tenants=tenant, account=account, region=region), outdir)
    console.print(f"synthesised {len(stacks)} stacks for {env} into {outdir} (cdk-nag AwsSolutions: clean)",
                  soft_wrap=True, markup=False)
    for stack in stacks:
        console.print(f"  {stack['name']}  {stack['resources']} resources  {stack['template'].name}",
                      soft_wrap=True, markup=False)


# ---- deploy --------------------------------------------------------------------------------
def aws_identity(region: str | None) -> tuple[Any, str, str]:
    """The boto3 session, account and region the deploy would use; UsageError when there are no
    credentials, or they are refused, or no region is set."""
    try:
        import boto3
        from botocore.exceptions import BotoCoreError, ClientError
    except ImportError:
        raise UsageError("boto3 is not installed: pip install 'avesa[cdk]'") from None
    session = boto3.Session(region_name=region) if region else boto3.Session()
    if session.get_credentials() is None:
        raise UsageError("no AWS credentials found: set AWS_PROFILE (or AWS_ACCESS_KEY_ID and "
                         "AWS_SECRET_ACCESS_KEY, or run `aws sso login`), then deploy again")
    if not session.region_name:
        raise UsageError("no AWS region: set AWS_REGION (or AWS_DEFAULT_REGION, or the profile's region) or pass "
                         "--region")
    try:
        account = session.client("sts").get_caller_identity()["Account"]
    except (ClientError, BotoCoreError) as exc:
        raise UsageError(f"the AWS credentials were refused ({_short(exc)}): renew them (`aws sso login`, new "
                         "keys) and deploy again") from None
    return session, account, session.region_name


def check_bootstrapped(session: Any, account: str, region: str) -> None:
    """CDK's bootstrap stack and its version parameter exist in the account and region."""
    from botocore.exceptions import BotoCoreError, ClientError

    fix = f"run `npx cdk bootstrap aws://{account}/{region}` once, then deploy again"
    try:
        session.client("cloudformation", region_name=region).describe_stacks(StackName=BOOTSTRAP_STACK)
    except ClientError as exc:
        if "does not exist" in str(exc):
            raise UsageError(f"account {account} is not bootstrapped for CDK in {region} (no {BOOTSTRAP_STACK} "
                             f"stack): {fix}") from None
        raise UsageError(f"cannot check the CDK bootstrap of account {account} in {region} ({_short(exc)})") from None
    except BotoCoreError as exc:
        raise UsageError(f"cannot reach CloudFormation in {region} ({_short(exc)})") from None
    try:
        session.client("ssm", region_name=region).get_parameter(Name=BOOTSTRAP_VERSION_PARAMETER)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "ParameterNotFound":
            raise UsageError(f"account {account} is not bootstrapped for CDK in {region} (no "
                             f"{BOOTSTRAP_VERSION_PARAMETER} parameter): {fix}") from None
        raise UsageError(f"cannot read {BOOTSTRAP_VERSION_PARAMETER} in {region} ({_short(exc)})") from None


def check_docker() -> str:
    """Docker's path, with its daemon answering: the functions' image is built during the deploy."""
    docker = shutil.which("docker")
    if docker is None:
        raise UsageError("Docker is not installed (no `docker` on PATH): the functions' container image is built "
                         "during the deploy; install Docker and deploy again")
    probe = subprocess.run([docker, "info"], capture_output=True, text=True, check=False)
    if probe.returncode != 0:
        raise UsageError("Docker is installed but its daemon does not answer (`docker info` failed): start Docker "
                         "and deploy again")
    return docker


def cdk_cli(root: Path) -> Path:
    cli = root / "node_modules" / ".bin" / "cdk"
    if not cli.exists():
        raise UsageError(f"the CDK CLI is not installed in {root}: run `npm ci` there (or `make test`), then deploy "
                         "again")
    return cli


def _short(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:200]


@aws_app.command("deploy")
@friendly_errors
def deploy(
    environment_name: str = typer.Option(..., "--environment", "-e", help=ENVIRONMENT_HELP),
    tenant: list[str] = typer.Option(None, "--tenant", help="a tenant that gets its own dashboard (repeatable)"),
    region: str = typer.Option(None, "--region", help="the AWS region (default: the AWS configuration's)"),
    yes: bool = typer.Option(False, "--yes", help="do not ask before IAM or security-group changes"),
) -> None:
    """Deploy the environment's stacks with the CDK CLI (needs AWS credentials, a bootstrapped account,
    and Docker to build the functions' image)."""
    env = environment(environment_name).value
    root = repository_root()
    session, account, region = aws_identity(region)
    check_bootstrapped(session, account, region)
    check_docker()
    cli = cdk_cli(root)
    context = deployment_context(root, env, tenants=tenant, account=account, region=region)
    command = [str(cli), "deploy", "--all", "--app", f"{sys.executable} infrastructure/app.py",
               "--output", str(root / "cdk.out"), *(["--require-approval", "never"] if yes else [])]
    for key, value in context.items():
        command += ["--context", f"{key}={value if isinstance(value, str) else json.dumps(value)}"]
    console.print(f"deploying {env} to account {account} in {region}", markup=False)
    variables = {**os.environ, "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20"}
    finished = subprocess.run(command, cwd=root, env=variables, check=False)
    if finished.returncode != 0:
        raise typer.Exit(finished.returncode)

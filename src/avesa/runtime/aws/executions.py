"""Starting and following a deployed environment's PipelineOrchestrator from outside AWS: what
`avesa aws run`, `avesa aws backfill` and `avesa aws follow` do with Step Functions.

The state machine is found by the naming rule (`names.state_machine_name`, the one the CDK app
deploys with) in the account the credentials belong to; the input is a `PipelineInput`, the same
model an EventBridge rule's input is checked against; the execution's name says who started what
and when (`cli-full-acme-20261203T114500Z-…`), so the console's list of executions reads as a log.

boto3 is configured the standard way (credentials, `AWS_PROFILE`, `AWS_REGION`, `AWS_ENDPOINT_URL`
or `AWS_ENDPOINT_URL_SFN`); every refusal a user can fix becomes one line (a UsageError or a
ConfigError) naming the fix."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from avesa.domain.environments import Environment, environment, state_prefix
from avesa.domain.errors import ConfigError, UsageError
from avesa.runtime.aws.definitions import PipelineInput
from avesa.runtime.aws.names import execution_name, state_machine_name

ORCHESTRATOR = "PipelineOrchestrator"
ENDED = ("SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED")


@dataclass(frozen=True)
class Target:
    """An environment's orchestrator in one account and region, and the clients to reach it."""

    env: Environment
    account: str
    region: str
    session: Any
    sfn: Any

    @property
    def state_machine(self) -> str:
        return state_machine_name(ORCHESTRATOR, self.env)

    @property
    def state_machine_arn(self) -> str:
        return f"arn:aws:states:{self.region}:{self.account}:stateMachine:{self.state_machine}"

    def execution_arn(self, name_or_arn: str) -> str:
        """An execution of this orchestrator by its name (or its ARN, checked to be one of its)."""
        if name_or_arn.startswith("arn:"):
            if not name_or_arn.startswith(f"arn:aws:states:{self.region}:{self.account}:execution:"
                                          f"{self.state_machine}:"):
                raise UsageError(f"{name_or_arn} is not an execution of {self.state_machine} in {self.region}: "
                                 "give one of its executions (or just the execution's name)")
            return name_or_arn
        return f"arn:aws:states:{self.region}:{self.account}:execution:{self.state_machine}:{name_or_arn}"

    @property
    def state_url(self) -> str:
        """The environment's ledger (the state table the functions use)."""
        return f"dynamodb://{state_prefix(self.env)}?region={self.region}"


def connect(env_name: str, region: str | None = None) -> Target:
    """The environment's orchestrator, checked to be deployed; one line for each thing that is not
    right: the environment, boto3, credentials, region, the credentials refused, not deployed."""
    env = environment(env_name)
    try:
        import boto3
        from botocore.config import Config
        from botocore.exceptions import BotoCoreError, ClientError
    except ImportError:
        raise UsageError("boto3 is not installed: pip install 'avesa[aws]'") from None
    try:
        session = boto3.Session(region_name=region) if region else boto3.Session()
    except BotoCoreError as exc:  # AWS_PROFILE names no profile
        raise UsageError(f"the AWS configuration is not usable ({_short(exc)}): fix AWS_PROFILE or the config file") \
            from None
    if session.get_credentials() is None:
        raise UsageError("no AWS credentials found: set AWS_PROFILE (or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, "
                         "or run `aws sso login`), then run again")
    if not session.region_name:
        raise UsageError("no AWS region: set AWS_REGION (or AWS_DEFAULT_REGION, or the profile's region) or pass "
                         "--region")
    config = Config(retries={"mode": "standard", "max_attempts": 8})
    try:
        account = session.client("sts", config=config).get_caller_identity()["Account"]
    except ClientError as exc:
        raise UsageError(f"the AWS credentials were refused ({_short(exc)}): renew them (`aws sso login`, new "
                         "keys) and run again") from None
    except BotoCoreError as exc:
        raise ConfigError(f"cannot reach AWS in {session.region_name} ({_short(exc)}): check the network and "
                          "AWS_ENDPOINT_URL") from None
    target = Target(env, account, session.region_name, session, session.client("stepfunctions", config=config))
    try:
        target.sfn.describe_state_machine(stateMachineArn=target.state_machine_arn)
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code")
        if code == "StateMachineDoesNotExist":
            raise not_deployed(target) from None
        if code not in ("AccessDeniedException", "AccessDenied"):
            raise UsageError(f"cannot read {target.state_machine} in {target.region} ({_short(exc)})") from None
        # a role that may start and follow executions but not describe the machine (the backfill
        # stack's operator role): StartExecution says whether it is deployed
    except BotoCoreError as exc:
        raise ConfigError(f"cannot reach Step Functions in {target.region} ({_short(exc)}): check the network and "
                          "AWS_ENDPOINT_URL") from None
    return target


def not_deployed(target: Target) -> UsageError:
    return UsageError(f"{target.state_machine} is not deployed in account {target.account} in {target.region}: "
                      f"deploy first: avesa aws deploy --environment {target.env.value}")


def cli_execution_name(request: PipelineInput, now: datetime) -> str:
    """`cli-{UTC time}-{mode}-{tenant|all}[-{service}[-{table}]]-{digest}`: when, and what was asked
    for, readable in the console (cut to fit 80 characters; the digest of the input and the time
    keeps it unique). The same command in the same second is the same name, and Step Functions
    answers a repeated StartExecution of a running execution with the same input idempotently."""
    scope = [request.tenant or "all", *(p for p in (request.service, request.table) if p)]
    stamp = now.strftime("%Y%m%dT%H%M%SZ")
    body = json.dumps(request.model_dump(mode="json", exclude_none=True), sort_keys=True)
    return execution_name("-".join(["cli", stamp, request.mode, *scope]), body, stamp)


def start(target: Target, request: PipelineInput, name: str) -> str:
    """Start the orchestrator with `request` as its input; the execution's ARN."""
    from botocore.exceptions import ClientError

    body = json.dumps(request.model_dump(mode="json", exclude_none=True))
    try:
        return str(target.sfn.start_execution(stateMachineArn=target.state_machine_arn, name=name,
                                              input=body)["executionArn"])
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "StateMachineDoesNotExist":
            raise not_deployed(target) from None
        raise UsageError(f"Step Functions refused to start {target.state_machine} ({_short(exc)})") from None


def describe(target: Target, execution_arn: str) -> dict[str, Any]:
    """The execution as Step Functions describes it; a UsageError when there is no such execution."""
    from botocore.exceptions import ClientError

    try:
        return dict(target.sfn.describe_execution(executionArn=execution_arn))
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "ExecutionDoesNotExist":
            name = execution_arn.rsplit(":", 1)[-1]
            raise UsageError(f"{target.state_machine} has no execution {name!r} in {target.region}: see the "
                             "executions in the Step Functions console or `aws stepfunctions list-executions`") \
                from None
        raise


def _short(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:200]

"""Running the real state machines (the ASL files a deployment uses) in moto's Step Functions, with
the real Lambda handlers, against moto's DynamoDB, S3 and Secrets Manager over HTTP.

moto executes ASL only when its `execute_state_machine` config is on. Its Lambda without Docker
echoes the payload; the one seam where every Lambda call of a state machine arrives is
`LambdaSimpleBackend.invoke`, replaced here by a call of the function's real handler — a raised
exception becomes the Python runtime's error document with `x-amz-function-error`, so Step
Functions sees the exception's class name as the error, as on AWS.

Two moto 5.2.5 gaps are mended here, and only here (`nested_sync_is_broken` says when to drop it):
the Step Functions service integration (`states:startExecution.sync:2`) passes the ASL's
PascalCase parameters to boto3 unconverted and returns boto3's camelCase response, where AWS
converts both ways (getmoto/moto#10076)."""

from __future__ import annotations

import importlib
import io
import json
import threading
import time
import traceback
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlparse

import pytest

from avesa.runtime.aws.definitions import FUNCTIONS, STATE_MACHINES, render, substitutions
from tests.aws_support import REGION, aws_client, unique_prefix

ROLE_POLICY = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                                  "Principal": {"Service": "lambda.amazonaws.com"}}]})
LAMBDA_MILLIS = 900_000


@dataclass
class FakeContext:
    """The part of Lambda's context the handlers use: the time left."""

    function_name: str
    millis: int
    started: float = field(default_factory=time.monotonic)

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int(self.millis - (time.monotonic() - self.started) * 1000))


@dataclass
class Invocations:
    """What the seam saw (every call, and each handler's answer), and the knobs a test turns: the
    time a function's Lambda has, faults raised before a handler runs (role → exceptions to raise,
    one per call), and hooks called with the event before it runs (to raise, to wait, to look)."""

    handlers: dict[str, str] = field(default_factory=dict)  # function name → handler string
    roles: dict[str, str] = field(default_factory=dict)  # function name → role
    calls: list[tuple[str, dict]] = field(default_factory=list)
    results: list[tuple[str, dict, dict]] = field(default_factory=list)  # (role, event, what the handler answered)
    errors: list[tuple[str, str]] = field(default_factory=list)  # (role, error class)
    millis: dict[str, int] = field(default_factory=dict)  # role → remaining time at start
    faults: dict[str, list[BaseException]] = field(default_factory=dict)
    hooks: dict[str, Callable[[dict], None]] = field(default_factory=dict)  # role → called with the event
    service_errors: dict[str, list[str]] = field(default_factory=dict)
    """Role → Lambda's own errors to answer with instead of running the function, one per call
    (ServiceException, TooManyRequestsException): what the Invoke API, not the handler, says."""
    lock: threading.Lock = field(default_factory=threading.Lock)

    def of(self, role: str) -> list[dict]:
        with self.lock:
            return [event for r, event in self.calls if r == role]

    def invoke(self, function_name: str, body: Any, response_headers: dict) -> bytes:
        name = function_name.rsplit(":", 1)[-1] if function_name.startswith("arn:") else function_name
        role = self.roles[name]
        event = json.loads(body or "{}")
        with self.lock:
            self.calls.append((role, event))
            fault = self.faults.get(role, []).pop(0) if self.faults.get(role) else None
            refusal = self.service_errors.get(role, []).pop(0) if self.service_errors.get(role) else None
        if refusal is not None:
            from moto.core.exceptions import JsonRESTError

            error = JsonRESTError(refusal, f"Lambda refused the invocation ({refusal})")
            error.code = 429 if refusal == "TooManyRequestsException" else 500
            raise error
        try:
            if role in self.hooks:
                self.hooks[role](event)
            if fault is not None:
                raise fault
            module, _, attribute = self.handlers[name].rpartition(".")
            handler = getattr(importlib.import_module(module), attribute)
            result = handler(event, FakeContext(name, self.millis.get(role, LAMBDA_MILLIS)))
            with self.lock:
                self.results.append((role, event, result))
            return json.dumps(result).encode()
        except Exception as exc:
            with self.lock:
                self.errors.append((role, type(exc).__name__))
            response_headers["x-amz-function-error"] = "Unhandled"
            return json.dumps({"errorMessage": str(exc), "errorType": type(exc).__name__,
                               "stackTrace": traceback.format_tb(exc.__traceback__)}).encode()


def _pascal(key: str) -> str:
    return key[:1].upper() + key[1:]


def _mend_nested_executions(monkeypatch: pytest.MonkeyPatch) -> None:
    """startExecution's parameters to boto3's names, and its answers back to the ASL's, as AWS does."""
    from botocore.session import get_session
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
        state_task_service_sfn as sfn_task,
    )

    model = get_session().get_service_model("stepfunctions")
    original = sfn_task.StateTaskServiceSfn._normalise_parameters

    def normalise_parameters(self: Any, parameters: dict, boto_service_name: str | None = None,
                             service_action_name: str | None = None) -> None:
        original(self, parameters, boto_service_name, service_action_name)
        operation = model.operation_model(self.resource.api_action[:1].upper() + self.resource.api_action[1:])
        members = {name.lower(): name for name in operation.input_shape.members}
        for key in list(parameters):
            if key.lower() in members and members[key.lower()] != key:
                parameters[members[key.lower()]] = parameters.pop(key)

    def normalise_response(self: Any, response: Any, boto_service_name: str | None = None,
                           service_action_name: str | None = None) -> None:
        if isinstance(response, dict):
            for key in list(response):
                if _pascal(key) != key:
                    response[_pascal(key)] = response.pop(key)

    monkeypatch.setattr(sfn_task.StateTaskServiceSfn, "_normalise_parameters", normalise_parameters)
    monkeypatch.setattr(sfn_task.StateTaskServiceSfn, "_normalise_response", normalise_response)


@dataclass
class Deployment:
    """The three state machines and six functions of one test, on moto's server."""

    endpoint: str
    prefix: str
    invocations: Invocations
    state_machines: dict[str, str]  # logical name → ARN
    sleeps: list[float]

    @property
    def sfn(self) -> Any:
        return aws_client("stepfunctions", self.endpoint)

    def start(self, pipeline_input: dict | None = None, name: str | None = None) -> str:
        return self.sfn.start_execution(stateMachineArn=self.state_machines["PipelineOrchestrator"],
                                        name=name or unique_prefix("run"),
                                        input=json.dumps(pipeline_input or {}))["executionArn"]

    def wait(self, execution_arn: str, timeout: float = 60.0) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            described = self.sfn.describe_execution(executionArn=execution_arn)
            if described["status"] != "RUNNING":
                return described
            if time.monotonic() > deadline:
                raise AssertionError(f"{execution_arn} still running after {timeout}s")
            time.sleep(0.05)

    def run(self, pipeline_input: dict | None = None, timeout: float = 60.0) -> dict:
        """One PipelineOrchestrator execution to its end: its output (the run's summary)."""
        described = self.wait(self.start(pipeline_input), timeout)
        assert described["status"] == "SUCCEEDED", described
        return json.loads(described["output"])

    def executions(self, name: str) -> list[dict]:
        return self.sfn.list_executions(stateMachineArn=self.state_machines[name])["executions"]


@contextmanager
def deploy(endpoint: str, monkeypatch: pytest.MonkeyPatch, *,
           machine_name: Callable[[str], str] | None = None) -> Iterator[Deployment]:
    """Create the functions and the state machines (the real ASL, placeholders filled with their
    ARNs) on moto's server, with the invoke seam in place and moto's retry waits skipped.

    The state machines are `{prefix}-{Name}` (unique in the session), or `machine_name(Name)` —
    e.g. `names.state_machine_name(Name, "dev")`, the deployed names `avesa aws run` looks for;
    those are deleted again when the block ends, so another test can deploy them anew."""
    from moto.awslambda_simple.models import LambdaSimpleBackend
    from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
        state_task_service_callback as callback,
    )

    port = urlparse(endpoint).port
    monkeypatch.setenv("MOTO_PORT", str(port))  # where moto's state machines call Lambda and Step Functions
    config = {"stepfunctions": {"execute_state_machine": True}, "lambda": {"use_docker": False}}
    import httpx

    httpx.post(f"{endpoint}/moto-api/config", json=config).raise_for_status()

    invocations = Invocations()
    monkeypatch.setattr(LambdaSimpleBackend, "invoke",
                        lambda backend, function_name, qualifier, body, headers, response_headers:
                        invocations.invoke(function_name, body, response_headers))
    sleeps: list[float] = []

    class _Time:
        """moto's retrier's `time`: the interval recorded, not waited."""

        def __getattr__(self, name: str) -> Any:
            return getattr(time, name)

        @staticmethod
        def sleep(seconds: float) -> None:
            sleeps.append(seconds)

    monkeypatch.setattr(retrier_decl, "time", _Time())
    monkeypatch.setattr(callback, "_DELAY_SECONDS_SYNC_CONDITION_CHECK", 0.02)
    _mend_nested_executions(monkeypatch)

    prefix = unique_prefix("sfn")
    iam = aws_client("iam", endpoint)
    role = iam.create_role(RoleName=f"{prefix}-role", AssumeRolePolicyDocument=ROLE_POLICY)["Role"]["Arn"]
    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as archive:
        archive.writestr("handler.py", "# the container image's code in a deployment\n")
    lam = aws_client("lambda", endpoint)
    function_arns: dict[str, str] = {}
    for role_name, handler in FUNCTIONS.items():
        name = f"{prefix}-{role_name}".replace("_", "-")
        function_arns[role_name] = lam.create_function(
            FunctionName=name, Runtime="python3.12", Role=role, Handler=handler,
            Code={"ZipFile": code.getvalue()}, Timeout=900)["FunctionArn"]
        invocations.handlers[name] = handler
        invocations.roles[name] = role_name
    sfn = aws_client("stepfunctions", endpoint)
    account = function_arns["orchestrator"].split(":")[4]
    machine_names = {name: machine_name(name) if machine_name else f"{prefix}-{name}" for name in STATE_MACHINES}
    machine_arns = {name: f"arn:aws:states:{REGION}:{account}:stateMachine:{machine_names[name]}"
                    for name in STATE_MACHINES}
    values = substitutions(function_arns, machine_arns)
    for name in STATE_MACHINES:
        sfn.create_state_machine(name=machine_names[name], definition=render(name, values),
                                 roleArn=role.replace(":role/", ":role/"))
    try:
        yield Deployment(endpoint, prefix, invocations, machine_arns, sleeps)
    finally:
        if machine_name is not None:
            for arn in machine_arns.values():
                sfn.delete_state_machine(stateMachineArn=arn)
        httpx.post(f"{endpoint}/moto-api/config",
                   json={"stepfunctions": {"execute_state_machine": False}}).raise_for_status()

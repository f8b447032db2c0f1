"""The moto gap the harness mends (sfn_support._mend_nested_executions) still exists: a parent state
machine starting a child with `states:startExecution.sync:2` fails in moto 5.2.5 without the mend
and succeeds with it. When moto converts the parameters itself (getmoto/moto#10076), the first
assertion fails — the sign to delete the mend."""

from __future__ import annotations

import json
import time
from urllib.parse import urlparse

import httpx
import pytest

from tests.aws_support import aws_client, unique_prefix
from tests.runtime.aws.sfn_support import ROLE_POLICY, _mend_nested_executions

CHILD = {"StartAt": "Done", "States": {"Done": {"Type": "Pass", "Result": {"child": "ran"}, "End": True}}}


def _parent(child_arn: str) -> dict:
    return {"StartAt": "RunChild", "States": {"RunChild": {
        "Type": "Task", "Resource": "arn:aws:states:::states:startExecution.sync:2",
        "Parameters": {"StateMachineArn": child_arn, "Input": {"from": "parent"}}, "End": True}}}


def _run(sfn, machine_arn: str) -> str:
    """The status the parent's execution ended with (listed: moto cannot describe this failure)."""
    arn = sfn.start_execution(stateMachineArn=machine_arn, name=unique_prefix("gap"), input="{}")["executionArn"]
    deadline = time.monotonic() + 30
    while True:
        [status] = [e["status"] for e in sfn.list_executions(stateMachineArn=machine_arn)["executions"]
                    if e["executionArn"] == arn]
        if status != "RUNNING":
            return status
        assert time.monotonic() < deadline, "the parent is still running"
        time.sleep(0.05)


def test_a_nested_sync_execution_needs_the_mend_in_this_moto(moto_endpoint: str,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MOTO_PORT", str(urlparse(moto_endpoint).port))  # where moto's tasks call Step Functions
    httpx.post(f"{moto_endpoint}/moto-api/config",
               json={"stepfunctions": {"execute_state_machine": True}}).raise_for_status()
    try:
        prefix = unique_prefix("gap")
        role = aws_client("iam", moto_endpoint).create_role(
            RoleName=f"{prefix}-role", AssumeRolePolicyDocument=ROLE_POLICY)["Role"]["Arn"]
        sfn = aws_client("stepfunctions", moto_endpoint)
        child = sfn.create_state_machine(name=f"{prefix}-child", definition=json.dumps(CHILD),
                                         roleArn=role)["stateMachineArn"]
        parent = sfn.create_state_machine(name=f"{prefix}-parent", definition=json.dumps(_parent(child)),
                                          roleArn=role)["stateMachineArn"]

        assert _run(sfn, parent) == "FAILED", (
            "moto now runs a nested startExecution.sync:2 as AWS does: delete _mend_nested_executions from "
            "tests/runtime/aws/sfn_support.py")

        _mend_nested_executions(monkeypatch)
        assert _run(sfn, parent) == "SUCCEEDED"
        [ran] = [e for e in sfn.list_executions(stateMachineArn=child)["executions"] if e["status"] == "SUCCEEDED"]
        assert json.loads(sfn.describe_execution(executionArn=ran["executionArn"])["output"]) == {"child": "ran"}
    finally:
        httpx.post(f"{moto_endpoint}/moto-api/config",
                   json={"stepfunctions": {"execute_state_machine": False}}).raise_for_status()

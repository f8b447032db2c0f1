"""The backfill stack: who may start a backfill of this environment, and nothing more.

A backfill is a PipelineOrchestrator execution with backfill fields in its input (`avesa aws
backfill --tenant … --since …`), so it needs no machinery of its own; what it needs is a role an
operator (or a CI job) assumes to start, follow and stop those executions and read the ledger,
without the rights to deploy or to read credentials.
"""

from __future__ import annotations

from typing import Any

from aws_cdk import ArnFormat, Stack
from aws_cdk import aws_iam as iam
from constructs import Construct

from avesa.domain.environments import resource_name, state_prefix
from avesa.state.dynamodb import layout
from infrastructure.stacks.data_pipeline import DataPipelineStack, state_machine_name
from infrastructure.stacks.nag import acknowledge_wildcard


class BackfillStack(Stack):
    def __init__(self, scope: Construct, construct_id: str, *, pipeline: DataPipelineStack, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, **kwargs)
        env = pipeline.config.environment.value
        # by name, not by reference: the role needs no export from the pipeline stack
        orchestrator = state_machine_name("PipelineOrchestrator", env)
        orchestrator_arn = self.format_arn(service="states", resource="stateMachine", resource_name=orchestrator,
                                           arn_format=ArnFormat.COLON_RESOURCE_NAME)
        executions = self.format_arn(service="states", resource="execution", resource_name=f"{orchestrator}:*",
                                     arn_format=ArnFormat.COLON_RESOURCE_NAME)
        table = self.format_arn(service="dynamodb", resource="table",
                                resource_name=layout.STATE_TABLE.name(state_prefix(env)))
        self.operator_role = iam.Role(
            self, "BackfillOperator",
            role_name=resource_name("avesa-backfill-operator", env),
            assumed_by=iam.AccountRootPrincipal(),
            description=f"Start, follow and stop AVESA backfills in {env}; read the run ledger",
        )
        self.operator_role.add_to_policy(iam.PolicyStatement(actions=["states:StartExecution"],
                                                             resources=[orchestrator_arn]))
        self.operator_role.add_to_policy(iam.PolicyStatement(
            actions=["states:DescribeExecution", "states:StopExecution", "states:GetExecutionHistory"],
            resources=[executions]))
        self.operator_role.add_to_policy(iam.PolicyStatement(
            actions=["dynamodb:GetItem", "dynamodb:Query", "dynamodb:DescribeTable"],
            resources=[table, f"{table}/index/*"]))
        policy = self.operator_role.node.find_child("DefaultPolicy").node.default_child
        acknowledge_wildcard(policy, executions,
                             "The executions of this environment's orchestrator only: a backfill is one of them.")
        acknowledge_wildcard(policy, f"{table}/index/*",
                             "`avesa status` reads the state table's sparse indexes (runs by status and start).")

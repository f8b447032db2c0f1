"""The data pipeline stack: the lake bucket, the state table, the six functions, the three state
machines and the schedules that start them.

Everything that names a function, a state machine, an environment variable or a metric comes from
`avesa.runtime.aws.definitions`, and the state table's keys and indexes from
`avesa.state.dynamodb.layout`: the stack deploys what the engine and its tests use, nothing typed twice.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from aws_cdk import ArnFormat, Aws, Duration, IgnoreMode, RemovalPolicy, Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_ecr_assets as ecr_assets
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from avesa.domain.environments import resource_name, secrets_prefix, state_prefix
from avesa.runtime.aws import definitions, names
from avesa.state.dynamodb import layout
from infrastructure.config import DeploymentConfig
from infrastructure.stacks.nag import acknowledge, acknowledge_wildcard

LAKE_PREFIX = "lake"
DOCKERFILE = "infrastructure/lambda/Dockerfile"
# What the image build needs from the repository (the build context): the engine's sources and
# packaging files. Everything else (node_modules, cdk.out, tests, .git) stays out of the asset.
IMAGE_CONTEXT = ["*", "!pyproject.toml", "!README.md", "!LICENSE", "!src", "!infrastructure",
                 "infrastructure/*", "!infrastructure/lambda", "**/__pycache__", "**/*.pyc"]


def kebab(name: str) -> str:
    """`tenant_processor` / `TenantProcessor` → `tenant-processor`."""
    return re.sub(r"(?<!^)(?=[A-Z])", "-", name).replace("_", "-").lower()


# Memory and timeout per function: the chunk processor runs until its time is nearly up and
# returns a cursor (issue 12), the finalizer merges a table's chunks into its SCD2 Delta table.
SIZING: dict[str, tuple[int, int]] = {
    "orchestrator": (1024, 300),
    "tenant_processor": (1024, 300),
    "table_processor": (1024, 300),
    "chunk_processor": (2048, 900),
    "finalize_table": (3008, 900),
    "finish_run": (1024, 300),
}
# Who reads credentials (the API calls: planning counts, extraction, the id listing of a finalize's
# reconciliation) and who writes the lake (raw files, the canonical merge).
READS_SECRETS = frozenset({"tenant_processor", "table_processor", "chunk_processor", "finalize_table"})
WRITES_LAKE = frozenset({"chunk_processor", "finalize_table"})


def function_name(role: str, env: str) -> str:
    return resource_name(f"avesa-{kebab(role)}", env)


def state_machine_name(name: str, env: str) -> str:
    """The engine's rule (`avesa aws run` finds the state machines by it)."""
    return names.state_machine_name(name, env)


def environment_variables(config: DeploymentConfig, bucket_name: str) -> dict[str, str]:
    """What every function reads: the contract's four, then each tuning variable's default."""
    env = config.environment.value
    known = {
        "AVESA_ENV": env,
        "AVESA_STATE_URL": f"dynamodb://{state_prefix(env)}?region={Aws.REGION}",
        "AVESA_SECRETS_URL": f"secretsmanager://{secrets_prefix(env)}?region={Aws.REGION}",
        "AVESA_LAKE_URL": f"s3://{bucket_name}/{LAKE_PREFIX}",
        # S3 conditional writes make each Delta commit atomic without a lock table
        "AWS_CONDITIONAL_PUT": "etag",
    }
    keys = definitions.FUNCTION_ENVIRONMENT_KEYS
    defaults: Mapping[str, Any] = keys if isinstance(keys, Mapping) else dict.fromkeys(keys)
    variables = {}
    for key, default in defaults.items():
        if key in known:
            variables[key] = known[key]
        elif default is not None:
            variables[key] = str(default)
    missing = {"AVESA_ENV", "AVESA_STATE_URL", "AVESA_SECRETS_URL", "AVESA_LAKE_URL"} - set(variables)
    for key in sorted(missing):
        variables[key] = known[key]
    variables["AWS_CONDITIONAL_PUT"] = known["AWS_CONDITIONAL_PUT"]
    return variables


def asl_strings(node: Any) -> Iterator[str]:
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for value in node.values():
            yield from asl_strings(value)
    elif isinstance(node, list):
        for value in node:
            yield from asl_strings(value)


def asl_resources(node: Any) -> Iterator[str]:
    """Every Task's `Resource` in a state machine definition (nested Maps included)."""
    if isinstance(node, dict):
        if node.get("Type") == "Task" and isinstance(node.get("Resource"), str):
            yield node["Resource"]
        for value in node.values():
            yield from asl_resources(value)
    elif isinstance(node, list):
        for value in node:
            yield from asl_resources(value)


class DataPipelineStack(Stack):
    def __init__(self, scope: Construct, construct_id: str, *, config: DeploymentConfig, repo_root: Path,
                 **kwargs: Any) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.config = config
        env = config.environment.value
        self.access_logs = self._access_log_bucket(env)
        self.lake = self._lake_bucket(env)
        self.table = self._state_table(env)
        self.functions = {role: self._function(role, handler, repo_root)
                          for role, handler in definitions.FUNCTIONS.items()}
        # ARNs from the names, so a parent's definition can name its child without a dependency cycle
        self.state_machine_arns = {name: _states_arn(self, state_machine_name(name, env))
                                   for name in definitions.STATE_MACHINES}
        self.state_machines: dict[str, sfn.StateMachine] = {}
        for name in _children_first(definitions.STATE_MACHINES):
            self.state_machines[name] = self._state_machine(name)
        self.orchestrator = self.state_machines["PipelineOrchestrator"]
        self.rules = [self._schedule(schedule) for schedule in config.schedules]

    # ---- storage ---------------------------------------------------------------------------
    def _access_log_bucket(self, env: str) -> s3.Bucket:
        bucket = s3.Bucket(
            self, "AccessLogs",
            bucket_name=f"{resource_name('avesa-access-logs', env)}-{Aws.ACCOUNT_ID}",
            encryption=s3.BucketEncryption.S3_MANAGED, block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True, object_ownership=s3.ObjectOwnership.BUCKET_OWNER_PREFERRED,
            lifecycle_rules=[s3.LifecycleRule(expiration=Duration.days(90))],
            removal_policy=RemovalPolicy.RETAIN,
        )
        acknowledge(bucket, "AwsSolutions-S1",
            "This bucket receives the lake bucket's server access logs; logging it into itself would loop.")
        return bucket

    def _lake_bucket(self, env: str) -> s3.Bucket:
        return s3.Bucket(
            self, "Lake",
            # bucket names are global: the account id keeps two customers' dev lakes apart
            bucket_name=f"{resource_name('avesa-lake', env)}-{Aws.ACCOUNT_ID}",
            encryption=s3.BucketEncryption.S3_MANAGED, block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True, versioned=True,
            server_access_logs_bucket=self.access_logs, server_access_logs_prefix="lake/",
            lifecycle_rules=[s3.LifecycleRule(noncurrent_version_expiration=Duration.days(30),
                                              abort_incomplete_multipart_upload_after=Duration.days(7))],
            removal_policy=RemovalPolicy.RETAIN,
        )

    def _state_table(self, env: str) -> dynamodb.Table:
        spec = layout.STATE_TABLE
        string = dynamodb.AttributeType.STRING
        table = dynamodb.Table(
            self, "State",
            table_name=spec.name(state_prefix(env)),
            partition_key=dynamodb.Attribute(name=spec.partition_key, type=string),
            sort_key=dynamodb.Attribute(name=spec.sort_key, type=string),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True),
            encryption=dynamodb.TableEncryption.AWS_MANAGED,
            time_to_live_attribute=layout.TTL_ATTRIBUTE,
            removal_policy=RemovalPolicy.RETAIN,
        )
        for index in spec.indexes:
            table.add_global_secondary_index(
                index_name=index.name,
                partition_key=dynamodb.Attribute(name=index.partition_key, type=string),
                sort_key=dynamodb.Attribute(name=index.sort_key, type=string),
                projection_type=dynamodb.ProjectionType(index.projection),
                non_key_attributes=list(index.included) or None,
            )
        return table

    # ---- functions -------------------------------------------------------------------------
    def _function(self, role: str, handler: str, repo_root: Path) -> lambda_.DockerImageFunction:
        env = self.config.environment.value
        name = function_name(role, env)
        memory, timeout = SIZING.get(role, (1024, 300))
        log_group = logs.LogGroup(self, f"{_pascal(role)}FunctionLogs", log_group_name=f"/aws/lambda/{name}",
                                  retention=logs.RetentionDays.ONE_MONTH, removal_policy=RemovalPolicy.DESTROY)
        execution_role = iam.Role(self, f"{_pascal(role)}FunctionRole",
                                  assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
                                  description=f"AVESA {role} ({env}): its log group, state table, lake, secrets")
        execution_role.add_to_policy(iam.PolicyStatement(
            actions=["logs:CreateLogStream", "logs:PutLogEvents"], resources=[f"{log_group.log_group_arn}"]))
        function = lambda_.DockerImageFunction(
            self, f"{_pascal(role)}Function",
            function_name=name,
            description=f"AVESA {role} ({handler})",
            code=lambda_.DockerImageCode.from_image_asset(
                str(repo_root), file=DOCKERFILE, cmd=[handler], platform=ecr_assets.Platform.LINUX_AMD64,
                exclude=IMAGE_CONTEXT, ignore_mode=IgnoreMode.DOCKER),
            architecture=lambda_.Architecture.X86_64,
            memory_size=memory,
            timeout=Duration.seconds(timeout),
            environment=environment_variables(self.config, self.lake.bucket_name),
            role=execution_role,
            log_group=log_group,
            reserved_concurrent_executions=self.config.max_concurrency if role == "chunk_processor" else None,
        )
        self.table.grant_read_write_data(execution_role)
        self._grant_lake(execution_role, write=role in WRITES_LAKE)
        if role in READS_SECRETS:
            execution_role.add_to_policy(iam.PolicyStatement(
                actions=["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"],
                resources=[self.secrets_arn_pattern()]))
        if role == "orchestrator" and definitions.ORCHESTRATOR_DESCRIBES_EXECUTIONS:
            # a run whose execution ended (stopped, failed) is finished by the next one at once
            execution_role.add_to_policy(iam.PolicyStatement(
                actions=["states:DescribeExecution"], resources=[self.orchestrator_executions()]))
        self._acknowledge_function(execution_role, role)
        return function

    def orchestrator_executions(self) -> str:
        name = state_machine_name("PipelineOrchestrator", self.config.environment.value)
        return _states_arn(self, f"{name}:*", "execution")

    def secrets_arn_pattern(self) -> str:
        """The environment's secrets and nothing else: `avesa/{env}/*` (Secrets Manager appends a
        random six-character suffix to every secret's ARN, hence the trailing wildcard)."""
        return self.format_arn(service="secretsmanager", resource="secret",
                               resource_name=f"{secrets_prefix(self.config.environment)}/*",
                               arn_format=ArnFormat.COLON_RESOURCE_NAME)

    def _grant_lake(self, grantee: iam.Role, *, write: bool) -> None:
        objects = ["s3:GetObject"] + (["s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"] if write else [])
        grantee.add_to_policy(iam.PolicyStatement(actions=objects,
                                                  resources=[self.lake.arn_for_objects(f"{LAKE_PREFIX}/*")]))
        grantee.add_to_policy(iam.PolicyStatement(
            actions=["s3:ListBucket"], resources=[self.lake.bucket_arn],
            conditions={"StringLike": {"s3:prefix": [LAKE_PREFIX, f"{LAKE_PREFIX}/*"]}}))

    def _acknowledge_function(self, execution_role: iam.Role, role: str) -> None:
        policy = execution_role.node.find_child("DefaultPolicy").node.default_child
        stack = Stack.of(self)
        table_id = stack.resolve(self.table.table_arn)["Fn::GetAtt"][0]
        lake_id = stack.resolve(self.lake.bucket_arn)["Fn::GetAtt"][0]
        reasons = {
            f"Resource::<{table_id}.Arn>/index/*":
                "The state store queries the table's sparse indexes (runs by status/start, by tenant, throughput); "
                "every index of this one table.",
            f"Resource::<{lake_id}.Arn>/{LAKE_PREFIX}/*":
                "The lake's objects are keyed by tenant/service/table under lake/: the function reads "
                "(and the writers write) that prefix of this environment's bucket only.",
            "Resource::*":
                "ecr:GetAuthorizationToken has no resource-level permissions (the image pull itself is "
                "limited to the asset repository).",
        }
        for finding, reason in reasons.items():
            acknowledge(policy, f"AwsSolutions-IAM5[{finding}]", reason)
        if role == "orchestrator" and definitions.ORCHESTRATOR_DESCRIBES_EXECUTIONS:
            acknowledge_wildcard(policy, self.orchestrator_executions(),
                                 "Asking whether the execution that owns an unfinished run still runs: this "
                                 "environment's orchestrator executions only.")
        if role in READS_SECRETS:
            prefix = secrets_prefix(self.config.environment)
            acknowledge_wildcard(policy, self.secrets_arn_pattern(),
                                 f"Secrets are named {prefix}/{{tenant}}/{{service}} with a random ARN suffix: this "
                                 "environment's prefix, never another environment's.")

    # ---- state machines --------------------------------------------------------------------
    def _state_machine(self, name: str) -> sfn.StateMachine:
        env = self.config.environment.value
        text = definitions.definition(name)
        parsed = json.loads(text)
        function_arns = {role: fn.function_arn for role, fn in self.functions.items()}
        log_group = logs.LogGroup(self, f"{name}StateMachineLogs",
                                  log_group_name=f"/aws/vendedlogs/states/{state_machine_name(name, env)}",
                                  retention=logs.RetentionDays.ONE_MONTH, removal_policy=RemovalPolicy.DESTROY)
        machine = sfn.StateMachine(
            self, f"{name}StateMachine",
            state_machine_name=state_machine_name(name, env),
            definition_body=sfn.DefinitionBody.from_string(text),
            definition_substitutions=definitions.substitutions(function_arns, self.state_machine_arns),
            logs=sfn.LogOptions(destination=log_group, level=sfn.LogLevel.ALL, include_execution_data=False),
            tracing_enabled=True,
        )
        used = set(re.findall(r"\$\{(\w+)\}", text))
        placeholders = definitions.substitutions(
            {role: role for role in self.functions}, {sm: sm for sm in self.state_machine_arns})
        for placeholder, target in placeholders.items():
            if placeholder not in used:
                continue
            if target in self.functions:
                self.functions[target].grant_invoke(machine)
            else:
                machine.add_to_role_policy(iam.PolicyStatement(
                    actions=["states:StartExecution"], resources=[self.state_machine_arns[target]]))
                child_executions = _states_arn(self, f"{state_machine_name(target, env)}:*", "execution")
                machine.add_to_role_policy(iam.PolicyStatement(
                    actions=["states:DescribeExecution", "states:StopExecution"], resources=[child_executions]))
        resources = set(asl_resources(parsed))
        if any(r.startswith("arn:aws:states:::states:startExecution.sync") for r in resources):
            machine.add_to_role_policy(iam.PolicyStatement(
                actions=["events:PutTargets", "events:PutRule", "events:DescribeRule"],
                resources=[self.format_arn(service="events", resource="rule",
                                           resource_name="StepFunctionsGetEventsForStepFunctionsExecutionRule")]))
        if any(r.startswith("arn:aws:states:::dynamodb:") for r in resources):
            self.table.grant_read_write_data(machine)
        self._acknowledge_state_machine(machine, name, used)
        return machine

    def _acknowledge_state_machine(self, machine: sfn.StateMachine, name: str, used: set[str]) -> None:
        policy = machine.role.node.find_child("DefaultPolicy").node.default_child
        stack = Stack.of(self)
        env = self.config.environment.value
        reasons = {
            "Resource::*": "Step Functions' log delivery (logs:CreateLogDelivery, PutResourcePolicy, …) and X-Ray "
                           "tracing accept no resource-level permissions.",
        }
        placeholders = definitions.substitutions({role: role for role in self.functions},
                                                 {sm: sm for sm in self.state_machine_arns})
        for placeholder, role in placeholders.items():
            if placeholder in used and role in self.functions:
                function_id = stack.resolve(self.functions[role].function_arn)["Fn::GetAtt"][0]
                reasons[f"Resource::<{function_id}.Arn>:*"] = (
                    f"Invoking {function_name(role, env)} by any version or alias of that one function.")
        for finding, reason in reasons.items():
            acknowledge(policy, f"AwsSolutions-IAM5[{finding}]", reason)
        for target in self.state_machine_arns:
            acknowledge_wildcard(policy, _states_arn(self, f"{state_machine_name(target, env)}:*", "execution"),
                                 f"Following and stopping the executions it starts of "
                                 f"{state_machine_name(target, env)}.")

    # ---- schedules -------------------------------------------------------------------------
    def _schedule(self, schedule: Any) -> events.Rule:
        env = self.config.environment.value
        payload = definitions.PipelineInput.model_validate(
            {"mode": schedule.mode, **({"service": schedule.service} if schedule.service else {})})
        rule = events.Rule(
            self, f"Schedule{_pascal(schedule.name)}",
            rule_name=resource_name(f"avesa-{schedule.name}", env),
            description=f"AVESA {schedule.mode} run{' of ' + schedule.service if schedule.service else ''} ({env})",
            schedule=events.Schedule.expression(schedule.expression),
            targets=[targets.SfnStateMachine(
                self.orchestrator,
                input=events.RuleTargetInput.from_object(payload.model_dump(mode="json", exclude_none=True)),
                retry_attempts=2)],
        )
        return rule


def _pascal(name: str) -> str:
    return "".join(part.capitalize() for part in re.split(r"[_\-]", name) if part) if "_" in name or "-" in name \
        else name[:1].upper() + name[1:]


def _states_arn(stack: Stack, name: str, resource: str = "stateMachine") -> str:
    return stack.format_arn(service="states", resource=resource, resource_name=name,
                            arn_format=ArnFormat.COLON_RESOURCE_NAME)


def _children_first(machines: Mapping[str, str]) -> list[str]:
    """The state machines in creation order, children before the ones that start them."""
    order = ["TableProcessor", "TenantProcessor", "PipelineOrchestrator"]
    return [n for n in order if n in machines] + [n for n in machines if n not in order]

"""The synthesised stacks of dev, staging and prod: every resource, name, policy, schedule input,
alarm and dashboard, read from the templates CloudFormation would deploy."""

from __future__ import annotations

import json
import re

import pytest

from avesa.domain.environments import resource_name, secrets_prefix, state_prefix
from avesa.runtime.aws import definitions
from avesa.state.dynamodb import layout
from tests.infrastructure.conftest import MONITORING_ACCOUNT, PROD_ACCOUNT

pytestmark = pytest.mark.slow
ENVS = ("dev", "staging", "prod")


def joined(value):
    """A CloudFormation string as text: `Fn::Join` pieces concatenated, references as `<Ref>`."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and "Fn::Join" in value:
        sep, parts = value["Fn::Join"]
        return sep.join(joined(p) for p in parts)
    if isinstance(value, dict) and "Ref" in value:
        return f"<{value['Ref']}>"
    if isinstance(value, dict) and "Fn::GetAtt" in value:
        return f"<{'.'.join(value['Fn::GetAtt'])}>"
    if isinstance(value, dict) and "Fn::ImportValue" in value:
        return f"<import {joined(value['Fn::ImportValue'])}>"
    return json.dumps(value)


def statements(synth, kind="DataPipeline"):
    found = {}
    for logical, policy in synth.resources(kind, "AWS::IAM::Policy").items():
        found[logical] = policy["Properties"]["PolicyDocument"]["Statement"]
    return found


def role_policy(synth, role_id_prefix):
    [(_, stmts)] = [(k, v) for k, v in statements(synth).items() if k.startswith(role_id_prefix)]
    return stmts


@pytest.mark.parametrize("env", ENVS)
def test_each_environment_synthesises_three_stacks_offline_and_cdk_nag_clean(synth, env):
    result = synth(env)
    suffix = "" if env == "prod" else f"-{env}"
    assert set(result.names.values()) == {f"AVESA-DataPipeline{suffix}", f"AVESA-Monitoring{suffix}",
                                          f"AVESA-Backfill{suffix}"}
    assert {s.stack_name for s in result.assembly.stacks} == set(result.names.values())
    # cdk-nag ran as a validation plugin: a finding would have raised in synth (see test_nag_gate)
    report = json.loads((result.outdir / "validation-report.json").read_text())
    assert all(r["conclusion"] == "success" for r in report["pluginReports"])


@pytest.mark.parametrize("env", ENVS)
def test_lake_bucket_is_encrypted_versioned_private_and_tls_only(synth, env):
    result = synth(env)
    buckets = result.resources("DataPipeline", "AWS::S3::Bucket")
    [lake] = [b for b in buckets.values() if joined(b["Properties"]["BucketName"]).startswith("avesa-lake")]
    props = lake["Properties"]
    assert joined(props["BucketName"]) == f"{resource_name('avesa-lake', env)}-<AWS::AccountId>"
    assert props["VersioningConfiguration"] == {"Status": "Enabled"}
    assert props["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"] == {
        "SSEAlgorithm": "AES256"}
    assert props["PublicAccessBlockConfiguration"] == {"BlockPublicAcls": True, "BlockPublicPolicy": True,
                                                       "IgnorePublicAcls": True, "RestrictPublicBuckets": True}
    assert "LoggingConfiguration" in props
    policies = result.resources("DataPipeline", "AWS::S3::BucketPolicy")
    denies = [s for p in policies.values() for s in p["Properties"]["PolicyDocument"]["Statement"]
              if s["Effect"] == "Deny"]
    assert len(denies) == 2 and all(s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}} for s in denies)


@pytest.mark.parametrize("env", ENVS)
def test_state_table_is_the_layout_the_store_uses(synth, env):
    [table] = synth(env).resources("DataPipeline", "AWS::DynamoDB::Table").values()
    props = table["Properties"]
    expected = layout.STATE_TABLE.create_table_request(state_prefix(env))
    assert props["TableName"] == expected["TableName"] == ("avesa-state" if env == "prod" else f"avesa-{env}-state")
    assert props["BillingMode"] == "PAY_PER_REQUEST"
    assert props["KeySchema"] == expected["KeySchema"]
    assert sorted(props["AttributeDefinitions"], key=lambda a: a["AttributeName"]) == sorted(
        expected["AttributeDefinitions"], key=lambda a: a["AttributeName"])
    assert sorted(props["GlobalSecondaryIndexes"], key=lambda i: i["IndexName"]) == sorted(
        expected["GlobalSecondaryIndexes"], key=lambda i: i["IndexName"])
    assert props["TimeToLiveSpecification"] == {"AttributeName": layout.TTL_ATTRIBUTE, "Enabled": True}
    assert props["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert table["DeletionPolicy"] == "Retain"


@pytest.mark.parametrize("env", ENVS)
def test_six_container_functions_with_their_handlers_and_environment(synth, env):
    result = synth(env)
    functions = result.resources("DataPipeline", "AWS::Lambda::Function")
    by_command = {f["Properties"]["ImageConfig"]["Command"][0]: f["Properties"] for f in functions.values()}
    assert set(by_command) == set(definitions.FUNCTIONS.values())
    for role, handler in definitions.FUNCTIONS.items():
        props = by_command[handler]
        assert props["FunctionName"] == resource_name(f"avesa-{role.replace('_', '-')}", env)
        assert props["PackageType"] == "Image" and props["Architectures"] == ["x86_64"]
        variables = {k: joined(v) for k, v in props["Environment"]["Variables"].items()}
        assert variables["AVESA_ENV"] == env
        assert variables["AVESA_STATE_URL"] == f"dynamodb://{state_prefix(env)}?region=<AWS::Region>"
        assert variables["AVESA_SECRETS_URL"] == f"secretsmanager://{secrets_prefix(env)}?region=<AWS::Region>"
        assert re.fullmatch(r"s3://<Lake\w+>/lake", variables["AVESA_LAKE_URL"])
        keys = definitions.FUNCTION_ENVIRONMENT_KEYS
        for key in keys:
            default = keys[key] if isinstance(keys, dict) else None
            assert key in variables or default is None
    # one image for all six: its build context is the engine's sources, not the checkout's clutter
    [asset] = [p for p in result.outdir.iterdir() if p.name.startswith("asset.") and p.is_dir()]
    staged = {p.name for p in asset.iterdir()}
    assert {"pyproject.toml", "src", "infrastructure"} <= staged
    assert not staged & {"node_modules", "tests", "cdk.out", ".git", "benchmarks"}
    assert (asset / "infrastructure" / "lambda" / "Dockerfile").is_file()
    assert (asset / "src" / "avesa" / "runtime" / "aws" / "handlers.py").is_file()
    chunk = by_command[definitions.FUNCTIONS["chunk_processor"]]
    assert chunk.get("ReservedConcurrentExecutions") == (50 if env == "prod" else None)
    assert chunk["Timeout"] == 900


@pytest.mark.parametrize("env", ENVS)
def test_functions_read_only_their_environments_secrets_and_lake_prefix(synth, env):
    result = synth(env)
    text = json.dumps([result.template(k) for k in result.names])
    for other in set(ENVS) - {env}:
        assert f"avesa/{other}" not in text  # no policy, variable or name reaches another environment
    for role in definitions.FUNCTIONS:
        stmts = role_policy(result, "".join(p.capitalize() for p in role.split("_")) + "FunctionRole")
        actions = {a for s in stmts for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])}
        secret_stmts = [s for s in stmts if "secretsmanager:GetSecretValue" in s["Action"]]
        if role in ("finish_run", "orchestrator"):
            assert not secret_stmts and not any(a.startswith("secretsmanager") for a in actions)
        else:
            [secret] = secret_stmts
            where = "eu-west-1:" + PROD_ACCOUNT if env == "prod" else "<AWS::Region>:<AWS::AccountId>"
            assert joined(secret["Resource"]) == (
                f"arn:<AWS::Partition>:secretsmanager:{where}:secret:{secrets_prefix(env)}/*")
        object_stmts = [s for s in stmts if "s3:GetObject" in s["Action"]]
        [objects] = object_stmts
        assert re.fullmatch(r"<Lake\w+\.Arn>/lake/\*", joined(objects["Resource"]))
        assert ("s3:PutObject" in objects["Action"]) == (role in ("chunk_processor", "finalize_table"))
        assert not any(a in ("s3:*", "dynamodb:*", "*") for a in actions)


@pytest.mark.parametrize("env", ENVS)
def test_state_machines_deploy_exactly_the_repository_asl_files(synth, env):
    result = synth(env)
    machines = result.resources("DataPipeline", "AWS::StepFunctions::StateMachine")
    functions = result.resources("DataPipeline", "AWS::Lambda::Function")
    handler_of = {k: f["Properties"]["ImageConfig"]["Command"][0] for k, f in functions.items()}
    by_name = {m["Properties"]["StateMachineName"]: m["Properties"] for m in machines.values()}
    assert set(by_name) == {resource_name(f"avesa-{re.sub(r'(?<!^)(?=[A-Z])', '-', n).lower()}", env)
                            for n in definitions.STATE_MACHINES}
    for name in definitions.STATE_MACHINES:
        props = by_name[resource_name(f"avesa-{re.sub(r'(?<!^)(?=[A-Z])', '-', name).lower()}", env)]
        text = definitions.definition(name)
        assert props["DefinitionString"] == text  # byte for byte: the file the moto tests execute
        placeholders = set(re.findall(r"\$\{(\w+)\}", text))
        assert placeholders <= set(props["DefinitionSubstitutions"])
        expected = definitions.substitutions(
            {role: f"fn:{handler}" for role, handler in definitions.FUNCTIONS.items()},
            {sm: f"sm:{sm}" for sm in definitions.STATE_MACHINES})
        for placeholder in placeholders:
            value = props["DefinitionSubstitutions"][placeholder]
            if expected[placeholder].startswith("fn:"):
                assert handler_of[value["Fn::GetAtt"][0]] == expected[placeholder][3:]
            else:
                child = expected[placeholder][3:]
                child_name = resource_name("avesa-" + re.sub(r"(?<!^)(?=[A-Z])", "-", child).lower(), env)
                assert joined(value).endswith(f":stateMachine:{child_name}")
        assert props["TracingConfiguration"] == {"Enabled": True}
        assert props["LoggingConfiguration"]["Level"] == "ALL"


def _rules(result):
    rules = result.resources("DataPipeline", "AWS::Events::Rule").values()
    return {r["Properties"]["Name"]: r["Properties"] for r in rules}


@pytest.mark.parametrize(("env", "expected"), [
    ("dev", {"avesa-incremental-dev": ("rate(1 hour)", {"mode": "incremental"}),
             "avesa-full-dev": ("cron(0 3 * * ? *)", {"mode": "full"})}),
    ("staging", {"avesa-incremental-staging": ("rate(15 minutes)", {"mode": "incremental"}),
                 "avesa-incremental-servicenow-staging": ("rate(30 minutes)",
                                                          {"mode": "incremental", "service": "servicenow"}),
                 "avesa-full-staging": ("cron(0 2 ? * SUN *)", {"mode": "full"})}),
    ("prod", {"avesa-incremental": ("rate(1 hour)", {"mode": "incremental"}),
              "avesa-full": ("cron(0 3 * * ? *)", {"mode": "full"})}),
])
def test_schedules_start_the_orchestrator_with_a_valid_pipeline_input(synth, env, expected):
    result = synth(env)
    rules = _rules(result)
    assert set(rules) == set(expected)
    [orchestrator] = [k for k, m in result.resources("DataPipeline", "AWS::StepFunctions::StateMachine").items()
                      if m["Properties"]["StateMachineName"] == resource_name("avesa-pipeline-orchestrator", env)]
    for name, (expression, payload) in expected.items():
        rule = rules[name]
        assert rule["ScheduleExpression"] == expression and rule["State"] == "ENABLED"
        [target] = rule["Targets"]
        assert target["Arn"] == {"Ref": orchestrator}
        given = json.loads(target["Input"])
        assert given == payload
        parsed = definitions.PipelineInput.model_validate(given)  # exactly what the orchestrator accepts
        request = parsed.plan_request()  # and what its plan-run unit is given
        assert request.sync is not None and request.sync.full == (payload["mode"] == "full")
        assert request.sync.service == payload.get("service")


def _alarms(result):
    return {a["Properties"]["AlarmName"]: a["Properties"]
            for a in result.resources("Monitoring", "AWS::CloudWatch::Alarm").values()}


@pytest.mark.parametrize("env", ENVS)
def test_alarms_cover_failures_staleness_and_stuck_chunks_and_notify_the_topic(synth, env):
    from avesa.catalog.loader import load_catalog

    result = synth(env)
    [topic_id] = result.resources("Monitoring", "AWS::SNS::Topic")
    topic = result.resources("Monitoring", "AWS::SNS::Topic")[topic_id]["Properties"]
    assert topic["TopicName"] == resource_name("avesa-alerts", env) and "KmsMasterKeyId" in topic
    alarms = _alarms(result)
    wanted = ["PipelineOrchestrator-ExecutionsFailed", "TenantProcessor-ExecutionsFailed",
              "TableProcessor-ExecutionsFailed", "TableFailureRate", "ChunkErrors", "ChunkNearTimeout",
              "LongRunningTable", "DataStale", "NothingLanded", *(f"DataStale-{s}" for s in load_catalog().services)]
    assert set(alarms) == {resource_name(f"AVESA-{w}", env) for w in wanted}
    for props in alarms.values():
        assert props["AlarmActions"] == [{"Ref": topic_id}] == props["OKActions"]
    used = set()
    for props in alarms.values():
        metrics = [props] if "MetricName" in props else [m["MetricStat"]["Metric"] for m in props["Metrics"]
                                                          if "MetricStat" in m]
        for metric in metrics:
            if metric["Namespace"] == "AVESA":
                used.add(metric["MetricName"])
                assert {"Name": "Environment", "Value": env} in metric["Dimensions"]
    assert used and used <= set(definitions.METRICS)
    landed = alarms[resource_name("AVESA-NothingLanded", env)]
    assert landed["TreatMissingData"] == "breaching" and landed["ComparisonOperator"] == "LessThanThreshold"
    stale = alarms[resource_name("AVESA-DataStale-servicenow", env)]
    assert stale["Threshold"] == (2 * 3600 if env == "staging" else 24 * 3600)
    [metric] = [m["MetricStat"]["Metric"] for m in stale["Metrics"]] if "Metrics" in stale else [stale]
    assert {"Name": "Service", "Value": "servicenow"} in metric["Dimensions"]


@pytest.mark.parametrize("env", ENVS)
def test_dashboards_overview_performance_and_one_per_tenant(synth, env):
    result = synth(env)
    boards = {joined(d["Properties"]["DashboardName"]): joined(d["Properties"]["DashboardBody"])
              for d in result.resources("Monitoring", "AWS::CloudWatch::Dashboard").values()}
    tenants = {"dev": ["acme", "globex"], "staging": [], "prod": ["acme"]}[env]
    assert set(boards) == {resource_name(n, env) for n in
                           ["AVESA-Pipeline-Overview", "AVESA-Performance", *(f"AVESA-Tenant-{t}" for t in tenants)]}
    overview = boards[resource_name("AVESA-Pipeline-Overview", env)]
    for name in ("RunsStarted", "RunsFailed", "ChunkErrors"):
        assert f'"{name}"' in overview
    performance = boards[resource_name("AVESA-Performance", env)]
    assert '"RecordsPerSecond"' in performance and "ConcurrentExecutions" in performance
    for tenant in tenants:
        body = boards[resource_name(f"AVESA-Tenant-{tenant}", env)]
        assert f"filter TenantId = '{tenant}'" in body
        for role in definitions.FUNCTIONS:
            assert f"/aws/lambda/{resource_name('avesa-' + role.replace('_', '-'), env)}" in body


def test_a_separate_production_account_is_shared_with_the_monitoring_account(synth):
    result = synth("prod")
    assert {s.environment.account for s in result.assembly.stacks} == {PROD_ACCOUNT}
    roles = {r["Properties"].get("RoleName"): r["Properties"]
             for r in result.resources("Monitoring", "AWS::IAM::Role").values()}
    sharing = roles["CloudWatch-CrossAccountSharingRole"]
    [statement] = sharing["AssumeRolePolicyDocument"]["Statement"]
    assert MONITORING_ACCOUNT in joined(statement["Principal"]["AWS"])
    assert "CloudWatch-CrossAccountSharingRole" not in json.dumps(synth("dev").template("Monitoring"))


@pytest.mark.parametrize("env", ENVS)
def test_backfill_operator_may_start_only_this_environments_orchestrator(synth, env):
    result = synth(env)
    [role] = result.resources("Backfill", "AWS::IAM::Role").values()
    assert role["Properties"]["RoleName"] == resource_name("avesa-backfill-operator", env)
    [stmts] = statements(result, "Backfill").values()
    start = [s for s in stmts if s["Action"] == "states:StartExecution"]
    where = "eu-west-1:" + PROD_ACCOUNT if env == "prod" else "<AWS::Region>:<AWS::AccountId>"
    assert [joined(s["Resource"]) for s in start] == [
        f"arn:<AWS::Partition>:states:{where}:stateMachine:{resource_name('avesa-pipeline-orchestrator', env)}"]
    assert not any("secretsmanager" in json.dumps(s) for s in stmts)


@pytest.mark.parametrize("env", ENVS)
def test_each_state_machine_may_call_exactly_what_it_calls(synth, env):
    """The roles' grants against `definitions.CALLS`: nothing missing (an AccessDenied mid-run on
    AWS, which moto would never show) and nothing more."""
    result = synth(env)
    machines = result.resources("DataPipeline", "AWS::StepFunctions::StateMachine")
    functions = result.resources("DataPipeline", "AWS::Lambda::Function")
    handler_role = {h: r for r, h in definitions.FUNCTIONS.items()}
    role_of = {k: handler_role[f["Properties"]["ImageConfig"]["Command"][0]] for k, f in functions.items()}
    policies = statements(result)
    for name, calls in definitions.CALLS.items():
        wanted = resource_name("avesa-" + re.sub(r"(?<!^)(?=[A-Z])", "-", name).lower(), env)
        [machine] = [m for m in machines.values() if m["Properties"]["StateMachineName"] == wanted]
        role_id = machine["Properties"]["RoleArn"]["Fn::GetAtt"][0]
        resources = result.template("DataPipeline")["Resources"]
        [stmts] = [v for k, v in policies.items() if {"Ref": role_id} in resources[k]["Properties"]["Roles"]]
        invoked = {role_of[r["Fn::GetAtt"][0]] for s in stmts if "lambda:InvokeFunction" in s["Action"]
                   for r in s["Resource"] if isinstance(r, dict) and "Fn::GetAtt" in r}
        started = {joined(s["Resource"]).rsplit(":", 1)[-1] for s in stmts if s["Action"] == "states:StartExecution"}
        expected_functions = {c for c in calls if c in definitions.FUNCTIONS}
        expected_machines = {resource_name("avesa-" + re.sub(r"(?<!^)(?=[A-Z])", "-", c).lower(), env)
                             for c in calls if c in definitions.STATE_MACHINES}
        assert invoked == expected_functions, name
        assert started == expected_machines, name
    orchestrator = role_policy(result, "OrchestratorFunctionRole")
    [describe] = [s for s in orchestrator if s["Action"] == "states:DescribeExecution"]
    assert joined(describe["Resource"]).endswith(f":execution:{resource_name('avesa-pipeline-orchestrator', env)}:*")

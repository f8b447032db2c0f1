"""The monitoring stack: dashboards, alarms and the environment's one alert topic.

Metric names come from `definitions.METRICS` (what the handlers emit as EMF, namespace `AVESA`,
dimension `Environment`, plus `Service` where one applies); Step Functions' and Lambda's own
metrics (AWS/States, AWS/Lambda) cover what the handlers cannot report themselves — an execution
that failed outside them, a chunk killed by its timeout. Tenant ids are EMF properties, not
dimensions (one metric per tenant would cost per tenant), so a tenant's dashboard queries the
functions' log lines instead of metrics.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_cloudwatch as cw
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from constructs import Construct

from avesa.catalog.loader import load_catalog
from avesa.domain.environments import resource_name
from avesa.runtime.aws import definitions
from infrastructure.stacks.data_pipeline import SIZING, DataPipelineStack, function_name
from infrastructure.stacks.nag import acknowledge

NAMESPACE = definitions.METRIC_NAMESPACE
TENANT_PROPERTY = "TenantId"
"""The EMF property naming a record's tenant, which the tenant dashboards filter on."""
OVERVIEW = "AVESA-Pipeline-Overview"
PERFORMANCE = "AVESA-Performance"
FIVE_MINUTES = Duration.minutes(5)
LONG_RUNNING_TABLE = Duration.hours(2)


def metric_name(*candidates: str) -> str:
    """The first of `candidates` the handlers emit (definitions.METRICS); a KeyError names them all,
    so a renamed metric breaks the synth instead of leaving an alarm on a metric nobody sends."""
    for name in candidates:
        if name in definitions.METRICS:
            return name
    raise KeyError(f"none of {candidates} is in definitions.METRICS ({', '.join(definitions.METRICS)})")


class MonitoringStack(Stack):
    def __init__(self, scope: Construct, construct_id: str, *, pipeline: DataPipelineStack, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.pipeline = pipeline
        self.config = pipeline.config
        self.env_name = self.config.environment.value
        self.topic = self._topic()
        self.alarms: list[cw.Alarm] = []
        self._alarms()
        self.dashboards = [self._overview(), self._performance(),
                           *(self._tenant(tenant) for tenant in self.config.tenants)]
        if self.config.monitoring_account:
            self._cross_account_sharing(self.config.monitoring_account)

    # ---- metrics ---------------------------------------------------------------------------
    def avesa(self, name: str, statistic: str = "Sum", service: str | None = None,
              period: Duration = FIVE_MINUTES) -> cw.Metric:
        dimensions = {"Environment": self.env_name, **({"Service": service} if service else {})}
        return cw.Metric(namespace=NAMESPACE, metric_name=name, dimensions_map=dimensions, statistic=statistic,
                         period=period, label=name)

    def machine_metric(self, machine: str, name: str, statistic: str = "Sum") -> cw.Metric:
        return cw.Metric(namespace="AWS/States", metric_name=name, statistic=statistic, period=FIVE_MINUTES,
                         dimensions_map={"StateMachineArn": self.pipeline.state_machines[machine].state_machine_arn},
                         label=f"{machine} {name}")

    # ---- alerts ----------------------------------------------------------------------------
    def _topic(self) -> sns.Topic:
        key = kms.Key(self, "AlertsKey", enable_key_rotation=True, removal_policy=RemovalPolicy.DESTROY,
                      description=f"Encrypts AVESA's alert topic ({self.env_name})")
        # CloudWatch alarms publish to an encrypted topic only if they may use its key
        key.add_to_resource_policy(iam.PolicyStatement(
            actions=["kms:Decrypt", "kms:GenerateDataKey*"],
            principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")], resources=["*"]))
        topic = sns.Topic(self, "Alerts", topic_name=resource_name("avesa-alerts", self.env_name),
                          display_name=f"AVESA alerts ({self.env_name})", master_key=key, enforce_ssl=True)
        if self.config.alarm_email:
            topic.add_subscription(subscriptions.EmailSubscription(self.config.alarm_email))
        return topic

    def _alarm(self, construct_id: str, name: str, metric: cw.IMetric, threshold: float, description: str, *,
               comparison: cw.ComparisonOperator = cw.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
               periods: int = 1, missing: cw.TreatMissingData = cw.TreatMissingData.NOT_BREACHING) -> cw.Alarm:
        alarm = cw.Alarm(self, construct_id, alarm_name=resource_name(f"AVESA-{name}", self.env_name),
                         alarm_description=description, metric=metric, threshold=threshold,
                         evaluation_periods=periods, comparison_operator=comparison, treat_missing_data=missing)
        alarm.add_alarm_action(cw_actions.SnsAction(self.topic))
        alarm.add_ok_action(cw_actions.SnsAction(self.topic))
        self.alarms.append(alarm)
        return alarm

    def _alarms(self) -> None:
        for machine in self.pipeline.state_machines:
            failed = cw.MathExpression(
                expression="failed + timedout + aborted",
                using_metrics={"failed": self.machine_metric(machine, "ExecutionsFailed"),
                               "timedout": self.machine_metric(machine, "ExecutionsTimedOut"),
                               "aborted": self.machine_metric(machine, "ExecutionsAborted")},
                label=f"{machine} executions failed, timed out or aborted", period=FIVE_MINUTES)
            self._alarm(f"{machine}Failed", f"{machine}-ExecutionsFailed", failed, 1,
                        f"A {machine} execution failed, timed out or was aborted: open it in the Step Functions "
                        "console (its failed state names the table).")
        tables_failed = metric_name("TablesFailed", "TableFailures")
        tables_completed = metric_name("TablesCompleted")
        rate = cw.MathExpression(
            expression="IF(failed + completed > 0, 100 * failed / (failed + completed), 0)",
            using_metrics={"failed": self.avesa(tables_failed, period=Duration.hours(1)),
                           "completed": self.avesa(tables_completed, period=Duration.hours(1))},
            label="Tables failed (%)", period=Duration.hours(1))
        self._alarm("TableFailureRate", "TableFailureRate", rate, 10,
                    "More than 10% of the tables that ended in the last hour failed: `avesa status` names them "
                    "and their errors.", comparison=cw.ComparisonOperator.GREATER_THAN_THRESHOLD)
        self._alarm("ChunkErrors", "ChunkErrors", self.avesa(metric_name("ChunkErrors"), period=Duration.minutes(15)),
                    1, "A chunk failed (after its retries): its table failed or will be retried by the next run.")
        chunk_function = self.pipeline.functions["chunk_processor"]
        timeout_ms = SIZING["chunk_processor"][1] * 1000
        self._alarm("ChunkNearTimeout", "ChunkNearTimeout",
                    chunk_function.metric_duration(statistic="Maximum", period=FIVE_MINUTES), 0.95 * timeout_ms,
                    "A chunk ran to within 5% of the Lambda timeout: it should have returned its cursor earlier "
                    "(stuck on a request?).", comparison=cw.ComparisonOperator.GREATER_THAN_THRESHOLD)
        self._alarm("LongRunningTable", "LongRunningTable",
                    self.machine_metric("TableProcessor", "ExecutionTime", "Maximum"),
                    LONG_RUNNING_TABLE.to_milliseconds(),
                    "A table has been running for over 2 hours: a stuck chunk, or a backfill larger than planned.",
                    comparison=cw.ComparisonOperator.GREATER_THAN_THRESHOLD)
        lag = metric_name("LagSeconds", "TableLagSeconds")
        self._alarm("DataStale", "DataStale", self.avesa(lag, "Maximum", period=Duration.minutes(15)),
                    self.config.freshness_target_hours * 3600,
                    f"Some table's newest data is older than the {self.config.freshness_target_hours:g} h freshness "
                    "target.", comparison=cw.ComparisonOperator.GREATER_THAN_THRESHOLD)
        # a lag alarm is silent when nothing reports a lag at all: a pipeline that stopped syncing
        # shows here, as no table completed within the freshness window (missing data breaches)
        window = Duration.hours(min(self.config.freshness_target_hours, 24))
        self._alarm("NothingLanded", "NothingLanded", self.avesa(metric_name("TablesCompleted"), period=window), 1,
                    f"No table completed in the last {window.to_hours():g} h: the schedules are not starting runs, "
                    "or every run fails (an environment with no tenants also shows this).",
                    comparison=cw.ComparisonOperator.LESS_THAN_THRESHOLD, missing=cw.TreatMissingData.BREACHING)
        for service in sorted(load_catalog().services):
            hours = self.config.freshness_targets.get(service, self.config.freshness_target_hours)
            self._alarm(f"DataStale{service.capitalize()}", f"DataStale-{service}",
                        self.avesa(lag, "Maximum", service=service, period=Duration.minutes(15)), hours * 3600,
                        f"A {service} table's newest data is older than its {hours:g} h freshness target.",
                        comparison=cw.ComparisonOperator.GREATER_THAN_THRESHOLD)

    # ---- dashboards ------------------------------------------------------------------------
    def _graph(self, title: str, metrics: Sequence[cw.IMetric], width: int = 12, **kwargs: Any) -> cw.GraphWidget:
        return cw.GraphWidget(title=title, left=list(metrics), width=width, height=6, **kwargs)

    def _overview(self) -> cw.Dashboard:
        runs = [self.avesa(metric_name(n)) for n in ("RunsStarted", "RunsCompleted", "RunsFailed")]
        executions = [self.machine_metric("PipelineOrchestrator", n)
                      for n in ("ExecutionsStarted", "ExecutionsSucceeded", "ExecutionsFailed")]
        dashboard = cw.Dashboard(self, "Overview", dashboard_name=resource_name(OVERVIEW, self.env_name),
                                 default_interval=Duration.days(1))
        dashboard.add_widgets(
            cw.TextWidget(markdown=f"# AVESA pipeline ({self.env_name})\nRuns, failures, freshness; "
                                   "alarms notify the alert topic.", width=24, height=2))
        dashboard.add_widgets(
            self._graph("Runs", runs), self._graph("Pipeline executions", executions))
        dashboard.add_widgets(
            self._graph("Failures", [self.avesa(metric_name("TablesFailed", "TableFailures")),
                                     self.avesa(metric_name("ChunkErrors"))]),
            self._graph("Data lag (s, max)", [self.avesa(metric_name("LagSeconds", "TableLagSeconds"), "Maximum")]))
        dashboard.add_widgets(cw.AlarmStatusWidget(alarms=self.alarms, title="Alarms", width=24, height=4))
        return dashboard

    def _performance(self) -> cw.Dashboard:
        dashboard = cw.Dashboard(self, "Performance", dashboard_name=resource_name(PERFORMANCE, self.env_name),
                                 default_interval=Duration.days(1))
        perf = [n for n in ("RecordsExtracted", "ApiCalls", "Retries", "RateLimited") if n in definitions.METRICS]
        dashboard.add_widgets(
            self._graph("Records and API calls", [self.avesa(n) for n in perf]),
            self._graph("Records per second", [self.avesa(metric_name("RecordsPerSecond"), "Average")]))
        chunk = metric_name("ChunkDurationSeconds")
        dashboard.add_widgets(
            self._graph("Chunk duration (s)", [self.avesa(chunk, s) for s in ("p50", "p90", "Maximum")]),
            self._graph("Run duration (s)", [self.avesa(metric_name("RunDurationSeconds"), s)
                                             for s in ("Average", "Maximum")]))
        functions = self.pipeline.functions.items()
        dashboard.add_widgets(
            self._graph("Lambda duration (ms, max)", [f.metric_duration(statistic="Maximum", label=r)
                                                      for r, f in functions], width=8),
            self._graph("Lambda errors and throttles", [m for r, f in functions for m in
                                                        (f.metric_errors(label=f"{r} errors"),
                                                         f.metric_throttles(label=f"{r} throttles"))], width=8),
            self._graph("Lambda concurrency", [cw.Metric(namespace="AWS/Lambda", metric_name="ConcurrentExecutions",
                                                         dimensions_map={"FunctionName": f.function_name},
                                                         statistic="Maximum", label=r) for r, f in functions],
                        width=8))
        return dashboard

    def _tenant(self, tenant: str) -> cw.Dashboard:
        dashboard = cw.Dashboard(self, f"Tenant{tenant.replace('-', '').replace('_', '')}",
                                 dashboard_name=resource_name(f"AVESA-Tenant-{tenant}", self.env_name),
                                 default_interval=Duration.days(7))
        # by name (the pipeline stack names them so): no export needed, and the query reads as written
        log_groups = [f"/aws/lambda/{function_name(role, self.env_name)}" for role in self.pipeline.functions]
        names = [n for n in ("RecordsExtracted", "ApiCalls", "ChunkErrors", "TablesFailed") if n in definitions.METRICS]
        sums = ", ".join(f"sum({n}) as {n}" for n in names)
        dashboard.add_widgets(
            cw.TextWidget(markdown=f"# Tenant {tenant} ({self.env_name})\nFrom the functions' EMF lines whose "
                                   f"`{TENANT_PROPERTY}` is `{tenant}`.", width=24, height=2))
        dashboard.add_widgets(
            cw.LogQueryWidget(title=f"{tenant}: records, calls, errors per hour", log_group_names=log_groups,
                              query_lines=[f"filter {TENANT_PROPERTY} = '{tenant}'", f"stats {sums} by bin(1h)"],
                              view=cw.LogQueryVisualizationType.LINE, width=24, height=6),
            cw.LogQueryWidget(title=f"{tenant}: by service", log_group_names=log_groups,
                              query_lines=[f"filter {TENANT_PROPERTY} = '{tenant}'", f"stats {sums} by Service"],
                              view=cw.LogQueryVisualizationType.TABLE, width=24, height=6))
        return dashboard

    # ---- cross-account ---------------------------------------------------------------------
    def _cross_account_sharing(self, account: str) -> None:
        """The role CloudWatch's cross-account console assumes (its name is fixed by CloudWatch), so a
        separate monitoring account can open this account's dashboards, alarms and metrics."""
        role = iam.Role(self, "CrossAccountSharing", role_name="CloudWatch-CrossAccountSharingRole",
                        assumed_by=iam.AccountPrincipal(account),
                        description="CloudWatch cross-account observability for the AVESA monitoring account",
                        managed_policies=[iam.ManagedPolicy.from_aws_managed_policy_name(n) for n in
                                          ("CloudWatchReadOnlyAccess", "CloudWatchAutomaticDashboardsAccess")])
        for name in ("CloudWatchReadOnlyAccess", "CloudWatchAutomaticDashboardsAccess"):
            acknowledge(role, f"AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/{name}]",
                "CloudWatch's cross-account console expects exactly these read-only managed policies on "
                       "CloudWatch-CrossAccountSharingRole.")

"""The CDK app: `cdk synth -c environment=dev` (or `avesa aws synth --environment dev`).

Builds the three stacks of one environment — data pipeline, monitoring, backfill — with cdk-nag's
AWS Solutions checks as a validation plugin, so any unacknowledged finding fails the synth.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
for entry in (REPO_ROOT / "src", REPO_ROOT):
    if str(entry) not in sys.path:
        sys.path.insert(0, str(entry))

os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")

from aws_cdk import App, Environment, Tags  # noqa: E402

from avesa.domain.environments import resource_name  # noqa: E402
from infrastructure.config import DeploymentConfig, load_config  # noqa: E402
from infrastructure.stacks.backfill import BackfillStack  # noqa: E402
from infrastructure.stacks.data_pipeline import DataPipelineStack  # noqa: E402
from infrastructure.stacks.monitoring import MonitoringStack  # noqa: E402
from infrastructure.stacks.nag import add_checks  # noqa: E402

STACKS = ("DataPipeline", "Monitoring", "Backfill")


def stack_names(env: str) -> dict[str, str]:
    """The CloudFormation stack names: `AVESA-DataPipeline-dev`, … (prod without suffix)."""
    return {kind: resource_name(f"AVESA-{kind}", env) for kind in STACKS}


def build_app(context: Mapping[str, Any] | None = None, *, outdir: str | None = None) -> tuple[App, DeploymentConfig]:
    """The app for `context` (None: what the CDK CLI passes, via CDK_CONTEXT_JSON)."""
    app = App(context=dict(context) if context is not None else None, outdir=outdir)
    config = load_config({key: app.node.try_get_context(key) for key in (
        "environment", "account", "region", "schedule", "full_schedule", "tenants", "freshness_target_hours",
        "freshness_targets", "monitoring_account", "alarm_email", "max_concurrency") if
        app.node.try_get_context(key) is not None})
    where = Environment(account=config.account or os.environ.get("CDK_DEFAULT_ACCOUNT"),
                        region=config.region or os.environ.get("CDK_DEFAULT_REGION"))
    names = stack_names(config.environment.value)
    env = config.environment.value
    pipeline = DataPipelineStack(app, names["DataPipeline"], stack_name=names["DataPipeline"], config=config,
                                 repo_root=REPO_ROOT, env=where,
                                 description=f"AVESA data pipeline ({env}): lake, state, functions, state machines")
    MonitoringStack(app, names["Monitoring"], stack_name=names["Monitoring"], pipeline=pipeline, env=where,
                    description=f"AVESA monitoring ({env}): dashboards, alarms, alert topic")
    BackfillStack(app, names["Backfill"], stack_name=names["Backfill"], pipeline=pipeline, env=where,
                  description=f"AVESA backfill ({env}): the operator role")
    Tags.of(app).add("avesa:environment", env)
    add_checks(app)
    return app, config


def main() -> int:
    """Synthesise; a bad context value is one line on stderr and exit code 2, not a traceback."""
    from avesa.domain.errors import AvesaError

    try:
        app, _ = build_app()
    except AvesaError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    app.synth()
    return 0


if __name__ == "__main__":
    sys.exit(main())

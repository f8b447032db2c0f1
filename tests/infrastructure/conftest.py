"""Synthesise each environment's CDK app once per session (jsii and the synth take seconds)."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

pytest.importorskip("aws_cdk", reason="the cdk extra is not installed (pip install 'avesa[cdk]')")

PROD_ACCOUNT = "210987654321"
MONITORING_ACCOUNT = "123456789012"
# One deployment per environment, each exercising other choices, so three synths cover them all.
CONTEXTS: dict[str, dict[str, Any]] = {
    "dev": {"environment": "dev", "tenants": "acme,globex"},
    "staging": {"environment": "staging", "schedule": "every 15m; servicenow=every 30m",
                "full_schedule": "0 2 * * 0", "freshness_targets": {"servicenow": 2}, "alarm_email": "ops@example.com"},
    "prod": {"environment": "prod", "account": PROD_ACCOUNT, "region": "eu-west-1",
             "monitoring_account": MONITORING_ACCOUNT, "tenants": ["acme"], "max_concurrency": 50},
}


@dataclass
class Synth:
    env: str
    outdir: Path
    assembly: Any
    names: dict[str, str]

    def template(self, kind: str) -> dict[str, Any]:
        return self.assembly.get_stack_by_name(self.names[kind]).template

    def resources(self, kind: str, type_: str) -> dict[str, dict[str, Any]]:
        return {k: v for k, v in self.template(kind)["Resources"].items() if v["Type"] == type_}


@pytest.fixture(scope="session")
def synth(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Synth]:
    from infrastructure.app import build_app, stack_names

    done: dict[str, Synth] = {}

    def get(env: str) -> Synth:
        if env not in done:
            outdir = tmp_path_factory.mktemp(f"cdk-{env}")
            app, _ = build_app(CONTEXTS[env], outdir=str(outdir))
            done[env] = Synth(env, outdir, app.synth(), stack_names(env))
        return done[env]

    return get

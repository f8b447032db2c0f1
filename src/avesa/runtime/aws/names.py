"""Deterministic Step Functions execution names, and the names of the state machines themselves.

A name is at most 80 characters of letters, digits, '-' and '_', and unique per state machine for
90 days: the same (run, parent execution, tenant or table) always gives the same name — so a
retried StartExecution finds its execution instead of starting a second — while a run finished by
another orchestrator execution (a resumed run) gets new ones."""

from __future__ import annotations

import hashlib
import re

from avesa.domain.environments import Environment, resource_name

MAX_NAME = 80
CONTINUATION_ROOM = 4
"""Characters a table execution's name leaves for the `-{n}` of its continuation."""
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]+")


def digest(*parts: str, length: int = 12) -> str:
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:length]


def execution_name(readable: str, *key: str, limit: int = MAX_NAME) -> str:
    """`readable` (cut to fit) then a digest of `key`: readable in the console, unique by key."""
    tag = digest(*key)
    clean = _UNSAFE.sub("-", readable).strip("-")
    room = limit - len(tag) - 1
    return f"{clean[:room].rstrip('-')}-{tag}" if clean and room > 0 else tag


def tenant_name_prefix(run_id: str, orchestrator_execution: str) -> str:
    """The prefix of a run's TenantProcessor executions: `{prefix}-{tenant}` is at most 76
    characters (tenant ids are at most 63)."""
    return digest(run_id, orchestrator_execution)


def table_execution_name(tenant_execution: str, service: str, table: str) -> str:
    """A TableProcessor execution's name before its `-{continuation}`."""
    tenant = tenant_execution.split("-", 1)[-1]
    return execution_name(f"{tenant}-{service}-{table}", tenant_execution, service, table,
                          limit=MAX_NAME - CONTINUATION_ROOM)


def kebab(name: str) -> str:
    """`tenant_processor` / `TenantProcessor` → `tenant-processor`."""
    return re.sub(r"(?<!^)(?=[A-Z])", "-", name).replace("_", "-").lower()


def state_machine_name(name: str, env: str | Environment) -> str:
    """The deployed name of state machine `name` (a key of definitions.STATE_MACHINES) in `env`:
    `avesa-pipeline-orchestrator-dev`, `avesa-pipeline-orchestrator` in prod. The CDK app names the
    state machines with this, and `avesa aws run` finds them with it."""
    return resource_name(f"avesa-{kebab(name)}", env)

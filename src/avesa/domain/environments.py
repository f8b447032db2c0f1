"""Deployment environments and the names of their resources: the one function that names them.

AVESA deploys to `dev`, `staging` or `prod` (`AVESA_ENV`). Every named AWS resource — the lake
bucket, the state table, functions, state machines, dashboards, alarms, the alert topic, the
secrets prefix — is `{name}-{env}`, and production has no suffix (`avesa-state`, not
`avesa-prod-state`). Computing every name here, and refusing any other environment, is what keeps a
tenant registered in dev from ever reaching staging's or prod's resources: their names differ.
"""

from __future__ import annotations

from enum import StrEnum

from avesa.domain.errors import UsageError


class Environment(StrEnum):
    DEV = "dev"
    STAGING = "staging"
    PROD = "prod"


ENVIRONMENTS: tuple[str, ...] = tuple(e.value for e in Environment)


def environment(env: str | Environment) -> Environment:
    """`env` as an Environment; a UsageError naming the accepted ones for anything else."""
    if isinstance(env, Environment):
        return env
    try:
        return Environment(str(env))
    except ValueError:
        raise UsageError(f"environment {env!r} is not one AVESA deploys to: use one of "
                         f"{', '.join(ENVIRONMENTS)}") from None


def resource_name(name: str, env: str | Environment) -> str:
    """`{name}-{env}`, or `name` alone in production (the brief's naming rule)."""
    if not name:
        raise UsageError("a resource name cannot be empty")
    which = environment(env)
    return name if which is Environment.PROD else f"{name}-{which.value}"


def secrets_prefix(env: str | Environment) -> str:
    """The Secrets Manager name prefix of an environment (`avesa/dev`, `avesa/prod`): a secret is
    `{prefix}/{tenant}/{service}`, so an environment's functions can be allowed `{prefix}/*` only."""
    return f"avesa/{environment(env).value}"


def state_prefix(env: str | Environment) -> str:
    """The DynamoDB table prefix of an environment: the state table is `{prefix}-state`
    (`avesa-dev-state`; `avesa-state` in production)."""
    return resource_name("avesa", env)

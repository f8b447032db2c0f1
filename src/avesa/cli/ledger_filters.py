"""The filters `avesa status` and `avesa jobs list|show` share, and the order they list in.

Every filter is checked before anything is listed: a mistyped status, or a tenant or service that
is not registered, is an error (exit 2) naming what is wrong and what is known — never an empty
listing that reads like "nothing failed". The order puts what needs a person first: failures,
then interrupted work, then the rest."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, TypeVar

import typer

from avesa.domain.errors import NotFoundError, UsageError
from avesa.pipeline.context import PipelineContext

RUN_STATUSES = ("running", "interrupted", "failed", "complete", "cancelled", "abandoned")
"""A run's status as `avesa jobs list` shows it ("interrupted": running, its owner gone)."""
TABLE_STATUSES = ("pending", "extracting", "finalizing", "interrupted", "failed", "complete", "cancelled",
                  "abandoned")
"""A table's (or chunk's) status as `avesa status` and `avesa jobs show` show it."""
ATTENTION = {"failed": 0, "interrupted": 1}
"""Sort rank of the statuses listed first; every other status comes after, in its own order."""

Row = TypeVar("Row", bound=dict[str, Any])


def service_option(help: str = "only this service (e.g. connectwise)") -> Any:
    return typer.Option(None, "--service", metavar="<service>", help=help)


def status_option(statuses: tuple[str, ...], what: str) -> Any:
    return typer.Option(None, "--status", metavar="<status>",
                        help=f"only {what} of this status: {' | '.join(statuses)}")


def check_status(status: str | None, statuses: tuple[str, ...]) -> str | None:
    """`status` lower-cased, when it is one of `statuses`; a UsageError listing them otherwise."""
    if status is None:
        return None
    if status.strip().lower() not in statuses:
        raise UsageError(f"unknown --status {status!r}: use one of {', '.join(statuses)}")
    return status.strip().lower()


def check_scope(ctx: PipelineContext, tenant: str | None, service: str | None) -> None:
    """A NotFoundError (exit 2) for a tenant that is not registered, or a service it (or, without
    `tenant`, any tenant) does not have."""
    if tenant is not None and ctx.state.get_tenant(tenant) is None:
        raise NotFoundError("tenant", tenant, [t.tenant_id for t in ctx.state.list_tenants()],
                            "`avesa tenant list` lists them")
    if service is not None:
        known = sorted({c.service for c in ctx.state.list_services(tenant)})
        if service not in known:
            whose = f"of tenant {tenant}" if tenant else "registered"
            raise NotFoundError("service", service, known, f"(the services {whose}; `avesa service list`)")


def failures_first(rows: Iterable[Row], status: str = "status") -> list[Row]:
    """`rows` with failed ones first, then interrupted ones, each group in the order it came in."""
    return sorted(rows, key=lambda row: ATTENTION.get(str(row.get(status)), len(ATTENTION)))

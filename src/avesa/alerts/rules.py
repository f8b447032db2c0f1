"""The alert rules, evaluated from what the state store and the run log keep — never from a run
object in memory — so an evaluation after a run, on a timer, or from another process (`avesa
alerts check`) sees the same, and a table that stopped syncing is found although no run says so.

Each rule yields findings: a condition that holds now, under a key naming what it is about. An
incident opens when a key is first found and clears when it is no longer (alerts/incidents.py).

- failures: a table's last N ended sync runs all failed (N = failures_in_a_row). A failure that is
  an authentication failure is the auth rule's (one alert for the service, not one per table).
- auth: the latest ended run of any table of a tenant's service failed because the service refused
  the credentials.
- stale: a table's data is older than its freshness target (dashboard/freshness.py: the source time
  the last completed sync read up to). A table never synced has no age yet: the failures and auth
  rules speak for it.
- rate_limited: the latest run of a tenant's service (as `avesa serve` starts them) met more than
  rate_limited_max HTTP 429s, by its `run_finished` event in the run log.
- stuck: a run is still "running" stuck_run_hours after it started.
- count: a table's latest data-quality count (after a full sync) differs beyond the tolerance.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from avesa.alerts.config import AlertConfig, Policy
from avesa.dashboard.freshness import freshness, short_duration, synced_to, target_for
from avesa.dashboard.runlog import RunCounters, run_counters
from avesa.dashboard.views import newest_first
from avesa.domain.work import RunStatus, SyncMode, TableStatus
from avesa.pipeline.quality import beyond_tolerance
from avesa.settings import Settings
from avesa.state.base import StateStore
from avesa.state.ledger_records import RunRecord, TableRunRecord

AT_WORK = frozenset({"running", "pending", TableStatus.EXTRACTING.value, TableStatus.FINALIZING.value})
AUTH_FAILURE = re.compile(r"refused the credentials|has no access_token")
"""How an authentication failure reads in the ledger (connectors/http_client.py, connectors/auth.py):
the ledger keeps a table's error as text."""
RECENT_RUNS = 2000
"""Runs read, newest first, for the table histories and the 429 rule."""
ROWS_PER_TABLE, ROWS_AT_LEAST = 50, 2000
"""Table runs read from recent runs before the tables still unsettled are read whole."""
ERROR_CHARS = 500

Redact = Callable[[str | None, str | None, str], str]
"""(tenant, service, text) -> the text with that tenant's service's credentials masked."""


@dataclass(frozen=True)
class Finding:
    key: str
    rule: str
    tenant_id: str | None
    summary: str
    details: dict[str, str] = field(default_factory=dict)


@dataclass
class _Inputs:
    state: StateStore
    settings: Settings
    config: AlertConfig
    now: datetime
    redact: Redact
    counters: Callable[[], dict[str, RunCounters]]


def _newest_first(rows: Iterable[TableRunRecord]) -> list[TableRunRecord]:
    """Start times are whole seconds: two runs of one second are told apart by when they finished
    (an unfinished one is the newest), as the dashboard orders them."""
    return sorted(rows, key=newest_first, reverse=True)


def _is_auth(error: str | None) -> bool:
    return bool(error and AUTH_FAILURE.search(error))


def _error(inputs: _Inputs, row: TableRunRecord) -> str:
    text = inputs.redact(row.tenant_id, row.service, row.error or "(no message)")
    return text if len(text) <= ERROR_CHARS else text[:ERROR_CHARS] + "…"


def _table_findings(inputs: _Inputs, policy: Policy, tenant_id: str, service: str, table: str,
                    history: list[TableRunRecord]) -> Iterable[Finding]:
    where = f"{tenant_id}/{service}/{table}"
    syncs = [t for t in history if t.mode != SyncMode.BACKFILL.value]
    ended = [t for t in syncs if t.status not in AT_WORK]
    if "failures" in policy.rules:
        failed = 0
        for row in ended:
            if row.status != TableStatus.FAILED.value:
                break
            failed += 1
        covered = "auth" in policy.rules and ended and _is_auth(ended[0].error)
        if failed >= policy.failures_in_a_row and not covered:
            yield Finding(f"failures:{where}", "failures", tenant_id, f"{where} failed {failed} runs in a row",
                          {"last error": _error(inputs, ended[0]), "failed runs in a row": str(failed),
                           "last run": ended[0].run_id})
    if "stale" in policy.rules:
        success = next((t for t in syncs if t.status == TableStatus.COMPLETE.value), None)
        synced = None if success is None else synced_to(syncs, inputs.state.get_watermark(tenant_id, service, table))
        if success is not None and synced is not None:
            target = target_for(inputs.settings, tenant_id, service, table)
            fresh = freshness(synced, target, inputs.now)
            if fresh.age is not None and fresh.age > target:
                yield Finding(f"stale:{where}", "stale", tenant_id,
                              f"{where} is {short_duration(fresh.age)} old, past its {short_duration(target)} target",
                              {"synced to": f"{synced:%Y-%m-%d %H:%M:%S} UTC", "age": short_duration(fresh.age),
                               "target": short_duration(target), "last completed run": success.run_id})
    if "count" in policy.rules:
        counted = next((t for t in syncs if t.source_count is not None and t.canonical_count is not None), None)
        if counted is not None and beyond_tolerance(counted.source_count, counted.canonical_count,
                                                    policy.count_tolerance):
            yield Finding(f"count:{where}", "count", tenant_id,
                          f"{where}: the source counts {counted.source_count:,}, the lake holds "
                          f"{counted.canonical_count:,} live rows",
                          {"source count": str(counted.source_count), "live rows": str(counted.canonical_count),
                           "difference": str(counted.count_difference), "tolerance": f"{policy.count_tolerance:g}",
                           "run": counted.run_id})


def _auth_finding(inputs: _Inputs, tenant_id: str, service: str,
                  latest: list[TableRunRecord]) -> Finding | None:
    refused = [t for t in latest if t.status == TableStatus.FAILED.value and _is_auth(t.error)]
    if not refused:
        return None
    newest = _newest_first(refused)[0]
    return Finding(f"auth:{tenant_id}/{service}", "auth", tenant_id,
                   f"{tenant_id}/{service}: the service refused the credentials",
                   {"error": _error(inputs, newest), "tables": ", ".join(sorted(t.table for t in refused)),
                    "last run": newest.run_id,
                    "what to do": f"fix them with `avesa service add --tenant-id {tenant_id} --service {service}`"})


def _histories(state: StateStore, keys: set[tuple[str, str, str]]) -> dict[tuple[str, str, str], list[TableRunRecord]]:
    """Enough of each table's history, newest first, for the rules: the table runs of the newest runs
    until every table has a completed sync (its failure streak and last success are then known);
    the tables still without one are read whole, a tenant at a time (as the dashboard does)."""
    found: dict[tuple[str, str, str], list[TableRunRecord]] = defaultdict(list)
    pending = set(keys)
    budget = max(ROWS_PER_TABLE * len(keys), ROWS_AT_LEAST)
    settled: datetime | None = None  # when the last table found its completed sync
    for run in state.list_runs(limit=RECENT_RUNS):
        # runs of one second come in any order: read them all before stopping
        if budget <= 0 or (not pending and settled is not None and run.started_at < settled):
            break
        rows = state.list_table_runs(run_id=run.run_id)
        budget -= len(rows)
        for row in rows:
            key = (row.tenant_id, row.service, row.table)
            if key in keys:
                found[key].append(row)
                if row.status == TableStatus.COMPLETE.value and row.mode != SyncMode.BACKFILL.value:
                    pending.discard(key)
                    settled = run.started_at
    for tenant_id in sorted({key[0] for key in pending}):
        for key in [k for k in pending if k[0] == tenant_id]:
            found.pop(key, None)
        for row in state.list_table_runs(tenant_id=tenant_id):
            key = (row.tenant_id, row.service, row.table)
            if key in pending:
                found[key].append(row)
    return {key: _newest_first(rows) for key, rows in found.items()}


def _registry_findings(inputs: _Inputs) -> Iterable[Finding]:
    state = inputs.state
    enabled = {t.tenant_id for t in state.list_tenants() if t.enabled}
    services = [s for s in state.list_services() if s.enabled and s.tenant_id in enabled
                and inputs.config.policy(s.tenant_id).rules]
    histories = _histories(state, {(s.tenant_id, s.service, t) for s in services for t in s.tables})
    for config in services:
        tenant_id = config.tenant_id
        policy = inputs.config.policy(tenant_id)
        latest: list[TableRunRecord] = []
        for table in config.tables:
            history = histories.get((tenant_id, config.service, table), [])
            yield from _table_findings(inputs, policy, tenant_id, config.service, table, history)
            ended = [t for t in history if t.mode != SyncMode.BACKFILL.value and t.status not in AT_WORK]
            if ended:
                latest.append(ended[0])
        if "auth" in policy.rules:
            found = _auth_finding(inputs, tenant_id, config.service, latest)
            if found is not None:
                yield found


def _scope(run: RunRecord) -> tuple[str | None, str | None]:
    tenant, service = run.request.get("tenant_id"), run.request.get("service")
    return (str(tenant) if tenant else None), (str(service) if service else None)


def _run_findings(inputs: _Inputs) -> Iterable[Finding]:
    state, now = inputs.state, inputs.now
    enabled = {t.tenant_id for t in state.list_tenants() if t.enabled}
    for run in state.list_runs(limit=100, status=RunStatus.RUNNING):
        tenant, service = _scope(run)
        policy = inputs.config.policy(tenant)
        bound = timedelta(hours=policy.stuck_run_hours)
        if "stuck" in policy.rules and now - run.started_at > bound:
            what = "/".join(p for p in (tenant, service) if p) or "every tenant"
            yield Finding(f"stuck:{run.run_id}", "stuck", tenant,
                          f"run {run.run_id} ({what}) is still running after {short_duration(now - run.started_at)}",
                          {"started": f"{run.started_at:%Y-%m-%d %H:%M:%S} UTC", "owner": run.owner,
                           "bound": short_duration(bound),
                           "what to do": f"look at `avesa jobs show {run.run_id}`; cancel it with "
                                         f"`avesa jobs cancel {run.run_id}` if it is hung"})
    if not any("rate_limited" in p.rules for p in (inputs.config.default, *inputs.config.tenants.values())):
        return
    counters = inputs.counters()
    seen: set[tuple[str | None, str | None]] = set()
    for run in sorted(state.list_runs(limit=RECENT_RUNS), key=newest_first, reverse=True):
        scope = _scope(run)
        if run.status == "running" or scope in seen or run.run_id not in counters:
            continue
        seen.add(scope)
        tenant, service = scope
        policy = inputs.config.policy(tenant)
        if (tenant is not None and tenant not in enabled) or "rate_limited" not in policy.rules:
            continue
        met = counters[run.run_id].rate_limited
        if met > policy.rate_limited_max:
            what = f"{tenant or '*'}/{service or '*'}"
            yield Finding(f"rate_limited:{what}", "rate_limited", tenant,
                          f"{what}: run {run.run_id} met {met:,} HTTP 429s (more than {policy.rate_limited_max:,})",
                          {"HTTP 429s": str(met), "requests": str(counters[run.run_id].requests),
                           "run": run.run_id, "threshold": str(policy.rate_limited_max),
                           "what to do": "lower the service's rate (`avesa service limit`) or spread its schedule"})


def evaluate(state: StateStore, settings: Settings, config: AlertConfig, now: datetime, redact: Redact,
             home: Path | None = None) -> list[Finding]:
    """Every finding that holds at `now`, at most one per key."""
    log_home = settings.home if home is None else home
    inputs = _Inputs(state, settings, config, now, redact, lambda: run_counters(log_home))
    found: dict[str, Finding] = {}
    for finding in (*_registry_findings(inputs), *_run_findings(inputs)):
        found.setdefault(finding.key, finding)
    return list(found.values())

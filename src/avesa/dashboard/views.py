"""What each page shows, computed from the registry, the run ledger and the run log.

Everything is read through the `StateStore` interface (tenants, services, runs, table runs,
chunks, watermarks), so the pages show the same on every back end. Text that came from outside —
error messages quoting a record, cursors, company names — stays text: the templates escape it, and
`shown_text` masks URL passwords and the catalog's sensitive fields once more before it gets
there (the ledger's texts were masked when they were written; this is the second guard).
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

from avesa.dashboard.freshness import Bucket, Freshness, freshness, synced_to, target_for
from avesa.dashboard.runlog import RunCounters, run_counters
from avesa.domain.redaction import Redactor
from avesa.domain.registry import Tenant, TenantService
from avesa.domain.url_credentials import masked
from avesa.domain.work import RunStatus, SyncMode, TableRef
from avesa.pipeline.context import PipelineContext
from avesa.pipeline.resume import interruption
from avesa.state.ledger_records import ChunkRecord, RunRecord, TableRunRecord

RUNS_SHOWN = 40
"""Runs on the overview and in its charts; a tenant's page shows as many of its own."""
TABLE_RUNS_SHOWN = 30
"""Runs in a table page's chart and history."""
RUNS_WALKED = 2000
ROWS_WALKED_PER_TABLE = 10
ROWS_WALKED_AT_LEAST = 1000
"""How far back the overview looks through runs, newest first, for each table's latest sync, last
success and failure streak: at most RUNS_WALKED runs, and ROWS_WALKED_PER_TABLE table runs per
registered table (ROWS_WALKED_AT_LEAST in all). Tables it cannot settle there (never succeeded, or
failing for longer) are looked up in their tenant's whole history: exact either way, and the common
case — every table's latest sync went well — reads the newest few runs only."""

Key = tuple[str, str, str]

AT_WORK = frozenset({"running", "extracting", "finalizing", "pending"})
_SECRET_NAME = re.compile(r"(pass|secret|token|private|authorization|api_?key|#)", re.IGNORECASE)
STATUS_ORDER = {"failed": 0, "interrupted": 1, "cancelled": 2, "running": 3, "never run": 4, "ok": 5, "disabled": 6}
"""Failures first: what a person looks for first."""


@dataclass
class TableState:
    """One enabled table of a tenant's service, as its runs left it."""

    tenant_id: str
    service: str
    table: str
    history: list[TableRunRecord]
    """Every run of the table, newest first (backfills too)."""
    latest: TableRunRecord | None
    """The newest sync (incremental or full) run; backfills neither advance nor judge a table."""
    last_success: TableRunRecord | None
    failures_in_row: int
    watermark: datetime | None
    freshness: Freshness
    status: str

    @property
    def label(self) -> str:
        return f"{self.tenant_id}/{self.service}/{self.table}"


@dataclass
class ServiceState:
    tenant: Tenant
    service: TenantService
    tables: list[TableState]
    next_run: datetime | None

    @property
    def status(self) -> str:
        if not (self.tenant.enabled and self.service.enabled):
            return "disabled"
        shown = {t.status for t in self.tables}
        for status in ("failed", "interrupted", "cancelled"):
            if status in shown:
                return status
        if shown & AT_WORK:
            return "running"
        if not shown or shown == {"never run"}:
            return "never run"
        return "ok"

    @property
    def last_success(self) -> datetime | None:
        done = [t.last_success.finished_at for t in self.tables if t.last_success and t.last_success.finished_at]
        return max(done, default=None)

    @property
    def failures_in_row(self) -> int:
        return max((t.failures_in_row for t in self.tables), default=0)

    @property
    def stalest(self) -> TableState | None:
        """The table whose data is oldest against its target (never-synced ones first)."""
        def lateness(t: TableState) -> float:
            f = t.freshness
            return float("inf") if f.age is None else f.age / f.target
        return max(self.tables, key=lateness, default=None)

    @property
    def failed_tables(self) -> list[TableState]:
        return [t for t in self.tables if t.status == "failed"]


@dataclass
class RunRow:
    run: RunRecord
    status: str
    tables: list[TableRunRecord]
    counters: RunCounters | None
    interrupted_reason: str | None = None

    @property
    def part_status(self) -> str:
        """The status of just the tables in `tables` (a tenant's part of a run): failed when one of
        them failed, else the run's own when it has not ended well, else complete."""
        if self.failed_tables:
            return "failed"
        if self.status in ("complete", "failed"):
            return "complete" if all(t.status == "complete" for t in self.tables) else self.status
        return self.status

    @property
    def complete_tables(self) -> int:
        return sum(t.status == "complete" for t in self.tables)

    @property
    def failed_tables(self) -> int:
        return sum(t.status == "failed" for t in self.tables)

    @property
    def records(self) -> int:
        return sum(t.records for t in self.tables)

    @property
    def versions(self) -> int:
        return sum(t.versions_created for t in self.tables)

    @property
    def seconds(self) -> float | None:
        if self.counters is not None and self.counters.seconds > 0:
            return self.counters.seconds
        if self.run.finished_at is not None:
            return max((self.run.finished_at - self.run.started_at).total_seconds(), 0.0)
        return None

    @property
    def records_per_second(self) -> float | None:
        seconds = self.seconds
        return self.records / seconds if seconds else None

    @property
    def tenants(self) -> list[str]:
        return sorted({t.tenant_id for t in self.tables})


@dataclass
class Overview:
    services: list[ServiceState]
    runs: list[RunRow]
    heat_columns: list[tuple[str, str]]
    heat_rows: list[tuple[Tenant, dict[tuple[str, str], TableState]]]
    now: datetime

    @property
    def failing(self) -> list[ServiceState]:
        return [s for s in self.services if s.status == "failed"]

    @property
    def late_tables(self) -> int:
        return sum(t.freshness.bucket in (Bucket.LATE, Bucket.STALE) for s in self.services for t in s.tables)

    @property
    def rate_limited(self) -> int:
        return sum(r.counters.rate_limited for r in self.runs if r.counters)


@dataclass
class TenantPage:
    tenant: Tenant
    services: list[ServiceState]
    settings: dict[str, dict[str, str]]
    runs: list[RunRow]

    @property
    def failed_tables(self) -> list[TableState]:
        return [t for s in self.services for t in s.failed_tables]


@dataclass
class TableOfRun:
    record: TableRunRecord
    chunks: list[ChunkRecord]
    status: str


@dataclass
class RunPage:
    row: RunRow
    tables: list[TableOfRun] = field(default_factory=list)


@dataclass
class TablePage:
    state: TableState
    history: list[RunRow]
    """The table's own run rows (a row's `tables` holds just this table's run)."""


def newest_first(record: TableRunRecord | RunRecord) -> tuple[datetime, datetime]:
    """Sort key (reverse) of runs and table runs: start times are whole seconds, so two runs of one
    second are told apart by when they finished — an unfinished one being the newest."""
    return (record.started_at, record.finished_at or datetime.max.replace(tzinfo=UTC))


def shown_settings(settings: Mapping[str, str]) -> dict[str, str]:
    """A service's connection settings as they may be shown: URL passwords as dots, and nothing
    whose name looks like a credential (registration keeps those out of settings already)."""
    return {k: masked(v) for k, v in sorted(settings.items()) if not _SECRET_NAME.search(k)}


class Dashboard:
    """The pages' data, read afresh for every request (the dashboard keeps no state of its own)."""

    def __init__(self, ctx: PipelineContext, now: datetime,
                 next_runs: Mapping[tuple[str, str], datetime] | None = None) -> None:
        self.ctx = ctx
        self.state = ctx.state
        self.now = now
        self.next_runs = next_runs or {}
        fields = {f for spec in ctx.catalog.services.values() for f in spec.sensitive_fields}
        self._redactor = Redactor(fields=fields)
        self._runs: dict[str, RunRecord] = {}
        self._interrupted: dict[str, str] | None = None

    # -- shared ---------------------------------------------------------------------------------

    def shown_text(self, text: str | None) -> str:
        return "" if not text else self._redactor.text(text)

    def interrupted(self) -> dict[str, str]:
        """Run id -> why it is interrupted, for runs the ledger says are running whose owner is gone."""
        if self._interrupted is None:
            found = {}
            for run in self.state.list_runs(limit=100, status=RunStatus.RUNNING):
                why = interruption(self.ctx, run, self.now)
                if why is not None:
                    found[run.run_id] = why.reason
            self._interrupted = found
        return self._interrupted

    def shown_status(self, status: str, run_id: str) -> str:
        return "interrupted" if status in AT_WORK and run_id in self.interrupted() else status

    def _table_state(self, tenant_id: str, service: str, table: str, history: list[TableRunRecord]) -> TableState:
        syncs = [t for t in history if t.mode != SyncMode.BACKFILL.value]
        latest = syncs[0] if syncs else None
        last_success = next((t for t in syncs if t.status == "complete"), None)
        failures = 0
        for t in syncs:
            if t.status in AT_WORK and t is latest:
                continue
            if t.status != "failed":
                break
            failures += 1
        watermark = self.state.get_watermark(tenant_id, service, table)
        synced = synced_to(syncs, watermark)
        target = target_for(self.ctx.settings, tenant_id, service, table)
        status = "never run" if latest is None else self.shown_status(latest.status, latest.run_id)
        return TableState(tenant_id, service, table, history, latest, last_success, failures, watermark,
                          freshness(synced, target, self.now), status)

    def _service_states(self, tenants: Iterable[Tenant], services: Iterable[TenantService],
                        histories: Mapping[Key, list[TableRunRecord]]) -> list[ServiceState]:
        by_tenant: dict[str, list[TenantService]] = defaultdict(list)
        for service in services:
            by_tenant[service.tenant_id].append(service)
        states = []
        for tenant in tenants:
            for service in sorted(by_tenant.get(tenant.tenant_id, []), key=lambda s: s.service):
                tables = [self._table_state(tenant.tenant_id, service.service, table,
                                            histories.get((tenant.tenant_id, service.service, table), []))
                          for table in service.tables]
                states.append(ServiceState(tenant, service, tables,
                                           self.next_runs.get((tenant.tenant_id, service.service))))
        return states

    def _recent_histories(self, keys: set[Key], runs: list[RunRecord]
                          ) -> tuple[dict[Key, list[TableRunRecord]], dict[str, list[TableRunRecord]]]:
        """Enough of each table's history (newest first) to know its latest sync, its last success and
        its failure streak, and the table runs of the runs read on the way (by run id)."""
        found: dict[Key, list[TableRunRecord]] = defaultdict(list)
        by_run: dict[str, list[TableRunRecord]] = {}
        pending = set(keys)
        budget = max(ROWS_WALKED_PER_TABLE * len(keys), ROWS_WALKED_AT_LEAST)
        for run in runs:
            if not pending or budget <= 0:
                break
            by_run[run.run_id] = self.state.list_table_runs(run_id=run.run_id)
            budget -= len(by_run[run.run_id])
            for tr in by_run[run.run_id]:
                key = (tr.tenant_id, tr.service, tr.table)
                if key in keys:
                    found[key].append(tr)
                    if tr.status == "complete" and tr.mode != SyncMode.BACKFILL.value:
                        pending.discard(key)
        for tenant_id in sorted({key[0] for key in pending}):
            for key in [k for k in keys if k[0] == tenant_id]:
                found.pop(key, None)
            for tr in self.state.list_table_runs(tenant_id=tenant_id):
                key = (tr.tenant_id, tr.service, tr.table)
                if key in keys:
                    found[key].append(tr)
        for history in found.values():
            history.sort(key=newest_first, reverse=True)
        return found, by_run

    def _run_rows(self, runs: list[RunRecord], table_runs: list[TableRunRecord] | None = None,
                  by_run: Mapping[str, list[TableRunRecord]] | None = None) -> list[RunRow]:
        """Rows of `runs` with their table runs: those of `table_runs` (a tenant's, a table's part of
        each run), else each run's own (from `by_run` when already read)."""
        grouped: dict[str, list[TableRunRecord]] = defaultdict(list)
        for tr in table_runs or []:
            grouped[tr.run_id].append(tr)

        def tables(run_id: str) -> list[TableRunRecord]:
            if table_runs is not None:
                return grouped.get(run_id, [])
            if by_run is not None and run_id in by_run:
                return by_run[run_id]
            return self.state.list_table_runs(run_id=run_id)

        counters = run_counters(self.ctx.settings.home)
        interrupted = self.interrupted()
        return [RunRow(run, self.shown_status(run.status, run.run_id), tables(run.run_id),
                       counters.get(run.run_id), interrupted.get(run.run_id)) for run in runs]

    # -- pages ----------------------------------------------------------------------------------

    def overview(self) -> Overview:
        tenants = self.state.list_tenants()
        registered = self.state.list_services()
        keys = {(s.tenant_id, s.service, table) for s in registered for table in s.tables}
        runs = sorted(self.state.list_runs(limit=RUNS_WALKED), key=newest_first, reverse=True)
        histories, by_run = self._recent_histories(keys, runs)
        services = self._service_states(tenants, registered, histories)
        services.sort(key=lambda s: (STATUS_ORDER.get(s.status, 9), s.tenant.tenant_id, s.service.service))
        run_rows = self._run_rows(runs[:RUNS_SHOWN], by_run=by_run)
        columns = sorted({(s.service.service, t.table) for s in services for t in s.tables})
        cells: dict[str, dict[tuple[str, str], TableState]] = defaultdict(dict)
        for s in services:
            for t in s.tables:
                cells[s.tenant.tenant_id][(t.service, t.table)] = t
        heat_rows = [(tenant, cells.get(tenant.tenant_id, {})) for tenant in tenants]
        return Overview(services, run_rows, columns, heat_rows, self.now)

    def tenant(self, tenant_id: str) -> TenantPage | None:
        tenant = self.state.get_tenant(tenant_id)
        if tenant is None:
            return None
        table_runs = sorted(self.state.list_table_runs(tenant_id=tenant_id), key=newest_first, reverse=True)
        histories: dict[Key, list[TableRunRecord]] = defaultdict(list)
        for tr in table_runs:
            histories[(tr.tenant_id, tr.service, tr.table)].append(tr)
        services = self._service_states([tenant], self.state.list_services(tenant_id), histories)
        settings = {s.service.service: shown_settings(s.service.settings) for s in services}
        run_ids = list(dict.fromkeys(tr.run_id for tr in table_runs))[:RUNS_SHOWN]
        runs = [run for run in (self._run(run_id) for run_id in run_ids) if run is not None]
        return TenantPage(tenant, services, settings, self._run_rows(runs, table_runs))

    def _run(self, run_id: str) -> RunRecord | None:
        if run_id not in self._runs:
            run = self.state.get_run(run_id)
            if run is None:
                return None
            self._runs[run_id] = run
        return self._runs[run_id]

    def run(self, run_id: str) -> RunPage | None:
        run = self._run(run_id)
        if run is None:
            return None
        table_runs = sorted(self.state.list_table_runs(run_id=run_id),  # failures first
                            key=lambda t: (t.status != "failed", t.tenant_id, t.service, t.table))
        row = self._run_rows([run], table_runs)[0]
        page = RunPage(row)
        for tr in table_runs:
            ref = TableRef(run_id=run_id, tenant_id=tr.tenant_id, service=tr.service, table=tr.table,
                           mode=SyncMode(tr.mode), run_started_at=run.started_at)
            page.tables.append(TableOfRun(tr, self.state.list_chunks(ref), self.shown_status(tr.status, run_id)))
        return page

    def table(self, tenant_id: str, service: str, table: str) -> TablePage | None:
        config = self.state.get_service(tenant_id, service)
        if config is None:
            return None
        history = [tr for tr in self.state.list_table_runs(tenant_id=tenant_id)
                   if tr.service == service and tr.table == table]
        history.sort(key=newest_first, reverse=True)
        if not history and table not in config.tables:
            return None
        state = self._table_state(tenant_id, service, table, history)
        runs = {tr.run_id: self._run(tr.run_id) for tr in history[:TABLE_RUNS_SHOWN]}
        rows = self._run_rows([run for run in runs.values() if run is not None], history[:TABLE_RUNS_SHOWN])
        return TablePage(state, rows)

"""`avesa demo`: the whole embedded pipeline against the built-in sandbox, in about a minute.

Three tenants of different sizes using the four services (ConnectWise for all, ServiceNow,
Salesforce and Microsoft 365 beside it for some); a full sync; changes at the sources (updates,
inserts, deletes); an incremental sync while more changes land during extraction; a full sync that
reconciles deletes; then a check of every canonical table against the sandbox's ground truth, and
a summary with canonical rows from every source.

The demo lives in a home of its own — `$AVESA_HOME/demo` (the home the environment or the config
file names; `./avesa-data/demo` when none is configured) unless `--home` names another — with its
own state, lake and secret key (AVESA_LAKE_URL and AVESA_SECRET_KEY are not used): its full syncs
read every tenant of that home, so it never shares one with real tenants. A `--home` holding any
tenant that is not one of the demo's is refused before anything is written.
"""

from __future__ import annotations

import random
import shlex
import shutil
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.panel import Panel
from rich.table import Table

from avesa.cli.common import console, ensure_home, friendly_errors, literal, load_context
from avesa.cli.ground_truth import TableCheck, check_tenant
from avesa.cli.optional_packages import require_sandbox
from avesa.cli.progress import RichRunObserver, summary_table
from avesa.domain.errors import UsageError
from avesa.domain.timeutil import iso_z, parse_utc, utc_now
from avesa.domain.work import RunRequest
from avesa.lake.query import run_query
from avesa.pipeline.context import PipelineContext, registered_tenants
from avesa.pipeline.registration import register_service
from avesa.runtime.local import RunSummary, run_sync
from avesa.settings import Settings, load_settings

if TYPE_CHECKING:
    from avesa_sandbox.client import SandboxAdmin


@dataclass(frozen=True)
class DemoSource:
    """One tenant's use of one service, served by one sandbox instance."""

    tenant_id: str
    service: str
    scale: str
    seed: int

    @property
    def instance(self) -> str:
        """Sandbox instance names are unique across services: the ConnectWise one is the tenant's."""
        return self.tenant_id if self.service == "connectwise" else f"{self.tenant_id}-{self.service}"


@dataclass(frozen=True)
class DemoTenant:
    tenant_id: str
    company_name: str
    scale: str
    seed: int
    others: tuple[tuple[str, str], ...] = ()
    """(service, scale) of the services the tenant uses beside ConnectWise."""

    def sources(self, available: set[str]) -> list[DemoSource]:
        services = [("connectwise", self.scale), *self.others]
        return [DemoSource(self.tenant_id, service, scale, self.seed) for service, scale in services
                if service in available]


DEMO_TENANTS = [
    DemoTenant("demo-northwind", "Northwind Traders", "medium", 1),
    DemoTenant("demo-contoso", "Contoso Ltd", "small", 2, (("servicenow", "tiny"), ("salesforce", "tiny"))),
    DemoTenant("demo-fabrikam", "Fabrikam Inc", "tiny", 3, (("microsoft365", "tiny"), ("servicenow", "tiny"))),
]
LATENCY_MS = 40  # per request: SaaS pages take time; concurrency, not CPU, should be what shows
EXAMPLE_SQL = (
    "SELECT tenant_id, source_service, count(*) AS versions, count(*) FILTER (is_current AND NOT is_deleted) "
    "AS live, count(*) FILTER (is_deleted) AS deleted FROM contacts GROUP BY ALL ORDER BY ALL"
)


def demo_settings(home: Path | None) -> Settings:
    """The environment's settings with the demo's own home (`home`, default `$AVESA_HOME/demo`), a
    lake, state and encrypted secrets inside it and a key of its own: nothing of the user's real lake,
    state store (AVESA_STATE_URL) or secret store (AVESA_SECRETS_URL) is used."""
    settings = load_settings()
    return settings.model_copy(update={"home": (home or settings.home / "demo").absolute(), "lake_url": None,
                                       "secret_key": None, "state_url": None, "secrets_url": None})


def _refuse_other_tenants(settings: Settings) -> None:
    """The demo's syncs read every enabled tenant of its home: a home with real tenants is not its.
    Checked before anything is created there (no key, no log, no lake)."""
    ours = {tenant.tenant_id for tenant in DEMO_TENANTS}
    others = sorted(t for t in registered_tenants(settings) if t not in ours)
    if others:
        raise UsageError(f"{settings.home} holds tenants that are not the demo's ({', '.join(others)}): the demo "
                         "would sync them too; give `avesa demo` a --home of its own (default: $AVESA_HOME/demo)")


def _reset_demo_tenants(ctx: PipelineContext) -> None:
    """Start from nothing for the demo's own tenants only; nobody else's data is touched."""
    for tenant in DEMO_TENANTS:
        ctx.state.forget_tenant_history(tenant.tenant_id)
        if ctx.lake.is_local:
            shutil.rmtree(Path(ctx.lake.tenant_root(tenant.tenant_id)), ignore_errors=True)


def _sources(ctx: PipelineContext) -> list[DemoSource]:
    return [source for tenant in DEMO_TENANTS for source in tenant.sources(set(ctx.catalog.services))]


def _set_enabled(ctx: PipelineContext, tenant_id: str, enabled: bool) -> None:
    """Schedule a demo tenant or stop scheduling it (one that is no longer registered is left alone)."""
    registered = ctx.state.get_tenant(tenant_id)
    if registered is not None:
        ctx.state.put_tenant(registered.model_copy(update={"enabled": enabled}))


def _register(ctx: PipelineContext, admin: SandboxAdmin) -> None:
    names = {tenant.tenant_id: tenant.company_name for tenant in DEMO_TENANTS}
    for source in _sources(ctx):
        fields = {f.name for f in ctx.catalog.service(source.service).credentials}
        credentials = {k: v for k, v in admin.connection(source.instance).items() if k in fields}
        register_service(ctx, tenant_id=source.tenant_id, company_name=names[source.tenant_id],
                         service=source.service, credentials=credentials)
    for tenant in DEMO_TENANTS:
        _set_enabled(ctx, tenant.tenant_id, True)


def _sync(settings: Settings, title: str, request: RunRequest) -> RunSummary:
    console.rule(f"[bold]{title}")
    ctx = load_context(settings)
    with RichRunObserver(console) as observer:
        summary = run_sync(ctx, request, observer)
    console.print(summary_table(summary, title=f"{title}: {summary.records:,} records in {summary.seconds:.1f}s"))
    return summary


class _ChangesDuringExtraction:
    """Keeps changing the sources while a sync runs, as real users do."""

    def __init__(self, admin: SandboxAdmin, sources: list[DemoSource]) -> None:
        self.admin = admin
        self.sources = sources
        self.stop = threading.Event()
        self.made = {"updated": 0, "inserted": 0, "deleted": 0}
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._rng = random.Random(7)

    def _run(self) -> None:
        while not self.stop.wait(0.15):
            source = self._rng.choice(self.sources)
            result = self.admin.mutate(source.instance, updates=6, inserts=2, deletes=1,
                                       seed=self._rng.randrange(1 << 30))
            for key in self.made:
                self.made[key] += result["counts"][key]

    def __enter__(self) -> _ChangesDuringExtraction:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self._thread.join()


def _let_source_clock_pass(admin: SandboxAdmin, sources: list[DemoSource], since: str) -> None:
    """Wait until every change made since `since` is stamped in a closed second.

    ConnectWise stamps whole seconds and a record changed twice in one second gets the next second,
    so a stamp can be a little ahead of the wall clock. A sync only reads changes stamped before it
    started; waiting here makes the next sync see every change made so far.
    """
    stamps = [parse_utc(e["last_updated"]).timestamp()
              for s in sources for e in admin.changes(s.instance, since=since)]
    newest = max(stamps, default=0.0)
    time.sleep(max(0.0, newest + 1.05 - time.time()))


def _checks_table(checks: list[TableCheck]) -> Table:
    table = Table("tenant", "service", "canonical table", "rows at source", "live canonical rows", "missing", "stale",
                  "deleted but live", "match", title="canonical tables vs the sandbox's ground truth",
                  title_justify="left")
    for c in checks:
        table.add_row(c.tenant_id, c.service, c.canonical_table, f"{c.source_rows:,}", f"{c.canonical_rows:,}",
                      str(c.missing), str(c.stale), str(c.ghosts), "[green]yes[/]" if c.ok else "[red]NO[/]")
    return table


@friendly_errors
def demo(
    home: Path = typer.Option(None, "--home", help="the demo's own home (default: $AVESA_HOME/demo); never one "
                              "with real tenants"),
) -> None:
    """Run the whole pipeline for three tenants and four services against the built-in sandbox, in a
    home of its own: real tenants' data and credentials are never touched."""
    require_sandbox("demo")
    from avesa_sandbox.process import SandboxProcess

    started = time.monotonic()
    settings = demo_settings(home)
    _refuse_other_tenants(settings)
    ensure_home(settings)  # the demo's own home: made here, never a user's
    ctx = load_context(settings)
    sources = _sources(ctx)
    services = sorted({s.service for s in sources})
    console.print(Panel.fit(
        f"AVESA demo: {len(DEMO_TENANTS)} tenants on simulated {', '.join(services)} APIs\n"
        f"state and lake under [bold]{ctx.settings.home.resolve()}[/], the demo's own home "
        "(your AVESA_HOME's tenants are not touched)",
        title="avesa demo"))
    _reset_demo_tenants(ctx)
    instances = [arg for s in sources for arg in ("--instance", f"{s.service}/{s.instance}:{s.scale}:{s.seed}")]
    with SandboxProcess([*instances, "--latency-ms", str(LATENCY_MS)]) as sandbox, sandbox.admin() as admin:
        console.print(f"sandbox serving on {sandbox.base_url} ({LATENCY_MS} ms per request)")
        for line in sandbox.lines[1:1 + len(sources)]:
            console.print(f"  {line.strip()}", highlight=False)
        _register(ctx, admin)

        runs = [_sync(settings, "1. full sync", RunRequest(full=True))]

        console.rule("[bold]2. changes at the source")
        changes_from = iso_z(utc_now())
        for source in sources:
            result = admin.mutate(source.instance, updates=120, inserts=30, deletes=10, seed=source.seed)
            counts = result["counts"]
            console.print(f"{source.tenant_id}/{source.service}: {counts['updated']} updated "
                          f"({counts.get('noop_updates', 0)} without a real change), {counts['inserted']} inserted, "
                          f"{counts['deleted']} deleted")
        _let_source_clock_pass(admin, sources, changes_from)

        with _ChangesDuringExtraction(admin, sources) as changes:
            runs.append(_sync(settings, "3. incremental sync (the source keeps changing meanwhile)", RunRequest()))
        console.print(f"changed while extracting: {changes.made['updated']} updates, {changes.made['inserted']} "
                      f"inserts, {changes.made['deleted']} deletes — picked up by the next sync")
        _let_source_clock_pass(admin, sources, changes_from)

        runs.append(_sync(settings, "4. full sync (reconciles deletes)", RunRequest(full=True)))

        console.rule("[bold]5. check against the source")
        checks = [c for s in sources for c in check_tenant(ctx, admin, s.tenant_id, s.instance, s.service)]
        console.print(_checks_table(checks))

    # The sandbox is gone: keep the demo tenants' data queryable but stop scheduling them.
    for tenant in DEMO_TENANTS:
        _set_enabled(ctx, tenant.tenant_id, False)

    console.rule("[bold]summary")
    totals = Table("run", "records landed", "versions created", "deletes", "seconds", "records/s", "failed tables",
                   title_justify="left")
    for index, summary in zip((1, 3, 4), runs, strict=True):
        versions = sum(r.versions_created for r in summary.results)
        deletes = sum(r.deletes for r in summary.results)
        rate = summary.records / summary.seconds if summary.seconds else 0.0
        totals.add_row(str(index), f"{summary.records:,}", f"{versions:,}", f"{deletes:,}", f"{summary.seconds:.1f}",
                       f"{rate:,.0f}", str(len(summary.failed)))
    console.print(totals)
    result = run_query(ctx.lake, EXAMPLE_SQL, [t.tenant_id for t in DEMO_TENANTS], sorted(ctx.catalog.canonical))
    example = Table(*result.column_names, title="contacts per tenant and source (SCD2 versions)",
                    title_justify="left")
    for row in result.to_pylist():
        example.add_row(*(str(v) for v in row.values()))
    console.print(example)
    lake = ctx.lake.root
    at_home = f"AVESA_HOME={shlex.quote(str(ctx.settings.home))}"
    console.print(literal(
        f"raw Parquet:      {lake}/<tenant>/raw/<service>/<table>/\n"
        f"canonical Delta:  {lake}/<tenant>/canonical/{{companies,contacts,tickets,time_entries}}/\n"
        f"state:            {ctx.settings.state_path.resolve()}\n"
        f'try:              {at_home} .venv/bin/avesa query "{EXAMPLE_SQL}"\n'
        f"                  {at_home} .venv/bin/avesa status\n"
        "the demo tenants are now disabled (their sandbox has stopped); their data stays queryable."),
        highlight=False,
    )
    failed = sum(len(s.failed) for s in runs)
    mismatched = [c for c in checks if not c.ok]
    console.print(f"demo finished in {time.monotonic() - started:.0f}s: {failed} failed tables, "
                  f"{len(mismatched)} canonical tables differing from the source")
    if failed or mismatched:
        raise typer.Exit(1)

"""The canonical SCD2 history against the sandbox's ground-truth change log, for the end-to-end tests of
every service: timed runs, a thread that changes the source while a run extracts, and the comparison itself.

Each service's end-to-end test used to carry its own copy of these; the copies only differed in the
service, the tables a mutation touches and how often it comes, so they live here once, parameterised by
exactly that. What a test asserts stays in the test or is asserted here in the same words and strength.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType

import orjson

from avesa.catalog.loader import load_catalog
from avesa.cli.ground_truth import check_tenant
from avesa.domain.timeutil import parse_utc, utc_now
from avesa.pipeline.context import PipelineContext
from avesa.runtime.local import RunSummary
from avesa.transform.mapping import CompiledMapping
from avesa_sandbox import SandboxAdmin
from tests.pipeline.helpers import canonical, let_source_clock_pass, sync

CTX = Callable[..., PipelineContext]


@dataclass
class RunWindow:
    wall_start: float
    wall_end: float
    end_bound: datetime  # the run's range end: it reads changes stamped before this


def timed_sync(make_ctx: CTX, **request: object) -> tuple[RunWindow, RunSummary]:
    """One sync in small pages, chunks and files (so a run takes many requests); it must not fail."""
    started = time.time()
    summary = sync(make_ctx(page_size=10, target_chunk_records=40, records_per_file=20), **request)
    assert not summary.failed, [r.error for r in summary.failed]
    return RunWindow(started, time.time(), summary.results[0].table.run_started_at), summary


class Mutator:
    """Changes the source continuously from another thread (updates, inserts, deletes each round) while
    a run extracts; ``rounds`` counts the mutations made. Used as a context manager around the run."""

    def __init__(self, admin: SandboxAdmin, instance: str, *, tables: list[str] | None = None, seed: int = 100,
                 every: float = 0.03) -> None:
        self.admin, self.instance = admin, instance
        self.tables, self.seed, self.every = tables, seed, every
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.rounds = 0

    def _run(self) -> None:
        while not self.stop.wait(self.every):
            self.admin.mutate(self.instance, updates=4, inserts=1, deletes=1, seed=self.seed + self.rounds,
                              tables=self.tables)
            self.rounds += 1

    def __enter__(self) -> Mutator:
        self.thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.stop.set()
        self.thread.join()


def compiled_mapping(service: str, table: str) -> CompiledMapping:
    catalog = load_catalog()
    mapping = catalog.mapping(service, table)
    assert mapping is not None
    return CompiledMapping(mapping, catalog.canonical_table(mapping.canonical_table))


def mapped(compiled: CompiledMapping, tenant: str, entry: dict) -> dict:
    """The canonical row a logged version maps to."""
    version = (entry["id"], parse_utc(entry["last_updated"]), orjson.dumps(entry["record"]).decode())
    return compiled.to_versions([version], tenant_id=tenant, run_id="truth", loaded_at=utc_now()).to_pylist()[0]


def table_rows(ctx: PipelineContext, tenant: str, service: str, table: str, *, of_service_only: bool) -> list[dict]:
    """The canonical rows of one source table; with ``of_service_only``, of rows from that service alone."""
    compiled = compiled_mapping(service, table)
    return [r for r in canonical(ctx, tenant, compiled.mapping.canonical_table).to_pylist()
            if r["source_table"] == table and (not of_service_only or r["source_service"] == service)]


def assert_current_matches_source(ctx: PipelineContext, admin: SandboxAdmin, tenant: str, service: str) -> None:
    """Current canonical rows are exactly the source's live records, business column for column."""
    checks = check_tenant(ctx, admin, tenant, tenant, service)
    assert len(checks) == len(ctx.catalog.service(service).default_tables)
    assert all(check.ok for check in checks), checks


def assert_history_equals_change_log(ctx: PipelineContext, admin: SandboxAdmin, tenant: str, runs: list[RunWindow],
                                     service: str, *, of_service_only: bool) -> int:
    """Every canonical version is a logged one, none twice; every logged version current throughout a
    run and stamped inside its range is in the history; deleted keys end with an is_deleted row.
    Returns how many logged versions were checked."""
    log: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for entry in admin.changes(tenant):
        log[(entry["table"], entry["id"])].append(entry)
    checked = 0
    for table in ctx.catalog.service(service).default_tables:
        compiled = compiled_mapping(service, table)
        business = compiled.business_columns
        rows = table_rows(ctx, tenant, service, table, of_service_only=of_service_only)
        starts = [(r["source_id"], r["effective_start_date"]) for r in rows]
        assert len(starts) == len(set(starts)), f"{table}: duplicate versions"
        by_key: dict[str, list[dict]] = defaultdict(list)
        for r in rows:
            by_key[r["source_id"]].append(r)

        for r in rows:  # none invented
            versions = log[(table, r["source_id"])]
            if r["is_deleted"]:
                deletes = [v for v in versions if v["op"] == "delete"]
                assert deletes and parse_utc(deletes[-1]["last_updated"]) <= r["effective_start_date"]
                assert r["is_current"], f"{table}/{r['source_id']}: a deleted key's last row must be current"
                continue
            same = [v for v in versions if v["op"] != "delete" and parse_utc(v["last_updated"]) ==
                    r["effective_start_date"]]
            assert len(same) == 1, f"{table}/{r['source_id']}: no logged version at {r['effective_start_date']}"
            expected = mapped(compiled, tenant, same[0])
            assert {c: r[c] for c in business} == {c: expected[c] for c in business}

        for (logged_table, rid), versions in log.items():  # none lost
            if logged_table != table:
                continue
            for v, nxt in zip(versions, [*versions[1:], None], strict=True):
                born = parse_utc(v["changed_at"]).timestamp()
                died = parse_utc(nxt["changed_at"]).timestamp() if nxt else float("inf")
                stamp = parse_utc(v["last_updated"])
                if not any(born <= w.wall_start and died > w.wall_end and stamp < w.end_bound for w in runs):
                    continue
                checked += 1
                covering = [r for r in by_key.get(rid, []) if r["effective_start_date"] <= stamp
                            and (r["effective_end_date"] is None or stamp < r["effective_end_date"])]
                if v["op"] == "delete":
                    if by_key.get(rid):  # a key the history held is closed as deleted
                        assert covering and covering[0]["is_deleted"], f"{table}/{rid}: delete at {stamp} lost"
                    continue
                assert len(covering) == 1, f"{table}/{rid}: version at {stamp} lost"
                expected = mapped(compiled, tenant, v)
                assert {c: covering[0][c] for c in business} == {c: expected[c] for c in business}
    return checked


def assert_history_survives_changes_during_extraction(make_ctx: CTX, admin: SandboxAdmin, tenant: str, service: str,
                                                      *, source: str, mutated_tables: list[str] | None,
                                                      of_service_only: bool) -> None:
    """A full run; changes; an incremental run while a :class:`Mutator` changes the source (``source``
    names it in the message); two more runs, the last full: the history still equals the change log,
    and the current rows equal the source."""
    runs = [timed_sync(make_ctx, full=True)[0]]
    admin.mutate(tenant, updates=30, inserts=10, deletes=5, seed=11)
    let_source_clock_pass(admin, [tenant])

    with Mutator(admin, tenant, tables=mutated_tables) as mutator:
        runs.append(timed_sync(make_ctx)[0])
    assert mutator.rounds >= 3, f"{source} must change while the incremental sync extracts"
    let_source_clock_pass(admin, [tenant])
    runs.append(timed_sync(make_ctx)[0])
    let_source_clock_pass(admin, [tenant])
    runs.append(timed_sync(make_ctx, full=True)[0])

    changed_during_extraction = sum(1 for e in admin.changes(tenant)
                                    if runs[1].wall_start <= parse_utc(e["changed_at"]).timestamp() <= runs[1].wall_end)
    assert changed_during_extraction > 0
    assert assert_history_equals_change_log(make_ctx(), admin, tenant, runs, service,
                                            of_service_only=of_service_only) > 0
    assert_current_matches_source(make_ctx(), admin, tenant, service)

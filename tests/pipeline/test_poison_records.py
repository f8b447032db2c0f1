"""Hostile records through every built-in service's connector and mapping, over real HTTP: one run
holds a tenant per (service, hostile value) and a healthy tenant per service. Whatever a record holds,
the run ends (finished, never left running), no traceback escapes, the healthy tenants and the
poisoned tenants' other tables land, and the poisoned table either lands — a value that cannot be
converted becomes null, is counted, and the raw file keeps it as sent — or fails with the tenant,
service, table and reason, like any source error."""

from __future__ import annotations

import glob
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from avesa.domain.work import RunRequest, TableStatus
from avesa.pipeline.context import PipelineContext
from avesa.pipeline.plan import plan_run
from avesa_sandbox import SandboxAdmin
from tests.pipeline.helpers import canonical, let_source_clock_pass, register_unthrottled, sync


@dataclass(frozen=True)
class Source:
    service: str
    sandbox_table: str  # the table as the sandbox's admin API names it
    table: str  # the table as AVESA syncs it
    other_table: str  # a second table of the tenant, which must land whatever the first holds
    number_field: str  # a field mapped to an int64 column ("" when the mapping has none)
    number_column: str
    text_field: str  # a field mapped to a string column
    id_field: str


SOURCES = [
    Source("connectwise", "company/companies", "company_companies", "company_contacts", "numberOfEmployees",
           "number_of_employees", "name", "id"),
    Source("servicenow", "core_company", "core_company", "sys_user", "num_employees", "number_of_employees",
           "name", "sys_id"),
    Source("salesforce", "Account", "Account", "Contact", "NumberOfEmployees", "number_of_employees", "Name", "Id"),
    Source("microsoft365", "users", "users", "organization", "", "", "city", "id"),
]


@dataclass(frozen=True)
class Hostile:
    name: str
    field: str  # "number", "text" or "id"
    value: bytes
    lands: bool  # True: the table completes; False: it fails
    nulls: bool = False  # lands with the value nulled (in an int64 column)


HOSTILE = [
    Hostile("float-past-int64", "number", b"1e300", True, nulls=True),
    Hostile("past-double", "number", b"1e400", True, nulls=True),  # landed as sent; read as infinity: nulled
    Hostile("integer-past-64-bits", "number", b"123456789012345678901234567890", True, nulls=True),
    Hostile("object-for-a-number", "number", b'{"a": [1, 2]}', True, nulls=True),
    Hostile("text-for-a-number", "number", b'"twelve"', True, nulls=True),
    Hostile("nan", "number", b"NaN", False),
    Hostile("infinity", "number", b"-Infinity", False),
    Hostile("invalid-utf8", "text", b'"Acme \xff\xfe Corp"', False),
    Hostile("lone-surrogate", "text", b'"\\ud800"', False),  # an escape of no character: no text to land
    Hostile("nested-1000-deep", "text", b"[" * 1000 + b"]" * 1000, False),
    Hostile("nested-100-deep", "text", b"[" * 100 + b"1" + b"]" * 100, True),
    Hostile("huge-string", "text", b'"' + b"x" * 3_000_000 + b'"', True),
    Hostile("list-for-a-text", "text", b"[1, 2.5, null]", True),
    Hostile("missing-id", "id", b"null", False),
]


def _credentials(ctx: PipelineContext, admin: SandboxAdmin, instance: str, source: Source) -> dict[str, str]:
    """What a tenant configures: the credential fields the service's spec declares."""
    declared = {f.name for f in ctx.catalog.service(source.service).credentials}
    return {k: v for k, v in admin.connection(instance).items() if k in declared}


def _field(source: Source, hostile: Hostile) -> str | None:
    return {"number": source.number_field or source.text_field, "text": source.text_field,
            "id": source.id_field}[hostile.field]


@pytest.mark.slow
def test_hostile_records_fail_only_their_table_and_every_other_table_lands(
        sandbox_admin: SandboxAdmin, new_instance: Callable[..., str], make_ctx: Callable[..., PipelineContext],
        avesa_home: Path) -> None:
    ctx = make_ctx()
    poisoned: dict[str, tuple[Source, Hostile, str]] = {}  # tenant -> what it holds, and the poisoned record
    healthy: dict[str, Source] = {}
    for source in SOURCES:
        tenant = new_instance("ok", service=source.service)
        healthy[register_unthrottled(ctx, tenant, source.service, _credentials(ctx, sandbox_admin, tenant, source),
                                     [source.table, source.other_table])] = source
        for hostile in HOSTILE:
            tenant = new_instance("bad", service=source.service)
            ids = sandbox_admin.record_ids(tenant, source.sandbox_table)
            target = ids[len(ids) // 2]
            sandbox_admin.splice_raw(tenant, source.sandbox_table, target, _field(source, hostile), hostile.value)
            register_unthrottled(ctx, tenant, source.service, _credentials(ctx, sandbox_admin, tenant, source),
                                 [source.table, source.other_table])
            poisoned[tenant] = (source, hostile, str(target))

    let_source_clock_pass(sandbox_admin, list(poisoned))  # the spliced versions lie before the run's end
    summary = sync(make_ctx())  # returns: nothing escaped

    after = make_ctx()
    run = after.state.get_run(summary.run_id)
    assert run is not None and run.status == ("failed" if summary.failed else "complete")
    results = {(r.table.tenant_id, r.table.table): r for r in summary.results}
    assert len(results) == 2 * (len(healthy) + len(poisoned))
    for tenant, source in healthy.items():
        for table in (source.table, source.other_table):
            assert results[(tenant, table)].status is TableStatus.COMPLETE, results[(tenant, table)].error
    for tenant, (source, hostile, record_id) in poisoned.items():
        assert results[(tenant, source.other_table)].status is TableStatus.COMPLETE, (hostile.name, source.service)
        result = results[(tenant, source.table)]
        lands = result.status is TableStatus.COMPLETE
        assert lands == hostile.lands, (source.service, hostile.name, result.error)
        if not lands:
            assert result.status is TableStatus.FAILED
            assert result.error and result.error.startswith(f"{tenant}/{source.service}/{source.table}: "), result.error
            assert "Traceback" not in result.error
            ledger = after.state.get_table_run(result.table)
            assert ledger is not None and ledger.status == "failed" and ledger.error == result.error
            continue
        rows = canonical(after, tenant, "companies" if source.service != "microsoft365" else "contacts")
        assert record_id in rows.column("source_id").to_pylist(), (source.service, hostile.name)
        if hostile.nulls and source.number_column:
            assert result.nulled_values == {source.number_column: 1}, (source.service, hostile.name)
            ledger = after.state.get_table_run(result.table)
            assert ledger is not None and ledger.nulled_values == {source.number_column: 1}
            raw = _raw_record(avesa_home, tenant, source, record_id)
            assert hostile.value.decode() in raw.replace(" ", "") or hostile.value.decode() in raw
        else:
            assert not result.nulled_values, (source.service, hostile.name, result.nulled_values)

    # a later run of a healthy tenant is not held up by anything the poisoned ones left
    again = sync(make_ctx(), tenant_id=next(iter(healthy)))
    assert again.results and not again.failed


def _raw_record(home: Path, tenant: str, source: Source, record_id: str) -> str:
    for path in glob.glob(str(home / "lake" / tenant / "raw" / source.service / source.table / "*.parquet")):
        table = pq.read_table(path)
        for rid, record in zip(table.column("record_id").to_pylist(), table.column("record").to_pylist(),
                               strict=True):
            if rid == record_id:
                return record
    raise AssertionError(f"record {record_id} not in {tenant}'s raw files")


def _avesa_run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "avesa", "run", *args], env=env, capture_output=True, text=True,
                          timeout=120, check=False)


def _dead_owner() -> str:
    """An owner string of this host whose process has ended, as a crashed `avesa run` leaves behind."""
    child = subprocess.Popen(["sleep", "60"])
    child.send_signal(signal.SIGKILL)
    child.wait()
    return f"{socket.gethostname()}:{child.pid}"


@pytest.mark.slow
def test_an_interrupted_run_holding_a_poison_record_never_stops_later_runs(
        sandbox_admin: SandboxAdmin, new_instance: Callable[..., str], make_ctx: Callable[..., PipelineContext],
        avesa_home: Path) -> None:
    ctx = make_ctx()
    bad, good = new_instance("poisoned"), new_instance("healthy")
    for tenant in (bad, good):
        register_unthrottled(ctx, tenant, "connectwise", sandbox_admin.connection(tenant), ["company_companies"])
    ids = sandbox_admin.record_ids(bad, "company/companies")
    sandbox_admin.splice_raw(bad, "company/companies", ids[0], "name", b'"\xff"')
    let_source_clock_pass(sandbox_admin, [bad])
    # a run that crashed before it got anywhere: in the ledger, running, its owner gone
    crashed = make_ctx()
    crashed.owner = _dead_owner()
    interrupted = plan_run(crashed, RunRequest())

    env = {**os.environ, "AVESA_HOME": str(avesa_home)}
    only_good = _avesa_run(env, "--tenant", good)
    assert only_good.returncode == 0, only_good.stdout + only_good.stderr
    assert "Traceback" not in only_good.stdout + only_good.stderr
    assert f"resuming interrupted run {interrupted.run_id}" in only_good.stdout
    assert f"tenant {good} only" in only_good.stdout
    # the healthy tenant's part is done; the poisoned tenant's part is still there for a full run
    state = make_ctx().state
    assert state.get_run(interrupted.run_id).status == "running"
    parts = {tr.tenant_id: tr.status for tr in state.list_table_runs(run_id=interrupted.run_id)}
    assert parts[good] == "complete" and parts[bad] != "complete"
    assert not [tr for tr in state.list_table_runs(tenant_id=bad) if tr.run_id != interrupted.run_id]

    everything = _avesa_run(env)
    assert everything.returncode == 1, everything.stdout + everything.stderr
    assert "Traceback" not in everything.stdout + everything.stderr
    assert f"resuming interrupted run {interrupted.run_id}" in everything.stdout
    assert "not UTF-8 text" in everything.stdout
    state = make_ctx().state
    assert state.get_run(interrupted.run_id).status == "failed"

    # nothing is left to resume: the next runs start at once, and the healthy tenant's sync is clean
    later = _avesa_run(env, "--tenant", good)
    assert later.returncode == 0 and "resuming" not in later.stdout, later.stdout + later.stderr

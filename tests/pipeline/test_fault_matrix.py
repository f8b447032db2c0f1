"""The fault matrix: each case injects faults into the sandbox during a sync and ends with canonical
tables equal to the sandbox's ground truth and raw files holding each record once per run.

One case is one line of FAULTS. Crashes (kill -9) are in test_resume_after_crash.py, changes during
extraction in test_history_vs_change_log.py.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from avesa.domain.work import TableStatus
from avesa_sandbox import SandboxAdmin
from tests.pipeline.helpers import sync
from tests.pipeline.test_end_to_end import _assert_matches_source

TABLES = ["service_tickets", "time_entries"]


@dataclass(frozen=True)
class Case:
    name: str
    faults: list[dict] = field(default_factory=list)  # SandboxAdmin.add_fault keyword arguments
    settings: dict = field(default_factory=dict)  # Settings overrides for the run
    first_run_fails: bool = False  # bad data fails the chunk; the next run must then succeed


FAULTS = [
    Case("429 storm with Retry-After", [{"kind": "429", "count": 3, "table": "time/entries", "retry_after": 1}]),
    Case("429 without Retry-After", [{"kind": "429-no-retry-after", "count": 3, "table": "service/tickets"}]),
    Case("5xx burst", [{"kind": "503", "count": 2, "table": "time/entries"},
                       {"kind": "500", "count": 2, "table": "service/tickets"}]),
    Case("connection resets", [{"kind": "reset", "count": 3, "table": "time/entries"}]),
    Case("truncated pages", [{"kind": "truncated", "count": 2, "table": "time/entries"}]),
    Case("slow responses", [{"kind": "slow", "count": 3, "table": "service/tickets", "delay_ms": 300}]),
    Case("timeouts", [{"kind": "slow", "count": 2, "table": "service/tickets", "delay_ms": 3000}],
         settings={"http_timeout_seconds": 0.5}),
    Case("malformed page", [{"kind": "malformed", "count": 1, "table": "time/entries"}], first_run_fails=True),
    Case("a deadline hit in every chunk", settings={"chunk_deadline_seconds": 0.0}),
    Case("random faults everywhere", settings={}, faults=[{"knobs": {"error_rate": 0.15, "reset_rate": 0.05}}]),
]

SMALL_PAGES = {"page_size": 25, "records_per_file": 50, "target_chunk_records": 100}


def _raw_ids_by_run(home: Path, tenant: str, table: str) -> dict[str, list[str]]:
    files = list((home / "lake" / tenant / "raw" / "connectwise" / table).glob("*.parquet"))
    by_run: dict[str, list[str]] = {}
    if files:
        rows = pq.read_table(files, columns=["run_id", "record_id"]).to_pylist()
        for row in rows:
            by_run.setdefault(row["run_id"], []).append(row["record_id"])
    return by_run


@pytest.mark.slow
@pytest.mark.parametrize("case", FAULTS, ids=[c.name for c in FAULTS])
def test_fault_ends_with_canonical_equal_to_ground_truth(case: Case, sandbox_admin: SandboxAdmin, new_instance,
                                                          register, make_ctx, avesa_home: Path) -> None:
    tenant = register(make_ctx(), new_instance("fault"), tables=TABLES)
    settings = {**SMALL_PAGES, "max_attempts": 6, **case.settings}
    for fault in case.faults:
        if "knobs" in fault:
            sandbox_admin.set_knobs(tenant, **fault["knobs"])
        else:
            sandbox_admin.add_fault(tenant, **fault)

    first = sync(make_ctx(**settings), full=True)
    assert sandbox_admin.faults(tenant) == [], "every injected fault must have been met"
    if case.settings.get("chunk_deadline_seconds") == 0.0:
        ctx = make_ctx()
        chunks = [c for r in first.results for c in ctx.state.list_chunks(r.table)]
        assert all(c.files == c.pages and c.attempts == c.pages + 1 for c in chunks if c.pages)
    if case.first_run_fails:
        assert any(r.status is TableStatus.FAILED for r in first.results)
        sandbox_admin.set_knobs(tenant, error_rate=0.0, reset_rate=0.0)
        second = sync(make_ctx(**settings), full=True)
        assert not second.failed, [r.error for r in second.failed]
    else:
        assert not first.failed, [r.error for r in first.failed]
    sandbox_admin.set_knobs(tenant, error_rate=0.0, reset_rate=0.0)
    _assert_matches_source(make_ctx(), sandbox_admin, tenant)
    for table in TABLES:
        for run_id, ids in _raw_ids_by_run(avesa_home, tenant, table).items():
            assert len(ids) == len(set(ids)), f"{case.name}: {table} holds a record twice in run {run_id}"

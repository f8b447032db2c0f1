"""The live display at 200 tenants: it never draws more lines than the terminal has, rolls up into
an overall bar, tenant lines and the slowest tables when the tables do not fit, and shows merges —
rendered by rich on a narrow terminal as a user would see it."""

from __future__ import annotations

import io
from datetime import UTC, datetime

from rich.console import Console

from avesa.cli.progress import PlainProgress, RunBoard
from avesa.domain.work import SyncMode, TablePlan, TableRef, TableResult, TableStatus

NOW = datetime(2025, 1, 1, tzinfo=UTC)
TABLES = ("companies", "contacts", "service_tickets", "time_entries", "configurations")


def _ref(tenant: str, table: str) -> TableRef:
    return TableRef(run_id="run-1", tenant_id=tenant, service="connectwise", table=table, mode=SyncMode.INCREMENTAL,
                    run_started_at=NOW)


def _draw(board: RunBoard, width: int, height: int) -> list[str]:
    out = io.StringIO()
    Console(width=width, height=height, force_terminal=True, color_system=None, file=out).print(board)
    return out.getvalue().splitlines()


def _busy_board(tenants: int) -> tuple[RunBoard, list[float]]:
    clock = [0.0]
    board = RunBoard(clock=lambda: clock[0])
    for t in range(tenants):
        for table in TABLES:
            ref = _ref(f"tenant-{t:03d}", table)
            board.table_started(ref)
            board.table_planned(TablePlan(table=ref, range_start=NOW, range_end=NOW, estimate=None, chunks=[]))
            board.chunks_added(ref, 4)
            clock[0] += 1.0
    return board, clock


def test_many_tables_on_a_narrow_terminal_roll_up_to_fit() -> None:
    board, clock = _busy_board(40)  # 200 tables, a 60 x 20 terminal
    for t in range(40):
        for i, table in enumerate(TABLES):
            ref = _ref(f"tenant-{t:03d}", table)
            board.records_landed(ref, 250)
            board.chunk_finished(ref)
            if t >= 5 and i < 3:
                board.table_finished(TableResult(table=ref, status=TableStatus.COMPLETE, records=250))
    board.table_merging(_ref("tenant-001", "contacts"))
    board.table_finished(TableResult(table=_ref("tenant-007", "time_entries"), status=TableStatus.FAILED,
                                     error="boom"))
    clock[0] += 30
    lines = _draw(board, 60, 20)
    assert len(lines) <= 19 and all(len(line) <= 60 for line in lines), "\n".join(lines)
    overall = lines[0]
    assert overall.startswith("run ━") and "106/200 tables" in overall and "1 failed" in overall
    assert "1 merging" in overall
    assert lines[1] == "tenants"
    assert lines[2].startswith("tenant-007 ") and "1 failed" in lines[2], "a failing tenant comes first"
    more = next(line for line in lines if line.startswith("… "))
    assert "more tenants" in more
    slowest = lines.index("slowest tables at work")
    at_work = lines[slowest + 1:]
    assert at_work and at_work[0].lstrip().startswith("tenant-000/"), "the table at work longest comes first"
    assert len(at_work) == 6 and all("extracting" in line or "merging" in line for line in at_work)
    tenant = next(line for line in lines if line.startswith("tenant-001 "))
    assert "1 merging" in tenant, "the merge phase shows on the tenant's line"


def test_a_few_tables_get_a_line_each_with_their_phase() -> None:
    board, _ = _busy_board(1)
    board.table_merging(_ref("tenant-000", "contacts"))
    board.table_finished(TableResult(table=_ref("tenant-000", "companies"), status=TableStatus.COMPLETE))
    lines = _draw(board, 100, 30)
    assert len(lines) == 1 + len(TABLES)
    assert lines[1].startswith("✓ tenant-000/connectwise/companies") and " ok " in lines[1]
    assert "tenant-000/connectwise/contacts" in lines[2] and "merging" in lines[2]
    assert "0/4" in lines[3] and "extracting" in lines[3]


def test_plain_lines_off_a_terminal_count_the_merges() -> None:
    written: list[str] = []
    clock = [0.0]
    plain = PlainProgress(written.append, interval=10, clock=lambda: clock[0])
    ref = _ref("acme", "contacts")
    plain.table_started(ref)
    clock[0] = 11
    plain.table_merging(ref)
    assert written and "1 running (1 merging)" in written[-1]

"""SQLite-only: a state file made by an older AVESA gains the columns added since, in place."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from tests.state.test_state_contract import T0, _chunk, _ref

from avesa.state.ledger_records import TableRunUpdate
from avesa.state.sqlite.store import SqliteStateStore


def test_a_state_file_from_before_chunk_timings_gains_the_column(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    SqliteStateStore(path).close()
    with sqlite3.connect(path) as conn:
        conn.execute("ALTER TABLE chunks DROP COLUMN seconds")
    store = SqliteStateStore(path)
    ref = _ref()
    store.save_chunks([_chunk(ref)])
    assert store.get_chunk(_chunk(ref).chunk_id).seconds == 0.0


def test_a_state_file_from_before_run_leases_gains_the_column(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    SqliteStateStore(path).close()
    with sqlite3.connect(path) as conn:
        conn.execute("ALTER TABLE runs DROP COLUMN lease_expires")
    store = SqliteStateStore(path)
    store.create_run("run-1", T0, {}, "w1")
    assert store.get_run("run-1").lease_expires is None
    assert store.renew_run_lease("run-1", "w1", 60, T0)


def test_a_state_file_from_before_schedules_and_counts_gains_their_columns(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    SqliteStateStore(path).close()
    with sqlite3.connect(path) as conn:
        conn.execute("ALTER TABLE tenant_services DROP COLUMN schedule")
        conn.execute("ALTER TABLE table_runs DROP COLUMN source_count")
        conn.execute("ALTER TABLE table_runs DROP COLUMN canonical_count")
        conn.execute("INSERT INTO tenant_services VALUES ('acme', 'connectwise', 1, '{}', '[\"t\"]', 'ref', NULL, ?)",
                     (T0.isoformat(),))
    store = SqliteStateStore(path)
    assert store.get_service("acme", "connectwise").schedule is None
    ref = _ref()
    store.start_table_runs([ref])
    store.update_table_run(ref, TableRunUpdate(source_count=3, canonical_count=3))
    assert store.get_table_run(ref).source_count == 3

"""The state store contract, run against the SQLite back end (the DynamoDB one will join)."""

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from avesa.domain.registry import Tenant, TenantService
from avesa.domain.work import ChunkOutcome, ChunkStatus, ChunkTask, SyncMode, TableRef
from avesa.state.sqlite_store import SqliteStateStore

T0 = datetime(2025, 1, 1, tzinfo=UTC)


@pytest.fixture
def store(tmp_path: Path) -> SqliteStateStore:
    return SqliteStateStore(tmp_path / "state.sqlite3")


def _ref() -> TableRef:
    return TableRef(run_id="run-1", tenant_id="acme", service="connectwise", table="service_tickets",
                    mode=SyncMode.FULL, run_started_at=T0)


def _chunk(ref: TableRef, i: int = 0) -> ChunkTask:
    start, end = T0 - timedelta(days=2 - i), T0 - timedelta(days=1 - i)
    return ChunkTask(table=ref, chunk_id=ChunkTask.make_id(ref, i, start, end), index=i, start=start, end=end)


def test_registry_round_trip(store: SqliteStateStore) -> None:
    store.put_tenant(Tenant(tenant_id="acme", company_name="Acme", created_at=T0))
    store.put_service(TenantService(tenant_id="acme", service="connectwise", settings={"api_url": "http://x"},
                                    tables=["service_tickets"], secret_ref="avesa/acme/connectwise", created_at=T0))
    assert store.get_tenant("acme").company_name == "Acme"
    assert store.get_tenant("nope") is None
    service = store.get_service("acme", "connectwise")
    assert service.settings == {"api_url": "http://x"} and service.tables == ["service_tickets"]
    store.put_tenant(Tenant(tenant_id="acme", company_name="Acme", enabled=False, created_at=T0))
    assert [t.enabled for t in store.list_tenants()] == [False]


def test_watermark_only_moves_forward(store: SqliteStateStore) -> None:
    assert store.get_watermark("acme", "connectwise", "t") is None
    store.set_watermark("acme", "connectwise", "t", T0, "run-2")
    store.set_watermark("acme", "connectwise", "t", T0 - timedelta(hours=1), "run-1")
    assert store.get_watermark("acme", "connectwise", "t") == T0


def test_chunk_ids_are_deterministic() -> None:
    ref = _ref()
    assert _chunk(ref).chunk_id == _chunk(ref).chunk_id
    assert _chunk(ref, 0).chunk_id != _chunk(ref, 1).chunk_id


def test_chunk_lease_checkpoint_and_finish(store: SqliteStateStore) -> None:
    ref = _ref()
    chunk = _chunk(ref)
    store.start_table_runs([ref])
    store.save_chunks([chunk])
    store.save_chunks([chunk])  # idempotent
    assert store.acquire_chunk(chunk.chunk_id, "w1", 60, T0)
    assert not store.acquire_chunk(chunk.chunk_id, "w2", 60, T0 + timedelta(seconds=30))
    outcome = ChunkOutcome(chunk_id=chunk.chunk_id, status=ChunkStatus.RUNNING, cursor="42", seq=1, records=10,
                           files=1, pages=1, max_updated_at=T0)
    store.checkpoint_chunk(chunk.chunk_id, "w1", outcome, 60, T0)
    # an expired lease makes the chunk resumable by anyone, from its checkpoint
    assert store.acquire_chunk(chunk.chunk_id, "w2", 60, T0 + timedelta(seconds=61))
    record = store.get_chunk(chunk.chunk_id)
    assert (record.cursor, record.seq, record.records, record.attempts) == ("42", 1, 10, 2)
    store.finish_chunk(chunk.chunk_id, outcome.model_copy(update={"status": ChunkStatus.COMPLETE}), T0)
    assert store.list_chunks(ref)[0].status == "complete"
    assert not store.acquire_chunk(chunk.chunk_id, "w3", 60, T0)


def test_table_run_updates(store: SqliteStateStore) -> None:
    ref = _ref()
    store.start_table_runs([ref])
    store.update_table_run(ref, status="complete", records=5, finished_at=T0)
    tr = store.get_table_run(ref)
    assert (tr.status, tr.records, tr.finished_at) == ("complete", 5, T0)
    with pytest.raises(ValueError, match="unknown table run fields"):
        store.update_table_run(ref, password="x")


def _never_stale(run_id: str, owner: str) -> bool:
    return False


def test_sync_and_backfill_locks_are_separate_scopes(store: SqliteStateStore) -> None:
    assert store.lock_tenant("acme", "run-sync", "w1", T0, _never_stale) is None
    assert store.lock_tenant("acme", "run-backfill", "w2", T0, _never_stale, scope="backfill") is None
    assert store.lock_tenant("acme", "run-other", "w3", T0, _never_stale)[0] == "run-sync"
    assert store.lock_tenant("acme", "run-other", "w3", T0, _never_stale, scope="backfill")[0] == "run-backfill"
    store.unlock_tenants("run-backfill")
    assert store.lock_tenant("acme", "run-other", "w3", T0, _never_stale, scope="backfill") is None
    assert store.lock_tenant("acme", "run-again", "w4", T0, _never_stale)[0] == "run-sync"


def test_cancel_run_stops_its_workers_frees_leases_and_locks_and_never_moves_a_watermark(
        store: SqliteStateStore) -> None:
    ref = _ref()
    done, running, pending = _chunk(ref, 0), _chunk(ref, 1), _chunk(ref, 2)
    store.create_run("run-1", T0, {}, "w1")
    store.start_table_runs([ref])
    store.save_chunks([done, running, pending])
    complete = ChunkOutcome(chunk_id=done.chunk_id, status=ChunkStatus.COMPLETE, cursor="9", seq=1, records=9)
    store.finish_chunk(done.chunk_id, complete, T0)
    assert store.acquire_chunk(running.chunk_id, "w1", 60, T0)
    assert store.lock_tenant("acme", "run-1", "w1", T0, _never_stale) is None
    progress = ChunkOutcome(chunk_id=running.chunk_id, status=ChunkStatus.RUNNING, cursor="5", seq=1, records=5)
    assert store.checkpoint_chunk(running.chunk_id, "w1", progress, 60, T0)

    assert store.cancel_run("run-1", T0)
    assert store.get_run("run-1").status == "cancelled"
    assert not store.cancel_run("run-1", T0)  # finished now
    statuses = {c.chunk_id: (c.status, c.lease_owner) for c in store.list_chunks(ref)}
    assert statuses == {done.chunk_id: ("complete", None), running.chunk_id: ("cancelled", None),
                        pending.chunk_id: ("cancelled", None)}
    assert store.get_table_run(ref).status == "cancelled"
    # the worker still running learns it at its next checkpoint or claim, and cannot undo the cancel
    assert not store.checkpoint_chunk(running.chunk_id, "w1", progress, 60, T0)
    assert not store.acquire_chunk(pending.chunk_id, "w1", 60, T0)
    store.finish_chunk(running.chunk_id, progress.model_copy(update={"status": ChunkStatus.COMPLETE}), T0)
    assert store.get_chunk(running.chunk_id).status == "cancelled"
    assert not store.finish_run("run-1", "complete", T0)
    assert store.get_run("run-1").status == "cancelled"
    store.set_watermark("acme", "connectwise", "service_tickets", T0, "run-1")
    assert store.get_watermark("acme", "connectwise", "service_tickets") is None
    assert store.lock_tenant("acme", "run-2", "w2", T0, _never_stale) is None  # its lock went with it


def test_a_complete_run_cannot_be_cancelled(store: SqliteStateStore) -> None:
    store.create_run("run-1", T0, {}, "w1")
    assert store.finish_run("run-1", "complete", T0)
    assert not store.cancel_run("run-1", T0)
    assert store.get_run("run-1").status == "complete"
    store.create_run("run-2", T0, {}, "w1")
    assert store.finish_run("run-2", "failed", T0)
    assert store.cancel_run("run-2", T0)  # a failed run would be retried: cancelling says it never should be


def test_a_checkpoint_after_another_worker_took_the_chunk_is_refused(store: SqliteStateStore) -> None:
    ref = _ref()
    chunk = _chunk(ref)
    store.save_chunks([chunk])
    assert store.acquire_chunk(chunk.chunk_id, "w1", 60, T0)
    assert store.acquire_chunk(chunk.chunk_id, "w2", 60, T0 + timedelta(seconds=61))  # w1's lease expired
    outcome = ChunkOutcome(chunk_id=chunk.chunk_id, status=ChunkStatus.RUNNING, cursor="7", seq=1, records=7)
    assert not store.checkpoint_chunk(chunk.chunk_id, "w1", outcome, 60, T0 + timedelta(seconds=62))
    assert store.checkpoint_chunk(chunk.chunk_id, "w2", outcome, 60, T0 + timedelta(seconds=62))


def test_delta_links_are_kept_replaced_and_forgotten(store: SqliteStateStore) -> None:
    assert store.get_sync_token("acme", "microsoft365", "users") is None
    store.set_sync_token("acme", "microsoft365", "users", "https://graph/delta?token=1", "run-1")
    store.set_sync_token("acme", "microsoft365", "users", "https://graph/delta?token=2", "run-2")
    assert store.get_sync_token("acme", "microsoft365", "users") == "https://graph/delta?token=2"
    store.set_sync_token("acme", "microsoft365", "users", None, "run-3")
    assert store.get_sync_token("acme", "microsoft365", "users") is None


def test_throughput_of_earlier_chunks_is_measured_from_completed_work(store: SqliteStateStore) -> None:
    ref = _ref()
    assert store.recent_throughput(*ref.key) is None
    chunks = [_chunk(ref, i) for i in range(3)]
    store.save_chunks(chunks)
    for chunk, (records, seconds, status) in zip(chunks, [(1000, 2.0, ChunkStatus.COMPLETE),
                                                         (3000, 4.0, ChunkStatus.COMPLETE),
                                                         (500, 9.0, ChunkStatus.FAILED)], strict=True):
        store.finish_chunk(chunk.chunk_id, ChunkOutcome(chunk_id=chunk.chunk_id, status=status, cursor=None, seq=1,
                                                        records=records, seconds=seconds), T0)
    assert store.recent_throughput(*ref.key) == (4000, 6.0)  # failed work does not count
    assert store.get_chunk(chunks[0].chunk_id).seconds == 2.0


def test_a_state_file_from_before_chunk_timings_gains_the_column(tmp_path: Path) -> None:
    import sqlite3

    path = tmp_path / "old.sqlite3"
    SqliteStateStore(path).close()
    with sqlite3.connect(path) as conn:
        conn.execute("ALTER TABLE chunks DROP COLUMN seconds")
    store = SqliteStateStore(path)
    ref = _ref()
    store.save_chunks([_chunk(ref)])
    assert store.get_chunk(_chunk(ref).chunk_id).seconds == 0.0


def test_a_split_whose_child_id_is_taken_changes_nothing(store: SqliteStateStore) -> None:
    ref = _ref()
    parent = _chunk(ref)
    store.save_chunks([parent])
    assert store.acquire_chunk(parent.chunk_id, "w1", 60, T0)
    middle = parent.start + (parent.end - parent.start) / 2
    child = ChunkTask(table=ref, chunk_id=f"{parent.chunk_id}.1", index=1, start=middle, end=parent.end)
    assert store.split_chunk(parent.chunk_id, "w1", middle, [child])
    # a second split naming the same child id would narrow the parent and drop the range in between
    quarter = parent.start + (middle - parent.start) / 2
    clash = ChunkTask(table=ref, chunk_id=f"{parent.chunk_id}.1", index=2, start=quarter, end=middle)
    assert not store.split_chunk(parent.chunk_id, "w1", quarter, [clash])
    ranges = sorted((c.range_start, c.range_end) for c in store.list_chunks(ref))
    assert ranges == [(parent.start, middle), (middle, parent.end)]  # still tiles the whole range

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


def _progress(chunk: ChunkTask, records: int) -> ChunkOutcome:
    return ChunkOutcome(chunk_id=chunk.chunk_id, status=ChunkStatus.RUNNING, cursor=str(records), seq=1,
                        records=records, files=1, pages=1, max_updated_at=T0)


def test_a_table_runs_records_are_what_its_chunks_checkpointed_before_it_finalizes(store: SqliteStateStore) -> None:
    ref = _ref()
    first, second = _chunk(ref, 0), _chunk(ref, 1)
    store.create_run("run-1", T0, {}, "w1")
    store.start_table_runs([ref])
    store.save_chunks([first, second])
    for chunk, records in ((first, 40), (second, 25)):
        assert store.acquire_chunk(chunk.chunk_id, "w1", 60, T0)
        assert store.checkpoint_chunk(chunk.chunk_id, "w1", _progress(chunk, records), 60, T0)
    assert store.get_table_run(ref).records == 65  # the worker died here: nothing finalized the table
    assert [tr.records for tr in store.list_table_runs(run_id="run-1")] == [65]


def test_a_finished_run_leaves_no_chunk_running_and_no_lease(store: SqliteStateStore) -> None:
    ref = _ref()
    failed, stopped, pending = _chunk(ref, 0), _chunk(ref, 1), _chunk(ref, 2)
    store.create_run("run-1", T0, {}, "w1")
    store.start_table_runs([ref])
    store.save_chunks([failed, stopped, pending])
    assert store.acquire_chunk(failed.chunk_id, "w1", 60, T0)
    assert store.acquire_chunk(stopped.chunk_id, "w1", 60, T0)
    assert store.checkpoint_chunk(stopped.chunk_id, "w1", _progress(stopped, 20), 60, T0)
    assert store.finish_chunk(failed.chunk_id, _progress(failed, 0).model_copy(
        update={"status": ChunkStatus.FAILED, "error": "bad page"}), T0, owner="w1")
    # the stopped chunk's task was cancelled when its sibling failed, before it could say so itself
    assert store.finish_run("run-1", "failed", T0)
    chunks = {c.chunk_id: c for c in store.list_chunks(ref)}
    assert {k: (c.status, c.lease_owner, c.lease_expires) for k, c in chunks.items()} == {
        failed.chunk_id: ("failed", None, None), stopped.chunk_id: ("incomplete", None, None),
        pending.chunk_id: ("pending", None, None)}
    assert chunks[stopped.chunk_id].last_error == "stopped when its run ended failed"
    assert (chunks[stopped.chunk_id].cursor, chunks[stopped.chunk_id].records) == ("20", 20)  # a retry continues
    # a worker still writing is refused, and a retry takes the chunk at once, not once a lease expires
    assert not store.checkpoint_chunk(stopped.chunk_id, "w1", _progress(stopped, 40), 60, T0)
    assert not store.renew_chunk_lease(stopped.chunk_id, "w1", 60, T0)
    assert store.reopen_run("run-1", "w2")
    assert store.acquire_chunk(stopped.chunk_id, "w2", 60, T0)


def test_lease_renewals_are_refused_once_the_run_is_cancelled_or_the_work_is_someone_elses(
        store: SqliteStateStore) -> None:
    ref = _ref()
    chunk, other = _chunk(ref, 0), _chunk(ref, 1)
    store.create_run("run-1", T0, {}, "w1")
    store.save_chunks([chunk, other])
    assert store.acquire_chunk(chunk.chunk_id, "w1", 60, T0)
    assert store.renew_chunk_lease(chunk.chunk_id, "w1", 60, T0 + timedelta(seconds=50))
    assert store.get_chunk(chunk.chunk_id).lease_expires == T0 + timedelta(seconds=110)
    assert not store.acquire_chunk(chunk.chunk_id, "w2", 60, T0 + timedelta(seconds=70))  # renewed: still w1's
    assert store.renew_run_lease("run-1", "w1", 60, T0)
    assert store.get_run("run-1").lease_expires == T0 + timedelta(seconds=60)
    assert sorted(store.lease_expiries("run-1")) == [T0 + timedelta(seconds=60), T0 + timedelta(seconds=110)]
    # taken over after w1 stopped renewing: w1's renewals and its finish are refused
    assert store.acquire_chunk(chunk.chunk_id, "w2", 60, T0 + timedelta(seconds=111))
    assert not store.renew_chunk_lease(chunk.chunk_id, "w1", 60, T0 + timedelta(seconds=112))
    done = _progress(chunk, 5).model_copy(update={"status": ChunkStatus.COMPLETE})
    assert not store.finish_chunk(chunk.chunk_id, done, T0, owner="w1")
    assert (store.get_chunk(chunk.chunk_id).status, store.get_chunk(chunk.chunk_id).lease_owner) == ("running", "w2")
    assert store.claim_run("run-1", "w1", "w2")
    assert not store.renew_run_lease("run-1", "w1", 60, T0)
    assert store.acquire_chunk(other.chunk_id, "w2", 60, T0)
    assert store.cancel_run("run-1", T0)
    assert not store.renew_chunk_lease(other.chunk_id, "w2", 60, T0)
    assert not store.renew_run_lease("run-1", "w2", 60, T0)


def test_a_chunk_stopped_without_an_outcome_keeps_its_checkpoint_and_frees_its_lease(
        store: SqliteStateStore) -> None:
    ref = _ref()
    chunk = _chunk(ref)
    store.save_chunks([chunk])
    assert store.acquire_chunk(chunk.chunk_id, "w1", 60, T0)
    assert store.checkpoint_chunk(chunk.chunk_id, "w1", _progress(chunk, 30), 60, T0)
    assert not store.release_chunk(chunk.chunk_id, "w2", ChunkStatus.INCOMPLETE, "stopped")  # not w2's to release
    assert store.release_chunk(chunk.chunk_id, "w1", ChunkStatus.INCOMPLETE, "stopped")
    record = store.get_chunk(chunk.chunk_id)
    assert (record.status, record.last_error, record.lease_owner, record.cursor, record.records) == (
        "incomplete", "stopped", None, "30", 30)


def test_abandoning_asks_again_whether_the_run_is_interrupted_in_the_same_transaction(
        store: SqliteStateStore) -> None:
    store.create_run("run-1", T0, {}, "far:1")
    store.renew_run_lease("run-1", "far:1", 60, T0)
    asked: list[tuple[str, list]] = []

    def alive(run, leases) -> bool:
        asked.append((run.run_id, leases))
        return False

    assert not store.abandon_run("run-1", "far:1", T0, alive)
    assert asked == [("run-1", [T0 + timedelta(seconds=60)])]
    assert store.get_run("run-1").status == "running"
    assert not store.abandon_run("run-1", "someone-else:2", T0, lambda run, leases: True)
    assert store.abandon_run("run-1", "far:1", T0, lambda run, leases: True)
    assert store.get_run("run-1").status == "abandoned"


def test_a_state_file_from_before_run_leases_gains_the_column(tmp_path: Path) -> None:
    import sqlite3

    path = tmp_path / "old.sqlite3"
    SqliteStateStore(path).close()
    with sqlite3.connect(path) as conn:
        conn.execute("ALTER TABLE runs DROP COLUMN lease_expires")
    store = SqliteStateStore(path)
    store.create_run("run-1", T0, {}, "w1")
    assert store.get_run("run-1").lease_expires is None
    assert store.renew_run_lease("run-1", "w1", 60, T0)


def test_a_services_own_schedule_is_kept_and_cleared(store: SqliteStateStore) -> None:
    from avesa.domain.registry import ScheduleOverride

    service = TenantService(tenant_id="acme", service="connectwise", tables=["service_tickets"],
                            secret_ref="avesa/acme/connectwise", created_at=T0)
    store.put_service(service)
    assert store.get_service("acme", "connectwise").schedule is None
    store.put_service(service.model_copy(update={"schedule": ScheduleOverride(incremental="every 15m")}))
    kept = store.get_service("acme", "connectwise").schedule
    assert (kept.incremental, kept.full) == ("every 15m", None)
    store.put_service(service)
    assert store.list_services("acme")[0].schedule is None


def test_backfills_wait_in_the_queue_oldest_first_until_taken_off(store: SqliteStateStore) -> None:
    first = store.queue_backfill({"tenant_id": "acme", "service": "connectwise"}, T0, "alice")
    second = store.queue_backfill({"tenant_id": "globex", "service": "connectwise"}, T0 + timedelta(1), "bob")
    queued = store.list_queued_backfills()
    assert [(q.queue_id, q.request["tenant_id"], q.queued_by) for q in queued] == [(first, "acme", "alice"),
                                                                                   (second, "globex", "bob")]
    assert queued[0].queued_at == T0
    assert store.dequeue_backfill(first) and not store.dequeue_backfill(first)
    assert [q.queue_id for q in store.list_queued_backfills()] == [second]


def test_a_table_runs_data_quality_counts_are_kept(store: SqliteStateStore) -> None:
    ref = _ref()
    store.start_table_runs([ref])
    assert store.get_table_run(ref).count_difference is None
    store.update_table_run(ref, source_count=120, canonical_count=118)
    tr = store.get_table_run(ref)
    assert (tr.source_count, tr.canonical_count, tr.count_difference) == (120, 118, 2)


def test_a_state_file_from_before_schedules_and_counts_gains_their_columns(tmp_path: Path) -> None:
    import sqlite3

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
    store.update_table_run(ref, source_count=3, canonical_count=3)
    assert store.get_table_run(ref).source_count == 3

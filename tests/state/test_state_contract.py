"""The state store contract: every test runs against every back end — SQLite, and DynamoDB on
moto's server over real HTTP (a fresh table per test, Query pages of two items so that every read
follows LastEvaluatedKey)."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from avesa.domain.registry import Tenant, TenantService
from avesa.domain.work import ChunkOutcome, ChunkStatus, ChunkTask, SyncMode, TableRef
from avesa.state.base import StateStore
from avesa.state.ledger_records import TableRunUpdate

T0 = datetime(2025, 1, 1, tzinfo=UTC)
_examples = itertools.count()


def _ref() -> TableRef:
    return TableRef(run_id="run-1", tenant_id="acme", service="connectwise", table="service_tickets",
                    mode=SyncMode.FULL, run_started_at=T0)


def _chunk(ref: TableRef, i: int = 0) -> ChunkTask:
    start, end = T0 - timedelta(days=2 - i), T0 - timedelta(days=1 - i)
    return ChunkTask(table=ref, chunk_id=ChunkTask.make_id(ref, i, start, end), index=i, start=start, end=end)


def test_registry_round_trip(store: StateStore) -> None:
    store.put_tenant(Tenant(tenant_id="acme", company_name="Acme", created_at=T0))
    store.put_service(TenantService(tenant_id="acme", service="connectwise", settings={"api_url": "http://x"},
                                    tables=["service_tickets"], secret_ref="avesa/acme/connectwise", created_at=T0))
    assert store.get_tenant("acme").company_name == "Acme"
    assert store.get_tenant("nope") is None
    service = store.get_service("acme", "connectwise")
    assert service.settings == {"api_url": "http://x"} and service.tables == ["service_tickets"]
    store.put_tenant(Tenant(tenant_id="acme", company_name="Acme", enabled=False, created_at=T0))
    assert [t.enabled for t in store.list_tenants()] == [False]


def test_watermark_only_moves_forward(store: StateStore) -> None:
    assert store.get_watermark("acme", "connectwise", "t") is None
    store.set_watermark("acme", "connectwise", "t", T0, "run-2")
    store.set_watermark("acme", "connectwise", "t", T0 - timedelta(hours=1), "run-1")
    assert store.get_watermark("acme", "connectwise", "t") == T0


def test_chunk_ids_are_deterministic() -> None:
    ref = _ref()
    assert _chunk(ref).chunk_id == _chunk(ref).chunk_id
    assert _chunk(ref, 0).chunk_id != _chunk(ref, 1).chunk_id


def test_chunk_lease_checkpoint_and_finish(store: StateStore) -> None:
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


def test_table_run_updates(store: StateStore) -> None:
    ref = _ref()
    store.start_table_runs([ref])
    store.update_table_run(ref, TableRunUpdate(status="complete", records=5, finished_at=T0))
    tr = store.get_table_run(ref)
    assert (tr.status, tr.records, tr.finished_at) == ("complete", 5, T0)
    with pytest.raises(ValueError, match="password\n  Extra inputs are not permitted"):  # refused when made
        store.update_table_run(ref, TableRunUpdate(password="x"))


def _never_stale(run_id: str, owner: str) -> bool:
    return False


def test_sync_and_backfill_locks_are_separate_scopes(store: StateStore) -> None:
    assert store.lock_tenant("acme", "run-sync", "w1", T0, _never_stale) is None
    assert store.lock_tenant("acme", "run-backfill", "w2", T0, _never_stale, scope="backfill") is None
    assert store.lock_tenant("acme", "run-other", "w3", T0, _never_stale)[0] == "run-sync"
    assert store.lock_tenant("acme", "run-other", "w3", T0, _never_stale, scope="backfill")[0] == "run-backfill"
    store.unlock_tenants("run-backfill")
    assert store.lock_tenant("acme", "run-other", "w3", T0, _never_stale, scope="backfill") is None
    assert store.lock_tenant("acme", "run-again", "w4", T0, _never_stale)[0] == "run-sync"


def test_cancel_run_stops_its_workers_frees_leases_and_locks_and_never_moves_a_watermark(
        store: StateStore) -> None:
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


def test_a_complete_run_cannot_be_cancelled(store: StateStore) -> None:
    store.create_run("run-1", T0, {}, "w1")
    assert store.finish_run("run-1", "complete", T0)
    assert not store.cancel_run("run-1", T0)
    assert store.get_run("run-1").status == "complete"
    store.create_run("run-2", T0, {}, "w1")
    assert store.finish_run("run-2", "failed", T0)
    assert store.cancel_run("run-2", T0)  # a failed run would be retried: cancelling says it never should be


def test_a_checkpoint_after_another_worker_took_the_chunk_is_refused(store: StateStore) -> None:
    ref = _ref()
    chunk = _chunk(ref)
    store.save_chunks([chunk])
    assert store.acquire_chunk(chunk.chunk_id, "w1", 60, T0)
    assert store.acquire_chunk(chunk.chunk_id, "w2", 60, T0 + timedelta(seconds=61))  # w1's lease expired
    outcome = ChunkOutcome(chunk_id=chunk.chunk_id, status=ChunkStatus.RUNNING, cursor="7", seq=1, records=7)
    assert not store.checkpoint_chunk(chunk.chunk_id, "w1", outcome, 60, T0 + timedelta(seconds=62))
    assert store.checkpoint_chunk(chunk.chunk_id, "w2", outcome, 60, T0 + timedelta(seconds=62))


def test_delta_links_are_kept_replaced_and_forgotten(store: StateStore) -> None:
    assert store.get_sync_token("acme", "microsoft365", "users") is None
    store.set_sync_token("acme", "microsoft365", "users", "https://graph/delta?token=1", "run-1")
    store.set_sync_token("acme", "microsoft365", "users", "https://graph/delta?token=2", "run-2")
    assert store.get_sync_token("acme", "microsoft365", "users") == "https://graph/delta?token=2"
    store.set_sync_token("acme", "microsoft365", "users", None, "run-3")
    assert store.get_sync_token("acme", "microsoft365", "users") is None


def test_throughput_of_earlier_chunks_is_measured_from_completed_work(store: StateStore) -> None:
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


def test_a_split_whose_child_id_is_taken_changes_nothing(store: StateStore) -> None:
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


def test_a_table_runs_records_are_what_its_chunks_checkpointed_before_it_finalizes(store: StateStore) -> None:
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


def test_a_finished_run_leaves_no_chunk_running_and_no_lease(store: StateStore) -> None:
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
        store: StateStore) -> None:
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
        store: StateStore) -> None:
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
        store: StateStore) -> None:
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


def _service(tenant_id: str, service: str = "connectwise") -> TenantService:
    return TenantService(tenant_id=tenant_id, service=service, tables=["service_tickets"],
                         secret_ref=f"avesa/{tenant_id}/{service}", created_at=T0)


def test_a_tenants_services_are_its_own_even_when_another_tenant_id_starts_with_it(store: StateStore) -> None:
    for tenant_id in ("acme", "acme-2", "b"):
        store.put_tenant(Tenant(tenant_id=tenant_id, company_name=tenant_id.title(), created_at=T0))
    store.put_service(_service("acme"))
    store.put_service(_service("acme", "servicenow"))
    store.put_service(_service("acme-2"))
    assert [s.service for s in store.list_services("acme")] == ["connectwise", "servicenow"]
    assert [s.tenant_id for s in store.list_services("acme-2")] == ["acme-2"]
    assert store.list_services("b") == []
    assert [(s.tenant_id, s.service) for s in store.list_services()] == [
        ("acme", "connectwise"), ("acme", "servicenow"), ("acme-2", "connectwise")]
    assert [t.tenant_id for t in store.list_tenants()] == ["acme", "acme-2", "b"]


def test_registering_again_changes_the_settings_but_keeps_when_it_was_first_added(store: StateStore) -> None:
    from avesa.domain.registry import RateLimitOverride

    store.put_tenant(Tenant(tenant_id="acme", company_name="Acme", created_at=T0))
    store.put_tenant(Tenant(tenant_id="acme", company_name="Acme Corp", created_at=T0 + timedelta(days=9)))
    assert (store.get_tenant("acme").company_name, store.get_tenant("acme").created_at) == ("Acme Corp", T0)
    store.put_service(_service("acme").model_copy(update={"rate_limit": RateLimitOverride(requests_per_minute=60)}))
    store.put_service(_service("acme").model_copy(update={"settings": {"site": "x"}, "enabled": False,
                                                          "created_at": T0 + timedelta(days=9)}))
    again = store.get_service("acme", "connectwise")
    assert (again.settings, again.enabled, again.rate_limit, again.created_at) == ({"site": "x"}, False, None, T0)


def test_runs_are_listed_newest_first_and_by_status(store: StateStore) -> None:
    for i in range(5):
        store.create_run(f"run-{i}", T0 + timedelta(minutes=i), {"kind": "sync", "n": i}, "w1")
    assert store.finish_run("run-1", "complete", T0)
    assert store.finish_run("run-3", "failed", T0)
    assert [r.run_id for r in store.list_runs()] == ["run-4", "run-3", "run-2", "run-1", "run-0"]
    assert [r.run_id for r in store.list_runs(limit=3)] == ["run-4", "run-3", "run-2"]
    assert [r.run_id for r in store.list_runs(status="running")] == ["run-4", "run-2", "run-0"]
    assert [r.run_id for r in store.list_runs(limit=1, status="running")] == ["run-4"]
    assert [r.run_id for r in store.list_runs(status="failed")] == ["run-3"]
    assert store.list_runs(status="cancelled") == []
    assert store.get_run("run-3").request == {"kind": "sync", "n": 3}
    assert store.get_run("nope") is None
    assert store.cancel_run("run-3", T0)  # a failed run may be cancelled: it moves to that list
    assert [r.run_id for r in store.list_runs(status="cancelled")] == ["run-3"]
    assert store.list_runs(status="failed") == []


def test_a_tenants_table_runs_over_every_run_show_what_their_chunks_landed(store: StateStore) -> None:
    refs = []
    for i, run_id in enumerate(["run-a", "run-b"]):
        store.create_run(run_id, T0 + timedelta(hours=i), {}, "w1")
        ref = _ref().model_copy(update={"run_id": run_id, "run_started_at": T0 + timedelta(hours=i)})
        other = ref.model_copy(update={"tenant_id": "globex"})
        store.start_table_runs([ref, other])
        refs.append(ref)
    chunk = _chunk(refs[1])
    store.save_chunks([chunk])
    assert store.acquire_chunk(chunk.chunk_id, "w1", 60, T0)
    assert store.checkpoint_chunk(chunk.chunk_id, "w1", _progress(chunk, 12), 60, T0)
    store.update_table_run(refs[0], TableRunUpdate(status="complete", records=7,
                                                   nulled_values={"budget_hours": 2}))
    runs = store.list_table_runs(tenant_id="acme")
    assert [(r.run_id, r.tenant_id, r.status, r.records) for r in runs] == [
        ("run-b", "acme", "pending", 12), ("run-a", "acme", "complete", 7)]
    assert runs[1].nulled_values == {"budget_hours": 2}
    assert [(r.run_id, r.tenant_id) for r in store.list_table_runs(run_id="run-b")] == [
        ("run-b", "acme"), ("run-b", "globex")]
    assert [r.tenant_id for r in store.list_table_runs(run_id="run-b", tenant_id="globex")] == ["globex"]
    assert len(store.list_table_runs()) == 4
    assert store.get_table_run(refs[1].model_copy(update={"table": "nope"})) is None


def test_saving_a_chunk_again_keeps_its_progress_and_indexes_continue(store: StateStore) -> None:
    ref = _ref()
    first, second = _chunk(ref, 0), _chunk(ref, 1)
    assert store.next_chunk_index(ref) == 0
    store.save_chunks([first, second])
    assert store.acquire_chunk(first.chunk_id, "w1", 60, T0)
    assert store.checkpoint_chunk(first.chunk_id, "w1", _progress(first, 30), 60, T0)
    store.save_chunks([first, second])  # a resumed run saves its plan again
    record = store.get_chunk(first.chunk_id)
    assert (record.status, record.cursor, record.records, record.lease_owner) == ("running", "30", 30, "w1")
    assert store.next_chunk_index(ref) == 2
    store.set_chunk_estimate(second.chunk_id, 500)
    assert store.get_chunk(second.chunk_id).estimate == 500
    assert [c.chunk_id for c in store.list_chunks(ref)] == [first.chunk_id, second.chunk_id]
    assert store.get_chunk("no-such-chunk") is None
    assert not store.acquire_chunk("no-such-chunk", "w1", 60, T0)
    assert not store.checkpoint_chunk("no-such-chunk", "w1", _progress(first, 1), 60, T0)


def test_a_stale_lock_is_taken_over_and_its_old_holder_cannot_free_it(store: StateStore) -> None:
    assert store.lock_tenant("acme", "run-old", "w1", T0, _never_stale) is None
    assert store.lock_tenant("acme", "run-old", "w1", T0 + timedelta(seconds=5), _never_stale) is None  # ours
    stale: list[tuple[str, str]] = []

    def gone(run_id: str, owner: str) -> bool:
        stale.append((run_id, owner))
        return True

    assert store.lock_tenant("acme", "run-new", "w2", T0, gone) is None
    assert stale == [("run-old", "w1")]
    store.unlock_tenants("run-old")  # the old run ends late: the lock is no longer its
    assert store.lock_tenant("acme", "run-third", "w3", T0, _never_stale) == ("run-new", "w2", T0)
    store.unlock_tenants("run-new")
    assert store.lock_tenant("acme", "run-third", "w3", T0, _never_stale) is None


def test_a_cancelled_run_keeps_no_delta_link_and_leaves_the_one_before(store: StateStore) -> None:
    store.create_run("run-1", T0, {}, "w1")
    store.set_sync_token("acme", "microsoft365", "users", "link-1", "run-1")
    store.create_run("run-2", T0, {}, "w1")
    assert store.cancel_run("run-2", T0)
    store.set_sync_token("acme", "microsoft365", "users", "link-2", "run-2")
    store.set_sync_token("acme", "microsoft365", "users", None, "run-2")
    assert store.get_sync_token("acme", "microsoft365", "users") == "link-1"


def test_forgetting_a_tenants_history_keeps_the_registry_and_other_tenants(store: StateStore) -> None:
    store.put_tenant(Tenant(tenant_id="acme", company_name="Acme", created_at=T0))
    store.put_service(_service("acme"))
    store.create_run("run-1", T0, {}, "w1")
    ref = _ref()
    other = ref.model_copy(update={"tenant_id": "globex"})
    store.start_table_runs([ref, other])
    store.save_chunks([_chunk(ref), _chunk(other)])
    for tenant_id in ("acme", "globex"):
        store.set_watermark(tenant_id, "connectwise", "service_tickets", T0, "run-1")
        store.set_sync_token(tenant_id, "microsoft365", "users", "link", "run-1")
        store.set_last_reconciliation(tenant_id, "connectwise", "service_tickets", T0)
        assert store.lock_tenant(tenant_id, "run-1", "w1", T0, _never_stale) is None
    store.forget_tenant_history("acme")
    assert store.list_chunks(ref) == [] and store.get_table_run(ref) is None
    assert store.get_chunk(_chunk(ref).chunk_id) is None
    assert store.get_watermark("acme", "connectwise", "service_tickets") is None
    assert store.get_sync_token("acme", "microsoft365", "users") is None
    assert store.get_last_reconciliation("acme", "connectwise", "service_tickets") is None
    assert store.lock_tenant("acme", "run-2", "w2", T0, _never_stale) is None
    assert store.get_service("acme", "connectwise") is not None and store.get_run("run-1") is not None
    assert len(store.list_chunks(other)) == 1 and store.get_table_run(other) is not None
    assert store.get_watermark("globex", "connectwise", "service_tickets") == T0
    assert store.get_last_reconciliation("globex", "connectwise", "service_tickets") == T0
    assert store.lock_tenant("globex", "run-2", "w2", T0, _never_stale)[0] == "run-1"
    store.save_chunks([_chunk(ref)])  # the demo runs again after its reset
    assert store.acquire_chunk(_chunk(ref).chunk_id, "w1", 60, T0)


def test_a_claimed_run_frees_the_dead_owners_chunk_leases_at_once(store: StateStore) -> None:
    ref = _ref()
    chunk, mine = _chunk(ref, 0), _chunk(ref, 1)
    store.create_run("run-1", T0, {}, "dead:1")
    store.save_chunks([chunk, mine])
    assert store.acquire_chunk(chunk.chunk_id, "dead:1", 900, T0)
    assert not store.claim_run("run-1", "someone:2", "me:3")
    assert store.claim_run("run-1", "dead:1", "me:3")
    assert store.get_run("run-1").owner == "me:3"
    assert store.acquire_chunk(chunk.chunk_id, "me:3", 60, T0 + timedelta(seconds=1))  # not after 900 s
    assert store.get_chunk(chunk.chunk_id).attempts == 2


def test_abandoning_frees_leases_and_locks_and_closes_unfinished_tables(store: StateStore) -> None:
    ref = _ref()
    done_ref = ref.model_copy(update={"table": "company_companies"})
    chunk = _chunk(ref)
    store.create_run("run-1", T0, {}, "far:1")
    store.start_table_runs([ref, done_ref])
    store.update_table_run(done_ref, TableRunUpdate(status="complete"))
    store.save_chunks([chunk])
    assert store.acquire_chunk(chunk.chunk_id, "far:1", 60, T0)
    assert store.lock_tenant("acme", "run-1", "far:1", T0, _never_stale) is None
    assert store.abandon_run("run-1", "far:1", T0 + timedelta(hours=1), lambda run, leases: True)
    record = store.get_chunk(chunk.chunk_id)
    assert (record.status, record.lease_owner) == ("incomplete", None)
    assert store.get_table_run(ref).status == "abandoned" and store.get_table_run(done_ref).status == "complete"
    assert store.lease_expiries("run-1") == []
    assert store.lock_tenant("acme", "run-2", "w2", T0, _never_stale) is None
    assert not store.abandon_run("run-1", "far:1", T0, lambda run, leases: True)  # only once


def test_a_lease_that_ends_exactly_now_is_free(store: StateStore) -> None:
    chunk = _chunk(_ref())
    store.save_chunks([chunk])
    assert store.acquire_chunk(chunk.chunk_id, "w1", 60, T0)
    assert not store.acquire_chunk(chunk.chunk_id, "w2", 60, T0 + timedelta(seconds=59, microseconds=999999))
    assert store.acquire_chunk(chunk.chunk_id, "w2", 60, T0 + timedelta(seconds=60))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(2200, 1, 1),
                                       timezones=st.just(UTC)), st.booleans()), min_size=1, max_size=6))
def test_a_watermark_is_the_latest_value_a_run_that_was_not_cancelled_set(
        store: StateStore, moves: list[tuple[datetime, bool]]) -> None:
    table = f"t{next(_examples)}"  # one store for every example: each its own table
    for i, (value, cancelled) in enumerate(moves):
        run_id = f"{table}-run-{i}"
        store.create_run(run_id, T0, {}, "w1")
        if cancelled:
            assert store.cancel_run(run_id, T0)
        store.set_watermark("acme", "connectwise", table, value, run_id)
    kept = [value for value, cancelled in moves if not cancelled]
    assert store.get_watermark("acme", "connectwise", table) == (max(kept) if kept else None)


@pytest.mark.parametrize("backend", ["avesa.state.sqlite.store:SqliteStateStore",
                                     "avesa.state.dynamodb.store:DynamoDBStateStore"])
def test_every_back_end_has_every_method_of_the_contract_with_its_signature(backend: str) -> None:
    import importlib
    import inspect

    module, _, name = backend.partition(":")
    cls = getattr(importlib.import_module(module), name)
    jobs = [c for c in StateStore.__mro__ if c.__module__ == StateStore.__module__]  # StateStore and its jobs
    members = sorted({m for job in jobs for m in vars(job) if not m.startswith("_") and callable(getattr(job, m))})
    assert len(jobs) == 8 and len(members) == 57  # every method the protocol had before its split by job
    for member in members:
        assert inspect.signature(getattr(cls, member)) == inspect.signature(getattr(StateStore, member)), member


def test_a_services_own_schedule_is_kept_and_cleared(store: StateStore) -> None:
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


def test_backfills_wait_in_the_queue_oldest_first_until_taken_off(store: StateStore) -> None:
    first = store.queue_backfill({"tenant_id": "acme", "service": "connectwise"}, T0, "alice")
    second = store.queue_backfill({"tenant_id": "globex", "service": "connectwise"}, T0 + timedelta(1), "bob")
    queued = store.list_queued_backfills()
    assert [(q.queue_id, q.request["tenant_id"], q.queued_by) for q in queued] == [(first, "acme", "alice"),
                                                                                   (second, "globex", "bob")]
    assert queued[0].queued_at == T0
    assert store.dequeue_backfill(first) and not store.dequeue_backfill(first)
    assert [q.queue_id for q in store.list_queued_backfills()] == [second]


def test_a_table_runs_data_quality_counts_are_kept(store: StateStore) -> None:
    ref = _ref()
    store.start_table_runs([ref])
    assert store.get_table_run(ref).count_difference is None
    store.update_table_run(ref, TableRunUpdate(source_count=120, canonical_count=118))
    tr = store.get_table_run(ref)
    assert (tr.source_count, tr.canonical_count, tr.count_difference) == (120, 118, 2)


# ---- alert incidents --------------------------------------------------------------------------
def _incident(key: str = "failures:acme/connectwise/service_tickets", at: datetime = T0):
    from avesa.state.alert_records import AlertIncident

    return AlertIncident(key=key, rule="failures", tenant_id="acme", summary="failed 3 runs in a row",
                         details={"last error": "HTTP 500"}, opened_at=at)


def test_an_alert_incident_opens_once_until_resolved_then_opens_anew(store: StateStore) -> None:
    first = _incident()
    assert store.open_alert(first)
    assert not store.open_alert(_incident(at=T0 + timedelta(minutes=5))), "one open incident per key"
    kept = store.get_alert(first.key)
    assert (kept.opened_at, kept.details, kept.tenant_id) == (T0, {"last error": "HTTP 500"}, "acme")
    assert kept.is_open
    assert not store.resolve_alert(first.key, T0 + timedelta(minutes=5), T0 + timedelta(hours=1)), "another incident"
    assert store.resolve_alert(first.key, T0, T0 + timedelta(hours=1))
    assert not store.resolve_alert(first.key, T0, T0 + timedelta(hours=2)), "closed already"
    assert store.get_alert(first.key).resolved_at == T0 + timedelta(hours=1)
    assert store.list_alerts() == []
    assert [a.key for a in store.list_alerts(open_only=False)] == [first.key]
    again = _incident(at=T0 + timedelta(days=1))
    assert store.open_alert(again)
    assert store.get_alert(first.key).opened_at == again.opened_at and store.get_alert(first.key).is_open
    assert store.get_alert("stale:nobody/x/y") is None


def test_alert_deliveries_are_noted_per_destination_and_phase(store: StateStore) -> None:
    store.open_alert(_incident())
    store.open_alert(_incident("auth:acme/connectwise", T0 - timedelta(hours=1)))
    key = "failures:acme/connectwise/service_tickets"
    assert [a.key for a in store.list_alerts()] == ["auth:acme/connectwise", key]
    assert store.mark_alert_sent(key, T0, "webhook")
    assert store.mark_alert_sent(key, T0, "webhook"), "noting it twice keeps it once"
    assert store.mark_alert_sent(key, T0, "email")
    assert not store.mark_alert_sent(key, T0 + timedelta(1), "email"), "not that incident"
    store.resolve_alert(key, T0, T0 + timedelta(hours=1))
    assert store.mark_alert_sent(key, T0, "webhook", resolved=True)
    kept = store.get_alert(key)
    assert (kept.sent, kept.resolved_sent) == (["webhook", "email"], ["webhook"])
# ---- registry in bulk, removals, the audit trail (`avesa tenant import`, `avesa audit`) -------------
def _bulk_tenant(i: int, name: str = "Co") -> Tenant:
    return Tenant(tenant_id=f"t-{i:03d}", company_name=f"{name} {i}", created_at=T0 + timedelta(seconds=i))


def _bulk_service(i: int, tables: list[str] | None = None) -> TenantService:
    return TenantService(tenant_id=f"t-{i:03d}", service="connectwise", settings={"api_url": f"http://h{i}"},
                         tables=tables or ["service_tickets"], secret_ref=f"avesa/t-{i:03d}/connectwise",
                         created_at=T0 + timedelta(seconds=i))


def test_apply_registry_writes_past_one_transaction_and_keeps_first_registration_times(store: StateStore) -> None:
    store.put_tenant(_bulk_tenant(0, "Old"))
    tenants = [_bulk_tenant(i) for i in range(120)]  # with their services, past DynamoDB's 100 items a transaction
    later = [t.model_copy(update={"created_at": T0 + timedelta(days=9)}) for t in tenants]
    store.apply_registry(later, [_bulk_service(i) for i in range(120)])
    listed = store.list_tenants()
    assert [t.tenant_id for t in listed] == [t.tenant_id for t in tenants]
    assert listed[0].company_name == "Co 0" and listed[0].created_at == T0  # updated, first registration kept
    assert len(store.list_services()) == 120
    assert store.get_service("t-119", "connectwise").settings == {"api_url": "http://h119"}


def test_apply_registry_writes_nothing_when_it_fails(store: StateStore) -> None:
    store.apply_registry([_bulk_tenant(1, "Before")], [_bulk_service(1, ["company_companies"])])
    # the last service cannot be stored (a value no back end can encode): it fails in the third
    # DynamoDB transaction, after two went through, and inside SQLite's one transaction
    bad = _bulk_service(150).model_copy(update={"settings": {"api_url": object()}})
    with pytest.raises(TypeError):
        store.apply_registry([_bulk_tenant(i) for i in range(1, 151)],
                             [_bulk_service(i) for i in range(1, 150)] + [bad])
    assert [(t.tenant_id, t.company_name) for t in store.list_tenants()] == [("t-001", "Before 1")]
    assert [(s.tenant_id, s.tables) for s in store.list_services()] == [("t-001", ["company_companies"])]


def test_remove_service_and_tenant(store: StateStore) -> None:
    store.apply_registry([_bulk_tenant(1), _bulk_tenant(2)], [_bulk_service(1), _bulk_service(2)])
    store.set_watermark("t-001", "connectwise", "service_tickets", T0, "run-1")
    assert store.remove_service("t-002", "connectwise")
    assert not store.remove_service("t-002", "connectwise")
    assert [t.tenant_id for t in store.list_tenants()] == ["t-001", "t-002"]
    assert store.remove_tenant("t-001")
    assert not store.remove_tenant("t-001")
    assert [t.tenant_id for t in store.list_tenants()] == ["t-002"]
    assert store.list_services() == []
    # the ledger and watermarks stay: a tenant added back continues where it was
    assert store.get_watermark("t-001", "connectwise", "service_tickets") == T0


def test_audit_entries_newest_first_with_filters(store: StateStore) -> None:
    from avesa.domain.audit import AuditEntry, Outcome

    def entry(i: int, action: str, tenant: str | None, outcome: Outcome = Outcome.OK) -> AuditEntry:
        return AuditEntry(entry_id=f"e{i}", at=T0 + timedelta(minutes=i), actor="alice", action=action,
                          outcome=outcome, tenant_id=tenant, service="connectwise" if tenant else None,
                          target=f"run-{i}", details={"tables": ["a", "b"], "n": i}, message="" if i else "why")

    store.append_audit([entry(0, "service.add", "acme", Outcome.REFUSED), entry(1, "service.add", "acme"),
                        entry(2, "jobs.cancel", None), entry(3, "service_x.add", "beta")])
    store.append_audit([entry(4, "service.tables", "beta")])
    everything = store.list_audit()
    assert [e.entry_id for e in everything] == ["e4", "e3", "e2", "e1", "e0"]
    first = everything[-1]
    assert (first.at, first.actor, first.outcome, first.details, first.message, first.target) == (
        T0, "alice", Outcome.REFUSED, {"tables": ["a", "b"], "n": 0}, "why", "run-0")
    assert [e.entry_id for e in store.list_audit(tenant_id="acme")] == ["e1", "e0"]
    assert [e.entry_id for e in store.list_audit(action="service")] == ["e4", "e1", "e0"]  # not service_x
    assert [e.entry_id for e in store.list_audit(action="service.add")] == ["e1", "e0"]
    assert [e.entry_id for e in store.list_audit(since=T0 + timedelta(minutes=2))] == ["e4", "e3", "e2"]
    assert [e.entry_id for e in store.list_audit(limit=2)] == ["e4", "e3"]

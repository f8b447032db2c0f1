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

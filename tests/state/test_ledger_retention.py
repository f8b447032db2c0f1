"""Ledger retention (AVESA_LEDGER_RETENTION_DAYS): a finished run's chunk rows do not pile up
forever. SQLite purges them once the run finished longer ago than the retention; DynamoDB gives a
finished run's chunk items and their locators a TTL (`expires_at`, epoch seconds) that DynamoDB's
own sweeper acts on. On both the runs and their table runs — what `avesa status` and `avesa jobs`
show — are kept, and a run that finished recently keeps its chunks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from tests.aws_support import aws_client, unique_prefix

from avesa.domain.errors import ConfigError
from avesa.domain.work import ChunkOutcome, ChunkStatus, ChunkTask, SyncMode, TableRef
from avesa.settings import load_settings
from avesa.state.base import StateStore
from avesa.state.dynamodb.layout import STATE_TABLE, TTL_ATTRIBUTE, ensure_tables
from avesa.state.dynamodb.store import DynamoDBStateStore
from avesa.state.ledger_records import TableRunUpdate
from avesa.state.sqlite.store import SqliteStateStore

T0 = datetime(2025, 1, 1, tzinfo=UTC)
DAY = timedelta(days=1)


def _finished_run(store: StateStore, run_id: str, started: datetime, *, chunks: int = 2,
                  status: str = "complete") -> TableRef:
    """A run with one table of `chunks` finished chunks, ended `status` an hour after `started`."""
    ref = TableRef(run_id=run_id, tenant_id="acme", service="connectwise", table="service_tickets",
                   mode=SyncMode.FULL, run_started_at=started)
    store.create_run(run_id, started, {}, "w1")
    store.start_table_runs([ref])
    tasks = [ChunkTask(table=ref, chunk_id=ChunkTask.make_id(ref, i, started - (i + 1) * DAY, started - i * DAY),
                       index=i, start=started - (i + 1) * DAY, end=started - i * DAY) for i in range(chunks)]
    store.save_chunks(tasks)
    for task in tasks:
        assert store.acquire_chunk(task.chunk_id, "w1", 60, started)
        done = ChunkOutcome(chunk_id=task.chunk_id, status=ChunkStatus.COMPLETE, cursor=None, seq=1,
                            records=5, files=1, pages=1)
        store.finish_chunk(task.chunk_id, done, started)
    store.update_table_run(ref, TableRunUpdate(status="complete", records=5 * chunks,
                                               finished_at=started + timedelta(hours=1)))
    assert store.finish_run(run_id, status, started + timedelta(hours=1))
    return ref


def test_sqlite_purges_the_chunks_of_runs_older_than_the_retention(tmp_path: Path) -> None:
    store = SqliteStateStore(tmp_path / "state.sqlite3", retention_days=30)
    old = _finished_run(store, "run-old", T0)
    recent = _finished_run(store, "run-recent", T0 + 20 * DAY)
    assert len(store.list_chunks(old)) == 2  # the second run finished 20 days after: within 30

    latest = _finished_run(store, "run-latest", T0 + 40 * DAY)

    assert store.list_chunks(old) == []  # finished 40 days before the latest run ended
    assert len(store.list_chunks(recent)) == 2 and len(store.list_chunks(latest)) == 2
    assert store.get_run("run-old").status == "complete"
    assert [t.records for t in store.list_table_runs("run-old")] == [10]  # what status shows stays
    store.close()


def test_sqlite_keeps_a_running_runs_chunks_however_old(tmp_path: Path) -> None:
    store = SqliteStateStore(tmp_path / "state.sqlite3", retention_days=1)
    ref = TableRef(run_id="run-live", tenant_id="acme", service="connectwise", table="service_tickets",
                   mode=SyncMode.FULL, run_started_at=T0)
    store.create_run("run-live", T0, {}, "w1")
    store.start_table_runs([ref])
    store.save_chunks([ChunkTask(table=ref, chunk_id=ChunkTask.make_id(ref, 0, T0 - DAY, T0), index=0,
                                 start=T0 - DAY, end=T0)])
    _finished_run(store, "run-later", T0 + 10 * DAY)
    assert len(store.list_chunks(ref)) == 1
    store.close()


@pytest.fixture
def dynamodb(moto_endpoint: str) -> tuple[object, str]:
    client = aws_client("dynamodb", moto_endpoint)
    prefix = unique_prefix("retention")
    ensure_tables(client, prefix)
    return client, prefix


def _chunk_expiries(client: object, prefix: str) -> dict[str, int | None]:
    """sk → expires_at of every chunk item and chunk locator in the state table."""
    items = client.scan(TableName=STATE_TABLE.name(prefix))["Items"]
    return {f"{i['pk']['S']}|{i['sk']['S']}": int(i[TTL_ATTRIBUTE]["N"]) if TTL_ATTRIBUTE in i else None
            for i in items if i["sk"]["S"].startswith("CHUNK#") or i["pk"]["S"].startswith("CHUNKID#")}


def test_dynamodb_turns_time_to_live_on_for_the_expiry_attribute(dynamodb: tuple[object, str]) -> None:
    client, prefix = dynamodb
    description = client.describe_time_to_live(TableName=STATE_TABLE.name(prefix))["TimeToLiveDescription"]
    assert description == {"TimeToLiveStatus": "ENABLED", "AttributeName": TTL_ATTRIBUTE}
    ensure_tables(client, prefix)  # again: left as it is, no error


def test_dynamodb_gives_a_finished_runs_chunks_an_expiry_after_the_retention(dynamodb: tuple[object, str]) -> None:
    client, prefix = dynamodb
    store = DynamoDBStateStore(client, prefix, retention_days=30)
    _finished_run(store, "run-1", T0, status="failed")

    expiries = _chunk_expiries(client, prefix)
    assert len(expiries) == 4  # two chunk items and their two locators
    finished = T0 + timedelta(hours=1)
    assert set(expiries.values()) == {int((finished + 30 * DAY).timestamp())}
    assert store.get_run("run-1").status == "failed"

    assert store.reopen_run("run-1", "w2")  # retried: its chunks are live again and never expire
    assert set(_chunk_expiries(client, prefix).values()) == {None}
    store.close()


@pytest.mark.parametrize("value, says", [("0", "greater than 0"), ("ninety", "valid number"),
                                         ("inf", "finite number")])
def test_a_retention_that_is_not_a_positive_number_of_days_is_refused(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path, value: str, says: str) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("AVESA_CONFIG", str(tmp_path / "none.toml"))
    monkeypatch.setenv("AVESA_LEDGER_RETENTION_DAYS", value)
    with pytest.raises(ConfigError) as refused:
        load_settings()
    message = str(refused.value)
    assert "AVESA_LEDGER_RETENTION_DAYS" in message and value in message and says in message

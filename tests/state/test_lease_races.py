"""Lease races with real concurrency, on every back end: workers in threads, each with its own store
(its own SQLite connection; its own boto3 client to moto's server over HTTP), released together by a
barrier.

- racing for one chunk, exactly one worker wins its lease;
- racing for a chunk whose lease expired, exactly one takes it over and the late owner's
  checkpoint, renewal and finish are refused;
- a cancel racing a worker's checkpoints: no checkpoint that began after the cancel returned lands.

moto's conditional writes are not atomic under concurrency (DynamoDB's are, per item), so the
DynamoDB races run under `atomic_dynamodb()`, which serialises moto's writes — and says how many
were in moto at once, so the tests also show the race was real. A control runs the same race on
a store whose lease condition was removed and sees several winners: the race test catches it.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from tests.aws_support import AtomicWrites, atomic_dynamodb, aws_client, unique_prefix

from avesa.domain.work import ChunkOutcome, ChunkStatus, ChunkTask, SyncMode, TableRef
from avesa.state.base import StateStore
from avesa.state.sqlite.store import SqliteStateStore

T0 = datetime(2025, 1, 1, tzinfo=UTC)
RACERS = 8
TRIALS = 4


@dataclass
class Racers:
    backend: str
    stores: list[StateStore]
    writes: AtomicWrites | None  # DynamoDB: what moto saw of the writes

    @property
    def first(self) -> StateStore:
        return self.stores[0]


@pytest.fixture(params=["sqlite", "dynamodb"])
def racers(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Racers]:
    """RACERS stores on one back end, one per worker."""
    with contextlib.ExitStack() as stack:
        if request.param == "sqlite":
            stores: list[StateStore] = [SqliteStateStore(tmp_path / "state.sqlite3") for _ in range(RACERS)]
            writes = None
        else:
            from avesa.state.dynamodb.layout import ensure_tables
            from avesa.state.dynamodb.store import DynamoDBStateStore

            endpoint = request.getfixturevalue("moto_endpoint")
            prefix = unique_prefix("race")
            ensure_tables(aws_client("dynamodb", endpoint), prefix)
            stores = [DynamoDBStateStore(aws_client("dynamodb", endpoint), prefix) for _ in range(RACERS)]
            writes = stack.enter_context(atomic_dynamodb())
        yield Racers(request.param, stores, writes)
        for store in stores:
            store.close()


def _remove_the_lease_condition(backend: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The store as it would be without the rule that a live lease of another's keeps the chunk."""
    if backend == "sqlite":
        monkeypatch.setattr("avesa.state.sqlite.ledger._leased_to_another", lambda row, owner, now: False)
    else:
        from boto3.dynamodb.conditions import Attr

        monkeypatch.setattr("avesa.state.dynamodb.ledger._lease_free", lambda owner, now: Attr("pk").exists())


def _race(stores: list[StateStore], call: Callable[[StateStore, int], Any]) -> list[Any]:
    """`call(store, i)` in every worker at once (released by one barrier); their answers, in order."""
    barrier = threading.Barrier(len(stores))

    def worker(i: int) -> Any:
        barrier.wait()
        return call(stores[i], i)

    with ThreadPoolExecutor(len(stores)) as pool:
        return list(pool.map(worker, range(len(stores))))


def _chunk(i: int) -> ChunkTask:
    ref = TableRef(run_id="run-1", tenant_id="acme", service="connectwise", table="service_tickets",
                   mode=SyncMode.FULL, run_started_at=T0)
    start, end = T0 + timedelta(days=i), T0 + timedelta(days=i + 1)
    return ChunkTask(table=ref, chunk_id=ChunkTask.make_id(ref, i, start, end), index=i, start=start, end=end)


def _acquire_race(racers: Racers, chunk: ChunkTask, at: datetime) -> list[int]:
    answers = _race(racers.stores, lambda store, i: store.acquire_chunk(chunk.chunk_id, f"w{i}", 60, at))
    return [i for i, won in enumerate(answers) if won]


def _progress(chunk: ChunkTask, seq: int) -> ChunkOutcome:
    return ChunkOutcome(chunk_id=chunk.chunk_id, status=ChunkStatus.RUNNING, cursor=str(seq), seq=seq, records=seq)


def test_workers_racing_for_one_chunk_have_exactly_one_winner(racers: Racers) -> None:
    racers.first.create_run("run-1", T0, {}, "w0")
    for trial in range(TRIALS):
        chunk = _chunk(trial)
        racers.first.save_chunks([chunk])
        winners = _acquire_race(racers, chunk, T0)
        assert len(winners) == 1, f"trial {trial}: {len(winners)} workers won one lease"
        record = racers.first.get_chunk(chunk.chunk_id)
        assert (record.lease_owner, record.attempts) == (f"w{winners[0]}", 1)


def test_the_race_catches_a_store_without_the_lease_condition(
        racers: Racers, monkeypatch: pytest.MonkeyPatch) -> None:
    """The control: the same race on a store that does not check the lease has several winners."""
    racers.first.create_run("run-1", T0, {}, "w0")
    chunk = _chunk(0)
    racers.first.save_chunks([chunk])
    _remove_the_lease_condition(racers.backend, monkeypatch)
    assert len(_acquire_race(racers, chunk, T0)) > 1


def test_an_expired_lease_is_taken_over_by_exactly_one_racer_and_the_late_owner_is_refused(
        racers: Racers) -> None:
    store = racers.first
    store.create_run("run-1", T0, {}, "late")
    for trial in range(TRIALS):
        chunk = _chunk(trial)
        store.save_chunks([chunk])
        assert store.acquire_chunk(chunk.chunk_id, "late", 60, T0)
        assert store.checkpoint_chunk(chunk.chunk_id, "late", _progress(chunk, 1), 60, T0)
        later = T0 + timedelta(seconds=61)  # the late owner's lease has expired
        winners = _acquire_race(racers, chunk, later)
        assert len(winners) == 1, f"trial {trial}: {len(winners)} workers took over one lease"
        winner = f"w{winners[0]}"
        # the late owner wakes up: nothing it writes lands
        assert not store.checkpoint_chunk(chunk.chunk_id, "late", _progress(chunk, 2), 60, later)
        assert not store.renew_chunk_lease(chunk.chunk_id, "late", 60, later)
        complete = _progress(chunk, 2).model_copy(update={"status": ChunkStatus.COMPLETE})
        assert not store.finish_chunk(chunk.chunk_id, complete, later, owner="late")
        record = store.get_chunk(chunk.chunk_id)
        assert (record.lease_owner, record.status, record.cursor) == (winner, "running", "1")  # resumes from it
        assert store.checkpoint_chunk(chunk.chunk_id, winner, _progress(chunk, 2), 60, later)


def test_a_cancel_racing_a_workers_checkpoints_lets_none_land_after_it(racers: Racers) -> None:
    store = racers.first
    store.create_run("run-1", T0, {}, "w1")
    chunk = _chunk(0)
    store.save_chunks([chunk])
    assert store.acquire_chunk(chunk.chunk_id, "w1", 60, T0)
    cancelled_at: list[float] = []
    landed: list[tuple[float, int]] = []  # (when the checkpoint began, its seq)
    checkpointers = len(racers.stores) - 1

    def work(worker: StateStore, i: int) -> None:
        if i == 0:
            wait_until = time.monotonic() + 10.0  # let checkpoints land first, however slow the machine
            while not landed and time.monotonic() < wait_until:
                time.sleep(0.005)
            time.sleep(0.02)
            assert worker.cancel_run("run-1", T0)
            cancelled_at.append(time.monotonic())
            return
        give_up = time.monotonic() + 10.0
        for n in range(10**6):
            if time.monotonic() > give_up:
                break
            seq = n * checkpointers + i
            began = time.monotonic()
            if not worker.checkpoint_chunk(chunk.chunk_id, "w1", _progress(chunk, seq), 60, T0):
                return
            landed.append((began, seq))
        raise AssertionError("the worker was never refused")

    _race(racers.stores, work)
    assert landed, "no checkpoint landed before the cancel: the race proved nothing"
    assert not [seq for began, seq in landed if began > cancelled_at[0]]
    record = store.get_chunk(chunk.chunk_id)
    assert (record.status, record.lease_owner) == ("cancelled", None)
    assert record.seq in {seq for _, seq in landed}  # what it shows is a checkpoint that landed before
    assert not store.checkpoint_chunk(chunk.chunk_id, "w1", _progress(chunk, 10**6), 60, T0)

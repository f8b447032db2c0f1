"""The run-chunk unit's stall rule, which every executor gets from the unit's result rather than
keeping its own: an attempt that stopped at its deadline having landed nothing new is a stall; the
third in a row reports the chunk failed; progress or a split resets the count."""

from __future__ import annotations

from datetime import UTC, datetime

from avesa.domain.work import ChunkAttempt, ChunkOutcome, ChunkStatus, ChunkTask, SyncMode, TableRef
from avesa.pipeline.extract import MAX_STALLS, stall_verdict

START = datetime(2026, 1, 1, tzinfo=UTC)
REF = TableRef(run_id="run-1", tenant_id="acme", service="connectwise", table="service_tickets",
               mode=SyncMode.INCREMENTAL, run_started_at=START)
CHUNK = ChunkTask(table=REF, chunk_id="service_tickets-0000-abc", index=0, start=START, end=START)


def _incomplete(records: int) -> ChunkOutcome:
    return ChunkOutcome(chunk_id=CHUNK.chunk_id, status=ChunkStatus.INCOMPLETE, cursor="9", seq=1, records=records,
                        error="held by another worker's lease")


def test_three_attempts_in_a_row_without_progress_fail_the_chunk_and_say_why() -> None:
    attempt = ChunkAttempt(chunk=CHUNK, deadline=START)
    result = stall_verdict(attempt, _incomplete(10), [])
    assert result.stalls == 0 and not result.finished  # the first attempt has nothing to compare with
    waits = []
    for _ in range(MAX_STALLS):
        attempt = result.next_attempt(attempt, START)
        result = stall_verdict(attempt, _incomplete(10), [])
        waits.append(result.wait_seconds)
    assert result.finished and result.outcome.status is ChunkStatus.FAILED
    assert "made no progress (held by another worker's lease)" in result.outcome.error
    assert "avesa jobs show run-1" in result.outcome.error
    assert waits[:-1] == sorted(waits[:-1]) and waits[0] > 0  # backs off while it waits, never spins


def test_progress_or_a_split_is_never_a_stall() -> None:
    attempt = ChunkAttempt(chunk=CHUNK, deadline=START, stalls=MAX_STALLS - 1, landed=10)
    assert stall_verdict(attempt, _incomplete(11), []).stalls == 0
    split = stall_verdict(attempt, _incomplete(10), [CHUNK.model_copy(update={"chunk_id": "x.1"})])
    assert split.stalls == 0 and not split.finished and split.wait_seconds == 0 and len(split.split_off) == 1


def test_an_attempt_and_its_result_survive_json() -> None:
    attempt = ChunkAttempt(chunk=CHUNK, deadline=START, may_split=False, stalls=1, landed=3)
    assert ChunkAttempt.model_validate_json(attempt.model_dump_json()) == attempt
    result = stall_verdict(attempt, _incomplete(3), [])
    assert type(result).model_validate_json(result.model_dump_json()) == result

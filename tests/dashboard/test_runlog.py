"""The run log's counters as the dashboard reads them: written by the real event writer, added up
per run, read from the newest part of the log only, rotated copies included, junk lines skipped."""

from __future__ import annotations

from pathlib import Path

from avesa.dashboard.runlog import run_counters
from avesa.observability import events


def _finished(run_id: str, **http: int) -> None:
    events.emit("run_finished", run_id=run_id, status="complete", tables=1, failed_tables=0, records=5,
                seconds=1.5, **{f"http_{k}": v for k, v in http.items()})


def test_counters_come_from_run_finished_events_and_add_up_per_run(tmp_path: Path) -> None:
    events.configure(tmp_path)
    _finished("run-a", requests=10, retries=2, **{"429": 3})
    events.emit("table_finished", run_id="run-a", records=99, http_429=50)  # not a run's total
    _finished("run-a", requests=4, retries=0, **{"429": 1})  # resumed: a second end
    _finished("run-b", requests=1)
    counters = run_counters(tmp_path)
    assert (counters["run-a"].requests, counters["run-a"].retries, counters["run-a"].rate_limited) == (14, 2, 4)
    assert counters["run-a"].seconds == 3.0
    assert counters["run-b"].rate_limited == 0


def test_only_the_newest_part_of_a_long_log_is_read_and_junk_is_skipped(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    old = b'{"event": "run_finished", "run_id": "run-old", "http_429": 7}\n'
    junk = b'not json\n{"event": "run_finished", "run_id": 5}\n{"event": "run_finished"'  # cut mid-line
    new = b'\n{"event": "run_finished", "run_id": "run-new", "http_429": 2, "seconds": "x"}\n'
    (logs / "avesa.jsonl").write_bytes(old + b"x" * 10_000 + b"\n" + junk + new)
    counters = run_counters(tmp_path, tail_bytes=len(junk) + len(new) + 20)
    assert set(counters) == {"run-new"}
    assert counters["run-new"].rate_limited == 2 and counters["run-new"].seconds == 0.0


def test_rotated_copies_are_read_after_the_current_log(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "avesa.jsonl.1").write_bytes(b'{"event": "run_finished", "run_id": "run-1", "http_429": 1}\n')
    (logs / "avesa.jsonl").write_bytes(b'{"event": "run_finished", "run_id": "run-2", "http_429": 2}\n')
    assert {k: v.rate_limited for k, v in run_counters(tmp_path).items()} == {"run-1": 1, "run-2": 2}
    assert run_counters(tmp_path / "no-such-home") == {}

"""What the run log adds to the ledger: each run's HTTP counters (requests, retries, 429s) and its
seconds, from its `run_finished` events in `$AVESA_HOME/logs/avesa.jsonl` (and rotated copies).

Only the newest part of the log is read — a long-lived home's log grows without bound, a page
must not — so runs older than that show no counters. A run finished more than once (resumed,
retried) adds up its events."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import orjson

DEFAULT_TAIL_BYTES = 8 * 1024 * 1024


@dataclass
class RunCounters:
    seconds: float = 0.0
    requests: int = 0
    retries: int = 0
    rate_limited: int = 0
    """Responses with HTTP 429."""

    def add(self, event: dict) -> None:
        self.seconds += _number(event.get("seconds"))
        self.requests += int(_number(event.get("http_requests")))
        self.retries += int(_number(event.get("http_retries")))
        self.rate_limited += int(_number(event.get("http_429")))


def _number(value: object) -> float:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0.0


def log_files(home: Path) -> list[Path]:
    """The log and its rotated copies, newest first."""
    folder = home / "logs"
    if not folder.is_dir():
        return []
    found = [p for p in folder.glob("avesa.jsonl*") if p.is_file()]
    return sorted(found, key=lambda p: (p.name != "avesa.jsonl", -p.stat().st_mtime))


def _tail_lines(path: Path, budget: int) -> tuple[list[bytes], int]:
    """The last `budget` bytes of `path` as whole lines, and the bytes read."""
    size = path.stat().st_size
    start = max(0, size - budget)
    with path.open("rb") as handle:
        handle.seek(start)
        data = handle.read()
    lines = data.split(b"\n")
    if start > 0:
        lines = lines[1:]  # the first line was cut by the seek
    return lines, len(data)


def run_counters(home: Path, tail_bytes: int = DEFAULT_TAIL_BYTES) -> dict[str, RunCounters]:
    """Run id -> its counters, from the newest `tail_bytes` of the run log."""
    counters: dict[str, RunCounters] = {}
    budget = tail_bytes
    for path in log_files(home):
        if budget <= 0:
            break
        try:
            lines, read = _tail_lines(path, budget)
        except OSError:
            continue
        budget -= read
        for line in lines:
            if b'"run_finished"' not in line:
                continue
            try:
                event = orjson.loads(line)
            except orjson.JSONDecodeError:
                continue
            run_id = event.get("run_id") if isinstance(event, dict) else None
            if isinstance(run_id, str) and event.get("event") == "run_finished":
                counters.setdefault(event["run_id"], RunCounters()).add(event)
    return counters

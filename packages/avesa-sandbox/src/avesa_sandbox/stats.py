"""Request statistics per instance: what benchmarks read to relate pipeline work to API traffic."""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any


class RequestStats:
    """Counters of API requests served by one instance (admin requests are not counted)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        """Zero every counter."""
        with self._lock:
            self.requests = 0
            self.throttled = 0
            self.unauthorized = 0
            self.bytes_sent = 0
            self.records_served = 0
            self.by_status: Counter[int] = Counter()
            self.by_table: Counter[str] = Counter()
            self.faults: Counter[str] = Counter()

    def record(
        self,
        status: int,
        table: str | None = None,
        body_bytes: int = 0,
        records: int = 0,
        fault: str | None = None,
    ) -> None:
        """Count one request and what was sent back."""
        with self._lock:
            self.requests += 1
            self.by_status[status] += 1
            self.bytes_sent += body_bytes
            self.records_served += records
            if table is not None:
                self.by_table[table] += 1
            if status == 429:
                self.throttled += 1
            if status == 401:
                self.unauthorized += 1
            if fault is not None:
                self.faults[fault] += 1

    def to_dict(self) -> dict[str, Any]:
        """JSON form for the admin API."""
        with self._lock:
            return {
                "requests": self.requests,
                "throttled": self.throttled,
                "unauthorized": self.unauthorized,
                "bytes_sent": self.bytes_sent,
                "records_served": self.records_served,
                "by_status": {str(k): v for k, v in sorted(self.by_status.items())},
                "by_table": dict(sorted(self.by_table.items())),
                "faults": dict(sorted(self.faults.items())),
            }

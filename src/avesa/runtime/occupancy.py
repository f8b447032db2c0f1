"""How many more chunks could be reading right now without anyone waiting: the executor's spare
request capacity, seen from one table.

At the end of a run the last chunks read their pages one after another while the other request
slots sit idle (the tail: docs/benchmarks.md). A running chunk that asks `spare_for(its table)` and
hears a number above zero hands part of what it has left to new chunks, which start at once in the
idle slots. The answer is the smallest of three headrooms, because each cap would keep a new chunk
waiting: the global request cap (and nobody queued for a chunk slot), the tenant's request cap, and
the table's chunk cap.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from avesa.domain.work import TableRef


@dataclass
class Occupancy:
    requests_in_flight: int
    requests_per_tenant: int
    chunks_per_table: int
    reading: Counter[str] = field(default_factory=Counter)  # chunks holding a slot, by tenant
    started: Counter[tuple[str, ...]] = field(default_factory=Counter)  # unfinished chunks, by table

    def chunk_started(self, ref: TableRef) -> None:
        self.started[ref.key] += 1

    def chunk_reading(self, ref: TableRef, delta: int) -> None:
        self.reading[ref.tenant_id] += delta

    def chunk_finished(self, ref: TableRef) -> None:
        self.started[ref.key] -= 1

    def spare_for(self, ref: TableRef, chunks_waiting: bool) -> int:
        if chunks_waiting:
            return 0
        return max(0, min(self.requests_in_flight - self.reading.total(),
                          self.requests_per_tenant - self.reading[ref.tenant_id],
                          self.chunks_per_table - self.started[ref.key]))

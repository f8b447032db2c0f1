"""Which chunk made which requests: API calls, retries and 429s counted per chunk attempt.

The HTTP layer counts requests once per process (`HttpOptions.stats`), shared by every chunk that
runs at once. To say what one chunk cost — the chunk metrics (API calls, retries, 429s, records per
call) — each attempt opens a tally in a context variable, and the process's counters are swapped for
`AttributedStats`, which add every increment to the tally of the task that made it as well. asyncio
gives every task its own copy of the context, so concurrent chunks never count each other's
requests; requests made outside a chunk (planning's counts) reach no tally.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass

from avesa.connectors.http_client import HttpOptions, RequestStats

_TALLIED = ("requests", "retries", "rate_limited")


@dataclass
class RequestTally:
    requests: int = 0
    retries: int = 0
    rate_limited: int = 0


_current: ContextVar[RequestTally | None] = ContextVar("avesa_request_tally", default=None)


class AttributedStats(RequestStats):
    """The process's request counters; each increment also goes to the current task's tally."""

    def __setattr__(self, name: str, value: object) -> None:
        tally = _current.get()
        if tally is not None and name in _TALLIED and name in self.__dict__:
            delta = int(value) - int(self.__dict__[name])  # type: ignore[call-overload]
            if delta > 0:
                setattr(tally, name, getattr(tally, name) + delta)
        super().__setattr__(name, value)


def attribute_requests(options: HttpOptions) -> None:
    """Make `options` count requests per tally too, keeping the counts so far (idempotent)."""
    if not isinstance(options.stats, AttributedStats):
        options.stats = AttributedStats(**dataclasses.asdict(options.stats))


@contextlib.contextmanager
def tally_requests() -> Iterator[RequestTally]:
    """Count the requests the current task makes inside the block."""
    tally = RequestTally()
    token = _current.set(tally)
    try:
        yield tally
    finally:
        _current.reset(token)

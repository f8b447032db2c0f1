"""Keep a lease alive while its holder works.

A lease renewed only at checkpoints expires whenever the work between two of them takes longer
than a lease — a page behind 429 waits, a slow API, a long merge — and then the owner, alive,
looks gone to everyone else: another worker takes the chunk over, `avesa jobs cleanup-stuck`
abandons the run. A heartbeat renews the lease on a timer instead, every third of a lease, from
the moment the work starts until it ends: one ledger write per interval, none per page. The
ledger refuses a renewal by the rule it refuses a checkpoint by (the run was cancelled, or the
lease is someone else's now); the heartbeat then stops and says so in `lost`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import datetime

from avesa.domain.timeutil import utc_now
from avesa.pipeline.context import PipelineContext

Renew = Callable[[datetime], bool]


@dataclass
class Heartbeat:
    lost: bool = False
    """The ledger refused a renewal: the holder may no longer write under this lease."""


@contextlib.asynccontextmanager
async def heartbeat(renew: Renew, interval: float) -> AsyncIterator[Heartbeat]:
    """Call `renew(now)` every `interval` seconds (in a thread: it writes the ledger) while the
    body runs; the first renewal comes one interval after entering, since taking the lease set it."""
    state = Heartbeat()

    async def beat() -> None:
        while True:
            await asyncio.sleep(interval)
            if not await asyncio.to_thread(renew, utc_now()):
                state.lost = True
                return

    task = asyncio.create_task(beat())
    try:
        yield state
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


MIN_INTERVAL_SECONDS = 0.1
"""However short a lease is set, the ledger is not written more often than this per lease."""


def renewal_interval(ctx: PipelineContext) -> float:
    """A third of a lease: two renewals can be late before anyone sees the lease expire."""
    return max(MIN_INTERVAL_SECONDS, ctx.settings.lease_seconds / 3)


def keep_chunk_lease(ctx: PipelineContext, chunk_id: str) -> contextlib.AbstractAsyncContextManager[Heartbeat]:
    """Renew the lease of a chunk this process is reading (`pipeline/extract.py`)."""
    return heartbeat(lambda now: ctx.state.renew_chunk_lease(chunk_id, ctx.owner, ctx.settings.lease_seconds, now),
                     renewal_interval(ctx))


def keep_run_lease(ctx: PipelineContext, run_id: str) -> contextlib.AbstractAsyncContextManager[Heartbeat]:
    """Renew the lease of a run this process executes, whatever it is doing — planning, waiting for
    slots, merging — so a run whose owner is alive on another host never looks interrupted."""
    ctx.state.renew_run_lease(run_id, ctx.owner, ctx.settings.lease_seconds, utc_now())
    return heartbeat(lambda now: ctx.state.renew_run_lease(run_id, ctx.owner, ctx.settings.lease_seconds, now),
                     renewal_interval(ctx))

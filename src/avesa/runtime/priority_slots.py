"""A semaphore whose waiters are served biggest job first.

Chunks wait for one of a limited number of slots; serving the one with the most estimated records
first (longest-processing-time-first) starts the long chains of pages early, so a run does not end
with a few long chunks running alone while the other slots sit idle.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager


class PrioritySlots:
    def __init__(self, slots: int) -> None:
        self._free = slots
        self._waiters: list[tuple[float, int, asyncio.Future[None]]] = []
        self._order = itertools.count()

    @asynccontextmanager
    async def hold(self, size: float) -> AsyncIterator[None]:
        """Hold a slot while the block runs; bigger `size` is served first, ties first come first."""
        if self._free > 0 and not self._waiters:
            self._free -= 1
        else:
            future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            heapq.heappush(self._waiters, (-size, next(self._order), future))
            try:
                await future
            except asyncio.CancelledError:
                if future.done() and not future.cancelled():
                    self._release()  # the slot was handed to us as we were cancelled: pass it on
                raise
        try:
            yield
        finally:
            self._release()

    @property
    def waiting(self) -> bool:
        """Someone is queued for a slot."""
        return any(not future.done() for _, _, future in self._waiters)

    def _release(self) -> None:
        while self._waiters:
            _, _, future = heapq.heappop(self._waiters)
            if not future.done():
                future.set_result(None)  # the slot passes straight to the next waiter
                return
        self._free += 1

"""A tenant's rate budget shared by every process that calls its instance (AVESA_SHARED_RATE_BUDGETS).

The in-process RateBudget (rate_budget.py) paces one process. When several run at once — the AWS
executor's Lambdas, the proof executor's worker processes, two `avesa run`s on one DynamoDB table —
each would send at the full documented rate and the instance would see their sum. Here the slots
come from a token bucket in the state store instead (`take_rate_token`: one bucket per (tenant,
service), updated by a conditional write or a transaction), and a pause a 429's ``Retry-After`` or
a used-up allowance asks for is stored with it (`pause_rate_budget`), so it holds every worker.

What stays per process: the rate each worker sends at (the documented one, lowered by rate headers
and 429s as rate_budget.py learns it; the bucket refills at the taker's rate) and the figures a run
reports. Within a process one task at a time asks the store (`RateBudget.turn`), so the store sees
about one request per slot per process, not one per waiting task.
"""

from __future__ import annotations

import asyncio
import random
import time
from datetime import datetime, timedelta
from typing import Any, Protocol

from avesa.connectors.rate_budget import RateBudget
from avesa.connectors.rate_headers import Allowance
from avesa.domain.timeutil import utc_now

JITTER_SECONDS = 0.01
"""Added to a wait the store asked for, so workers told the same moment do not all ask at once."""


class BudgetStore(Protocol):
    """What a shared budget needs of the state store (avesa.state.base.StateStore has it)."""

    def take_rate_token(self, tenant_id: str, service: str, requests_per_minute: float, burst: int,
                        now: datetime) -> float: ...
    def pause_rate_budget(self, tenant_id: str, service: str, until: datetime) -> None: ...


class SharedRateBudget:
    """Stands in for a tenant's RateBudget in its connector: slots and pauses from the store, the
    learnt rate and the figures from the local budget (every other attribute is the budget's)."""

    def __init__(self, budget: RateBudget, store: BudgetStore, tenant_id: str, service: str) -> None:
        self.budget = budget
        self.store = store
        self.tenant_id = tenant_id
        self.service = service

    def __getattr__(self, name: str) -> Any:
        if name == "budget":  # not set yet (copying, unpickling): never recurse
            raise AttributeError(name)
        return getattr(self.budget, name)

    async def acquire(self) -> None:
        """Wait for a slot of the shared bucket (after any pause this process knows of)."""
        budget = self.budget
        started = time.monotonic()
        async with budget.turn:
            while True:
                await budget.wait_for_pause()
                per_minute, burst = budget.pace()
                wait = await asyncio.to_thread(self.store.take_rate_token, self.tenant_id, self.service,
                                               per_minute, burst, utc_now())
                if wait <= 0:
                    break
                await asyncio.sleep(wait + random.uniform(0, JITTER_SECONDS))
        budget.sent(started)

    def _share_pause(self, seconds: float | None) -> None:
        if seconds is not None and seconds > 0:
            self.store.pause_rate_budget(self.tenant_id, self.service, utc_now() + timedelta(seconds=seconds))

    def pause_for(self, seconds: float) -> None:
        self.budget.pause_for(seconds)
        self._share_pause(seconds)

    def observe(self, allowance: Allowance | None) -> None:
        self.budget.observe(allowance)
        if allowance is not None and allowance.remaining <= 0:
            self._share_pause(allowance.resets_in)

    def refused(self, sent_at: float, retry_after: float | None) -> bool:
        lowered = self.budget.refused(sent_at, retry_after)
        self._share_pause(retry_after)
        return lowered

    def answered(self) -> None:
        self.budget.answered()

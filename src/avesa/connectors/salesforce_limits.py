"""The org's daily API allowance, as one Salesforce connector sees it.

Every Salesforce response says how much of the org's request allowance is used:
``Sforce-Limit-Info: api-usage=used/limit``, counted over a rolling 24 hours and shared with every
other integration and user of the org. The tenant's RateBudget already slows down to spread what is
left; this guard handles the end of it. Left to the budget, an allowance at zero pauses every caller
for the full 24 hours — a run that hangs for a day holding its leases and tenant locks. Instead,
once a response shows the allowance used up (or Salesforce answers ``403 REQUEST_LIMIT_EXCEEDED``
because other integrations used it), every further request of this connector fails at once with
an error that says what happened and what to do; chunks keep what they checkpointed, and the next
scheduled run continues from there once requests free up.
"""

from __future__ import annotations

import re
from typing import Any

import httpx

from avesa.connectors.rate_budget import RateBudget
from avesa.connectors.rate_headers import Allowance
from avesa.domain.errors import SourceError

LIMIT_HEADER = "Sforce-Limit-Info"
_USAGE = re.compile(r"api-usage=(\d+)/(\d+)")


class DailyLimitError(SourceError):
    """The org's daily API request allowance is used up. Not retried within the run: requests only
    free up as the rolling 24-hour window moves on."""


class DailyAllowance:
    """Stands in for the tenant's shared RateBudget inside one connector's SourceHttp: passes pacing
    and Retry-After pauses through, but turns an allowance at zero into an immediate error instead of
    a day-long pause."""

    def __init__(self, budget: RateBudget) -> None:
        self.budget = budget
        self.used_up = False
        self.usage: str | None = None
        """The last ``api-usage=used/limit`` seen, for messages."""

    def __getattr__(self, name: str) -> Any:
        """The budget's own attributes (pauses, waited_seconds, requests_per_minute...) for callers."""
        if name == "budget":  # not set yet (copying, unpickling): never recurse
            raise AttributeError(name)
        return getattr(self.budget, name)

    def observe(self, allowance: Allowance | None) -> None:
        if allowance is not None and allowance.remaining <= 0:
            self.used_up = True
            return
        self.budget.observe(allowance)

    def pause_for(self, seconds: float) -> None:
        self.budget.pause_for(seconds)

    async def acquire(self) -> None:
        if self.used_up:
            raise DailyLimitError("daily API request allowance used up")
        await self.budget.acquire()

    def note(self, headers: httpx.Headers) -> None:
        """Remember the usage a successful response announced."""
        match = _USAGE.search(headers.get(LIMIT_HEADER) or "")
        if match:
            self.usage = match.group(0)

    def error(self, *, refused: bool, tenant_id: str, service: str, table: str) -> DailyLimitError:
        """The error every request of this connector raises from now on; ``refused`` when Salesforce
        answered 403, else the last response announced the allowance used up."""
        self.used_up = True
        if refused:
            how = "HTTP 403 REQUEST_LIMIT_EXCEEDED" + (f"; last seen {self.usage}" if self.usage else "")
        else:
            how = f"{LIMIT_HEADER}: {self.usage or 'no requests left'}"
        return DailyLimitError(
            f"the Salesforce org's daily API request allowance is used up ({how}). Salesforce counts requests over "
            "a rolling 24 hours, shared with the org's other integrations: the next run continues from this run's "
            "checkpoints once requests free up. To avoid it, have the customer raise the org's allowance or lower "
            "this tenant's budget with `avesa service limit`",
            tenant_id=tenant_id, service=service, table=table)

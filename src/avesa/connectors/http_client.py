"""HTTP for connectors: one httpx client per (tenant, service), a shared rate budget, a global cap
on requests in flight, and tenacity retries that honour Retry-After.

A rate limit (429, or Graph's 503 with ``Retry-After``) is not a failed attempt: the request waits
as told, the tenant's budget lowers its rate (rate_budget.py), and the request is sent again —
for as long as it takes, up to ``rate_limit_max_wait_seconds`` from its first 429. Only past that
does it fail, saying how long it waited and what rate the source seemed to allow. Other retryable
failures (5xx, timeouts, dropped connections) are retried ``max_attempts`` times in all.

Errors leave here typed (avesa.domain.errors) and tagged with tenant/service/table; they never
carry request headers, and whatever they quote of a response (a 4xx body, which some APIs fill with
the request they refused, Authorization header and all) passes the connector's redactor first, so
credentials cannot leak into messages, the ledger or logs.
"""

from __future__ import annotations

import asyncio
import email.utils
import time
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, wait_exponential_jitter

from avesa.connectors.aiohttp_transport import AiohttpTransport
from avesa.connectors.rate_budget import RateBudget
from avesa.connectors.rate_headers import allowance_from
from avesa.connectors.scrubbing import credential_headers
from avesa.domain.errors import (
    AuthenticationError,
    BadDataError,
    RateLimitedError,
    SourceError,
    TransientError,
)
from avesa.domain.redaction import Redactor
from avesa.observability import events


@dataclass
class RequestStats:
    requests: int = 0
    retries: int = 0
    rate_limited: int = 0
    bytes: int = 0
    seconds: float = 0.0
    in_flight: int = 0  # requests sent and not yet answered, right now


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header: delta-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


@dataclass
class HttpOptions:
    timeout_seconds: float = 60.0
    max_attempts: int = 6
    """Attempts at a request that fails in a retryable way other than a rate limit."""
    rate_limit_max_wait_seconds: float = 600.0
    """How long one request may be kept waiting by rate limits (from its first 429) before it fails."""
    backoff_initial: float = 0.5
    backoff_max: float = 30.0
    in_flight: asyncio.Semaphore | None = None  # the global cap, shared across tenants
    # A cap per tenant below the global one, so one big tenant never takes every request slot.
    per_tenant_limit: int | None = None
    per_tenant: dict[str, asyncio.Semaphore] = field(default_factory=dict)
    stats: RequestStats = field(default_factory=RequestStats)


class SourceHttp:
    """GET JSON from one tenant's instance of one service, politely and with retries."""

    def __init__(
        self,
        *,
        base_url: str,
        headers: dict[str, str],
        budget: RateBudget,
        options: HttpOptions,
        tenant_id: str,
        service: str,
        auth: httpx.Auth | None = None,
        redactor: Redactor | None = None,
    ) -> None:
        self.redactor = redactor if redactor is not None else Redactor()
        """Masks the connector's credentials in anything an error quotes (connectors use it too)."""
        self.redactor.add(*credential_headers(headers))
        self._client = httpx.AsyncClient(
            base_url=base_url,
            headers=headers,
            auth=auth,
            timeout=options.timeout_seconds,
            transport=AiohttpTransport(max_connections=32),  # the bytes over aiohttp: see its module
        )
        self.budget = budget
        self.options = options
        self.tenant_id = tenant_id
        self.service = service
        # Full jitter keeps many tasks that failed together from retrying together.
        self._backoff = wait_exponential_jitter(multiplier=options.backoff_initial, max=options.backoff_max,
                                                jitter=options.backoff_initial)

    async def aclose(self) -> None:
        await self._client.aclose()

    def _tenant_cap(self) -> asyncio.Semaphore | None:
        limit = self.options.per_tenant_limit
        if limit is None:
            return None
        cap = self.options.per_tenant.get(self.tenant_id)
        if cap is None:
            cap = self.options.per_tenant[self.tenant_id] = asyncio.Semaphore(limit)
        return cap

    def _where(self, table: str) -> dict[str, str]:
        return {"tenant_id": self.tenant_id, "service": self.service, "table": table}

    async def get_json(self, path: str, params: dict[str, Any] | None = None, *, table: str = "",
                       page: int | None = None) -> tuple[Any, httpx.Headers]:
        """GET and parse JSON into Python objects, retrying rate limits and transient failures."""
        body, headers = await self.get_bytes(path, params, table=table, page=page)
        try:
            return orjson.loads(body), headers
        except orjson.JSONDecodeError as exc:
            raise BadDataError(f"GET {path}{_page(page)}: response is not valid JSON ({self.redactor.text(str(exc))}); "
                               f"{len(body)} bytes received", **self._where(table)) from None

    async def get_bytes(self, path: str, params: dict[str, Any] | None = None, *, table: str = "",
                        page: int | None = None) -> tuple[bytes, httpx.Headers]:
        """GET the raw body of a successful response, retrying rate limits and transient failures.

        Pages are parsed by the caller: decoding 1,000 records into Python objects only to write
        them out again costs more CPU than everything else extraction does."""
        patience = _Patience(self.options.max_attempts, self.options.rate_limit_max_wait_seconds)
        retrying = AsyncRetrying(
            retry=retry_if_exception(lambda e: isinstance(e, SourceError) and e.retryable),
            stop=patience.stop,
            wait=self._wait,
            reraise=True,
        )
        try:
            async for attempt in retrying:
                with attempt:
                    if attempt.retry_state.attempt_number > 1:
                        self.options.stats.retries += 1
                    return await self._get_once(path, params, table=table, page=page)
        except RateLimitedError as exc:
            if patience.waited_out:
                raise self._waited_too_long(exc, patience) from None
            raise
        raise AssertionError("unreachable")  # pragma: no cover

    def _waited_too_long(self, exc: RateLimitedError, patience: _Patience) -> RateLimitedError:
        """The error of a request that rate limits kept waiting up to the bound: how long, and what
        the source seems to allow, measured over the budget's last minute of answers."""
        answered, refused, span = self.budget.recently_allowed()
        allowed = (answered - refused) * 60.0 / span
        bound = f"AVESA_RATE_LIMIT_MAX_WAIT_SECONDS ({self.options.rate_limit_max_wait_seconds:g}s)"
        if patience.told_too_long and exc.retry_after is not None:
            why = f"waiting the {exc.retry_after:g}s more it asked for would pass {bound}"
        else:
            why = f"that is the most {bound} allows"
        if answered == refused:
            seems = f"In the last {span:.0f}s it answered all {answered} requests with a rate limit: it seems to " \
                    "allow none right now"
            fix = "Raise AVESA_RATE_LIMIT_MAX_WAIT_SECONDS to wait longer"
        else:
            seems = f"In the last {span:.0f}s it answered {answered - refused} of {answered} requests: it seems to " \
                    f"allow about {allowed:.3g} requests/minute"
            fix = f"Lower this tenant's budget with `avesa service limit --tenant-id {self.tenant_id} --service " \
                  f"{self.service} --requests-per-minute {max(1, int(allowed))}`, or raise " \
                  "AVESA_RATE_LIMIT_MAX_WAIT_SECONDS"
        return RateLimitedError(
            f"{exc.args[0]}; gave up after {patience.waited:.1f}s of waiting over {patience.rate_limited} attempts, "
            f"as {why}. {seems} (documented: {self.budget.documented_per_minute:g}/minute). {fix}; the next run "
            "continues from this run's checkpoints",
            retry_after=exc.retry_after, tenant_id=exc.tenant_id, service=exc.service, table=exc.table)

    def _wait(self, retry_state: Any) -> float:
        exc = retry_state.outcome.exception()
        if isinstance(exc, RateLimitedError) and exc.retry_after is not None:
            return 0.0  # the shared budget is paused for Retry-After; acquire() waits for it
        return self._backoff(retry_state)

    async def _get_once(self, path: str, params: dict[str, Any] | None, *, table: str,
                        page: int | None) -> tuple[bytes, httpx.Headers]:
        where = self._where(table)
        what = f"GET {path}{_page(page)}"
        if "://" in path:  # a next link is the API's own text
            what = self.redactor.text(what)
        await self.budget.acquire()
        paced_at = time.monotonic()  # the rate this request went out at was the one in force now
        tenant_cap = self._tenant_cap()
        if tenant_cap is not None:
            await tenant_cap.acquire()
        cap = self.options.in_flight
        if cap is not None:
            await cap.acquire()
        started = time.monotonic()
        self.options.stats.in_flight += 1
        try:
            response = await self._client.get(path, params=params)
            body = response.content
        except httpx.TimeoutException as exc:
            raise TransientError(f"{what}: timed out ({type(exc).__name__})", **where) from None
        except httpx.TransportError as exc:
            raise TransientError(f"{what}: connection failed ({type(exc).__name__}: "
                                 f"{self.redactor.text(str(exc))})", **where) from None
        finally:
            self.options.stats.in_flight -= 1
            if cap is not None:
                cap.release()
            if tenant_cap is not None:
                tenant_cap.release()
            self.options.stats.requests += 1
            self.options.stats.seconds += time.monotonic() - started
        self.options.stats.bytes += len(body)
        status = response.status_code
        self.budget.observe(allowance_from(response.headers))
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
        if status == 429 or (status >= 500 and retry_after is not None):
            self._refused(paced_at, retry_after, table)
        else:
            self.budget.answered()
        if status == 403 and b"REQUEST_LIMIT_EXCEEDED" in body:
            raise SourceError(f"{what}: the instance's API request allowance is used up (HTTP 403 "
                              "REQUEST_LIMIT_EXCEEDED); the run resumes once it renews", **where)
        if status in (401, 403):
            raise AuthenticationError(
                f"{what}: the service refused the credentials (HTTP {status}); "
                f"fix them with `avesa service add --tenant-id {self.tenant_id} --service {self.service}`",
                **where,
            )
        if status == 429:
            raise RateLimitedError(f"{what}: rate limited (HTTP 429)", retry_after=retry_after, **where)
        if status >= 500:
            if retry_after is not None:  # Graph's 503 carries one: it is a throttle, not a failure
                raise RateLimitedError(f"{what}: service unavailable (HTTP {status}), retry after {retry_after:g}s",
                                       retry_after=retry_after, **where)
            raise TransientError(f"{what}: server error HTTP {status}", **where)
        if status >= 400:
            raise HttpStatusError(f"{what}: HTTP {status}: {self.redactor.quote(body)}", status=status, body=body,
                                  **where)
        return body, response.headers

    def _refused(self, sent_at: float, retry_after: float | None, table: str) -> None:
        """Count a rate limit and let the budget slow down; say so in the run's log when it does."""
        self.options.stats.rate_limited += 1
        before = self.budget.requests_per_minute
        if self.budget.refused(sent_at, retry_after):
            events.emit("rate_lowered", tenant_id=self.tenant_id, service=self.service, table=table,
                        from_per_minute=round(before, 1), to_per_minute=round(self.budget.requests_per_minute, 1),
                        retry_after=retry_after, http_429=self.budget.rate_limited)


class _Patience:
    """How long one request may keep trying: rate limits for up to `max_wait` seconds in all from the
    first (a Retry-After that would end past it is not waited out; the budget's pacing may carry a
    request a little past it), other retryable failures `max_attempts` times. A tenacity stop
    condition."""

    def __init__(self, max_attempts: int, max_wait: float) -> None:
        self.max_attempts = max_attempts
        self.max_wait = max_wait
        self.rate_limited = 0
        self.first_limited: float | None = None
        self.waited = 0.0
        self.waited_out = False
        self.told_too_long = False

    def stop(self, retry_state: RetryCallState) -> bool:
        exc = retry_state.outcome.exception() if retry_state.outcome else None
        if not isinstance(exc, RateLimitedError):
            return retry_state.attempt_number - self.rate_limited >= self.max_attempts
        self.rate_limited += 1
        now = time.monotonic()
        if self.first_limited is None:
            self.first_limited = now
        self.waited = now - self.first_limited
        self.told_too_long = self.waited < self.max_wait < self.waited + (exc.retry_after or 0.0)
        self.waited_out = self.waited >= self.max_wait or self.told_too_long
        return self.waited_out


class HttpStatusError(SourceError):
    """A 4xx other than auth and rate limits; connectors catch the statuses their API gives meaning
    (Graph's 410 for a lost delta state, Salesforce's expired query locator)."""

    def __init__(self, message: str, *, status: int, body: bytes, **where: str) -> None:
        super().__init__(message, **where)
        self.status = status
        self.body = body


def _page(page: int | None) -> str:
    return f" page {page}" if page is not None else ""


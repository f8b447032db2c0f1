"""Fault injection: random faults by probability and deterministic one-shot faults for tests.

Random faults (driven by the instance's knobs) model a flaky production API. One-shot faults make a
test exact: "fail the next 2 list requests of service/tickets with 503" happens exactly then, no
matter what else the instance is doing. This module only decides *which* fault applies; the
service routes turn a decision into bytes on the wire (see ``responses``).
"""

from __future__ import annotations

import random
import threading
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from enum import StrEnum
from types import MappingProxyType
from typing import Any

from avesa_sandbox.knobs import Knobs


class FaultKind(StrEnum):
    """What a faulty response looks like to the client."""

    RATE_LIMITED = "429"
    """429 with a ``Retry-After`` header."""
    RATE_LIMITED_NO_RETRY_AFTER = "429-no-retry-after"
    """429 without ``Retry-After`` (clients must fall back to their own backoff)."""
    SERVER_ERROR = "500"
    BAD_GATEWAY = "502"
    UNAVAILABLE = "503"
    UNAVAILABLE_RETRY_AFTER = "503-retry-after"
    """503 with a ``Retry-After`` header (``retry_after`` seconds), as Graph answers when a service is
    overloaded. Services whose API never sends it (ConnectWise) serve the request normally."""
    RESET = "reset"
    """Connection closed without any response bytes (TCP reset)."""
    MALFORMED = "malformed"
    """A complete 200 response whose body is not valid JSON."""
    TRUNCATED = "truncated"
    """A 200 response whose body stops before ``Content-Length`` bytes; the connection closes."""
    SLOW = "slow"
    """The normal response, delivered after ``delay_ms`` (for client timeouts)."""
    TOKEN_EXPIRED = "token-expired"
    """401 as the service answers an expired access token (OAuth services; e.g. Salesforce
    ``INVALID_SESSION_ID``): the client must get a new token and retry. The token is revoked.
    Services without access tokens (ConnectWise) serve the request normally."""
    ECHO_REQUEST = "400-echo"
    """400 whose body quotes the refused request back — method, URL and every header, credentials
    included — as some APIs and gateways do. A client that quotes error bodies must mask them.
    ConnectWise and Acme Helpdesk; the other services serve the request normally."""
    IDS_DESCENDING = "ids-descending"
    """A 200 list page in descending id order, as an API answers that ignores the requested sort
    (``sort=id``, ``orderBy=id asc``) but still applies the keyset condition (ids above the cursor):
    a keyset client that does not check the order reads the top page and stops, skipping the rest.
    ConnectWise and Acme Helpdesk; the other services serve the request normally."""
    RECORD_WITHOUT_ID = "record-without-id"
    """A 200 list page whose first record comes without its id field, the rest of it as stored: the
    client must fail the page naming the record — and mask what it quotes of it. ConnectWise and Acme
    Helpdesk; the other services serve the request normally."""
    COUNT_PLUS_ONE = "count-plus-one"
    """A 200 count answer one higher than the records its listings return: what a count says when a
    listing misses a record (one the API user may count but not read, one a listing skips). After a
    full sync the lake then holds one live row fewer than the source counts. ConnectWise ``/count``;
    the other services serve the request normally."""


ERROR_STATUS: Mapping[FaultKind, int] = MappingProxyType(
    {
        FaultKind.RATE_LIMITED: 429,
        FaultKind.RATE_LIMITED_NO_RETRY_AFTER: 429,
        FaultKind.SERVER_ERROR: 500,
        FaultKind.BAD_GATEWAY: 502,
        FaultKind.UNAVAILABLE: 503,
    }
)
"""Faults every service answers at once with an error status (each renders its own error body)."""

ERROR_STATUS_WITH_503_RETRY_AFTER: Mapping[FaultKind, int] = MappingProxyType(
    {**ERROR_STATUS, FaultKind.UNAVAILABLE_RETRY_AFTER: 503}
)
"""``ERROR_STATUS`` of services whose API also sends a 503 with ``Retry-After``; the others serve that fault
normally."""


class RequestScope(StrEnum):
    """Which API requests a one-shot fault applies to."""

    LIST = "list"
    COUNT = "count"
    GET = "get"
    ANY = "any"


@dataclass
class OneShotFault:
    """Fail the next ``remaining`` matching requests with ``kind``."""

    kind: FaultKind
    remaining: int = 1
    table: str | None = None
    """Endpoint (e.g. ``service/tickets``); None matches every table."""
    scope: RequestScope = RequestScope.LIST
    retry_after: int = 1
    """Seconds in ``Retry-After`` for ``429``."""
    delay_ms: float = 2000.0
    """Delay for ``slow``."""

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> OneShotFault:
        """Build from admin-API JSON: ``{kind, count, table, scope, retry_after, delay_ms}``."""
        known = {"kind", "count", "remaining", "table", "scope", "retry_after", "delay_ms"}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown fault field(s): {', '.join(unknown)}")
        try:
            kind = FaultKind(str(data["kind"]))
        except KeyError:
            raise ValueError("fault needs a 'kind'") from None
        except ValueError:
            raise ValueError(
                f"unknown fault kind {data['kind']!r}; known: {', '.join(k.value for k in FaultKind)}"
            ) from None
        count = int(data.get("count", data.get("remaining", 1)))
        if count < 1:
            raise ValueError("fault count must be >= 1")
        scope = RequestScope(str(data.get("scope", RequestScope.LIST)))
        return cls(
            kind=kind,
            remaining=count,
            table=data.get("table"),
            scope=scope,
            retry_after=int(data.get("retry_after", 1)),
            delay_ms=float(data.get("delay_ms", 2000.0)),
        )

    def matches(self, table: str | None, scope: RequestScope) -> bool:
        """Does this fault apply to a request of ``scope`` on ``table``?"""
        if self.table is not None and self.table != table:
            return False
        return self.scope in (RequestScope.ANY, scope)

    def to_dict(self) -> dict[str, Any]:
        """JSON form for the admin API."""
        data = asdict(self)
        data["kind"] = self.kind.value
        data["scope"] = self.scope.value
        return data


class FaultPlan:
    """Pending one-shot faults of one instance, in the order they were added."""

    def __init__(self) -> None:
        self._pending: list[OneShotFault] = []
        self._lock = threading.Lock()

    def add(self, fault: OneShotFault) -> None:
        """Queue a fault; earlier faults take precedence when several match."""
        with self._lock:
            self._pending.append(fault)

    def take(self, table: str | None, scope: RequestScope) -> OneShotFault | None:
        """Consume one occurrence of the first matching fault, if any."""
        with self._lock:
            for fault in self._pending:
                if fault.matches(table, scope):
                    fault.remaining -= 1
                    if fault.remaining <= 0:
                        self._pending.remove(fault)
                    return fault
        return None

    def clear(self) -> None:
        """Drop every pending fault."""
        with self._lock:
            self._pending.clear()

    def pending(self) -> list[dict[str, Any]]:
        """Snapshot of pending faults for the admin API."""
        with self._lock:
            return [fault.to_dict() for fault in self._pending]


_ERROR_KINDS = (FaultKind.SERVER_ERROR, FaultKind.BAD_GATEWAY, FaultKind.UNAVAILABLE)


def random_fault(knobs: Knobs, rng: random.Random) -> FaultKind | None:
    """Draw a random fault according to the knobs' probabilities (None: serve normally)."""
    roll = rng.random()
    for rate, kind in (
        (knobs.error_rate, None),
        (knobs.reset_rate, FaultKind.RESET),
        (knobs.malformed_rate, FaultKind.MALFORMED),
        (knobs.truncated_rate, FaultKind.TRUNCATED),
    ):
        if roll < rate:
            return kind if kind is not None else rng.choice(_ERROR_KINDS)
        roll -= rate
    return None

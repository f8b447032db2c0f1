"""A simulated request's latency, counted from its arrival with the work of answering inside it.

A real API's response time includes the time the API spends answering. The sandbox used to sleep
for the latency and *then* build the page, so on a machine it shares with the client every page
arrived `latency + the sandbox's own CPU` after it was asked for — and 16 pages asked for at once
queued behind each other's JSON encoding (about 10 ms each for 1,000 ConnectWise records, so up to
180 ms). A benchmark's bound (requests in flight × page size / latency) was then out of reach even
for a client that did nothing. Now a handler marks when its answer is due (`hold_response`) and
builds it at once; `LatencyMiddleware` holds the response's first bytes until then. When answering
takes longer than the latency, the response goes out as soon as it is ready.

Faults that send nothing (a connection reset) are not held: they happen when they happen.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

if TYPE_CHECKING:
    from avesa_sandbox.instances import Instance

ARRIVED = "avesa_sandbox.arrived"
DUE = "avesa_sandbox.due"


def hold_response(request: Request, instance: Instance) -> None:
    """Make `request`'s response due `latency_ms` (+ random jitter) after it arrived."""
    knobs = instance.knobs
    delay_ms = knobs.latency_ms + (instance.rng.random() * knobs.jitter_ms if knobs.jitter_ms else 0.0)
    delay_response(request, delay_ms / 1000)


def delay_response(request: Request, seconds: float) -> None:
    """Push `request`'s response `seconds` later (e.g. a per-record cost on top of the latency)."""
    if seconds <= 0:
        return
    scope = request.scope
    scope[DUE] = scope.get(DUE, scope.get(ARRIVED, time.monotonic())) + seconds


class LatencyMiddleware:
    """Stamp every HTTP request's arrival and hold its response start until the handler's due time."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        scope[ARRIVED] = time.monotonic()

        async def send_when_due(message: Message) -> None:
            if message["type"] == "http.response.start":
                wait = scope.get(DUE, 0.0) - time.monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)
            await send(message)

        await self.app(scope, receive, send_when_due)

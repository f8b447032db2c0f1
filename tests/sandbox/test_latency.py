"""The sandbox's latency counts from a request's arrival, with the work of answering inside it — as
a real API's does — so a page that takes the sandbox 100 ms to build still arrives at the latency."""

from __future__ import annotations

import asyncio
import time

import httpx
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from avesa_sandbox.latency import LatencyMiddleware, delay_response


def _app(latency: float, work: float) -> Starlette:
    async def page(request: Request) -> PlainTextResponse:
        delay_response(request, latency)
        await asyncio.sleep(work)  # building the page
        return PlainTextResponse("ok")

    return Starlette(routes=[Route("/", page)], middleware=[Middleware(LatencyMiddleware)])


async def _timed(app: Starlette) -> float:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://sandbox") as client:
        started = time.monotonic()
        response = await client.get("/")
        assert response.status_code == 200 and response.text == "ok"
        return time.monotonic() - started


def test_work_shorter_than_the_latency_is_hidden_inside_it() -> None:
    took = asyncio.run(_timed(_app(latency=0.4, work=0.15)))
    assert 0.4 <= took < 0.53, took  # not 0.55: the 150 ms of work happened during the latency


def test_work_longer_than_the_latency_is_answered_when_ready() -> None:
    took = asyncio.run(_timed(_app(latency=0.1, work=0.3)))
    assert 0.3 <= took < 0.38, took

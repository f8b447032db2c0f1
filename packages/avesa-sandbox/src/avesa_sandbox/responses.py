"""Faulty HTTP responses that need the transport: connection resets and truncated bodies.

A plain ASGI app cannot drop a connection without answering: returning without a response makes
the server send a 500. The fault responses therefore reach the server's transport through the
``receive`` callable (uvicorn's is a bound method of its request cycle, which holds the
transport) and abort or close it themselves. With another server they fall back to raising after
the response started, which makes any ASGI server close the connection.
"""

from __future__ import annotations

import asyncio
import socket
import struct
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

JSON_MEDIA_TYPE = "application/json; charset=utf-8"


class InjectedFault(Exception):
    """Raised to make the ASGI server drop a connection when the transport is not reachable."""


def _cycle_and_transport(receive: Receive) -> tuple[Any, asyncio.Transport | None]:
    cycle = getattr(receive, "__self__", None)
    return cycle, getattr(cycle, "transport", None)


async def _settle() -> None:
    """Let the server notice the closed connection (so it does not try to answer itself)."""
    for _ in range(3):
        await asyncio.sleep(0)


class ResetResponse(Response):
    """No response at all: the TCP connection is reset (SO_LINGER 0, then abort)."""

    def __init__(self) -> None:
        super().__init__(content=b"", status_code=500)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        cycle, transport = _cycle_and_transport(receive)
        if transport is None:
            raise InjectedFault("injected connection reset")
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        transport.abort()
        if hasattr(cycle, "disconnected"):
            cycle.disconnected = True
        await _settle()


class TruncatedResponse(Response):
    """Headers promise the whole body; roughly half of it is sent, then the connection closes."""

    def __init__(self, body: bytes, headers: dict[str, str] | None = None) -> None:
        super().__init__(content=body, status_code=200, headers=headers, media_type=JSON_MEDIA_TYPE)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        body = bytes(self.body)
        await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
        await send({"type": "http.response.body", "body": body[: max(1, len(body) // 2)], "more_body": True})
        cycle, transport = _cycle_and_transport(receive)
        if transport is None:
            raise InjectedFault("injected truncated body")
        transport.close()
        if hasattr(cycle, "disconnected"):
            cycle.disconnected = True
        await _settle()


def malformed(body: bytes) -> bytes:
    """A body that is not valid JSON: the real one cut off mid-way (Content-Length matches it)."""
    if len(body) < 8:
        return b'[{"id":'
    return body[: len(body) * 2 // 3]


def echoed_request(request: Request, message: str = "The request could not be processed") -> bytes:
    """A 400 body quoting the request back, headers and all, sorted by name as echo services list them
    (the ``400-echo`` fault)."""
    return orjson.dumps({"error": "bad_request", "message": message,
                         "request": {"method": request.method, "headers": dict(sorted(request.headers.items())),
                                     "url": str(request.url)}})


def without_first_id(body: bytes, id_field: str, records: str | None = None) -> bytes:
    """A list body whose first record lost ``id_field`` (the ``record-without-id`` fault); ``records``
    is the key of the list in the body, None when the body is the list."""
    data = orjson.loads(body)
    items = data if records is None else data.get(records)
    if items:
        items[0].pop(id_field, None)
    return orjson.dumps(data)

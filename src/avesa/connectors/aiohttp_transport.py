"""httpx's requests carried by aiohttp: httpx stays the API every connector and auth flow is
written against (requests, headers, auth, redirects, content decoding, errors), aiohttp moves the
bytes.

Why: a page of 1,000 ConnectWise tickets is about 5 MB, and httpx's pure-Python HTTP/1.1 stack
(httpcore, h11, anyio) reads it in 64 KiB steps through several layers of Python. Measured on the
sandbox, 160 such pages with 16 in flight cost 3.4–4.8 s of CPU through httpx and 1.0–1.1 s
through aiohttp, whose parser is C and which hands over a body in one piece. Extraction is one
event loop, so that CPU is the loop's: every millisecond it spends on bytes is one it does not
spend keeping requests in flight.

The transport is deliberately thin: one request in, one `httpx.Response` out with the whole body
as received (aiohttp decompresses nothing, httpx decodes `Content-Encoding` as always), aiohttp's
cookie jar disabled (httpx keeps the client's cookies), redirects and proxies left to httpx (a
request httpx sends through a proxy from the environment goes through httpx's own proxy transport,
never here), and aiohttp's
errors raised as the httpx errors they are (a refused connection `ConnectError`, a timeout
`ReadTimeout`, a reset or a cut body `ReadError` / `RemoteProtocolError`), so the retry and error
handling above (`http_client.py`) is unchanged.
"""

from __future__ import annotations

import asyncio
import functools
import ssl
from typing import Any

import aiohttp
import httpx
from yarl import URL


@functools.cache
def _verifying_context() -> ssl.SSLContext:
    """The CA bundle httpx verifies with (certifi), loaded once per process: loading it costs more
    than a connector's whole set-up, and one context serves every connection."""
    return httpx.create_ssl_context()


def _timeout(request: httpx.Request) -> aiohttp.ClientTimeout:
    """httpx's per-request timeouts (connect, read, pool) as aiohttp's."""
    timeouts: dict[str, float | None] = request.extensions.get("timeout", {})
    return aiohttp.ClientTimeout(total=None, sock_connect=timeouts.get("connect"), sock_read=timeouts.get("read"),
                                 connect=timeouts.get("pool"))


def _target(request: httpx.Request) -> URL:
    """The request's URL exactly as httpx encoded it, without its user info: httpx has already turned
    `https://user:password@host` into the request's Authorization header, and aiohttp refuses a URL
    with credentials beside one."""
    return URL(str(request.url.copy_with(userinfo=b"")), encoded=True)


class AiohttpTransport(httpx.AsyncBaseTransport):
    """An `httpx.AsyncClient` transport over one `aiohttp.ClientSession`, made in the event loop
    that first uses it (a session belongs to one loop; a client used in a later loop gets a new
    one)."""

    def __init__(self, *, max_connections: int, keepalive_seconds: float = 5.0) -> None:
        self._max_connections = max_connections
        self._keepalive_seconds = keepalive_seconds
        self._ssl = _verifying_context()
        self._session: aiohttp.ClientSession | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def _session_now(self) -> aiohttp.ClientSession:
        loop = asyncio.get_running_loop()
        if self._session is None or self._session.closed or self._loop is not loop:
            connector = aiohttp.TCPConnector(limit=self._max_connections, limit_per_host=0, ssl=self._ssl,
                                             keepalive_timeout=self._keepalive_seconds)
            self._session = aiohttp.ClientSession(connector=connector, auto_decompress=False, trust_env=False,
                                                  cookie_jar=aiohttp.DummyCookieJar())
            self._loop = loop
        return self._session

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        session = self._session_now()
        body = await request.aread()
        try:
            async with session.request(request.method, _target(request),
                                       headers=request.headers.multi_items(), data=body or None,
                                       allow_redirects=False, timeout=_timeout(request)) as response:
                content = await response.read()
                status, headers = response.status, response.raw_headers
        except (TimeoutError, aiohttp.ServerTimeoutError) as exc:
            raise httpx.ReadTimeout(f"no answer in time ({type(exc).__name__})", request=request) from exc
        except aiohttp.ClientConnectorError as exc:
            raise httpx.ConnectError(str(exc), request=request) from exc
        except aiohttp.ClientPayloadError as exc:  # a body cut short or malformed
            raise httpx.RemoteProtocolError(str(exc), request=request) from exc
        except aiohttp.ServerDisconnectedError as exc:
            raise httpx.RemoteProtocolError(f"server disconnected ({exc})", request=request) from exc
        except aiohttp.ClientResponseError as exc:  # an answer aiohttp could not parse as HTTP
            raise httpx.RemoteProtocolError(str(exc), request=request) from exc
        except (aiohttp.ClientError, OSError) as exc:  # a reset, a broken pipe
            raise httpx.ReadError(f"{type(exc).__name__}: {exc}", request=request) from exc
        extensions: dict[str, Any] = {"http_version": b"HTTP/1.1"}
        return httpx.Response(status, headers=list(headers), content=content, request=request,
                              extensions=extensions)

    async def aclose(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None

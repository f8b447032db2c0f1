"""The aiohttp transport under httpx, against a real HTTP server on loopback: what a connector sees
is what httpx alone would give — the same request line, decoded bodies, headers, cookies once —
and every way a connection fails is the httpx error the retry logic already knows."""

from __future__ import annotations

import asyncio
import base64
import gzip
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import httpx
import pytest

from avesa.connectors.aiohttp_transport import AiohttpTransport

BODY = b'[{"id": 1, "name": "Acme \xc3\xa9"}]' * 2000


class _Handler(BaseHTTPRequestHandler):
    seen: ClassVar[list[tuple[str, list[str]]]] = []
    authorization: ClassVar[list[str]] = []

    def log_message(self, *args: object) -> None:
        pass

    def _send(self, status: int, body: bytes, headers: dict[str, str]) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        _Handler.seen.append((self.path, self.headers.get_all("Cookie") or []))
        _Handler.authorization.append(self.headers.get("Authorization") or "")
        route = self.path.split("?")[0]
        if route == "/gzip":
            packed = gzip.compress(BODY)
            self._send(200, packed, {"Content-Encoding": "gzip", "Content-Length": str(len(packed)),
                                     "Link": '<https://x/y?page=2>; rel="next"'})
        elif route == "/cookie":
            self._send(200, b"{}", {"Set-Cookie": "session=abc; Path=/", "Content-Length": "2"})
        elif route == "/cut":
            self.send_response(200)
            self.send_header("Content-Length", str(len(BODY)))
            self.end_headers()
            self.wfile.write(BODY[:100])
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
        elif route == "/hang-up":
            self.connection.shutdown(socket.SHUT_RDWR)
        elif route == "/slow":
            time.sleep(1.0)
            self._send(200, b"{}", {"Content-Length": "2"})
        else:
            self._send(200, b"[]", {"Content-Length": "2"})


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: object, client_address: object) -> None:
        pass  # a client that gave up on /slow leaves a broken pipe: that is the test


@pytest.fixture
def server() -> Iterator[str]:
    _Handler.seen = []
    httpd = _QuietServer(("127.0.0.1", 0), _Handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def _get(base: str, path: str, *, timeout: float = 10.0, **params: object) -> httpx.Response:
    async def go() -> httpx.Response:
        async with httpx.AsyncClient(base_url=base, transport=AiohttpTransport(max_connections=4),
                                     timeout=timeout) as client:
            return await client.get(path, params=params)
    return asyncio.run(go())


def test_a_compressed_body_arrives_decoded_with_its_headers(server: str) -> None:
    response = _get(server, "/gzip")
    assert response.status_code == 200
    assert response.content == BODY
    assert response.headers["link"] == '<https://x/y?page=2>; rel="next"'


def test_the_request_line_is_the_one_httpx_builds(server: str) -> None:
    params = {"conditions": "_info/lastUpdated>=[2024-01-01T00:00:00Z] and id>5", "orderBy": "id asc",
              "fields": "id,_info/lastUpdated", "q": "a+b&c=d é"}
    _get(server, "/list", **params)
    expected = httpx.Request("GET", f"{server}/list", params=params).url.raw_path.decode()
    assert _Handler.seen[-1][0] == expected


def test_credentials_in_the_url_travel_as_httpx_s_basic_authorization(server: str) -> None:
    _get(server.replace("http://", "http://integration:s%40cret@"), "/list")
    path, _ = _Handler.seen[-1]
    assert path == "/list"
    assert _Handler.authorization[-1] == "Basic " + base64.b64encode(b"integration:s@cret").decode()


def test_cookies_are_httpx_s_and_sent_once(server: str) -> None:
    async def go() -> list[str]:
        async with httpx.AsyncClient(base_url=server, transport=AiohttpTransport(max_connections=4)) as client:
            await client.get("/cookie")
            await client.get("/list")
        return _Handler.seen[-1][1]
    assert asyncio.run(go()) == ["session=abc"]


@pytest.mark.parametrize(("path", "error"), [("/cut", httpx.RemoteProtocolError), ("/hang-up", httpx.TransportError)])
def test_a_broken_answer_is_an_httpx_transport_error(server: str, path: str, error: type[Exception]) -> None:
    with pytest.raises(error):
        _get(server, path)


def test_a_slow_answer_is_a_read_timeout(server: str) -> None:
    with pytest.raises(httpx.ReadTimeout):
        _get(server, "/slow", timeout=0.2)


def test_a_refused_connection_is_a_connect_error() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(httpx.ConnectError):
        _get(f"http://127.0.0.1:{port}", "/list")

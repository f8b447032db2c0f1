"""Local receivers for the alert tests: a webhook endpoint (a real HTTP server on loopback) and an
SMTP server (aiosmtpd), both started by the test and recording what reached them."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

SMTP_USER, SMTP_PASSWORD = "alerts", "smtp-pass-Zq81"


@dataclass
class WebhookReceiver:
    url: str
    bodies: list[dict] = field(default_factory=list)
    raw: list[bytes] = field(default_factory=list)
    fail_next: list[int] = field(default_factory=list)
    """Statuses to answer the next requests with (then 200)."""

    def events(self) -> list[tuple[str, str]]:
        """(phase, key) of every alert received, in order."""
        return [(b["avesa"]["event"], b["avesa"]["key"]) for b in self.bodies]


@pytest.fixture
def webhook() -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            status = receiver.fail_next.pop(0) if receiver.fail_next else 200
            if status == 200:
                receiver.raw.append(body)
                receiver.bodies.append(json.loads(body))
            self.send_response(status)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    # the path stands for the secret part of a Slack or Teams webhook address
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}/services/T000/B000/hook-secret-9f3k"
    yield receiver
    server.shutdown()
    server.server_close()


@dataclass
class Mailbox:
    host: str
    port: int
    messages: list[tuple[list[str], Message]] = field(default_factory=list)
    logins: list[str] = field(default_factory=list)

    async def handle_DATA(self, server, session, envelope) -> str:
        self.messages.append((list(envelope.rcpt_tos), message_from_bytes(envelope.content, policy=policy.default)))
        return "250 OK"

    def subjects(self) -> list[str]:
        return [str(m["Subject"]).strip() for _, m in self.messages]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def mailbox() -> Iterator[Mailbox]:
    box = Mailbox("127.0.0.1", _free_port())

    def authenticate(server, session, envelope, mechanism, auth_data) -> AuthResult:
        ok = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (
            SMTP_USER.encode(), SMTP_PASSWORD.encode())
        if ok:
            box.logins.append(SMTP_USER)
        return AuthResult(success=ok, handled=False)

    controller = Controller(box, hostname=box.host, port=box.port, authenticator=authenticate,
                            auth_require_tls=False, auth_required=True)
    controller.start()
    yield box
    controller.stop()


def alert_env(webhook: WebhookReceiver | None, mailbox: Mailbox | None, **more: str) -> dict[str, str]:
    """AVESA_ALERT_* settings that send to the local receivers."""
    env: dict[str, str] = {}
    if webhook is not None:
        env["alert_webhook_url"] = webhook.url
    if mailbox is not None:
        env.update(alert_email_to="ops@example.com", alert_smtp_host=mailbox.host, alert_smtp_port=str(mailbox.port),
                   alert_smtp_security="none", alert_smtp_username=SMTP_USER, alert_smtp_password=SMTP_PASSWORD)
    env.update(more)
    return env

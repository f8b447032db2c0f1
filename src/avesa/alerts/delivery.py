"""Sending an alert: a webhook (one JSON body that Slack's and Microsoft Teams' incoming webhooks
both accept) over httpx, and email over SMTP (STARTTLS, SSL or plain, with an optional login) —
each retried with backoff by tenacity on what may pass (a dropped connection, a 5xx or 429, a
temporary SMTP refusal), never on what will not (a 4xx, refused login or recipients).

A webhook's address and the SMTP password are credentials: no message, error or log line carries
them. Errors are built here from status codes and exception types, then masked again with every
such value (domain/redaction.py) in case a library quoted one.
"""

from __future__ import annotations

import smtplib
import socket
import ssl
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

import httpx
from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_exponential

from avesa.alerts.config import AlertConfig, Destination, Email, SmtpServer, Webhook
from avesa.domain.errors import AvesaError
from avesa.domain.redaction import Redactor

BACKOFF_SECONDS = 1.0
"""First wait between tries of a delivery (doubling, at most 30 s)."""
_COLOURS = {"opened": "D93025", "resolved": "2DA44E", "test": "0969DA"}
_WORDS = {"opened": "ALERT", "resolved": "RESOLVED", "test": "TEST"}
_FIELDS_SHOWN = 10  # Slack shows at most ten fields in a section


class DeliveryError(AvesaError):
    """A destination could not be told (after its retries)."""


class _Retryable(Exception):
    """A refusal worth another try (a 5xx or 429 answer, a temporary SMTP refusal)."""


@dataclass(frozen=True)
class Message:
    phase: str
    """"opened", "resolved" or "test"."""
    rule: str
    key: str
    tenant_id: str | None
    summary: str
    details: dict[str, str] = field(default_factory=dict)
    at: datetime = field(default_factory=lambda: datetime.now(UTC))
    opened_at: datetime | None = None

    @property
    def title(self) -> str:
        return f"AVESA {_WORDS[self.phase]}: {self.summary}"

    def facts(self) -> list[tuple[str, str]]:
        """What the message says beside its title, in order."""
        facts = [("rule", self.rule)]
        if self.tenant_id:
            facts.append(("tenant", self.tenant_id))
        if self.opened_at is not None:
            facts.append(("opened", f"{self.opened_at:%Y-%m-%d %H:%M:%S} UTC"))
        if self.phase == "resolved":
            facts.append(("resolved", f"{self.at:%Y-%m-%d %H:%M:%S} UTC"))
        return facts + list(self.details.items())


def webhook_payload(message: Message) -> dict:
    """`text` (what every receiver shows), Slack `blocks`, the Teams MessageCard's keys, and the
    alert itself under `avesa` for receivers of one's own."""
    facts = message.facts()
    lines = "\n".join(f"• {name}: {value}" for name, value in facts)
    return {
        "text": f"{message.title}\n{lines}",
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": message.title[:150]}},
            {"type": "section", "fields": [{"type": "mrkdwn", "text": f"*{name}*\n{value[:1900]}"}
                                           for name, value in facts[:_FIELDS_SHOWN]]},
        ],
        "@type": "MessageCard",
        "@context": "https://schema.org/extensions",
        "summary": message.title[:150],
        "themeColor": _COLOURS[message.phase],
        "title": message.title,
        "sections": [{"facts": [{"name": name, "value": value} for name, value in facts]}],
        "avesa": {"event": message.phase, "rule": message.rule, "key": message.key, "tenant_id": message.tenant_id,
                  "summary": message.summary, "details": dict(message.details), "at": message.at.isoformat(),
                  "opened_at": message.opened_at.isoformat() if message.opened_at else None},
    }


def email_message(message: Message, sender: str, to: Iterable[str]) -> EmailMessage:
    mail = EmailMessage()
    mail["Subject"] = message.title if len(message.title) <= 200 else message.title[:199] + "…"
    mail["From"] = sender
    mail["To"] = ", ".join(to)
    mail["Date"] = format_datetime(message.at)
    mail["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2] or None)
    body = [message.title, ""] + [f"{name}: {value}" for name, value in message.facts()]
    body += ["", f"-- avesa serve on {socket.gethostname()}"]
    mail.set_content("\n".join(body) + "\n")
    return mail


class Sender:
    """Delivers messages to destinations of one alert configuration."""

    def __init__(self, config: AlertConfig, *, backoff: float = BACKOFF_SECONDS,
                 client: httpx.Client | None = None) -> None:
        self.config = config
        self.backoff = backoff
        self._client = client
        self._redactor = Redactor(config.secrets())

    def _retrying(self) -> Retrying:
        return Retrying(stop=stop_after_attempt(self.config.attempts), reraise=True,
                        wait=wait_exponential(multiplier=self.backoff, max=30),
                        retry=retry_if_exception(lambda e: isinstance(e, _Retryable | httpx.TransportError
                                                                     | smtplib.SMTPServerDisconnected
                                                                     | ConnectionError | TimeoutError)))

    def send(self, destination: Destination, message: Message) -> None:
        """Deliver `message` or raise DeliveryError naming the destination (never its address)."""
        try:
            for attempt in self._retrying():
                with attempt:
                    if isinstance(destination, Webhook):
                        self._post(destination, message)
                    else:
                        self._mail(destination, message)
        except (httpx.HTTPError, smtplib.SMTPException, OSError, _Retryable, DeliveryError) as exc:
            raise DeliveryError(self._redactor.text(f"{destination.name}: {self._reason(exc)} "
                                                    f"(after {self.config.attempts} tries at most)")) from None

    @staticmethod
    def _reason(exc: BaseException) -> str:
        if isinstance(exc, smtplib.SMTPResponseException):
            said = exc.smtp_error
            text = said.decode("utf-8", "replace") if isinstance(said, bytes) else str(said)
            return f"the SMTP server answered {exc.smtp_code} {text}"
        if isinstance(exc, smtplib.SMTPRecipientsRefused):
            return f"the SMTP server refused the recipients {', '.join(sorted(exc.recipients))}"
        if isinstance(exc, httpx.HTTPError):
            return f"{type(exc).__name__} (the webhook could not be reached)"
        return str(exc) or type(exc).__name__

    def _post(self, destination: Webhook, message: Message) -> None:
        client = self._client or httpx.Client(timeout=self.config.timeout)
        try:
            response = client.post(destination.url, json=webhook_payload(message))
        finally:
            if self._client is None:
                client.close()
        if response.status_code == 429 or response.status_code >= 500:
            raise _Retryable(f"the webhook answered HTTP {response.status_code}")
        if response.status_code >= 300:
            raise DeliveryError(f"the webhook answered HTTP {response.status_code}: check its address "
                                "(AVESA_ALERT_WEBHOOK_URL or the tenant's webhook_url_env)")

    def _mail(self, destination: Email, message: Message) -> None:
        server = self.config.smtp
        if server is None:
            raise DeliveryError("no SMTP server: set AVESA_ALERT_SMTP_HOST")
        mail = email_message(message, server.sender, destination.to)
        try:
            with _connect(server) as smtp:
                if server.username:
                    smtp.login(server.username, server.password or "")
                smtp.send_message(mail)
        except smtplib.SMTPResponseException as exc:
            if 400 <= exc.smtp_code < 500:  # a temporary refusal: try again
                raise _Retryable(self._reason(exc)) from None
            raise


def _connect(server: SmtpServer) -> smtplib.SMTP:
    if server.security == "ssl":
        return smtplib.SMTP_SSL(server.host, server.port, timeout=server.timeout, context=ssl.create_default_context())
    smtp = smtplib.SMTP(server.host, server.port, timeout=server.timeout)
    if server.security == "starttls":
        try:
            smtp.starttls(context=ssl.create_default_context())
        except BaseException:
            smtp.close()
            raise
    return smtp

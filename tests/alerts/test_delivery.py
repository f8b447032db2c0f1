"""Delivery to a real webhook receiver and a real SMTP server on loopback: what Slack and Teams
read, retries on what may pass, clear failures that never show a secret."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from avesa.alerts.config import Email, load_alert_config
from avesa.alerts.delivery import DeliveryError, Message, Sender
from avesa.settings import Settings
from tests.alerts.conftest import SMTP_PASSWORD, Mailbox, WebhookReceiver, alert_env

pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
AT = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
MESSAGE = Message(phase="opened", rule="auth", key="auth:acme/connectwise", tenant_id="acme",
                  summary="acme/connectwise: the service refused the credentials",
                  details={"error": "HTTP 401", "what to do": "fix them"}, at=AT, opened_at=AT)


def _sender(tmp_path: Path, webhook: WebhookReceiver | None, mailbox: Mailbox | None, **more: str) -> Sender:
    settings = Settings(home=tmp_path, **alert_env(webhook, mailbox, **more))
    return Sender(load_alert_config(settings), backoff=0.01)


def test_a_webhook_gets_text_slack_blocks_and_a_teams_card(tmp_path: Path, webhook: WebhookReceiver) -> None:
    sender = _sender(tmp_path, webhook, None)
    [destination] = sender.config.default.destinations
    sender.send(destination, MESSAGE)
    [body] = webhook.bodies
    assert body["text"].startswith("AVESA ALERT: acme/connectwise: the service refused the credentials")
    assert "• error: HTTP 401" in body["text"]
    header, section = body["blocks"]
    assert header["type"] == "header" and "refused the credentials" in header["text"]["text"]
    assert {"type": "mrkdwn", "text": "*tenant*\nacme"} in section["fields"]
    assert body["@type"] == "MessageCard" and body["themeColor"] == "D93025"
    assert {"name": "what to do", "value": "fix them"} in body["sections"][0]["facts"]
    assert body["avesa"]["event"] == "opened" and body["avesa"]["key"] == "auth:acme/connectwise"


def test_a_webhook_answering_5xx_is_tried_again_and_a_4xx_is_a_clear_failure_without_its_address(
        tmp_path: Path, webhook: WebhookReceiver) -> None:
    sender = _sender(tmp_path, webhook, None, alert_delivery_attempts="3")
    destination = sender.config.default.destinations[0]
    webhook.fail_next[:] = [503, 500]
    sender.send(destination, MESSAGE)
    assert len(webhook.bodies) == 1, "delivered on the third try"
    webhook.fail_next[:] = [404]
    with pytest.raises(DeliveryError) as refused:
        sender.send(destination, MESSAGE)
    assert "webhook: the webhook answered HTTP 404" in str(refused.value)
    assert "hook-secret" not in str(refused.value) and "127.0.0.1" not in str(refused.value)
    webhook.fail_next[:] = [500, 500, 500]
    with pytest.raises(DeliveryError, match="after 3 tries"):
        sender.send(destination, MESSAGE)


def test_an_unreachable_webhook_fails_without_showing_its_address(tmp_path: Path) -> None:
    secret_url = "http://127.0.0.1:9/services/T1/B1/very-secret-path"
    sender = Sender(load_alert_config(Settings(home=tmp_path, alert_webhook_url=secret_url,
                                               alert_delivery_attempts=2)), backoff=0.01)
    with pytest.raises(DeliveryError) as failed:
        sender.send(sender.config.default.destinations[0], MESSAGE)
    assert str(failed.value).startswith("webhook: ConnectError (the webhook could not be reached)")
    assert "very-secret-path" not in str(failed.value)


def test_an_email_goes_through_the_smtp_server_after_login(tmp_path: Path, mailbox: Mailbox) -> None:
    sender = _sender(tmp_path, None, mailbox, alert_email_to="ops@example.com, oncall@example.com",
                     alert_email_from="avesa@msp.example")
    [destination] = sender.config.default.destinations
    assert isinstance(destination, Email)
    sender.send(destination, MESSAGE)
    [(recipients, mail)] = mailbox.messages
    assert recipients == ["ops@example.com", "oncall@example.com"] and mailbox.logins == ["alerts"]
    assert mail["Subject"] == "AVESA ALERT: acme/connectwise: the service refused the credentials"
    assert mail["From"] == "avesa@msp.example"
    body = mail.get_payload(decode=True).decode()
    assert "tenant: acme" in body and "error: HTTP 401" in body and SMTP_PASSWORD not in body


def test_a_refused_smtp_login_is_a_clear_failure_without_the_password(tmp_path: Path, mailbox: Mailbox) -> None:
    sender = _sender(tmp_path, None, mailbox, alert_smtp_password="wrong-pass-77")
    with pytest.raises(DeliveryError) as refused:
        sender.send(sender.config.default.destinations[0], MESSAGE)
    assert str(refused.value).startswith("email: the SMTP server answered 535")
    assert "wrong-pass-77" not in str(refused.value) and not mailbox.messages

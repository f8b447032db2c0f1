"""Email over TLS, as a real mail relay wants it: STARTTLS on the submission port and implicit TLS
(SSL), each against an aiosmtpd server on loopback with a certificate made for the test. The
certificate is checked the way AVESA always checks it (the system's trust store, here pointed at the
test's own authority with SSL_CERT_FILE); a server whose certificate is not trusted is a clear
failure, and the login's password never goes out before the channel is encrypted."""

from __future__ import annotations

import ipaddress
import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from avesa.alerts.config import load_alert_config
from avesa.alerts.delivery import DeliveryError, Sender
from avesa.settings import Settings
from tests.alerts.conftest import SMTP_PASSWORD, SMTP_USER, Mailbox, _free_port, alert_env
from tests.alerts.test_delivery import MESSAGE

pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")


@dataclass(frozen=True)
class Certificate:
    cert: Path
    key: Path

    def server_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cert, self.key)
        return context


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> Certificate:
    """A self-signed certificate for 127.0.0.1 (its own authority)."""
    folder = tmp_path_factory.mktemp("tls")
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "avesa test SMTP")])
    now = datetime.now(UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - timedelta(minutes=5))
            .not_valid_after(now + timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    paths = Certificate(folder / "cert.pem", folder / "key.pem")
    paths.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths.key.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                            serialization.NoEncryption()))
    return paths


def _server(certificate: Certificate, *, implicit: bool) -> Iterator[Mailbox]:
    box = Mailbox("127.0.0.1", _free_port())

    def authenticate(server, session, envelope, mechanism, auth_data) -> AuthResult:
        encrypted = server.transport.get_extra_info("ssl_object") is not None
        box.logins.append("tls" if encrypted else "plain")  # the password only ever over TLS
        ok = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (
            SMTP_USER.encode(), SMTP_PASSWORD.encode())
        return AuthResult(success=ok, handled=False)

    context = certificate.server_context()
    tls = {"ssl_context": context} if implicit else {"tls_context": context, "require_starttls": True}
    # auth_require_tls is aiosmtpd's STARTTLS rule: over implicit TLS it would hide AUTH altogether
    controller = Controller(box, hostname=box.host, port=box.port, authenticator=authenticate,
                            auth_require_tls=not implicit, auth_required=True, **tls)
    controller.start()
    yield box
    controller.stop()


@pytest.fixture
def starttls_server(certificate: Certificate) -> Iterator[Mailbox]:
    yield from _server(certificate, implicit=False)


@pytest.fixture
def ssl_server(certificate: Certificate) -> Iterator[Mailbox]:
    yield from _server(certificate, implicit=True)


def _sender(tmp_path: Path, mailbox: Mailbox, security: str) -> Sender:
    settings = Settings(home=tmp_path, **alert_env(None, mailbox, alert_smtp_security=security))
    return Sender(load_alert_config(settings), backoff=0.01)


@pytest.mark.parametrize("security", ["starttls", "ssl"])
def test_an_email_goes_over_tls_to_a_server_whose_certificate_is_trusted(
        security: str, certificate: Certificate, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        request: pytest.FixtureRequest) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", str(certificate.cert))  # the trust store, as a system's CA bundle
    mailbox = request.getfixturevalue(f"{security}_server")
    sender = _sender(tmp_path, mailbox, security)
    sender.send(sender.config.default.destinations[0], MESSAGE)
    [(recipients, mail)] = mailbox.messages
    assert recipients == ["ops@example.com"] and mailbox.logins == ["tls"]
    assert mail["Subject"] == "AVESA ALERT: acme/connectwise: the service refused the credentials"


@pytest.mark.parametrize("security", ["starttls", "ssl"])
def test_a_server_whose_certificate_is_not_trusted_gets_nothing(
        security: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "no-such-bundle.pem"))  # nothing is trusted
    mailbox = request.getfixturevalue(f"{security}_server")
    sender = _sender(tmp_path, mailbox, security)
    with pytest.raises(DeliveryError) as refused:
        sender.send(sender.config.default.destinations[0], MESSAGE)
    message = str(refused.value)
    assert message.startswith("email: ") and "CERTIFICATE_VERIFY_FAILED" in message
    assert SMTP_PASSWORD not in message
    assert not mailbox.messages and not mailbox.logins  # no login was tried, no mail sent

"""Real alert receivers on 127.0.0.1 for tests: an SMTP server (aiosmtpd) and an HTTP endpoint.

Import the fixtures into a test module: `from tests.loopback_receivers import smtp_server, webhook_server`.
"""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import ipaddress
import json
import socket
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class ReceivedMail:
    sender: str
    recipients: list[str]
    message: EmailMessage


@dataclass
class SmtpReceiver:
    host: str
    port: int
    mails: list[ReceivedMail] = field(default_factory=list)
    logins: list[tuple[str, str]] = field(default_factory=list)
    starttls_seen: list[bool] = field(default_factory=list)
    cert_file: Path | None = None


class _MailHandler:
    def __init__(self, receiver: SmtpReceiver) -> None:
        self.receiver = receiver

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 - aiosmtpd API
        message = email.message_from_bytes(envelope.original_content, policy=email.policy.default)
        self.receiver.mails.append(ReceivedMail(envelope.mail_from, list(envelope.rcpt_tos), message))
        self.receiver.starttls_seen.append(session.ssl is not None)
        return "250 OK"


def _self_signed_certificate(folder: Path) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = folder / "smtp-cert.pem", folder / "smtp-key.pem"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file


def start_smtp(folder: Path, *, starttls: bool = False) -> tuple[SmtpReceiver, Any]:
    """An SMTP server on a free loopback port; with `starttls`, it offers STARTTLS and AUTH."""
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult

    receiver = SmtpReceiver("127.0.0.1", free_port())

    def authenticator(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
        login, password = data.login.decode(), data.password.decode()
        receiver.logins.append((login, password))
        return AuthResult(success=True)

    options: dict[str, Any] = {}
    if starttls:
        cert_file, key_file = _self_signed_certificate(folder)
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(cert_file, key_file)
        receiver.cert_file = cert_file
        options = {"tls_context": context, "require_starttls": True, "authenticator": authenticator}
    controller = Controller(_MailHandler(receiver), hostname="127.0.0.1", port=receiver.port, **options)
    controller.start()
    return receiver, controller


@pytest.fixture
def smtp_server(tmp_path: Path) -> Iterator[SmtpReceiver]:
    """A plain SMTP server on loopback that keeps every mail it receives."""
    receiver, controller = start_smtp(tmp_path)
    yield receiver
    controller.stop()


@pytest.fixture
def smtp_tls_server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[SmtpReceiver]:
    """An SMTP server requiring STARTTLS and AUTH, its self-signed certificate trusted by the client."""
    receiver, controller = start_smtp(tmp_path, starttls=True)
    assert receiver.cert_file is not None
    monkeypatch.setenv("SSL_CERT_FILE", str(receiver.cert_file))
    yield receiver
    controller.stop()


@dataclass
class ReceivedPost:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]


@dataclass
class WebhookReceiver:
    url: str
    posts: list[ReceivedPost] = field(default_factory=list)
    # Statuses to answer with, one per request, before answering 200 (to test retries).
    fail_with: list[int] = field(default_factory=list)


@pytest.fixture
def webhook_server() -> Iterator[WebhookReceiver]:
    """An HTTP endpoint on loopback that records JSON POSTs: WebhookReceiver.posts."""
    port = free_port()
    receiver = WebhookReceiver(f"http://127.0.0.1:{port}/hooks/basket-alerts")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server API
            length = int(self.headers.get("Content-Length", "0"))
            raw = self.rfile.read(length)
            if receiver.fail_with:
                self.send_response(receiver.fail_with.pop(0))
                self.end_headers()
                return
            receiver.posts.append(ReceivedPost(self.path, dict(self.headers.items()), json.loads(raw)))
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(b'{"ok": true}')

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield receiver
    server.shutdown()
    server.server_close()

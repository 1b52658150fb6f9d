"""Real SMTP servers for the mail tests: aiosmtpd `Controller`s on 127.0.0.1, each on a free port, in
their own thread, stopped at the end of the test.

- `smtp_server(handler, **smtp_options)` starts one and returns its controller (`.port`).
- Handlers: `Collector` keeps every mail it accepts, parsed with `email.parser`; `Refusing` answers
  every DATA with a temporary failure; `Slow` waits before accepting; `Flaky` refuses the first ones.
  Each counts the DATA commands it saw (`attempts`). Test modules cannot import this file, so the
  handler classes come as the `handlers` fixture.
- `tls`: a self-signed certificate for 127.0.0.1 made with `cryptography` at test time, a server
  context and a client context that trusts it, and the certificate's file (for `SSL_CERT_FILE`).
"""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import ssl
import types
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP as SMTPServer
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword, Session
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from support.servers import free_port


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage
    tls: bool  # whether the connection was encrypted when DATA arrived


def _tls_of(server: SMTPServer) -> bool:
    transport = server.transport
    return transport is not None and transport.get_extra_info("ssl_object") is not None


@dataclass
class Collector:
    """Accepts every mail and keeps it parsed (`received`)."""

    received: list[Received] = field(default_factory=list)
    attempts: int = 0

    async def handle_DATA(self, server: SMTPServer, session: Session, envelope: Envelope) -> str:
        self.attempts += 1
        raw = envelope.original_content or envelope.content
        assert isinstance(raw, bytes)
        # SMTP carries CRLF line ends; Python's email package reads mail with "\n" ones.
        parsed = BytesParser(policy=policy.default).parsebytes(raw.replace(b"\r\n", b"\n"))
        assert isinstance(parsed, EmailMessage)
        self.received.append(
            Received(str(envelope.mail_from), list(envelope.rcpt_tos), parsed, _tls_of(server))
        )
        return "250 2.0.0 Message accepted for delivery"


@dataclass
class Refusing(Collector):
    """Answers every DATA with `reply` (a temporary failure by default); keeps nothing."""

    reply: str = "451 4.3.0 Mailbox temporarily unavailable"

    async def handle_DATA(self, server: SMTPServer, session: Session, envelope: Envelope) -> str:
        self.attempts += 1
        return self.reply


@dataclass
class Slow(Collector):
    """Waits `delay` seconds before accepting each mail."""

    delay: float = 1.0

    async def handle_DATA(self, server: SMTPServer, session: Session, envelope: Envelope) -> str:
        await asyncio.sleep(self.delay)
        return await super().handle_DATA(server, session, envelope)


@dataclass
class Flaky(Collector):
    """Refuses the first `failures` mails with a temporary failure, then accepts."""

    failures: int = 1

    async def handle_DATA(self, server: SMTPServer, session: Session, envelope: Envelope) -> str:
        if self.attempts < self.failures:
            self.attempts += 1
            return "421 4.7.0 Try again later"
        return await super().handle_DATA(server, session, envelope)


@dataclass
class Accounts:
    """An aiosmtpd authenticator accepting one login; records each attempt as (login, password, tls)."""

    login: str
    password: str
    tried: list[tuple[str, str, bool]] = field(default_factory=list)

    def __call__(
        self, server: SMTPServer, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
    ) -> AuthResult:
        assert isinstance(auth_data, LoginPassword)
        login, password = auth_data.login.decode(), auth_data.password.decode()
        self.tried.append((login, password, _tls_of(server)))
        return AuthResult(success=(login, password) == (self.login, self.password), handled=False)


@pytest.fixture
def handlers() -> types.SimpleNamespace:
    return types.SimpleNamespace(
        Collector=Collector, Refusing=Refusing, Slow=Slow, Flaky=Flaky, Accounts=Accounts
    )


StartServer = Callable[..., Controller]


@pytest.fixture
def smtp_server() -> Iterator[StartServer]:
    """`smtp_server(handler, **options)`: a running aiosmtpd on 127.0.0.1 (options go to its SMTP class,
    `ssl_context=` makes it implicit TLS)."""
    started: list[Controller] = []

    def start(handler: Any, **options: Any) -> Controller:
        controller = Controller(handler, hostname="127.0.0.1", port=free_port(), **options)
        controller.start()
        started.append(controller)
        return controller

    yield start
    for controller in started:
        controller.stop()


@dataclass(frozen=True)
class TLSFiles:
    cert: Path
    key: Path

    def server_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cert, self.key)
        return context

    def client_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.cert))


@pytest.fixture(scope="session")
def tls(tmp_path_factory: pytest.TempPathFactory) -> TLSFiles:
    """A self-signed certificate for 127.0.0.1 and localhost, valid for a day."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "fastauth test SMTP")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    folder = tmp_path_factory.mktemp("smtp-tls")
    files = TLSFiles(folder / "cert.pem", folder / "key.pem")
    files.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    files.key.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return files

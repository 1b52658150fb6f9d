"""`SMTPSender` against a real SMTP server (aiosmtpd on 127.0.0.1): multipart mail received and parsed,
STARTTLS with login, implicit TLS, and each way a send fails (no STARTTLS offered, an untrusted
certificate, a wrong password, a refusal, a server too slow)."""

from __future__ import annotations

import ssl
import time
from typing import Any

import aiosmtplib
import pytest

from fastauth.config import FastAuthConfig
from fastauth.mail import Message, SMTPSender, sender_from_config

SECRET = "s" * 64
FROM = "accounts@example.com"
MESSAGE = Message(
    to="ada@example.com",
    subject="Hello Ada",
    text="Plain words, with a link: https://auth.example.com/x?token=abc\n",
    html='<p>HTML words, <a href="https://auth.example.com/x?token=abc">a link</a></p>\n',
    kind="verify_email",
)


def plain_sender(port: int, **options: Any) -> SMTPSender:
    return SMTPSender(host="127.0.0.1", port=port, from_address=FROM, tls="none", **options)


async def test_a_mail_arrives_as_text_and_html_alternatives(smtp_server: Any, handlers: Any) -> None:
    collector = handlers.Collector()
    server = smtp_server(collector)

    await plain_sender(server.port, from_name="Example Accounts").send(MESSAGE)

    (received,) = collector.received
    assert received.mail_from == FROM
    assert received.rcpt_tos == ["ada@example.com"]
    mail = received.message
    assert mail["From"] == "Example Accounts <accounts@example.com>"
    assert mail["To"] == "ada@example.com"
    assert mail["Subject"] == "Hello Ada"
    assert mail["Auto-Submitted"] == "auto-generated"
    assert mail["Message-ID"].endswith("@example.com>")
    assert mail["Date"]
    assert mail.get_content_type() == "multipart/alternative"
    parts = list(mail.iter_parts())
    assert [part.get_content_type() for part in parts] == ["text/plain", "text/html"]
    assert parts[0].get_content() == MESSAGE.text
    assert parts[1].get_content() == MESSAGE.html
    assert received.tls is False


async def test_non_ascii_text_survives(smtp_server: Any, handlers: Any) -> None:
    collector = handlers.Collector()
    server = smtp_server(collector)
    message = Message(to="zoë@example.com", subject="Grüße", text="Schöne Grüße\n", html="<p>Grüße</p>\n")

    await plain_sender(server.port).send(message)

    (received,) = collector.received
    assert received.rcpt_tos == ["zoë@example.com"]
    assert received.message["Subject"] == "Grüße"
    assert [p.get_content() for p in received.message.iter_parts()] == ["Schöne Grüße\n", "<p>Grüße</p>\n"]


async def test_starttls_then_login(smtp_server: Any, handlers: Any, tls: Any) -> None:
    collector = handlers.Collector()
    accounts = handlers.Accounts("mailer", "smtp-pa55word")
    server = smtp_server(
        collector,
        tls_context=tls.server_context(),
        require_starttls=True,
        auth_required=True,
        authenticator=accounts,
    )
    sender = SMTPSender(
        host="127.0.0.1",
        port=server.port,
        from_address=FROM,
        tls="starttls",
        username="mailer",
        password="smtp-pa55word",
        tls_context=tls.client_context(),
    )

    await sender.send(MESSAGE)

    assert accounts.tried == [("mailer", "smtp-pa55word", True)]  # the password went over TLS only
    (received,) = collector.received
    assert received.tls is True
    assert received.message["Subject"] == "Hello Ada"


async def test_starttls_is_required_not_opportunistic(smtp_server: Any, handlers: Any) -> None:
    """A server that offers no STARTTLS gets nothing: no mail, no password in clear text."""
    collector = handlers.Collector()
    server = smtp_server(collector)  # no tls_context: no STARTTLS
    sender = SMTPSender(
        host="127.0.0.1", port=server.port, from_address=FROM, tls="starttls", username="u", password="p"
    )

    with pytest.raises(aiosmtplib.SMTPException, match="STARTTLS"):
        await sender.send(MESSAGE)
    assert collector.attempts == 0


async def test_an_untrusted_certificate_is_refused(smtp_server: Any, handlers: Any, tls: Any) -> None:
    collector = handlers.Collector()
    server = smtp_server(collector, tls_context=tls.server_context(), require_starttls=True)
    sender = SMTPSender(host="127.0.0.1", port=server.port, from_address=FROM, tls="starttls")  # system CAs

    with pytest.raises(ssl.SSLCertVerificationError, match="self-signed certificate"):
        await sender.send(MESSAGE)
    assert collector.attempts == 0


async def test_a_wrong_password_is_an_authentication_error(smtp_server: Any, handlers: Any, tls: Any) -> None:
    collector = handlers.Collector()
    accounts = handlers.Accounts("mailer", "right")
    server = smtp_server(
        collector,
        tls_context=tls.server_context(),
        require_starttls=True,
        auth_required=True,
        authenticator=accounts,
    )
    sender = SMTPSender(
        host="127.0.0.1",
        port=server.port,
        from_address=FROM,
        tls="starttls",
        username="mailer",
        password="wrong",
        tls_context=tls.client_context(),
    )

    with pytest.raises(aiosmtplib.SMTPAuthenticationError):
        await sender.send(MESSAGE)
    # aiosmtplib tries each mechanism both sides know (PLAIN, then LOGIN) before giving up
    assert accounts.tried == [("mailer", "wrong", True)] * 2
    assert collector.attempts == 0


async def test_implicit_tls(smtp_server: Any, handlers: Any, tls: Any) -> None:
    collector = handlers.Collector()
    server = smtp_server(collector, ssl_context=tls.server_context())
    sender = SMTPSender(
        host="127.0.0.1", port=server.port, from_address=FROM, tls="tls", tls_context=tls.client_context()
    )

    await sender.send(MESSAGE)

    (received,) = collector.received
    assert received.tls is True
    assert received.rcpt_tos == ["ada@example.com"]


async def test_a_refusal_raises_with_the_servers_reply(smtp_server: Any, handlers: Any) -> None:
    refusing = handlers.Refusing()
    server = smtp_server(refusing)

    with pytest.raises(aiosmtplib.SMTPDataError) as caught:
        await plain_sender(server.port).send(MESSAGE)
    assert caught.value.code == 451
    assert refusing.attempts == 1


async def test_a_slow_server_times_out(smtp_server: Any, handlers: Any) -> None:
    slow = handlers.Slow(delay=5.0)
    server = smtp_server(slow)
    start = time.perf_counter()

    with pytest.raises(aiosmtplib.SMTPTimeoutError):
        await plain_sender(server.port, timeout=0.3).send(MESSAGE)
    assert time.perf_counter() - start < 2.0
    assert slow.received == []


async def test_nobody_listening_is_a_connect_error() -> None:
    from support.servers import free_port

    with pytest.raises(aiosmtplib.SMTPConnectError):
        await plain_sender(free_port(), timeout=2).send(MESSAGE)


async def test_the_configured_sender_uses_starttls_and_login(
    smtp_server: Any, handlers: Any, tls: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """From FASTAUTH_EMAIL__* to a delivered mail; the test CA is trusted through SSL_CERT_FILE."""
    collector = handlers.Collector()
    accounts = handlers.Accounts("mailer", "smtp-pa55word")
    server = smtp_server(
        collector,
        tls_context=tls.server_context(),
        require_starttls=True,
        auth_required=True,
        authenticator=accounts,
    )
    monkeypatch.setenv("SSL_CERT_FILE", str(tls.cert))
    for name, value in {
        "FASTAUTH_EMAIL__SMTP_HOST": "127.0.0.1",
        "FASTAUTH_EMAIL__SMTP_PORT": str(server.port),
        "FASTAUTH_EMAIL__SMTP_USERNAME": "mailer",
        "FASTAUTH_EMAIL__SMTP_PASSWORD": "smtp-pa55word",
        "FASTAUTH_EMAIL__SMTP_TLS": "starttls",
        "FASTAUTH_EMAIL__FROM_ADDRESS": FROM,
    }.items():
        monkeypatch.setenv(name, value)

    sender = sender_from_config(FastAuthConfig(secret=SECRET))
    assert isinstance(sender, SMTPSender)
    await sender.send(MESSAGE)
    await sender.aclose()

    assert accounts.tried == [("mailer", "smtp-pa55word", True)]
    (received,) = collector.received
    assert (received.mail_from, received.tls) == (FROM, True)
    assert "smtp-pa55word" not in repr(sender)

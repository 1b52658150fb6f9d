"""`ConsoleSender`: the whole mail, link included, on standard error (development mode)."""

from __future__ import annotations

import io

import pytest

from fastauth.config import FastAuthConfig
from fastauth.mail import ConsoleSender, EmailSender, MailTemplates, Outbox, SMTPSender, sender_from_config


async def test_it_prints_the_whole_mail_with_its_link() -> None:
    stream = io.StringIO()
    message = MailTemplates(link_base="http://127.0.0.1:8000/auth").render(
        "verify_email", to="ada@example.com", code="c0de"
    )

    await ConsoleSender(stream).send(message)

    rule = "-" * 78
    assert stream.getvalue() == (
        f"{rule}\nfastauth mail (verify_email, development console: not sent)\n"
        "To: ada@example.com\nSubject: Confirm your email address for fastauth\n\n"
        "Hello,\n\n"
        "Please confirm that ada@example.com is your email address for fastauth by opening this link:\n\n"
        "http://127.0.0.1:8000/auth/verify-email?token=c0de\n\n"
        "If you did not create an account with fastauth, ignore this mail.\n"
        f"{rule}\n"
    )


async def test_by_default_on_standard_error_through_the_outbox(capsys: pytest.CaptureFixture[str]) -> None:
    config = FastAuthConfig(secret="s" * 64, public_url="http://127.0.0.1:8000", email={"console": True})
    sender = sender_from_config(config)
    assert isinstance(sender, ConsoleSender)
    outbox = Outbox(sender)
    await outbox.start()

    outbox.enqueue(
        MailTemplates.from_config(config).render("reset_password", to="ada@example.com", code="r3set")
    )
    await outbox.aclose()

    captured = capsys.readouterr()
    assert captured.out == ""
    assert "http://127.0.0.1:8000/auth/reset-password?token=r3set\n" in captured.err
    assert "Subject: Reset your fastauth password\n" in captured.err


def test_both_senders_follow_the_protocol() -> None:
    assert isinstance(ConsoleSender(), EmailSender)
    assert isinstance(SMTPSender(host="h", port=25, from_address="a@example.com"), EmailSender)

"""The package `fastauth.mail`: its public names, the line logged when mail is off, and that importing it
(and sending through it) loads neither FastAPI nor Starlette."""

from __future__ import annotations

import subprocess
import sys

import fastauth.mail
from fastauth.mail import MAIL_OFF


def test_public_names() -> None:
    assert set(fastauth.mail.__all__) == {
        "LINK_PATHS",
        "MAIL_KINDS",
        "MAIL_OFF",
        "ConsoleSender",
        "EmailSender",
        "MailKind",
        "MailTemplates",
        "Message",
        "Outbox",
        "SMTPSender",
        "sender_from_config",
    }
    assert all(hasattr(fastauth.mail, name) for name in fastauth.mail.__all__)


def test_the_mail_off_line_names_the_settings() -> None:
    assert "\n" not in MAIL_OFF
    for name in ("FASTAUTH_EMAIL__SMTP_HOST", "FASTAUTH_EMAIL__FROM_ADDRESS", "FASTAUTH_EMAIL__CONSOLE"):
        assert name in MAIL_OFF


def test_mail_runs_without_fastapi_or_starlette() -> None:
    code = """
import asyncio, io, sys
from fastauth import FastAuthConfig
from fastauth.mail import ConsoleSender, MailTemplates, Outbox, sender_from_config

async def main():
    config = FastAuthConfig(secret="s" * 64, public_url="https://a.example", email={"console": True})
    assert sender_from_config(config) is not None
    outbox = Outbox(ConsoleSender(io.StringIO()))
    await outbox.start()
    outbox.enqueue(MailTemplates.from_config(config).render("verify_email", to="a@example.com", code="x"))
    await outbox.aclose()

asyncio.run(main())
print(sorted({"fastapi", "starlette"} & {name.split(".")[0] for name in sys.modules}))
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"

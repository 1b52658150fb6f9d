"""Mail: what fastauth sends and how. Framework-free.

- `Message`, `EmailSender`: a mail and the protocol of what delivers it.
- `SMTPSender` (aiosmtplib) and `ConsoleSender` (development: prints the mail).
- `Outbox`: delivery in the background with bounded retries; `enqueue()` never waits.
- `MailTemplates`: the Jinja2 templates of every kind of mail, and the links in them.
- `sender_from_config(config)`: the sender `config.email` asks for, or None (mail is off).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fastauth.mail.base import EmailSender, Message
from fastauth.mail.console import ConsoleSender
from fastauth.mail.outbox import Outbox
from fastauth.mail.smtp import SMTPSender
from fastauth.mail.templates import LINK_PATHS, MAIL_KINDS, MailKind, MailTemplates

if TYPE_CHECKING:
    from fastauth.config import FastAuthConfig

__all__ = [
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
]

#: The one line start-up logs when there is neither a sender nor a mail hook.
MAIL_OFF = (
    "mail is off (no email verification, password reset or account notices): set "
    "FASTAUTH_EMAIL__SMTP_HOST and FASTAUTH_EMAIL__FROM_ADDRESS to send through SMTP, or "
    "FASTAUTH_EMAIL__CONSOLE=true to print mails (development)"
)


def sender_from_config(config: FastAuthConfig) -> EmailSender | None:
    """`ConsoleSender` with `email.console`, else `SMTPSender` with `email.smtp_host`, else None."""
    email = config.email
    if email.console:
        return ConsoleSender()
    if email.smtp_host is None:
        return None
    assert email.from_address is not None  # EmailConfig requires it with smtp_host
    return SMTPSender(
        host=email.smtp_host,
        port=email.port,
        from_address=email.from_address,
        from_name=email.from_name,
        tls=email.smtp_tls,
        username=email.smtp_username,
        password=email.smtp_password.get_secret_value() if email.smtp_password else None,
        timeout=email.smtp_timeout,
    )

"""`SMTPSender`: mail through an SMTP server with aiosmtplib (STARTTLS, implicit TLS or none)."""

from __future__ import annotations

import asyncio
import ssl
from email.message import EmailMessage
from email.utils import formataddr, formatdate, make_msgid
from typing import Literal

import aiosmtplib

from fastauth.mail.base import Message

__all__ = ["SMTPSender", "build_email"]

TLSMode = Literal["none", "starttls", "tls"]


def build_email(message: Message, from_address: str, from_name: str | None = None) -> EmailMessage:
    """The MIME mail: `multipart/alternative` with the text part first and the HTML part second."""
    mail = EmailMessage()
    mail["From"] = formataddr((from_name, from_address)) if from_name else from_address
    mail["To"] = message.to
    mail["Subject"] = message.subject
    mail["Date"] = formatdate(localtime=False, usegmt=True)
    mail["Message-ID"] = make_msgid(domain=from_address.rpartition("@")[2])
    mail["Auto-Submitted"] = "auto-generated"  # RFC 3834: no vacation replies
    mail.set_content(message.text)
    mail.add_alternative(message.html, subtype="html")
    return mail


class SMTPSender:
    """Sends each message over a new SMTP connection (nothing to keep alive between mails).

    `tls="starttls"` requires the server to offer STARTTLS and refuses to go on in clear text;
    `tls="tls"` speaks TLS from the first byte. Certificates are verified against the system's CAs
    (or `tls_context`). With `username`, it logs in after TLS is up. `timeout` bounds each step
    (connect, each command); a whole send is bounded by four times that.
    """

    def __init__(
        self,
        *,
        host: str,
        port: int,
        from_address: str,
        from_name: str | None = None,
        tls: TLSMode = "starttls",
        username: str | None = None,
        password: str | None = None,
        timeout: float = 10.0,
        tls_context: ssl.SSLContext | None = None,
    ) -> None:
        if (username is None) != (password is None):
            raise ValueError("username and password go together")
        self.host = host
        self.port = port
        self.from_address = from_address
        self.from_name = from_name
        self.tls: TLSMode = tls
        self.username = username
        self._password = password
        self.timeout = timeout
        self._tls_context = tls_context

    def __repr__(self) -> str:
        return (
            f"SMTPSender(host={self.host!r}, port={self.port}, tls={self.tls!r}, username={self.username!r})"
        )

    async def send(self, message: Message) -> None:
        """Deliver `message`; raises aiosmtplib's errors (or `TimeoutError`) when it was not accepted."""
        mail = build_email(message, self.from_address, self.from_name)
        client = aiosmtplib.SMTP(
            hostname=self.host,
            port=self.port,
            username=self.username,
            password=self._password,
            use_tls=self.tls == "tls",
            start_tls=self.tls == "starttls",
            timeout=self.timeout,
            tls_context=self._tls_context,
        )
        async with asyncio.timeout(self.timeout * 4):
            await client.connect()
            try:
                await client.send_message(mail)
            except BaseException:  # failed or cancelled: drop the connection, do not wait for a QUIT
                client.close()
                raise
            try:
                await client.quit()
            except aiosmtplib.SMTPException:  # the mail was accepted; a failed goodbye changes nothing
                client.close()

    async def aclose(self) -> None:
        """Nothing to close: every send opens and closes its own connection."""

"""`ConsoleSender`: prints every mail instead of sending it. For development only."""

from __future__ import annotations

import sys
from typing import TextIO

from fastauth.mail.base import Message

__all__ = ["ConsoleSender"]


class ConsoleSender:
    """Writes each whole mail (recipient, subject, text part, and so its link and code) to `stream`,
    standard error by default, where `fastauth serve` shows it in its log.

    For development only: anyone who reads that output can use the codes in it. The HTML part is
    left out (it says the same as the text).
    """

    def __init__(self, stream: TextIO | None = None) -> None:
        self._stream = stream

    async def send(self, message: Message) -> None:
        """Print the whole mail (development only: it holds the code)."""
        stream = self._stream if self._stream is not None else sys.stderr
        rule = "-" * 78
        stream.write(
            f"{rule}\nfastauth mail ({message.kind}, development console: not sent)\n"
            f"To: {message.to}\nSubject: {message.subject}\n\n{message.text.rstrip()}\n{rule}\n"
        )
        stream.flush()

    async def aclose(self) -> None:
        """Nothing to close."""

"""What a mail is (`Message`) and what delivers one (`EmailSender`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

__all__ = ["EmailSender", "Message"]


@dataclass(frozen=True, slots=True)
class Message:
    """One mail to one address, with a plain-text and an HTML part.

    `kind` names the template it came from (`"verify_email"`, ...); logs use it instead of the body,
    which may hold a one-time code.
    """

    to: str
    subject: str
    text: str
    html: str
    kind: str = "mail"

    def __post_init__(self) -> None:
        for name in ("to", "subject", "kind"):
            value = getattr(self, name)
            if not value or "\r" in value or "\n" in value:
                raise ValueError(f"Message.{name} must be one non-empty line.")

    def __repr__(self) -> str:  # the body may hold a code: keep it out of reprs and tracebacks
        return f"Message(kind={self.kind!r}, to={self.to!r}, subject={self.subject!r})"


@runtime_checkable
class EmailSender(Protocol):
    """Delivers messages. `send` raises when delivery failed (the `Outbox` retries); `aclose` frees
    whatever the sender holds and is safe to call twice."""

    async def send(self, message: Message) -> None:
        """Deliver `message`, or raise (the outbox retries and logs)."""

    async def aclose(self) -> None:
        """Release connections; no send follows."""

"""`Outbox`: hands messages to a sender in the background, so no response waits for a mail server.

`enqueue()` puts a message on a bounded `asyncio` queue and returns at once; one worker task, started
and stopped with the service (`start()` / `aclose()`), delivers them one by one. A failed send is
retried `retries` times with a doubling pause; every failure is logged (logger `fastauth.mail`) with
the kind of mail, its recipient and the error, never with its body, which holds the code. Nothing
ever raises into the caller of `enqueue()`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import aiosmtplib

from fastauth.mail.base import EmailSender, Message

__all__ = ["Outbox"]

log = logging.getLogger("fastauth.mail")


def _describe(error: BaseException) -> str:
    """The error for the log. aiosmtplib's and the network's errors carry the server's reply or the
    address they could not reach; anything else (a custom sender's error may quote the message) is
    named by its type only."""
    name = type(error).__name__
    if isinstance(error, aiosmtplib.SMTPException | OSError | TimeoutError):
        detail = str(error).strip()
        return f"{name}: {detail}" if detail else name
    return f"{name} (details withheld)"


class Outbox:
    """Background delivery with bounded retries.

    - `retries`: further attempts after the first (so `retries + 1` sends at most); the pause before
      attempt n+1 is `backoff * 2**(n-1)` seconds, at most `max_backoff`.
    - `attempt_timeout`: seconds one attempt may take before it counts as failed.
    - `max_queued`: messages waiting; beyond it `enqueue()` drops the message (logged) and returns False.
    - `drain_timeout`: seconds `aclose()` waits for queued mail before it gives up on the rest (logged).
    """

    def __init__(
        self,
        sender: EmailSender,
        *,
        retries: int = 3,
        backoff: float = 1.0,
        max_backoff: float = 60.0,
        attempt_timeout: float = 60.0,
        max_queued: int = 1000,
        drain_timeout: float = 10.0,
    ) -> None:
        if retries < 0:
            raise ValueError("retries must be 0 or more")
        self.sender = sender
        self.retries = retries
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.attempt_timeout = attempt_timeout
        self.drain_timeout = drain_timeout
        self._queue: asyncio.Queue[Message] = asyncio.Queue(maxsize=max_queued)
        self._worker: asyncio.Task[None] | None = None
        self._closed = False
        self._busy = False

    @property
    def pending(self) -> int:
        """Messages queued or being delivered."""
        return self._queue.qsize() + (1 if self._busy else 0)

    def enqueue(self, message: Message) -> bool:
        """Queue `message` and return at once: True when queued, False (logged) when the outbox is
        closed or full. Never raises, never waits. Call it from the event loop's thread."""
        if self._closed:
            log.warning("mail %s to %s not queued: the outbox is closed", message.kind, message.to)
            return False
        try:
            self._queue.put_nowait(message)
        except asyncio.QueueFull:
            log.error(
                "mail %s to %s dropped: %d mails already wait to be sent",
                message.kind,
                message.to,
                self._queue.maxsize,
            )
            return False
        return True

    async def start(self) -> None:
        """Start the worker (idempotent). Messages queued before it wait for it."""
        if self._closed:
            raise RuntimeError("this Outbox is closed")
        if self._worker is None:
            self._worker = asyncio.create_task(self._work(), name="fastauth-mail-outbox")

    async def join(self) -> None:
        """Wait until every queued message was delivered or given up on (needs `start()`)."""
        await self._queue.join()

    async def aclose(self) -> None:
        """Stop accepting mail, deliver what is queued for up to `drain_timeout` seconds, stop the
        worker and close the sender. Safe to call twice."""
        if self._closed:
            return
        self._closed = True
        if self._worker is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._queue.join(), self.drain_timeout)
            left = self.pending
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker
            self._worker = None
        else:
            left = self._queue.qsize()
        if left:
            log.error("%d mail(s) not sent: the outbox closed before they could be delivered", left)
        await self.sender.aclose()

    async def _work(self) -> None:
        while True:
            message = await self._queue.get()
            self._busy = True
            try:
                await self._deliver(message)
            finally:
                self._busy = False
                self._queue.task_done()

    async def _deliver(self, message: Message) -> None:
        attempts = self.retries + 1
        for attempt in range(1, attempts + 1):
            try:
                async with asyncio.timeout(self.attempt_timeout):
                    await self.sender.send(message)
            except Exception as error:
                if attempt == attempts:
                    log.error(
                        "mail %s to %s not sent after %d attempt(s), giving up: %s",
                        message.kind,
                        message.to,
                        attempts,
                        _describe(error),
                    )
                    return
                pause = min(self.backoff * 2 ** (attempt - 1), self.max_backoff)
                log.warning(
                    "mail %s to %s failed (attempt %d of %d, next in %.1fs): %s",
                    message.kind,
                    message.to,
                    attempt,
                    attempts,
                    pause,
                    _describe(error),
                )
                await asyncio.sleep(pause)
            else:
                log.info("mail %s sent to %s", message.kind, message.to)
                return

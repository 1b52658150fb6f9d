"""`Outbox` against a real SMTP server: `enqueue()` returns at once whatever the server does, a refusing
server is retried a bounded number of times and then logged, and no log line carries the mail's code,
link or body."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import pytest

from fastauth.mail import ConsoleSender, MailTemplates, Message, Outbox, SMTPSender

CODE = "TOKEN-Zx81-one-time-code-never-logged"
TEMPLATES = MailTemplates(link_base="https://auth.example.com/auth")
RESET = TEMPLATES.render("reset_password", to="ada@example.com", code=CODE)


def sender(port: int, **options: Any) -> SMTPSender:
    return SMTPSender(host="127.0.0.1", port=port, from_address="accounts@example.com", tls="none", **options)


def mail_lines(caplog: pytest.LogCaptureFixture) -> list[tuple[str, str]]:
    return [(r.levelname, r.getMessage()) for r in caplog.records if r.name == "fastauth.mail"]


def assert_nothing_secret(caplog: pytest.LogCaptureFixture) -> None:
    """Neither the code, nor the link, nor any line of the body is in any log record of this side (the
    test server's own log, `mail.log`, sees the mail it receives), arguments and formatted text alike."""
    secrets = {CODE, TEMPLATES.link("reset_password", CODE), *RESET.text.splitlines()[2:4]}
    for record in caplog.records:
        if record.name == "mail.log":
            continue
        texts = [record.getMessage(), repr(record.args), record.exc_text or ""]
        for text in texts:
            for secret in secrets:
                assert secret not in text, (record.getMessage(), secret)


async def test_a_refusing_server_is_retried_then_logged_without_the_code(
    smtp_server: Any, handlers: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    refusing = handlers.Refusing()
    server = smtp_server(refusing)
    outbox = Outbox(sender(server.port), retries=2, backoff=0.01)
    await outbox.start()

    assert outbox.enqueue(RESET) is True
    await outbox.join()

    assert refusing.attempts == 3  # the first attempt and two retries, no more
    reply = "SMTPDataError: (451, '4.3.0 Mailbox temporarily unavailable')"
    assert mail_lines(caplog) == [
        ("WARNING", f"mail reset_password to ada@example.com failed (attempt 1 of 3, next in 0.0s): {reply}"),
        ("WARNING", f"mail reset_password to ada@example.com failed (attempt 2 of 3, next in 0.0s): {reply}"),
        ("ERROR", f"mail reset_password to ada@example.com not sent after 3 attempt(s), giving up: {reply}"),
    ]
    assert_nothing_secret(caplog)
    await outbox.aclose()
    assert refusing.attempts == 3


async def test_the_pause_doubles_up_to_its_cap(
    smtp_server: Any, handlers: Any, caplog: pytest.LogCaptureFixture
) -> None:
    refusing = handlers.Refusing()
    server = smtp_server(refusing)
    outbox = Outbox(sender(server.port), retries=4, backoff=0.05, max_backoff=0.2)
    await outbox.start()
    start = time.perf_counter()

    outbox.enqueue(RESET)
    await outbox.join()

    assert refusing.attempts == 5
    pauses = [line.split("next in ")[1].split("s)")[0] for _, line in mail_lines(caplog) if "next in" in line]
    assert pauses == ["0.1", "0.1", "0.2", "0.2"]  # 0.05, 0.1, 0.2, then capped at 0.2 (printed %.1f)
    assert time.perf_counter() - start >= 0.05 + 0.1 + 0.2 + 0.2
    await outbox.aclose()


async def test_a_slow_server_does_not_delay_enqueue(smtp_server: Any, handlers: Any) -> None:
    slow = handlers.Slow(delay=0.5)  # each mail takes half a second to be accepted
    server = smtp_server(slow)
    outbox = Outbox(sender(server.port))
    await outbox.start()

    start = time.perf_counter()
    queued = [outbox.enqueue(RESET) for _ in range(3)]
    elapsed = time.perf_counter() - start

    assert queued == [True, True, True]
    assert elapsed < 0.05
    assert slow.received == []
    assert outbox.pending == 3
    await outbox.join()
    assert [r.rcpt_tos for r in slow.received] == [["ada@example.com"]] * 3
    assert outbox.pending == 0
    await outbox.aclose()


async def test_a_transient_failure_is_delivered_on_retry(
    smtp_server: Any, handlers: Any, caplog: pytest.LogCaptureFixture
) -> None:
    flaky = handlers.Flaky(failures=1)
    server = smtp_server(flaky)
    outbox = Outbox(sender(server.port), retries=3, backoff=0.01)
    await outbox.start()

    outbox.enqueue(RESET)
    await outbox.join()

    (received,) = flaky.received
    text, html = (part.get_content() for part in received.message.iter_parts())
    assert text == RESET.text and html == RESET.html
    assert [level for level, _ in mail_lines(caplog)] == ["WARNING"]
    assert_nothing_secret(caplog)
    await outbox.aclose()


async def test_a_stuck_attempt_is_cut_by_attempt_timeout(
    smtp_server: Any, handlers: Any, caplog: pytest.LogCaptureFixture
) -> None:
    slow = handlers.Slow(delay=3.0)
    server = smtp_server(slow)
    outbox = Outbox(sender(server.port), retries=0, attempt_timeout=0.2)
    await outbox.start()
    start = time.perf_counter()

    outbox.enqueue(RESET)
    await outbox.join()

    assert time.perf_counter() - start < 1.5
    assert mail_lines(caplog) == [
        (
            "ERROR",
            "mail reset_password to ada@example.com not sent after 1 attempt(s), giving up: TimeoutError",
        )
    ]
    await outbox.aclose()


async def test_an_unreachable_server_is_logged_with_the_address(caplog: pytest.LogCaptureFixture) -> None:
    from support.servers import free_port

    port = free_port()
    outbox = Outbox(sender(port, timeout=2), retries=0)
    await outbox.start()
    outbox.enqueue(RESET)
    await outbox.join()

    ((level, line),) = mail_lines(caplog)
    assert level == "ERROR"
    assert line.startswith("mail reset_password to ada@example.com not sent after 1 attempt(s), giving up: ")
    assert f"127.0.0.1:{port}" in line or f"'127.0.0.1', {port}" in line
    assert_nothing_secret(caplog)
    await outbox.aclose()


class QuotingSender:
    """An application's own sender whose error quotes the whole message (as careless code does)."""

    async def send(self, message: Message) -> None:
        raise RuntimeError(f"could not send {message.text!r}")

    async def aclose(self) -> None:
        pass


async def test_an_unknown_error_is_named_by_its_type_only(caplog: pytest.LogCaptureFixture) -> None:
    outbox = Outbox(QuotingSender(), retries=0)
    await outbox.start()
    outbox.enqueue(RESET)
    await outbox.join()

    assert mail_lines(caplog) == [
        (
            "ERROR",
            "mail reset_password to ada@example.com not sent after 1 attempt(s), giving up: "
            "RuntimeError (details withheld)",
        )
    ]
    assert_nothing_secret(caplog)
    await outbox.aclose()


async def test_mail_queued_before_start_waits_for_the_worker(smtp_server: Any, handlers: Any) -> None:
    collector = handlers.Collector()
    server = smtp_server(collector)
    outbox = Outbox(sender(server.port))

    assert outbox.enqueue(RESET) is True
    await asyncio.sleep(0.05)
    assert collector.received == []

    await outbox.start()
    await outbox.join()
    assert len(collector.received) == 1
    await outbox.aclose()


async def test_aclose_delivers_what_is_queued_then_refuses_more(
    smtp_server: Any, handlers: Any, caplog: pytest.LogCaptureFixture
) -> None:
    collector = handlers.Collector()
    server = smtp_server(collector)
    outbox = Outbox(sender(server.port))
    await outbox.start()
    for _ in range(2):
        outbox.enqueue(RESET)

    await outbox.aclose()

    assert len(collector.received) == 2
    assert outbox.enqueue(RESET) is False
    assert mail_lines(caplog) == [
        ("WARNING", "mail reset_password to ada@example.com not queued: the outbox is closed")
    ]
    await outbox.aclose()  # twice is fine
    with pytest.raises(RuntimeError, match="closed"):
        await outbox.start()


async def test_aclose_gives_up_after_drain_timeout(
    smtp_server: Any, handlers: Any, caplog: pytest.LogCaptureFixture
) -> None:
    slow = handlers.Slow(delay=5.0)
    server = smtp_server(slow)
    outbox = Outbox(sender(server.port), drain_timeout=0.2)
    await outbox.start()
    outbox.enqueue(RESET)
    outbox.enqueue(RESET)
    start = time.perf_counter()

    await outbox.aclose()

    assert time.perf_counter() - start < 1.5
    assert mail_lines(caplog) == [
        ("ERROR", "2 mail(s) not sent: the outbox closed before they could be delivered")
    ]
    assert slow.received == []


async def test_a_full_outbox_drops_and_logs(caplog: pytest.LogCaptureFixture) -> None:
    outbox = Outbox(ConsoleSender(), max_queued=1)  # not started: nothing leaves the queue

    assert outbox.enqueue(RESET) is True
    assert outbox.enqueue(RESET) is False
    assert mail_lines(caplog) == [
        ("ERROR", "mail reset_password to ada@example.com dropped: 1 mails already wait to be sent")
    ]
    await outbox.aclose()
    assert mail_lines(caplog)[-1] == (
        "ERROR",
        "1 mail(s) not sent: the outbox closed before they could be delivered",
    )

"""The account mails end to end: `fastauth serve` sends them to a real SMTP server on 127.0.0.1
(aiosmtpd, in this process), and Chromium opens their links.

The server runs as a process with `public_url` set to its own address, so the links in the mails lead
back to it: to `/auth/verify-email?token=...` and `/auth/reset-password?token=...`, the pages of
`fastauth.ui`. Opening such a link spends nothing (mail scanners fetch links with GET and HEAD); the
button on the page POSTs the code. Everything is done as a person would do it, through the pages; the
mails are read from the SMTP server, never from the database or the log.

Skipped like tests/browser/test_ui.py when Chromium or Playwright is missing (see conftest.py).
A screenshot of each page state is saved under test-artifacts/ui/.
"""

from __future__ import annotations

import re
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP as SMTPServer
from aiosmtpd.smtp import Envelope, Session

from fastauth.ui import CONTENT_SECURITY_POLICY
from support.page import focused, message, shot, state
from support.servers import clean_env, fastauth_serve, free_port, running

pytestmark = pytest.mark.browser
PASSWORD = "correct horse battery"
NEW_PASSWORD = "a brand new passphrase"
PHONE = {"width": 360, "height": 780}

# What the pages say (app.js), exactly.
FORGOT_SENT = "If the address has an account, a mail with a reset link is on its way."
VERIFY_BAD = (
    "It was used already, it has expired, or a newer link was sent since. Sign in and press "
    "\u201cResend the link\u201d to get a new one."
)
RESET_BAD = (
    "It was used already, it has expired, a newer link was sent since, or the password was changed "
    "meanwhile. Ask for a new link."
)
NO_CODE = (
    "There is no code in this address. Open the link from the mail again, all of it. (This page takes the "
    "code out of the address bar once it has read it, so reloading the page cannot use it.)"
)


def _email(tag: str) -> str:
    return f"{tag}-{uuid.uuid4().hex[:8]}@example.com"


# --------------------------------------------------------------------------------------------------
# the mail server: a collector, as in tests/mail/conftest.py, that tests can wait on


@dataclass
class Mailbox:
    """An aiosmtpd handler keeping every mail it accepts; `take(to)` waits for the next one to `to`."""

    port: int = 0
    mails: list[tuple[list[str], EmailMessage]] = field(default_factory=list)
    taken: set[int] = field(default_factory=set)
    changed: threading.Condition = field(default_factory=threading.Condition)

    async def handle_DATA(self, server: SMTPServer, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or envelope.content
        assert isinstance(raw, bytes)
        # SMTP carries CRLF line ends; Python's email package reads mail with "\n" ones.
        parsed = BytesParser(policy=policy.default).parsebytes(raw.replace(b"\r\n", b"\n"))
        assert isinstance(parsed, EmailMessage)
        with self.changed:
            self.mails.append((list(envelope.rcpt_tos), parsed))
            self.changed.notify_all()
        return "250 2.0.0 Message accepted for delivery"

    def take(self, to: str, timeout: float = 15.0) -> EmailMessage:
        """The oldest mail to `to` not taken yet, waiting up to `timeout` seconds for one."""
        deadline = time.monotonic() + timeout
        with self.changed:
            while True:
                for index, (rcpt_tos, mail) in enumerate(self.mails):
                    if index not in self.taken and rcpt_tos == [to]:
                        self.taken.add(index)
                        return mail
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"no mail to {to} within {timeout} s")
                self.changed.wait(left)

    def count(self, to: str) -> int:
        with self.changed:
            return sum(rcpt_tos == [to] for rcpt_tos, _ in self.mails)


def link_in(mail: EmailMessage, base: str) -> str:
    """The one link to `base` in the mail's text part (the HTML part has the same one)."""
    body = mail.get_body(("plain",))
    assert body is not None
    text = body.get_content()
    links = [word for word in text.split() if word.startswith(base)]
    assert len(links) == 1, text
    html = mail.get_body(("html",))
    assert html is not None and f'href="{links[0]}"' in html.get_content()
    return links[0]


def token_of(link: str) -> str:
    (token,) = parse_qs(urlsplit(link).query)["token"]
    return token


# --------------------------------------------------------------------------------------------------
# fixtures


@pytest.fixture(scope="module")
def mailbox() -> Iterator[Mailbox]:
    box = Mailbox()
    controller = Controller(box, hostname="127.0.0.1", port=free_port())
    controller.start()
    box.port = controller.port
    try:
        yield box
    finally:
        controller.stop()


def _serve_env(base: str, **extra: str) -> dict[str, str]:
    """`fastauth serve` in development mode (plain http), with the page and the browser opt-in on."""
    return clean_env(
        FASTAUTH_PUBLIC_URL=base,
        FASTAUTH_UI_ENABLED="true",
        FASTAUTH_COOKIE_OPT_IN="true",
        FASTAUTH_REGISTER_RATE_LIMIT_PER_IP="1000/hour",
        FASTAUTH_LOGIN_RATE_LIMIT_PER_IP="1000/minute",
        FASTAUTH_EMAIL_RATE_LIMIT_PER_IP="1000/hour",
        FASTAUTH_CODE_RATE_LIMIT_PER_IP="1000/hour",
        **extra,
    )


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, mailbox: Mailbox) -> Iterator[str]:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = _serve_env(
        base,
        FASTAUTH_EMAIL__SMTP_HOST="127.0.0.1",
        FASTAUTH_EMAIL__SMTP_PORT=str(mailbox.port),
        FASTAUTH_EMAIL__SMTP_TLS="none",
        FASTAUTH_EMAIL__FROM_ADDRESS="accounts@example.com",
        FASTAUTH_EMAIL__RETRIES="0",
    )
    with running(fastauth_serve(tmp_path_factory.mktemp("serve-mail"), env, port=port)) as (process,):
        assert process.base == base
        yield base


def register(page: Any, email: str) -> None:
    form = page.locator("#register-form")
    form.get_by_label("Email").fill(email)
    form.get_by_label("Password").fill(PASSWORD)
    form.get_by_role("button", name="Create account").click()
    signed_in_as(page, email)


def sign_in(page: Any, email: str, password: str) -> None:
    form = page.locator("#login-form")
    form.get_by_label("Email").fill(email)
    form.get_by_label("Password").fill(password)
    form.get_by_role("button", name="Sign in").click()


def signed_in_as(page: Any, email: str) -> None:
    from playwright.sync_api import expect

    state(page).to_have_attribute("data-state", "signed-in")
    expect(page.locator("#me-email")).to_have_text(email)


def opened(page: Any, link: str, view: str) -> None:
    """Open a mailed link; its page shows `view`, and the code has left the address bar."""
    from playwright.sync_api import expect

    page.goto(link)
    state(page).to_have_attribute("data-state", view)
    expect(page).to_have_url(link.split("?", 1)[0])


# --------------------------------------------------------------------------------------------------
# the tests


def test_verify_the_address_then_reset_the_password_through_the_mailed_links(
    new_page: Callable[..., Any], server: str, mailbox: Mailbox
) -> None:
    from playwright.sync_api import expect

    page = new_page(server)
    requests: list[Any] = []
    page.on("request", lambda request: requests.append(request))
    page.goto("/")
    state(page).to_have_attribute("data-state", "signed-out")
    email = _email("ada")
    register(page, email)
    notice = page.locator("#verify-notice")
    expect(notice).to_be_visible()
    expect(notice.locator("p")).to_have_text(
        f"The address {email} is not verified yet. Open the link in the verification mail, or get a new one."
    )
    expect(page.locator("#me-status")).to_have_text("email not verified")
    shot(page, "20-unverified-notice")

    # the verification mail of the registration: its link opens the verify page, which spends nothing
    verify_link = link_in(mailbox.take(email), server)
    assert urlsplit(verify_link).path == "/auth/verify-email"
    code = token_of(verify_link)
    opened(page, verify_link, "verify")
    expect(page.get_by_role("heading", name="Verify your email address")).to_be_visible()
    message(page).to_have_text("")
    shot(page, "21-verify-page")
    page.get_by_role("button", name="Verify my email").click()
    state(page).to_have_attribute("data-state", "verified")
    expect(page.get_by_role("heading", name="Your email address is verified")).to_be_visible()
    expect(page.locator("#verified-detail")).to_have_text(f"{email} is verified. Thank you.")
    assert focused(page) == "verified-title"
    shot(page, "22-verified")
    page.get_by_role("link", name="Continue to your account").click()
    signed_in_as(page, email)
    expect(page.locator("#me-status")).to_have_text("email verified")
    expect(notice).to_be_hidden()

    # the code went in one POST body, and in no other address and no Referer
    posts = [r for r in requests if r.method == "POST" and r.url == f"{server}/auth/verify"]
    assert [r.post_data_json for r in posts] == [{"token": code}]
    assert [r.url for r in requests if code in r.url] == [verify_link]
    assert [r.url for r in requests if code in (r.all_headers().get("referer") or "")] == []

    # forgot password, from the signed-out page
    page.get_by_role("button", name="Sign out", exact=True).click()
    state(page).to_have_attribute("data-state", "signed-out")
    page.get_by_role("link", name="Forgot password?").click()
    state(page).to_have_attribute("data-state", "forgot")
    assert focused(page) == "forgot-email"
    page.locator("#forgot-form").get_by_label("Email").fill(email)
    page.get_by_role("button", name="Send the reset link").click()
    message(page).to_have_text(FORGOT_SENT)
    shot(page, "23-forgot-sent")

    reset_link = link_in(mailbox.take(email), server)
    assert urlsplit(reset_link).path == "/auth/reset-password"
    opened(page, reset_link, "reset")
    expect(page.get_by_role("heading", name="Choose a new password")).to_be_visible()

    # a weak password: the policy's words, and the code stays for the next try
    page.get_by_label("New password", exact=True).fill("short")
    page.get_by_role("button", name="Change my password").click()
    message(page).to_have_text("The password was not changed: password must be at least 8 characters long.")
    assert page.locator("#message").get_attribute("data-kind") == "error"
    state(page).to_have_attribute("data-state", "reset")
    assert focused(page) == "new-password"
    shot(page, "24-reset-weak-password")
    page.get_by_label("New password", exact=True).fill(NEW_PASSWORD)
    page.get_by_role("button", name="Change my password").click()
    state(page).to_have_attribute("data-state", "reset-done")
    expect(page.locator("#view-reset-done p")).to_have_text(
        "Your password has been changed, and every session of the account has ended. Sign in with the new "
        "password."
    )
    jar = {c["name"] for c in page.context.cookies()}
    assert "fastauth_access" not in jar and "csrf_token" not in jar  # a reset does not sign in
    shot(page, "25-reset-done")
    resets = [
        r.post_data_json for r in requests if r.url == f"{server}/auth/reset-password" and r.method == "POST"
    ]
    assert resets == [{"token": token_of(reset_link), "password": p} for p in ("short", NEW_PASSWORD)]

    page.get_by_role("link", name="Sign in").click()
    state(page).to_have_attribute("data-state", "signed-out")
    sign_in(page, email, PASSWORD)
    message(page).to_have_text("Wrong email or password. Check both and try again.")
    sign_in(page, email, NEW_PASSWORD)
    signed_in_as(page, email)
    message(page).to_have_text("Signed in.")

    notice_mail = mailbox.take(email)  # the reset is announced to the address, without a link
    assert "token=" not in notice_mail.as_string()


def test_resend_voids_the_first_link_and_a_spent_or_reloaded_link_says_so(
    new_page: Callable[..., Any], server: str, mailbox: Mailbox
) -> None:
    from playwright.sync_api import expect

    page = new_page(server, PHONE)
    page.goto("/")
    email = _email("bob")
    register(page, email)
    first = link_in(mailbox.take(email), server)
    page.get_by_role("button", name="Resend the link").click()
    message(page).to_have_text(
        f"A new link is on its way to {email}. The links sent before it no longer work."
    )
    second = link_in(mailbox.take(email), server)
    assert token_of(first) != token_of(second)

    opened(page, first, "verify")
    page.get_by_role("button", name="Verify my email").click()
    state(page).to_have_attribute("data-state", "link-failed")
    expect(page.get_by_role("heading", name="This link does not work")).to_be_visible()
    expect(page.locator("#failed-detail")).to_have_text(VERIFY_BAD)
    expect(page.get_by_role("button", name="Verify my email")).to_be_hidden()
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    shot(page, "26-phone-verify-link-voided")

    opened(page, second, "verify")
    page.reload()  # the code left the address: a reload has nothing to send
    state(page).to_have_attribute("data-state", "link-failed")
    expect(page.locator("#failed-detail")).to_have_text(NO_CODE)

    opened(page, second, "verify")
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    shot(page, "27-phone-verify-page")
    page.get_by_role("button", name="Verify my email").click()
    state(page).to_have_attribute("data-state", "verified")
    opened(page, second, "verify")  # once more: spent now
    page.get_by_role("button", name="Verify my email").click()
    state(page).to_have_attribute("data-state", "link-failed")
    expect(page.locator("#failed-detail")).to_have_text(VERIFY_BAD)


def test_a_spent_reset_link_sends_to_a_new_request(
    new_page: Callable[..., Any], server: str, mailbox: Mailbox
) -> None:
    from playwright.sync_api import expect

    email = _email("cy")
    assert (
        httpx.post(f"{server}/auth/register", json={"email": email, "password": PASSWORD}).status_code == 201
    )
    mailbox.take(email)  # the verification mail
    assert httpx.post(f"{server}/auth/forgot-password", json={"email": email}).status_code == 202
    link = link_in(mailbox.take(email), server)
    spent = httpx.post(
        f"{server}/auth/reset-password", json={"token": token_of(link), "password": NEW_PASSWORD}
    )
    assert spent.status_code == 200
    assert "token=" not in mailbox.take(email).as_string()  # the notice of the change

    page = new_page(server)
    opened(page, link, "reset")
    page.get_by_label("New password", exact=True).fill("yet another passphrase")
    page.get_by_role("button", name="Change my password").click()
    state(page).to_have_attribute("data-state", "link-failed")
    expect(page.locator("#failed-detail")).to_have_text(RESET_BAD)
    shot(page, "28-reset-link-spent")
    page.get_by_role("link", name="Ask for a new link").click()
    state(page).to_have_attribute("data-state", "forgot")
    page.locator("#forgot-form").get_by_label("Email").fill(email)
    page.get_by_role("button", name="Send the reset link").click()
    message(page).to_have_text(FORGOT_SENT)
    assert urlsplit(link_in(mailbox.take(email), server)).path == "/auth/reset-password"


def test_get_and_head_of_the_mailed_links_spend_nothing(server: str, mailbox: Mailbox) -> None:
    email = _email("scanner")
    assert (
        httpx.post(f"{server}/auth/register", json={"email": email, "password": PASSWORD}).status_code == 201
    )
    verify_link = link_in(mailbox.take(email), server)
    assert httpx.post(f"{server}/auth/forgot-password", json={"email": email}).status_code == 202
    reset_link = link_in(mailbox.take(email), server)

    for link in (verify_link, reset_link):
        # what a mail scanner does: HEAD, then GET, more than once
        answers = [httpx.head(link), httpx.get(link), httpx.head(link), httpx.get(link)]
        for r in answers:
            assert r.status_code == 200, (r.request.method, r.text)
            assert r.headers["content-type"] == "text/html; charset=utf-8"
            assert r.headers["cache-control"] == "no-store"
            assert r.headers["referrer-policy"] == "no-referrer"
            assert r.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
            assert r.headers["x-frame-options"] == "DENY"
        assert [len(r.content) for r in answers[::2]] == [0, 0]  # HEAD: no body
        page = answers[1].text
        assert token_of(link) not in page  # the page never carries the code; its script reads the address
        assert re.findall(r"<script(?![^>]*\bsrc=)", page) == [] and " style=" not in page

    verified = httpx.post(f"{server}/auth/verify", json={"token": token_of(verify_link)})
    assert verified.status_code == 200, verified.text
    assert (verified.json()["email"], verified.json()["is_verified"]) == (email, True)
    reset = httpx.post(
        f"{server}/auth/reset-password", json={"token": token_of(reset_link), "password": NEW_PASSWORD}
    )
    assert (reset.status_code, reset.content) == (200, b"null")
    login = httpx.post(f"{server}/auth/login", json={"email": email, "password": NEW_PASSWORD})
    assert login.status_code == 200


def test_the_link_pages_are_outside_the_api_and_leave_its_routes_alone(server: str) -> None:
    paths = httpx.get(f"{server}/openapi.json").json()["paths"]
    assert "/auth/verify-email" not in paths
    # The reset page shares its path with the API's POST: the document shows both, the GET as HTML.
    assert sorted(paths["/auth/reset-password"]) == ["get", "post"]
    assert list(paths["/auth/reset-password"]["get"]["responses"]["200"]["content"]) == ["text/html"]
    assert list(paths["/auth/verify"]) == ["post"]

    bad = httpx.post(f"{server}/auth/reset-password", json={"token": "A" * 43, "password": NEW_PASSWORD})
    assert (bad.status_code, bad.json()) == (
        400,
        {"detail": "RESET_PASSWORD_BAD_TOKEN", "code": "reset_password_bad_token"},
    )
    bad = httpx.post(f"{server}/auth/verify", json={"token": "A" * 43})
    assert (bad.status_code, bad.json()) == (
        400,
        {"detail": "VERIFY_USER_BAD_TOKEN", "code": "verify_user_bad_token"},
    )
    weak = httpx.post(f"{server}/auth/reset-password", json={"token": "A" * 43, "password": "short"})
    assert weak.status_code == 422
    # the page takes GET and HEAD only; the API is not served at its address
    assert httpx.post(f"{server}/auth/verify-email", json={"token": "A" * 43}).status_code == 405
    assert httpx.delete(f"{server}/auth/reset-password").status_code == 405
    assert httpx.get(f"{server}/auth/verify").status_code == 405  # as before: the API's POST only


@pytest.fixture
def mail_off_server(tmp_path: Path) -> Iterator[str]:
    """`fastauth serve` configured without any mail (`FASTAUTH_EMAIL__CONSOLE=false`, no SMTP)."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = _serve_env(base, FASTAUTH_EMAIL__CONSOLE="false")
    with running(fastauth_serve(tmp_path, env, port=port)) as _:
        yield base


def test_without_mail_the_page_says_the_server_sends_none(
    new_page: Callable[..., Any], mail_off_server: str
) -> None:
    page = new_page(mail_off_server)
    page.goto("/")
    email = _email("dee")
    register(page, email)
    page.get_by_role("button", name="Resend the link").click()
    message(page).to_have_text("This server sends no mail, so the address cannot be verified here.")
    assert page.locator("#message").get_attribute("data-kind") == "error"

    page.get_by_role("button", name="Sign out", exact=True).click()
    state(page).to_have_attribute("data-state", "signed-out")
    page.locator("#login-form").get_by_label("Email").fill(email)
    page.get_by_role("link", name="Forgot password?").click()
    state(page).to_have_attribute("data-state", "forgot")
    from playwright.sync_api import expect

    expect(page.locator("#forgot-email")).to_have_value(email)  # carried over from the sign-in form
    page.get_by_role("button", name="Send the reset link").click()
    message(page).to_have_text("This server sends no mail, so a password cannot be reset here.")
    page.get_by_role("link", name="Back to sign in").click()
    state(page).to_have_attribute("data-state", "signed-out")
    assert focused(page) == "login-email"
    message(page).to_have_text("")


def test_change_the_address_then_delete_the_account_through_the_page(
    new_page: Callable[..., Any], server: str, mailbox: Mailbox
) -> None:
    from playwright.sync_api import expect

    page = new_page(server)
    page.goto("/")
    email, new_email = _email("cleo"), _email("cleo-new")
    register(page, email)
    mailbox.take(email)  # the registration's verification mail

    form = page.locator("#change-email-form")
    form.get_by_label("New email").fill(new_email)
    form.get_by_label("Current password").fill("not my password")
    form.get_by_role("button", name="Send the link").click()
    message(page).to_have_text("The current password is wrong. Nothing changed.")
    form.get_by_label("Current password").fill(PASSWORD)
    form.get_by_role("button", name="Send the link").click()
    message(page).to_have_text(f"A link is on its way to {new_email}. Open it to move your account there.")
    shot(page, "30-change-email-sent")

    link = link_in(mailbox.take(new_email), server)
    assert urlsplit(link).path == "/auth/confirm-email-change"
    expect(page.locator("#me-email")).to_have_text(email)  # nothing moved before the link is used
    opened(page, link, "verify")
    expect(page.get_by_role("heading", name="Confirm your new email address")).to_be_visible()
    page.get_by_role("button", name="Use this address").click()
    state(page).to_have_attribute("data-state", "verified")
    expect(page.get_by_role("heading", name="Your email address has changed")).to_be_visible()
    expect(page.locator("#verified-detail")).to_have_text(
        f"Your account now uses {new_email}. Sign in with it from now on."
    )
    shot(page, "31-email-changed")
    assert "token=" not in mailbox.take(email).as_string()  # the old address is told, without a link

    page.goto("/")
    signed_in_as(page, new_email)
    delete = page.locator("#delete-form")
    delete.get_by_label("Current password").fill(PASSWORD)
    delete.get_by_role("button", name="Delete my account").click()
    state(page).to_have_attribute("data-state", "signed-out")
    message(page).to_have_text("Your account has been deleted.")
    shot(page, "32-account-deleted")
    sign_in(page, new_email, PASSWORD)
    message(page).to_have_text("Wrong email or password. Check both and try again.")
    assert "token=" not in mailbox.take(new_email).as_string()  # the deletion notice

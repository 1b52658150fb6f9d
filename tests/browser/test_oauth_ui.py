"""Sign-in providers on the sign-in page, end to end: a real OpenID provider (oidc-provider-mock, a
Flask app on 127.0.0.1 in this process), `fastauth serve` configured with it as `mock`, and Chromium
going through the provider's own login page as a person would.

The provider's page is a form: type a subject (`sub`) and press "Authorize". The claims it then gives
for that subject (a verified email address) are set beforehand with `PUT {issuer}/users/{sub}`. Its
page loads a stylesheet from a CDN, which the browser is not allowed to fetch here.

Skipped like tests/browser/test_ui.py when Chromium or Playwright is missing (see conftest.py).
A screenshot of each page state is saved under test-artifacts/ui/.
"""

from __future__ import annotations

import re
import sqlite3
import subprocess
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from support.page import focused, message, shot, state
from support.servers import FASTAUTH, clean_env, fastauth_serve, free_port, running

pytestmark = pytest.mark.browser
PASSWORD = "correct horse battery"
DESKTOP = {"width": 1100, "height": 820}  # as conftest.DESKTOP
PHONE = {"width": 360, "height": 780}

# What the pages say (app.js and the error table), exactly.
LAST_WAY_IN = "This is the account's only way to sign in: set a password first"


def _tag(tag: str) -> str:
    return f"{tag}-{uuid.uuid4().hex[:8]}"


@dataclass
class Server:
    base: str
    issuer: str
    cwd: Path
    env: dict[str, str]


# --------------------------------------------------------------------------------------------------
# fixtures


@pytest.fixture(scope="module")
def issuer() -> Iterator[str]:
    """oidc-provider-mock on 127.0.0.1 (any client id and secret; users' claims set by PUT)."""
    pytest.importorskip("oidc_provider_mock")
    from oidc_provider_mock import app
    from werkzeug.serving import make_server

    provider = make_server("127.0.0.1", 0, app(), threaded=True)
    thread = threading.Thread(target=provider.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{provider.server_port}"
    finally:
        provider.shutdown()
        thread.join(5)
        provider.server_close()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, issuer: str) -> Iterator[Server]:
    """`fastauth serve` in development mode (plain http) with the provider `mock` ("Mock")."""
    cwd = tmp_path_factory.mktemp("serve-oauth")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = clean_env(
        FASTAUTH_PUBLIC_URL=base,
        FASTAUTH_UI_ENABLED="true",
        FASTAUTH_COOKIE_OPT_IN="true",
        FASTAUTH_LOGIN_RATE_LIMIT_PER_IP="1000/minute",
        FASTAUTH_REGISTER_RATE_LIMIT_PER_IP="1000/hour",
        FASTAUTH_OAUTH__MOCK__CLIENT_ID="fastauth-browser-test",
        FASTAUTH_OAUTH__MOCK__CLIENT_SECRET="not-a-real-secret",
        FASTAUTH_OAUTH__MOCK__ISSUER=issuer,
        FASTAUTH_OAUTH__MOCK__DISPLAY_NAME="Mock",
    )
    with running(fastauth_serve(cwd, env, port=port)) as (process,):
        assert process.base == base
        yield Server(base, issuer, cwd, env)
        assert process.unhandled() is None, process.output


@pytest.fixture
def open_page(new_page: Callable[..., Any], server: Server) -> Callable[..., Any]:
    """`open_page(viewport=DESKTOP)`: a fresh browser context showing the sign-in page, loaded; the
    provider's CDN is off limits."""

    def factory(viewport: dict[str, int] = DESKTOP) -> Any:
        page = new_page(server.base, viewport)
        page.context.route(re.compile(r"^https://cdn\.jsdelivr\.net/"), lambda route: route.abort())
        page.goto("/")
        state(page).to_have_attribute("data-state", re.compile("^signed-(in|out)$"))
        return page

    return factory


def provider_user(server: Server, sub: str, email: str) -> None:
    """What the provider will say about `sub`: a verified address."""
    r = httpx.put(f"{server.issuer}/users/{sub}", json={"email": email, "email_verified": True})
    assert r.status_code == 204, r.text


def create_user(server: Server, email: str) -> None:
    """A verified account with a password, made as an operator would (`fastauth create-user`)."""
    assert FASTAUTH
    done = subprocess.run(
        [FASTAUTH, "create-user", email, "--verified", "--password-stdin"],
        cwd=server.cwd, env=server.env, input=PASSWORD, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr


def at_the_provider(page: Any, server: Server, sub: str, name: str) -> None:
    """On the provider's own page: type the subject and authorize; back at fastauth's page afterwards."""
    from playwright.sync_api import expect

    page.wait_for_url(f"{server.issuer}/oauth2/authorize?**")
    shot(page, name)
    page.get_by_placeholder("sub").fill(sub)
    page.get_by_role("button", name="Authorize", exact=True).click()
    page.wait_for_url(f"{server.base}/**")
    # the marks of the return leave the address bar: what stays is the page's own address
    expect(page).to_have_url(f"{server.base}/")


def signed_in_as(page: Any, email: str) -> None:
    from playwright.sync_api import expect

    state(page).to_have_attribute("data-state", "signed-in")
    expect(page.locator("#me-email")).to_have_text(email)


def linked_accounts(page: Any) -> Any:
    return page.locator("#identities > li")


# --------------------------------------------------------------------------------------------------
# the tests


def test_continue_with_the_provider_creates_the_account_and_signs_in(
    open_page: Callable[..., Any], server: Server
) -> None:
    from playwright.sync_api import expect

    sub, email = _tag("ada"), f"{_tag('ada')}@example.com"
    provider_user(server, sub, email)
    page = open_page()
    state(page).to_have_attribute("data-state", "signed-out")
    start = page.get_by_role("link", name="Continue with Mock", exact=True)
    expect(start).to_be_visible()
    href = start.get_attribute("href")
    back = quote(f"{server.base}/?signed_in_with=mock", safe="")
    assert href == f"{server.base}/auth/oauth/mock/authorize?delivery=cookie&redirect_to={back}"
    shot(page, "40-providers-signed-out")

    start.click()
    at_the_provider(page, server, sub, "41-provider-login")
    signed_in_as(page, email)
    message(page).to_have_text("Signed in with Mock.")
    assert focused(page) == "account-title"
    expect(page.locator("#me-status")).to_have_text("email verified")  # the provider verified it

    # the account's one way in is the provider: unlinking it is refused, with the server's words
    expect(linked_accounts(page)).to_have_count(1)
    item = linked_accounts(page).first
    expect(item.locator(".device")).to_have_text("Mock")
    expect(item.locator(".agent")).to_have_text(email)
    expect(page.locator("#identities-empty")).to_be_hidden()
    shot(page, "42-provider-signed-in")
    item.get_by_role("button", name=f"Unlink Mock: {email}").click()
    message(page).to_have_text(LAST_WAY_IN)
    message(page).to_have_attribute("data-kind", "error")
    expect(linked_accounts(page)).to_have_count(1)

    # a reload keeps the session; the page says nothing about a provider any more
    page.reload()
    signed_in_as(page, email)
    message(page).to_have_text("")


def test_link_the_provider_then_sign_in_with_it_then_unlink(
    open_page: Callable[..., Any], server: Server
) -> None:
    from playwright.sync_api import expect

    email = f"{_tag('grace')}@example.com"
    create_user(server, email)
    # the provider knows the person by another address: the link, not the address, joins them
    sub, work_email = _tag("grace"), f"{_tag('grace-work')}@example.com"
    provider_user(server, sub, work_email)

    page = open_page()
    form = page.locator("#login-form")
    form.get_by_label("Email").fill(email)
    form.get_by_label("Password").fill(PASSWORD)
    form.get_by_role("button", name="Sign in").click()
    signed_in_as(page, email)
    card = page.locator("#identities-card")
    expect(card.get_by_role("heading", name="Linked accounts")).to_be_visible()
    expect(page.locator("#identities-empty")).to_have_text("No provider account is linked yet.")
    expect(linked_accounts(page)).to_have_count(0)

    # link: POST .../link answers the provider's address, the page goes there, and comes back linked
    card.get_by_role("button", name="Link Mock", exact=True).click()
    at_the_provider(page, server, sub, "43-provider-link")
    signed_in_as(page, email)
    message(page).to_have_text("Your Mock account is linked: you can sign in with it now.")
    assert focused(page) == "identities-title"
    expect(linked_accounts(page)).to_have_count(1)
    expect(linked_accounts(page).first.locator(".agent")).to_have_text(work_email)
    shot(page, "44-provider-linked")

    # sign out, then in with the provider: the same account
    page.get_by_role("button", name="Sign out", exact=True).click()
    state(page).to_have_attribute("data-state", "signed-out")
    page.get_by_role("link", name="Continue with Mock", exact=True).click()
    at_the_provider(page, server, sub, "45-provider-login-again")
    signed_in_as(page, email)
    message(page).to_have_text("Signed in with Mock.")

    # unlink: the password is still a way in, so it goes
    page.get_by_role("button", name=f"Unlink Mock: {work_email}").click()
    message(page).to_have_text("Your Mock account is unlinked: it no longer signs you in here.")
    expect(linked_accounts(page)).to_have_count(0)
    expect(page.locator("#identities-empty")).to_be_visible()
    assert focused(page) == "identities-title"
    shot(page, "46-provider-unlinked")


def test_a_failed_provider_return_is_said_in_words(open_page: Callable[..., Any], server: Server) -> None:
    """`?oauth_error=<code>` on the page's address (where a browser's failed callback can be sent):
    the page says what happened and takes the mark out of the address bar."""
    from playwright.sync_api import expect

    page = open_page(PHONE)
    page.goto("/?oauth_error=oauth_account_exists")
    state(page).to_have_attribute("data-state", "signed-out")
    message(page).to_have_text(
        "An account with this email address exists already. Sign in with its password, then link the "
        "provider from your account."
    )
    expect(page).to_have_url(f"{server.base}/")
    start = page.get_by_role("link", name="Continue with Mock", exact=True)
    box = start.bounding_box()
    assert box is not None and box["x"] + box["width"] <= PHONE["width"]  # no sideways scrolling
    shot(page, "47-provider-error-phone")
    page.goto("/?oauth_error=something_new")
    message(page).to_have_text("Signing in with the provider did not work. Try again.")


# --------------------------------------------------------------------------------------------------
# an account a provider made: no password


NOT_RECENT = "Sign in again to confirm this: your sign-in is not recent enough. Nothing was changed."


def sign_in_with_the_provider(page: Any, server: Server, sub: str, email: str, name: str) -> str:
    """From the signed-out page, "Continue with Mock" as `sub`; the account's id."""
    from playwright.sync_api import expect

    page.get_by_role("link", name="Continue with Mock", exact=True).click()
    at_the_provider(page, server, sub, name)
    signed_in_as(page, email)
    message(page).to_have_text("Signed in with Mock.")
    user_id = page.locator("#me-id").inner_text()
    assert user_id
    expect(page.locator("#no-password-note")).to_be_visible()
    return user_id


def backdate_sign_ins(server: Server, user_id: str, seconds: int) -> None:
    """The account's sessions began `seconds` earlier than they did, as if the person had signed in then
    and come back now (the server reads `created_at` from the database on every such request)."""
    with sqlite3.connect(server.cwd / "fastauth.db", timeout=10) as db:
        changed = db.execute(
            "UPDATE fastauth_sessions SET created_at = created_at - ? WHERE user_id = ?", (seconds, user_id)
        ).rowcount
    assert changed >= 1


def test_an_account_without_a_password_deletes_itself_without_one(
    open_page: Callable[..., Any], server: Server
) -> None:
    from playwright.sync_api import expect

    sub, email = _tag("edsger"), f"{_tag('edsger')}@example.com"
    provider_user(server, sub, email)
    page = open_page()
    first = sign_in_with_the_provider(page, server, sub, email, "50-provider-login-passwordless")
    expect(page.locator("#no-password-note")).to_have_text(
        "This account signs in with Mock and has no password. To get one, sign out and use "
        "\u201cForgot password?\u201d on the sign-in page: the mail's link sets it."
    )
    # no password to type: the fields are gone, the forms say what confirms instead
    change, delete = page.locator("#change-email-form"), page.locator("#delete-form")
    expect(page.locator("#change-email-password")).to_be_hidden()
    expect(page.locator("#delete-password")).to_be_hidden()
    expect(change.locator("[data-recent-sign-in]")).to_be_visible()
    shot(page, "51-passwordless-account")

    # the email change asks for no password (the request carries none)
    new_email = f"{_tag('edsger-new')}@example.com"
    change.get_by_label("New email").fill(new_email)
    with page.expect_request("**/auth/change-email") as sent:
        change.get_by_role("button", name="Send the link").click()
    assert sent.value.post_data_json == {"new_email": new_email}
    message(page).to_have_text(f"A link is on its way to {new_email}. Open it to move your account there.")

    # deleting: a checkbox instead of the password, which the form requires
    button = delete.get_by_role("button", name="Delete my account")
    button.click()
    state(page).to_have_attribute("data-state", "signed-in")  # the browser refused the unticked form
    assert delete.locator("#delete-confirm").evaluate("box => box.validity.valueMissing")
    delete.get_by_label("Yes, delete this account and everything in it").check()
    with page.expect_request("**/auth/me") as sent:
        button.click()
    assert sent.value.method == "DELETE" and sent.value.post_data_json == {}
    state(page).to_have_attribute("data-state", "signed-out")
    message(page).to_have_text("Your account has been deleted.")

    # it is gone: the same provider account now makes a new one
    second = sign_in_with_the_provider(page, server, sub, email, "52-provider-login-after-delete")
    assert second != first


def test_an_old_sign_in_is_asked_to_sign_in_again_and_nothing_is_deleted(
    open_page: Callable[..., Any], server: Server
) -> None:
    from playwright.sync_api import expect

    sub, email = _tag("barbara"), f"{_tag('barbara')}@example.com"
    provider_user(server, sub, email)
    page = open_page()
    user_id = sign_in_with_the_provider(page, server, sub, email, "53-provider-login-old")
    backdate_sign_ins(server, user_id, 3600)  # an hour ago: older than the 300 s window

    delete = page.locator("#delete-form")
    delete.get_by_label("Yes, delete this account and everything in it").check()
    with page.expect_response("**/auth/me") as answered:
        delete.get_by_role("button", name="Delete my account").click()
    assert answered.value.status == 401
    assert "insufficient_user_authentication" in (answered.value.header_value("www-authenticate") or "")
    message(page).to_have_text(NOT_RECENT)
    message(page).to_have_attribute("data-kind", "error")
    notice = page.locator("#reauth-notice")
    expect(notice).to_be_visible()
    expect(notice.locator("#reauth-detail")).to_have_text(
        "Your account has no password, so a recent sign-in (in the last 5 minutes) confirms this, and "
        "yours is older. Sign in again, then try once more. Nothing was changed."
    )
    expect(notice.get_by_role("button", name="Sign out", exact=True)).to_be_visible()
    assert focused(page) == "reauth-title"
    state(page).to_have_attribute("data-state", "signed-in")  # the 401 did not end the session
    shot(page, "54-sign-in-again")

    # the email change too; then, reloaded, the account is there as it was
    change = page.locator("#change-email-form")
    change.get_by_label("New email").fill(f"{_tag('barbara-new')}@example.com")
    change.get_by_role("button", name="Send the link").click()
    message(page).to_have_text(NOT_RECENT)
    page.reload()
    signed_in_as(page, email)
    expect(page.locator("#me-id")).to_have_text(user_id)
    expect(notice).to_be_hidden()

    # "Sign in again with Mock": this session ends, the provider signs in, the same account is back
    delete.get_by_label("Yes, delete this account and everything in it").check()
    delete.get_by_role("button", name="Delete my account").click()
    message(page).to_have_text(NOT_RECENT)
    notice.get_by_role("button", name="Sign in again with Mock", exact=True).click()
    at_the_provider(page, server, sub, "55-provider-login-again-recent")
    signed_in_as(page, email)
    expect(page.locator("#me-id")).to_have_text(user_id)
    expect(page.locator("#sessions > li")).to_have_count(1)  # the old session was signed out

    # now recent: the deletion goes through
    delete.get_by_label("Yes, delete this account and everything in it").check()
    delete.get_by_role("button", name="Delete my account").click()
    message(page).to_have_text("Your account has been deleted.")


def test_a_refused_provider_sign_in_comes_back_to_the_page_in_words(
    open_page: Callable[..., Any], server: Server
) -> None:
    sub = _tag("mallory")
    r = httpx.put(
        f"{server.issuer}/users/{sub}",
        json={"email": f"{_tag('mallory')}@example.com", "email_verified": False},
    )
    assert r.status_code == 204, r.text
    page = open_page()
    page.get_by_role("link", name="Continue with Mock", exact=True).click()
    at_the_provider(page, server, sub, "56-provider-login-unverified")  # back at "/", the mark gone
    state(page).to_have_attribute("data-state", "signed-out")
    message(page).to_have_text(
        "The provider has not verified your email address, so it cannot sign you in here."
    )
    message(page).to_have_attribute("data-kind", "error")
    shot(page, "57-provider-refused")

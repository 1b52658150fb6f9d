"""Two-step verification (TOTP) on the sign-in page, end to end: Chromium against a real `fastauth serve`
(development mode, plain http) with a real OpenID provider (oidc-provider-mock, as in test_oauth_ui.py).

The test reads the key the page shows for manual entry and computes the codes an authenticator app would
(`fastauth.mfa.Totp`). Enrolment confirms with the code of the step before now (`settled_step() - 1`),
so that the current step's code is still unused for the sign-in that follows; each time step is accepted
once per account. The per-account sign-in limit is 6 a minute (second steps count on their own key),
so that throttling can be shown; every test uses its own account.

Skipped when /usr/bin/chromium or the playwright package is missing (see conftest.py), unless
FASTAUTH_TEST_REQUIRE_SERVICES=1. A screenshot of each page state is saved under test-artifacts/ui/.
"""

from __future__ import annotations

import re
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from fastauth.mfa import Totp
from support.page import focused, message, shot, state
from support.servers import clean_env, fastauth_serve, free_port, running
from support.totp import settled_step

pytestmark = pytest.mark.browser
PASSWORD = "correct horse battery"
LIMIT = 6  # sign-in attempts per account and minute
PHONE = {"width": 360, "height": 780}
NO_OVERFLOW = "document.documentElement.scrollWidth <= window.innerWidth"

# What the page says (app.js), exactly.
WRONG_CODE = "That code is not right, or it was used already. Type the code your app shows now."
WRONG_RECOVERY = "That recovery code is not right, or it was used already."
EXPIRED = "The sign-in took too long and has expired. Sign in again."
TURNED_ON = "Two-step verification is on. Your other sessions have been signed out."
TURNED_OFF = "Two-step verification is off. Signing in needs only the first step again."
BAD_CODE = {"detail": "Invalid or expired code", "code": "invalid_mfa_code"}


def _tag(tag: str) -> str:
    return f"{tag}-{uuid.uuid4().hex[:8]}"


@dataclass
class Server:
    base: str
    issuer: str


@dataclass
class Enrolled:
    totp: Totp
    #: The step whose code confirmed the enrolment (the last accepted one).
    step: int
    recovery_codes: list[str]

    def code(self, ahead: int) -> str:
        """The code of the time step `ahead` steps after the confirmation's."""
        return self.totp.code_at(self.step + ahead)

    def wrong_code(self) -> str:
        """Six digits that are no code of the steps around now."""
        near = {self.totp.code_at(self.step + d) for d in range(-1, 5)}
        return next(c for c in ("000000", "111111", "222222", "333333") if c not in near)


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
    """`fastauth serve` in development mode with the provider `mock` ("Mock")."""
    cwd = tmp_path_factory.mktemp("serve-mfa")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = clean_env(
        FASTAUTH_PUBLIC_URL=base,
        FASTAUTH_UI_ENABLED="true",
        FASTAUTH_COOKIE_OPT_IN="true",
        FASTAUTH_LOGIN_RATE_LIMIT_PER_ACCOUNT=f"{LIMIT}/minute",
        FASTAUTH_LOGIN_RATE_LIMIT_PER_IP="1000/minute",
        FASTAUTH_REGISTER_RATE_LIMIT_PER_IP="1000/hour",
        FASTAUTH_OAUTH__MOCK__CLIENT_ID="fastauth-browser-test",
        FASTAUTH_OAUTH__MOCK__CLIENT_SECRET="not-a-real-secret",
        FASTAUTH_OAUTH__MOCK__ISSUER=issuer,
        FASTAUTH_OAUTH__MOCK__DISPLAY_NAME="Mock",
    )
    with running(fastauth_serve(cwd, env, port=port)) as (process,):
        assert process.base == base
        yield Server(base, issuer)
        assert process.unhandled() is None, process.output


@pytest.fixture
def open_page(new_page: Callable[..., Any], server: Server) -> Callable[..., Any]:
    """`open_page(viewport=None)`: a fresh browser context showing the sign-in page, loaded; the
    provider's CDN is off limits. Script errors and CSP violations fail the test (`new_page`)."""

    def factory(viewport: dict[str, int] | None = None) -> Any:
        page = new_page(server.base, *([viewport] if viewport else []))
        page.context.route(re.compile(r"^https://cdn\.jsdelivr\.net/"), lambda route: route.abort())
        page.goto("/")
        state(page).to_have_attribute("data-state", re.compile("^signed-(in|out)$"))
        return page

    return factory


# --------------------------------------------------------------------------------------------------
# helpers


def register(page: Any, email: str) -> None:
    form = page.locator("#register-form")
    form.get_by_label("Email").fill(email)
    form.get_by_label("Password").fill(PASSWORD)
    form.get_by_role("button", name="Create account").click()
    signed_in_as(page, email)


def sign_in(page: Any, email: str, password: str = PASSWORD) -> None:
    form = page.locator("#login-form")
    form.get_by_label("Email").fill(email)
    form.get_by_label("Password").fill(password)
    form.get_by_role("button", name="Sign in").click()


def sign_out(page: Any) -> None:
    page.get_by_role("button", name="Sign out", exact=True).click()
    state(page).to_have_attribute("data-state", "signed-out")
    message(page).to_have_text("Signed out.")


def signed_in_as(page: Any, email: str) -> None:
    from playwright.sync_api import expect

    state(page).to_have_attribute("data-state", "signed-in")
    expect(page.locator("#me-email")).to_have_text(email)


def at_the_code_form(page: Any) -> None:
    from playwright.sync_api import expect

    state(page).to_have_attribute("data-state", "mfa")
    expect(page.get_by_role("heading", name="Two-step verification", exact=True)).to_be_visible()
    assert focused(page) == "mfa-code"


def submit_code(page: Any, code: str) -> Any:
    """Type `code` into the code form and press "Verify"; the answer of `POST /auth/mfa/verify`."""
    form = page.locator("#mfa-form")
    form.locator("#mfa-code").fill(code)
    with page.expect_response("**/auth/mfa/verify") as answered:
        form.get_by_role("button", name="Verify", exact=True).click()
    return answered.value


def mfa_status(page: Any) -> Any:
    from playwright.sync_api import expect

    return expect(page.locator("#mfa-status"))


def enrol(page: Any, name: str) -> Enrolled:
    """On the signed-in page: "Set up", the key read from the page, "Turn on", the recovery codes read
    and "Done"."""
    from playwright.sync_api import expect

    card = page.locator("#mfa-card")
    mfa_status(page).to_have_text("Off")
    card.get_by_role("button", name="Set up two-step verification").click()
    qr = card.locator("#mfa-qr svg")
    expect(qr).to_be_visible()
    expect(qr).to_have_attribute("role", "img")
    expect(qr).to_have_attribute("aria-label", "QR code to scan with your authenticator app")
    box = qr.bounding_box()
    assert box is not None and box["width"] >= 150 and box["height"] >= 150  # scannable, not a speck
    assert qr.locator("path").count() >= 1
    assert page.evaluate(NO_OVERFLOW)
    shown = card.locator("#mfa-secret").inner_text()
    assert re.fullmatch(r"([A-Z2-7]{4} )+[A-Z2-7]{1,4}", shown), shown  # base32, in groups of four
    totp = Totp(shown.replace(" ", ""))
    shot(page, f"{name}-setup")

    step = settled_step() - 1
    form = card.locator("#mfa-confirm-form")
    form.get_by_label("Code from your app").fill(totp.code_at(step))
    with page.expect_response("**/auth/mfa/totp/confirm") as answered:
        form.get_by_role("button", name="Turn on").click()
    assert answered.value.status == 200
    message(page).to_have_text(TURNED_ON)
    codes_box = card.locator("#mfa-codes")
    expect(codes_box).to_be_visible()
    expect(codes_box.get_by_role("heading", name="Save these recovery codes now")).to_be_visible()
    assert focused(page) == "mfa-codes-title"
    codes = codes_box.locator("#mfa-recovery-codes li").all_inner_texts()
    assert len(codes) == 10 and len(set(codes)) == 10
    assert all(re.fullmatch(r"[A-Z2-7]{5}-[A-Z2-7]{5}", code) for code in codes), codes
    assert codes == answered.value.json()["recovery_codes"]
    mfa_status(page).to_have_text("On · 10 recovery codes left")
    expect(card.locator("#mfa-enrol")).to_be_hidden()  # the key is gone from the card
    shot(page, f"{name}-recovery-codes")

    codes_box.get_by_role("button", name="Done: I have saved them").click()
    expect(codes_box).to_be_hidden()
    expect(card.locator("#mfa-recovery-codes li")).to_have_count(0)  # gone from the page, not just hidden
    assert card.locator("#mfa-secret").inner_text() == ""
    mfa_status(page).to_have_text("On · 10 recovery codes left")
    return Enrolled(totp, step, codes)


# --------------------------------------------------------------------------------------------------
# the tests


def test_enrol_on_the_page_then_sign_in_with_a_code(open_page: Callable[..., Any], server: Server) -> None:
    from playwright.sync_api import expect

    email = f"{_tag('ada')}@example.com"
    page = open_page()
    register(page, email)
    card = page.locator("#mfa-card")
    expect(card.get_by_role("heading", name="Two-step verification")).to_be_visible()
    mfa_status(page).to_have_text("Off")
    expect(card.locator("#mfa-on")).to_be_hidden()

    # a wrong code does not turn it on: the set-up stays, with the words
    card.get_by_role("button", name="Set up two-step verification").click()
    expect(card.locator("#mfa-qr svg")).to_be_visible()
    shown = card.locator("#mfa-secret").inner_text().replace(" ", "")
    form = card.locator("#mfa-confirm-form")
    near = {Totp(shown).code_at(settled_step() + d) for d in (-1, 0, 1)}
    form.get_by_label("Code from your app").fill(next(c for c in ("000000", "111111") if c not in near))
    with page.expect_response("**/auth/mfa/totp/confirm") as answered:
        form.get_by_role("button", name="Turn on").click()
    assert (answered.value.status, answered.value.json()) == (400, BAD_CODE)
    message(page).to_have_text(WRONG_CODE)
    message(page).to_have_attribute("data-kind", "error")
    expect(card.locator("#mfa-enrol")).to_be_visible()
    card.get_by_role("button", name="Cancel", exact=True).click()
    mfa_status(page).to_have_text("Off")
    expect(card.locator("#mfa-qr svg")).to_have_count(0)

    # set up again (a new key), and on
    enrolled = enrol(page, "60-mfa")
    expect(card.locator("#mfa-on")).to_be_visible()
    expect(card.get_by_role("button", name="Set up two-step verification")).to_be_hidden()

    # the recovery codes were shown once: a reload shows the status only
    page.reload()
    signed_in_as(page, email)
    mfa_status(page).to_have_text("On · 10 recovery codes left")
    expect(card.locator("#mfa-recovery-codes li")).to_have_count(0)
    expect(card.locator("#mfa-codes")).to_be_hidden()
    sign_out(page)

    # the password alone is not enough: the code form follows
    with page.expect_response("**/auth/login") as login:
        sign_in(page, email)
    assert login.value.status == 200 and login.value.json()["mfa_required"] is True
    at_the_code_form(page)
    code = page.locator("#mfa-code")
    expect(code).to_have_attribute("inputmode", "numeric")
    expect(code).to_have_attribute("autocomplete", "one-time-code")
    expect(page.locator("#mfa-code-label")).to_have_text("Code from your app")
    message(page).to_have_text("")
    assert "fastauth_access" not in {c["name"] for c in page.context.cookies()}  # not signed in yet
    expect(page).to_have_url(f"{server.base}/")  # nothing of the second step in the address
    shot(page, "62-mfa-code-form")

    # a wrong code: said in words, the form stays, ready for another try
    wrong = submit_code(page, enrolled.wrong_code())
    assert (wrong.status, wrong.json()) == (400, BAD_CODE)
    assert set(wrong.request.post_data_json) == {"mfa_token", "code"}
    message(page).to_have_text(WRONG_CODE)
    message(page).to_have_attribute("data-kind", "error")
    state(page).to_have_attribute("data-state", "mfa")
    assert focused(page) == "mfa-code"
    shot(page, "63-mfa-wrong-code")

    # the right one: signed in, as after a password sign-in
    right = submit_code(page, enrolled.code(1))
    assert right.status == 200
    assert right.request.headers["x-fastauth-delivery"] == "cookie"
    set_cookies = [h["value"] for h in right.headers_array() if h["name"].lower() == "set-cookie"]
    assert any(c.startswith("fastauth_access=") for c in set_cookies), set_cookies
    signed_in_as(page, email)
    message(page).to_have_text("Signed in.")
    assert focused(page) == "account-title"
    assert {"fastauth_access", "fastauth_refresh", "csrf_token"} <= {
        c["name"] for c in page.context.cookies()
    }
    expect(page.locator("#sessions li")).to_have_count(1)
    mfa_status(page).to_have_text("On · 10 recovery codes left")
    shot(page, "64-mfa-signed-in")


def test_a_recovery_code_signs_in_once_and_a_code_is_not_accepted_twice(
    open_page: Callable[..., Any],
) -> None:
    from playwright.sync_api import expect

    email = f"{_tag('grace')}@example.com"
    page = open_page()
    register(page, email)
    enrolled = enrol(page, "65-mfa")
    sign_out(page)

    sign_in(page, email)
    at_the_code_form(page)
    assert submit_code(page, enrolled.code(1)).status == 200
    signed_in_as(page, email)
    sign_out(page)

    # the same code again, for a new sign-in: refused in words (each time step counts once)
    sign_in(page, email)
    at_the_code_form(page)
    replay = submit_code(page, enrolled.code(1))
    assert (replay.status, replay.json()) == (400, BAD_CODE)
    message(page).to_have_text(WRONG_CODE)
    state(page).to_have_attribute("data-state", "mfa")

    # a recovery code instead
    page.get_by_role("button", name="Use a recovery code instead").click()
    expect(page.locator("#mfa-code-label")).to_have_text("Recovery code")
    expect(page.locator("#mfa-code")).to_have_attribute("inputmode", "text")
    expect(page.locator("#mfa-code")).to_have_attribute("autocomplete", "off")
    expect(page.get_by_role("button", name="Use a code from your app instead")).to_be_visible()
    message(page).to_have_text("")
    shot(page, "66-mfa-recovery-code-form")
    rescue = submit_code(page, enrolled.recovery_codes[0])
    assert rescue.status == 200
    assert rescue.request.post_data_json["code"] == enrolled.recovery_codes[0]
    signed_in_as(page, email)
    message(page).to_have_text("Signed in.")
    mfa_status(page).to_have_text("On · 9 recovery codes left")
    sign_out(page)

    # that recovery code is spent; going back leaves the second step
    sign_in(page, email)
    at_the_code_form(page)
    page.get_by_role("button", name="Use a recovery code instead").click()
    spent = submit_code(page, enrolled.recovery_codes[0])
    assert (spent.status, spent.json()) == (400, BAD_CODE)
    message(page).to_have_text(WRONG_RECOVERY)
    state(page).to_have_attribute("data-state", "mfa")
    page.get_by_role("link", name="Cancel and go back to sign in").click()
    state(page).to_have_attribute("data-state", "signed-out")
    expect(page.locator("#login-email")).to_have_value(email)
    assert focused(page) == "login-password"


def test_an_expired_second_step_goes_back_to_the_password_form(
    open_page: Callable[..., Any], server: Server
) -> None:
    from playwright.sync_api import expect

    email = f"{_tag('barbara')}@example.com"
    page = open_page()
    register(page, email)
    enrolled = enrol(page, "67-mfa")
    sign_out(page)
    sign_in(page, email)
    at_the_code_form(page)

    # a newer sign-in (here another client's) voids this one's MFA token
    newer = httpx.post(f"{server.base}/auth/login", json={"email": email, "password": PASSWORD})
    assert newer.status_code == 200 and newer.json()["mfa_required"] is True

    stale = submit_code(page, enrolled.code(1))
    assert (stale.status, stale.json()["code"]) == (400, "invalid_code")
    state(page).to_have_attribute("data-state", "signed-out")
    message(page).to_have_text(EXPIRED)
    message(page).to_have_attribute("data-kind", "error")
    expect(page.locator("#login-email")).to_have_value(email)  # only the password to type again
    assert focused(page) == "login-password"
    shot(page, "68-mfa-expired")

    # the code was not spent by the refused attempt: a new sign-in takes it
    sign_in(page, email)
    at_the_code_form(page)
    assert submit_code(page, enrolled.code(1)).status == 200
    signed_in_as(page, email)


def test_too_many_wrong_codes_are_throttled_with_the_wait(open_page: Callable[..., Any]) -> None:
    """At phone width, too: the set-up and the code form fit without sideways scrolling."""
    email = f"{_tag('mallory')}@example.com"
    page = open_page(PHONE)
    register(page, email)
    enrolled = enrol(page, "69-mfa-phone")
    assert page.evaluate(NO_OVERFLOW)
    sign_out(page)
    sign_in(page, email)
    at_the_code_form(page)
    assert page.evaluate(NO_OVERFLOW)

    for _ in range(LIMIT):
        assert submit_code(page, enrolled.wrong_code()).status == 400
        message(page).to_have_text(WRONG_CODE)
    throttled = submit_code(page, enrolled.code(1))  # even the right code, in the same minute
    assert throttled.status == 429
    wait = int(throttled.headers["retry-after"])
    assert 0 < wait <= 60
    message(page).to_have_text(re.compile(r"^Too many attempts\. Wait \d+ seconds? before trying again\.$"))
    message(page).to_have_attribute("data-kind", "error")
    state(page).to_have_attribute("data-state", "mfa")  # the sign-in can go on after the wait
    shot(page, "70-mfa-throttled-phone")


def test_new_recovery_codes_and_turning_it_off(open_page: Callable[..., Any]) -> None:
    from playwright.sync_api import expect

    email = f"{_tag('edsger')}@example.com"
    page = open_page()
    register(page, email)
    enrolled = enrol(page, "71-mfa")
    card = page.locator("#mfa-card")

    # new recovery codes: a wrong code changes nothing; a current one makes a new set
    regenerate = card.locator("#mfa-regenerate-form")
    regenerate.get_by_label("Current code from your app").fill(enrolled.wrong_code())
    with page.expect_response("**/auth/mfa/recovery-codes") as answered:
        regenerate.get_by_role("button", name="New recovery codes").click()
    assert answered.value.status == 400
    message(page).to_have_text(WRONG_CODE)
    mfa_status(page).to_have_text("On · 10 recovery codes left")
    regenerate.get_by_label("Current code from your app").fill(enrolled.code(1))
    with page.expect_response("**/auth/mfa/recovery-codes") as answered:
        regenerate.get_by_role("button", name="New recovery codes").click()
    assert answered.value.status == 200
    message(page).to_have_text("New recovery codes are ready. The old ones no longer work.")
    fresh = card.locator("#mfa-recovery-codes li").all_inner_texts()
    assert len(fresh) == 10 and not set(fresh) & set(enrolled.recovery_codes)
    expect(card.get_by_role("heading", name="Save these recovery codes now")).to_be_visible()
    shot(page, "72-mfa-new-recovery-codes")
    card.get_by_role("button", name="Done: I have saved them").click()
    mfa_status(page).to_have_text("On · 10 recovery codes left")

    # turning it off: the password and a current code
    disable = card.locator("#mfa-disable-form")
    expect(disable.get_by_label("Current password")).to_be_visible()
    disable.get_by_label("Current password").fill("not the password")
    disable.get_by_label("Current code from your app").fill(enrolled.code(2))
    with page.expect_response("**/auth/mfa/totp/disable") as answered:
        disable.get_by_role("button", name="Turn off").click()
    assert answered.value.status == 400
    message(page).to_have_text("The current password is wrong. Nothing changed.")
    assert focused(page) == "mfa-disable-password"
    mfa_status(page).to_have_text("On · 10 recovery codes left")

    disable.get_by_label("Current password").fill(PASSWORD)
    disable.get_by_label("Current code from your app").fill(enrolled.code(2))
    with page.expect_response("**/auth/mfa/totp/disable") as answered:
        disable.get_by_role("button", name="Turn off").click()
    assert answered.value.status == 204
    assert answered.value.request.post_data_json == {"password": PASSWORD, "code": enrolled.code(2)}
    message(page).to_have_text(TURNED_OFF)
    mfa_status(page).to_have_text("Off")
    expect(card.get_by_role("button", name="Set up two-step verification")).to_be_visible()
    expect(card.locator("#mfa-on")).to_be_hidden()
    shot(page, "73-mfa-off")

    # off: the password alone signs in again
    sign_out(page)
    sign_in(page, email)
    signed_in_as(page, email)
    message(page).to_have_text("Signed in.")


def test_a_provider_sign_in_of_an_enrolled_account_asks_for_the_code(
    open_page: Callable[..., Any], server: Server
) -> None:
    from playwright.sync_api import expect

    sub, email = _tag("hedy"), f"{_tag('hedy')}@example.com"
    r = httpx.put(f"{server.issuer}/users/{sub}", json={"email": email, "email_verified": True})
    assert r.status_code == 204, r.text

    def continue_with_mock(name: str) -> None:
        page.get_by_role("link", name="Continue with Mock", exact=True).click()
        page.wait_for_url(f"{server.issuer}/oauth2/authorize?**")
        page.get_by_placeholder("sub").fill(sub)
        page.get_by_role("button", name="Authorize", exact=True).click()
        page.wait_for_url(f"{server.base}/**")
        expect(page).to_have_url(f"{server.base}/")  # the marks of the return leave the address bar
        shot(page, name)

    page = open_page()
    continue_with_mock("74-mfa-provider-first")
    signed_in_as(page, email)
    message(page).to_have_text("Signed in with Mock.")
    enrolled = enrol(page, "75-mfa-provider")
    sign_out(page)

    # the provider's word is the first factor: back on the page at the code form, the token in a cookie
    continue_with_mock("76-mfa-provider-code-form")
    at_the_code_form(page)
    cookie = {c["name"]: c for c in page.context.cookies()}["fastauth_mfa"]
    assert cookie["httpOnly"] and cookie["path"] == "/auth/mfa"
    assert "fastauth_mfa" not in page.evaluate("document.cookie")

    wrong = submit_code(page, enrolled.wrong_code())
    assert (wrong.status, wrong.json()) == (400, BAD_CODE)
    message(page).to_have_text(WRONG_CODE)
    right = submit_code(page, enrolled.code(1))
    assert right.status == 200
    assert right.request.post_data_json == {"code": enrolled.code(1)}  # no mfa_token: the cookie has it
    signed_in_as(page, email)
    message(page).to_have_text("Signed in with Mock.")
    assert "fastauth_mfa" not in {c["name"] for c in page.context.cookies()}  # spent, and cleared

    # an account without a password turns it off with the code alone (a recent sign-in confirms)
    disable = page.locator("#mfa-disable-form")
    expect(disable.locator("#mfa-disable-password")).to_be_hidden()
    expect(disable.locator("[data-recent-sign-in]")).to_be_visible()
    disable.get_by_label("Current code from your app").fill(enrolled.code(2))
    with page.expect_response("**/auth/mfa/totp/disable") as answered:
        disable.get_by_role("button", name="Turn off").click()
    assert answered.value.status == 204
    assert answered.value.request.post_data_json == {"code": enrolled.code(2)}
    message(page).to_have_text(TURNED_OFF)
    mfa_status(page).to_have_text("Off")

    # a return marked `mfa_required` whose sign-in is gone (its cookie expired): "expired", in words
    sign_out(page)
    page.goto("/?mfa_required=1")
    at_the_code_form(page)
    expect(page).to_have_url(f"{server.base}/")
    orphan = submit_code(page, "123456")
    assert orphan.status == 401
    state(page).to_have_attribute("data-state", "signed-out")
    message(page).to_have_text(EXPIRED)

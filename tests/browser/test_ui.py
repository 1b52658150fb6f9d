"""The sign-in page of `fastauth serve` in a real browser: Debian's headless Chromium driven by Playwright.

`fastauth serve` runs as a process on 127.0.0.1 in development mode (plain http, so cookies without
`Secure`), with 3-second access tokens and no leeway so that expiry happens during the test, and a
per-account login limit of 3 a minute so that throttling can be shown. The page is used as a person
would use it (labels, buttons, the keyboard); the network and the cookie jar are watched from outside.

Skipped when /usr/bin/chromium or the playwright package is missing, unless
FASTAUTH_TEST_REQUIRE_SERVICES=1 (CI), where that is a failure. Playwright's own browser download is
never used. A screenshot of each page state is saved under test-artifacts/ui/.
"""

from __future__ import annotations

import re
import threading
import uuid
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from support.http import bearer
from support.page import message, shot, state
from support.servers import clean_env, serve

pytestmark = pytest.mark.browser
ACCESS_TTL = 3
PASSWORD = "correct horse battery"
DESKTOP = {"width": 1100, "height": 820}  # as conftest.DESKTOP
PHONE = {"width": 360, "height": 780}

SESSION_ENDED = "You have been signed out: this session was revoked on another device"


def _email(tag: str) -> str:
    return f"{tag}-{uuid.uuid4().hex[:8]}@example.com"


# --------------------------------------------------------------------------------------------------
# fixtures: the server, the browser, pages


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    cwd = tmp_path_factory.mktemp("serve")
    env = clean_env(
        FASTAUTH_JWT__ACCESS_TOKEN_TTL=str(ACCESS_TTL),
        FASTAUTH_JWT__LEEWAY="0",
        FASTAUTH_LOGIN_RATE_LIMIT_PER_ACCOUNT="3/minute",
        FASTAUTH_LOGIN_RATE_LIMIT_PER_IP="1000/minute",
        FASTAUTH_REGISTER_RATE_LIMIT_PER_IP="1000/hour",
    )
    with serve(cwd, env) as process:
        yield process.base


@pytest.fixture
def open_page(new_page: Callable[..., Any], server: str) -> Callable[..., Any]:
    """`open_page(viewport=DESKTOP)`: a fresh browser context (its own cookie jar) showing `/`, loaded.

    Script errors and Content-Security-Policy violations on the page fail the test (`new_page`).
    """

    def factory(viewport: dict[str, int] = DESKTOP) -> Any:
        page = new_page(server, viewport)
        page.goto("/")
        # (page.wait_for_function would need 'unsafe-eval', which the page's CSP rightly refuses)
        state(page).to_have_attribute("data-state", re.compile("^signed-(in|out)$"))
        return page

    return factory


def api_user(server: str, email: str) -> None:
    """An account made through the JSON API (the session it opens is ended at once)."""
    r = httpx.post(f"{server}/auth/register", json={"email": email, "password": PASSWORD})
    assert r.status_code == 201, r.text
    assert "access_token" in r.json()  # no opt-in header: an API client keeps JSON delivery
    out = httpx.post(f"{server}/auth/logout", headers=bearer(r.json()["access_token"]))
    assert out.status_code == 204


def sign_in(page: Any, email: str, password: str = PASSWORD) -> None:
    form = page.locator("#login-form")
    form.get_by_label("Email").fill(email)
    form.get_by_label("Password").fill(password)
    form.get_by_role("button", name="Sign in").click()


def signed_in_as(page: Any, email: str) -> None:
    from playwright.sync_api import expect

    state(page).to_have_attribute("data-state", "signed-in")
    expect(page.locator("#me-email")).to_have_text(email)


def cookie_jar(page: Any) -> dict[str, dict[str, Any]]:
    return {c["name"]: c for c in page.context.cookies()}


# --------------------------------------------------------------------------------------------------
# the tests


def test_register_sign_out_and_sign_in(open_page: Callable[..., Any]) -> None:
    from playwright.sync_api import expect

    page = open_page()
    state(page).to_have_attribute("data-state", "signed-out")
    expect(page.get_by_role("heading", name="Create an account", exact=True)).to_be_visible()
    shot(page, "01-signed-out")

    email = _email("ada")
    form = page.locator("#register-form")
    form.get_by_label("Email").fill(email)
    form.get_by_label("Password").fill(PASSWORD)
    form.get_by_role("button", name="Create account").click()
    signed_in_as(page, email)
    message(page).to_have_text("Account created. You are signed in.")
    sessions = page.locator("#sessions li")
    expect(sessions).to_have_count(1)
    expect(sessions.first).to_contain_text("This device")
    expect(sessions.first).to_contain_text("Headless Chrome on Linux")
    expect(sessions.first).to_contain_text("127.0.0.1")
    expect(sessions.first).to_contain_text("just now")
    shot(page, "02-registered-signed-in")

    page.get_by_role("button", name="Sign out", exact=True).click()
    state(page).to_have_attribute("data-state", "signed-out")
    message(page).to_have_text("Signed out.")
    jar = cookie_jar(page)
    assert not {"fastauth_access", "fastauth_refresh", "csrf_token"} & set(jar), jar  # logout cleared them
    shot(page, "03-signed-out-after-sign-out")

    page.reload()
    state(page).to_have_attribute("data-state", "signed-out")  # nothing left that signs in again
    message(page).to_have_text("")  # and no talk of an ended session: there was none to try

    sign_in(page, email)
    signed_in_as(page, email)
    message(page).to_have_text("Signed in.")
    expect(page.locator("#sessions li")).to_have_count(1)  # the first session ended with the sign-out
    page.reload()
    signed_in_as(page, email)  # the cookies carry the session across page loads


def test_keyboard_alone_signs_in_with_visible_focus(open_page: Callable[..., Any], server: str) -> None:
    email = _email("kay")
    api_user(server, email)
    page = open_page()
    focused = "document.activeElement && (document.activeElement.id || document.activeElement.textContent)"
    page.keyboard.press("Tab")
    assert page.evaluate(focused) == "Skip to content"
    page.keyboard.press("Tab")
    assert page.evaluate(focused) == "API docs"
    page.keyboard.press("Tab")
    assert page.evaluate(focused) == "login-email"
    outline = "getComputedStyle(document.activeElement).outlineStyle"
    assert page.evaluate(outline) == "solid"  # focus is visible
    page.keyboard.type(email)
    page.keyboard.press("Tab")
    assert page.evaluate(focused) == "login-password"
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Sign in"
    assert page.evaluate(outline) == "solid"
    page.keyboard.press("Shift+Tab")
    page.keyboard.press("Enter")  # submits the form from the password field
    signed_in_as(page, email)
    assert page.evaluate(focused) == "account-title"  # focus moves to what changed
    assert page.locator("#message").get_attribute("aria-live") in ("polite", "assertive")


def test_access_cookie_is_not_readable_by_page_javascript(open_page: Callable[..., Any], server: str) -> None:
    email = _email("jar")
    api_user(server, email)
    page = open_page()
    sign_in(page, email)
    signed_in_as(page, email)

    visible = page.evaluate("document.cookie")
    assert "csrf_token=" in visible
    assert "fastauth_access" not in visible and "fastauth_refresh" not in visible

    jar = cookie_jar(page)
    access, refresh, csrf = jar["fastauth_access"], jar["fastauth_refresh"], jar["csrf_token"]
    assert access["httpOnly"] and access["sameSite"] == "Lax" and access["path"] == "/"
    assert refresh["httpOnly"] and refresh["sameSite"] == "Strict" and refresh["path"] == "/auth"
    assert not csrf["httpOnly"] and csrf["value"] in visible


def test_session_revoked_elsewhere_signs_the_first_browser_out(
    open_page: Callable[..., Any], server: str
) -> None:
    from playwright.sync_api import expect

    email = _email("two")
    api_user(server, email)
    first = open_page()
    sign_in(first, email)
    signed_in_as(first, email)

    second = open_page()
    sign_in(second, email)
    signed_in_as(second, email)
    expect(second.locator("#sessions li")).to_have_count(2)
    expect(second.locator("#sessions li.current")).to_have_count(1)
    shot(second, "04-two-sessions")

    other = second.locator("#sessions li:not(.current)")
    other.get_by_role("button", name="Revoke session: Headless Chrome on Linux, 127.0.0.1").click()
    message(second).to_have_text("Session revoked: that device is signed out.")
    expect(second.locator("#sessions li")).to_have_count(1)
    expect(second.locator("#sessions li.current")).to_have_count(1)

    refreshes: list[int] = []
    first.on("response", lambda r: refreshes.append(r.status) if r.url.endswith("/auth/refresh") else None)
    first.get_by_role("button", name="Refresh list").click()  # the first browser's next action
    state(first).to_have_attribute("data-state", "signed-out")
    message(first).to_contain_text(SESSION_ENDED)
    assert refreshes == [401]  # it tried one silent refresh, which the revoked session cannot pass
    shot(first, "05-revoked-elsewhere")

    second.get_by_role("button", name="Sign out everywhere").click()
    state(second).to_have_attribute("data-state", "signed-out")
    message(second).to_have_text("Signed out on every device.")
    shot(second, "06-signed-out-everywhere")


def test_expired_access_token_is_refreshed_without_the_user_noticing(
    open_page: Callable[..., Any], server: str
) -> None:
    from playwright.sync_api import expect

    email = _email("exp")
    api_user(server, email)
    page = open_page()
    sign_in(page, email)
    signed_in_as(page, email)
    before = cookie_jar(page)["fastauth_access"]["value"]

    seen: list[tuple[str, str, int]] = []
    page.on("response", lambda r: seen.append((r.request.method, httpx.URL(r.url).path, r.status)))
    page.wait_for_timeout((ACCESS_TTL + 0.5) * 1000)  # the access token (and its cookie) has expired
    page.get_by_role("button", name="Refresh list").click()
    message(page).to_have_text("Session list updated.")
    state(page).to_have_attribute("data-state", "signed-in")
    expect(page.locator("#sessions li")).to_have_count(1)
    assert seen == [
        ("GET", "/auth/sessions", 401),
        ("POST", "/auth/refresh", 200),
        ("GET", "/auth/sessions", 200),
    ], seen
    assert cookie_jar(page)["fastauth_access"]["value"] != before
    shot(page, "07-after-silent-refresh")


class _Attacker(BaseHTTPRequestHandler):
    """Another origin on the same machine (same site, other port), with forms aimed at fastauth."""

    target = ""

    def do_GET(self) -> None:
        body = f"""<!doctype html><title>Win a prize</title>
<form id="logout" method="post" action="{self.target}/auth/logout"><button>Claim prize</button></form>
<form id="login" method="post" action="{self.target}/auth/login">
  <input type="hidden" name="email" value="{self.server.attacker_email}">
  <input type="hidden" name="password" value="{PASSWORD}">
  <button>Claim another prize</button>
</form>""".encode()  # type: ignore[attr-defined]
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


def test_forged_requests_without_the_csrf_header_are_refused(
    open_page: Callable[..., Any], server: str
) -> None:
    email, attacker_email = _email("victim"), _email("mallory")
    api_user(server, email)
    api_user(server, attacker_email)
    page = open_page()
    sign_in(page, email)
    signed_in_as(page, email)

    # A script that got onto the page (or a sloppy app) sends the cookies but not the header.
    statuses = page.evaluate(
        """async () => {
            const sessions = await fetch('/auth/sessions', {method: 'DELETE', credentials: 'include'});
            const logout = await fetch('/auth/logout', {method: 'POST', credentials: 'include'});
            return [sessions.status, (await sessions.json()).detail, logout.status];
        }"""
    )
    assert statuses == [403, "CSRF token missing or invalid", 403]

    # A real cross-origin HTML form from another local server: the cookies go along (same site, so
    # SameSite=Lax lets them), and only the missing CSRF header stops it.
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), type("Handler", (_Attacker,), {"target": server}))
    httpd.attacker_email = attacker_email  # type: ignore[attr-defined]
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        evil = f"http://127.0.0.1:{httpd.server_address[1]}/"
        access_before = cookie_jar(page)["fastauth_access"]["value"]
        page.goto(evil)
        with page.expect_response(lambda r: r.url.endswith("/auth/logout")) as forged:
            page.locator("#logout button").click()
        response = forged.value
        assert response.status == 403
        assert "fastauth_access=" in (response.request.all_headers().get("cookie") or "")
        assert response.request.all_headers().get("origin") == evil.rstrip("/")

        # Login CSRF: the form signs in as the attacker, but without the opt-in header the tokens come
        # back in the body and no cookie is set, so this browser stays the victim's.
        page.goto(evil)
        with page.expect_response(lambda r: r.url.endswith("/auth/login")) as login:
            page.locator("#login button").click()
        assert login.value.status == 200
        assert not any(h["name"].lower() == "set-cookie" for h in login.value.headers_array())
        assert cookie_jar(page)["fastauth_access"]["value"] == access_before
    finally:
        httpd.shutdown()
        httpd.server_close()

    page.goto("/")
    signed_in_as(page, email)  # nothing happened to the victim's session
    page.get_by_role("button", name="Refresh list").click()
    message(page).to_have_text("Session list updated.")


def test_wrong_password_throttling_and_network_errors_are_explained(
    open_page: Callable[..., Any], server: str
) -> None:
    email = _email("oops")
    api_user(server, email)  # 0 of 3 logins used
    page = open_page()
    sign_in(page, email, "not the password")
    message(page).to_have_text("Wrong email or password. Check both and try again.")
    assert page.locator("#message").get_attribute("data-kind") == "error"
    assert page.evaluate("document.activeElement.id") == "login-password"  # ready for another try
    state(page).to_have_attribute("data-state", "signed-out")
    shot(page, "08-wrong-password")

    for _ in range(2):
        sign_in(page, email, "still not it")
        message(page).to_have_text("Wrong email or password. Check both and try again.")
    sign_in(page, email)  # the 4th attempt in a minute, even with the right password
    message(page).to_contain_text("Too many attempts. Wait ")
    message(page).to_contain_text(" seconds before trying again.")
    state(page).to_have_attribute("data-state", "signed-out")
    shot(page, "09-throttled")

    form = page.locator("#register-form")
    form.get_by_label("Email").fill(email)
    form.get_by_label("Password").fill(PASSWORD)
    form.get_by_role("button", name="Create account").click()
    message(page).to_have_text("An account with this email already exists. Sign in instead.")

    page.route("**/auth/login", lambda route: route.abort("connectionrefused"))
    sign_in(page, _email("offline"))
    message(page).to_have_text("Cannot reach the server. Check your connection and try again.")
    shot(page, "10-network-error")


def test_readable_at_phone_width(open_page: Callable[..., Any], server: str) -> None:
    from playwright.sync_api import expect

    email = _email("phone-user-with-a-rather-long-address")
    api_user(server, email)
    page = open_page(PHONE)
    no_overflow = "document.documentElement.scrollWidth <= window.innerWidth"
    assert page.evaluate(no_overflow)
    shot(page, "11-phone-signed-out")

    # A second session with a long, unbroken user agent, as API clients send.
    other = httpx.post(
        f"{server}/auth/login",
        json={"email": email, "password": PASSWORD},
        headers={"User-Agent": "SomeMonitoringAgent/1.0(" + "x" * 120 + ")"},
    )
    assert other.status_code == 200
    sign_in(page, email)
    signed_in_as(page, email)
    expect(page.locator("#sessions li")).to_have_count(2)
    assert page.evaluate(no_overflow), page.evaluate("document.documentElement.scrollWidth")
    box = page.get_by_role("button", name="Sign out everywhere").bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"]
    assert box["height"] >= 40  # a comfortable touch target
    shot(page, "12-phone-signed-in")

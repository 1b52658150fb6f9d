"""Passkeys on the sign-in page, end to end: Chromium against a real `fastauth serve` whose public URL is
`http://localhost:PORT` (an IP address cannot be an RP ID), so the RP ID is "localhost" and the page is
opened there. The device is Chromium's virtual authenticator (CDP `WebAuthn.*`): a CTAP2 platform
authenticator with resident keys and user verification, which answers without a person.

One test also opens the page at `http://127.0.0.1:PORT`, where no browser would run a ceremony for
"localhost": the page names the address that works instead of offering a broken button. Another takes
`PublicKeyCredential.parse*OptionsFromJSON` and `toJSON` away, as in browsers without them, and the
page's own conversions carry the ceremonies.

Skipped when /usr/bin/chromium or the playwright package is missing (see conftest.py), unless
FASTAUTH_TEST_REQUIRE_SERVICES=1. A screenshot of each page state is saved under test-artifacts/ui/.
"""

from __future__ import annotations

import base64
import re
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from fastauth.mfa import Totp
from support.forge import claims
from support.http import bearer
from support.page import focused, message, shot, state
from support.servers import clean_env, fastauth_serve, free_port, running
from support.totp import settled_step

pytestmark = pytest.mark.browser
PASSWORD = "correct horse battery"

# What the page says (app.js), exactly.
ADDED = "Passkey \u201c{}\u201d added: you can sign in with it now."
ALREADY_HERE = (
    "This device already has a passkey for this account (it is in the list). "
    "Add one on another device or passkey manager."
)
NOT_USED = "No passkey was used: it was cancelled, it timed out, or your device did not confirm it is you."
REFUSED = "This passkey was not accepted. Try again, or sign in another way."
RENAMED = "The passkey is now called \u201c{}\u201d."
REMOVED = (
    "The passkey \u201c{}\u201d is removed: it no longer signs you in here. "
    "Your device may still list it; you can delete it there too."
)

VIRTUAL_AUTHENTICATOR = {
    "protocol": "ctap2",
    "transport": "internal",
    "hasResidentKey": True,
    "hasUserVerification": True,
    "isUserVerified": True,
    "automaticPresenceSimulation": True,
}
#: What takes the browser's own JSON helpers away (before the page's script runs).
WITHOUT_JSON_HELPERS = """
delete PublicKeyCredential.parseCreationOptionsFromJSON;
delete PublicKeyCredential.parseRequestOptionsFromJSON;
delete PublicKeyCredential.prototype.toJSON;
"""


def _email(tag: str) -> str:
    return f"{tag}-{uuid.uuid4().hex[:8]}@example.com"


@dataclass
class Server:
    #: http://localhost:PORT, the public URL: where passkeys work.
    base: str
    #: http://127.0.0.1:PORT: the same server, on an origin that is not the relying party's.
    ip_base: str


@dataclass
class Authenticator:
    """Chromium's virtual authenticator on one page (CDP)."""

    cdp: Any
    id: str

    def credentials(self) -> list[dict[str, Any]]:
        found = self.cdp.send("WebAuthn.getCredentials", {"authenticatorId": self.id})
        return list(found["credentials"])

    def user_verified(self, verified: bool) -> None:
        self.cdp.send("WebAuthn.setUserVerified", {"authenticatorId": self.id, "isUserVerified": verified})


# --------------------------------------------------------------------------------------------------
# fixtures


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """`fastauth serve` with the public URL http://localhost:PORT (so the RP ID is "localhost")."""
    cwd = tmp_path_factory.mktemp("serve-passkeys")
    port = free_port()
    base = f"http://localhost:{port}"
    env = clean_env(
        FASTAUTH_PUBLIC_URL=base,
        FASTAUTH_UI_ENABLED="true",
        FASTAUTH_COOKIE_OPT_IN="true",
        FASTAUTH_LOGIN_RATE_LIMIT_PER_ACCOUNT="20/minute",
        FASTAUTH_LOGIN_RATE_LIMIT_PER_IP="1000/minute",
        FASTAUTH_REGISTER_RATE_LIMIT_PER_IP="1000/hour",
    )
    with running(fastauth_serve(cwd, env, port=port)) as (process,):
        yield Server(base, process.base)
        assert process.unhandled() is None, process.output


@pytest.fixture
def open_page(new_page: Callable[..., Any], server: Server) -> Callable[..., Any]:
    """`open_page(base=server.base, init_script=None)`: a fresh browser context showing the sign-in page
    at `base`, loaded. Script errors and CSP violations fail the test (`new_page`)."""

    def factory(base: str | None = None, init_script: str | None = None) -> Any:
        page = new_page(base or server.base)
        if init_script is not None:
            page.add_init_script(init_script)
        page.goto("/")
        state(page).to_have_attribute("data-state", re.compile("^signed-(in|out)$"))
        return page

    return factory


def authenticator(page: Any) -> Authenticator:
    cdp = page.context.new_cdp_session(page)
    cdp.send("WebAuthn.enable")
    added = cdp.send("WebAuthn.addVirtualAuthenticator", {"options": VIRTUAL_AUTHENTICATOR})
    return Authenticator(cdp, added["authenticatorId"])


# --------------------------------------------------------------------------------------------------
# helpers


def register(page: Any, email: str) -> None:
    form = page.locator("#register-form")
    form.get_by_label("Email").fill(email)
    form.get_by_label("Password").fill(PASSWORD)
    form.get_by_role("button", name="Create account").click()
    signed_in_as(page, email)


def sign_in(page: Any, email: str) -> None:
    form = page.locator("#login-form")
    form.get_by_label("Email").fill(email)
    form.get_by_label("Password").fill(PASSWORD)
    form.get_by_role("button", name="Sign in").click()


def sign_out(page: Any) -> None:
    page.get_by_role("button", name="Sign out", exact=True).click()
    state(page).to_have_attribute("data-state", "signed-out")
    message(page).to_have_text("Signed out.")


def signed_in_as(page: Any, email: str) -> None:
    from playwright.sync_api import expect

    state(page).to_have_attribute("data-state", "signed-in")
    expect(page.locator("#me-email")).to_have_text(email)


def cookies(page: Any) -> dict[str, str]:
    return {c["name"]: c["value"] for c in page.context.cookies()}


def amr(page: Any) -> list[str]:
    """The `amr` of the access token in the page's (HttpOnly) cookie."""
    return list(claims(cookies(page)["fastauth_access"])["amr"])


def listed(page: Any, names: list[str]) -> None:
    """The page's "Passkeys" card shows passkeys of exactly these names, in this order."""
    from playwright.sync_api import expect

    expect(page.locator("#passkeys li .passkey-name")).to_have_text(names)


def api_passkeys(page: Any) -> list[dict[str, Any]]:
    """`GET /auth/passkeys` with the page's cookies."""
    answer = page.request.get("/auth/passkeys")
    assert answer.status == 200, answer.text()
    return list(answer.json())


def add_passkey(page: Any, name: str | None) -> Any:
    """Type `name` (None: leave it empty) and press "Add a passkey"; the answer of /register/verify."""
    form = page.locator("#passkey-add-form")
    form.get_by_label("Name").fill(name or "")
    with page.expect_response("**/auth/passkeys/register/verify") as answered:
        form.get_by_role("button", name="Add a passkey").click()
    return answered.value


def passkey_sign_in(page: Any) -> Any:
    """Press "Sign in with a passkey"; the answer of /login/verify."""
    with page.expect_response("**/auth/passkeys/login/verify") as answered:
        page.get_by_role("button", name="Sign in with a passkey").click()
    return answered.value


def enrol_totp(base: str, email: str) -> Totp:
    """An account with TOTP on, made through the JSON API."""
    made = httpx.post(f"{base}/auth/register", json={"email": email, "password": PASSWORD})
    assert made.status_code == 201, made.text
    token = made.json()["access_token"]
    setup = httpx.post(f"{base}/auth/mfa/totp/setup", headers=bearer(token))
    assert setup.status_code == 200, setup.text
    totp = Totp(setup.json()["secret"])
    confirmed = httpx.post(
        f"{base}/auth/mfa/totp/confirm",
        headers=bearer(token),
        json={"code": totp.code_at(settled_step() - 1)},
    )
    assert confirmed.status_code == 200, confirmed.text
    return totp


# --------------------------------------------------------------------------------------------------
# the tests


def test_add_a_passkey_sign_in_with_it_rename_and_remove(
    open_page: Callable[..., Any], server: Server
) -> None:
    from playwright.sync_api import expect

    email = _email("ada")
    page = open_page()
    device = authenticator(page)
    expect(page.get_by_role("button", name="Sign in with a passkey")).to_be_visible()
    expect(page.locator("#passkey-signin-elsewhere")).to_be_hidden()
    register(page, email)
    user_id = page.locator("#me-id").inner_text()
    card = page.locator("#passkeys-card")
    expect(card.get_by_role("heading", name="Passkeys")).to_be_visible()
    expect(card.locator("#passkeys-empty")).to_have_text("No passkey yet.")
    expect(card.locator("#passkeys li")).to_have_count(0)

    # add one: listed with its name, and the API agrees
    added = add_passkey(page, "Laptop")
    assert added.status == 201
    sent = added.request.post_data_json
    assert sent["name"] == "Laptop"
    assert set(sent["credential"]) == {
        "id",
        "rawId",
        "type",
        "response",
        "clientExtensionResults",
        "authenticatorAttachment",
    }
    assert set(sent["credential"]["response"]) == {"clientDataJSON", "attestationObject", "transports"}
    assert added.request.headers["x-csrf-token"] == cookies(page)["csrf_token"]
    message(page).to_have_text(ADDED.format("Laptop"))
    expect(card.locator("#passkeys-empty")).to_be_hidden()
    listed(page, ["Laptop"])
    item = card.locator("#passkeys li").first
    expect(item.locator(".tag")).to_have_text("This device only")
    expect(item.locator("dd").nth(1)).to_have_text("never")
    assert focused(page) == "passkeys-title"
    [stored] = api_passkeys(page)
    assert (stored["name"], stored["synced"], stored["last_used_at"]) == ("Laptop", False, None)
    assert stored == added.json()
    shot(page, "80-passkey-added")

    # the device holds one discoverable credential for "localhost", under a handle that is not the user id
    [held] = device.credentials()
    assert held["isResidentCredential"] is True and held["rpId"] == "localhost"
    handle = base64.b64decode(held["userHandle"])
    assert len(handle) == 32 and user_id.encode() not in handle and email.encode() not in handle
    assert base64.urlsafe_b64decode(held["credentialId"] + "==") == base64.urlsafe_b64decode(
        sent["credential"]["rawId"] + "=="
    )
    count = held["signCount"]

    # a second one on the same device: refused by excludeCredentials, said in words, still one
    with page.expect_response("**/auth/passkeys/register/options") as options:
        page.locator("#passkey-add-form").get_by_role("button", name="Add a passkey").click()
    excluded = options.value.json()["excludeCredentials"]
    assert [c["id"] for c in excluded] == [sent["credential"]["rawId"]]
    message(page).to_have_text(ALREADY_HERE)
    message(page).to_have_attribute("data-kind", "error")
    assert len(device.credentials()) == 1
    listed(page, ["Laptop"])
    assert len(api_passkeys(page)) == 1
    sign_out(page)

    # signed out: the passkey alone signs in, as both factors
    answer = passkey_sign_in(page)
    assert answer.status == 200
    assert answer.request.headers["x-fastauth-delivery"] == "cookie"
    assert set(answer.request.post_data_json) == {"credential"}
    signed_in_as(page, email)
    message(page).to_have_text("Signed in with a passkey.")
    assert focused(page) == "account-title"
    assert amr(page) == ["hwk", "mfa"]
    [used] = api_passkeys(page)
    assert used["last_used_at"] is not None
    expect(card.locator("#passkeys li dd").nth(1)).to_have_text("just now")
    assert device.credentials()[0]["signCount"] > count
    shot(page, "81-passkey-signed-in")

    # rename: the current name to edit; a blank one is refused in words
    card.get_by_role("button", name="Rename passkey Laptop").click()
    rename = card.get_by_label("New name for Laptop")
    expect(rename).to_have_value("Laptop")
    assert focused(page) == rename.get_attribute("id")
    rename.fill("   ")
    card.get_by_role("button", name="Save").click()
    message(page).to_have_text("A passkey's name is 1 to 64 characters, without control characters.")
    rename.fill("  Work   laptop ")
    with page.expect_response("**/auth/passkeys/*") as renamed:
        card.get_by_role("button", name="Save").click()
    assert (renamed.value.request.method, renamed.value.status) == ("PATCH", 200)
    assert renamed.value.request.post_data_json == {"name": "Work laptop"}
    message(page).to_have_text(RENAMED.format("Work laptop"))
    listed(page, ["Work laptop"])
    assert [p["name"] for p in api_passkeys(page)] == ["Work laptop"]

    # remove: gone from the list and the account (the account has a password: not its last way in)
    with page.expect_response("**/auth/passkeys/*") as removed:
        card.get_by_role("button", name="Remove passkey Work laptop").click()
    assert (removed.value.request.method, removed.value.status) == ("DELETE", 204)
    assert removed.value.request.headers["x-csrf-token"] == cookies(page)["csrf_token"]
    message(page).to_have_text(REMOVED.format("Work laptop"))
    expect(card.locator("#passkeys li")).to_have_count(0)
    expect(card.locator("#passkeys-empty")).to_be_visible()
    assert api_passkeys(page) == []
    sign_out(page)

    # the device still holds the key, but the server no longer knows it
    assert len(device.credentials()) == 1
    refused = passkey_sign_in(page)
    assert (refused.status, refused.json()["code"]) == (400, "invalid_passkey")
    message(page).to_have_text(REFUSED)
    state(page).to_have_attribute("data-state", "signed-out")
    assert "fastauth_access" not in cookies(page)


def test_a_passkey_as_the_second_step_after_the_password(
    open_page: Callable[..., Any], server: Server
) -> None:
    from playwright.sync_api import expect

    email = _email("grace")
    totp = enrol_totp(server.ip_base, email)
    page = open_page()
    authenticator(page)

    # no passkey yet: the second step offers codes only
    with page.expect_response("**/auth/login") as login:
        sign_in(page, email)
    assert login.value.json()["methods"] == ["totp", "recovery_code"]
    state(page).to_have_attribute("data-state", "mfa")
    expect(page.get_by_role("button", name="Use a passkey")).to_be_hidden()
    page.locator("#mfa-code").fill(totp.code_at(settled_step()))
    page.get_by_role("button", name="Verify", exact=True).click()
    signed_in_as(page, email)
    assert add_passkey(page, None).status == 201
    message(page).to_have_text(ADDED.format("Passkey"))
    listed(page, ["Passkey"])
    sign_out(page)

    # with one: "Use a passkey" completes the sign-in the password began
    with page.expect_response("**/auth/login") as login:
        sign_in(page, email)
    first = login.value.json()
    assert first["methods"] == ["totp", "recovery_code", "passkey"]
    state(page).to_have_attribute("data-state", "mfa")
    shot(page, "82-passkey-second-step")
    with (
        page.expect_response("**/auth/mfa/passkey/options") as options,
        page.expect_response("**/auth/mfa/verify") as verified,
    ):
        page.get_by_role("button", name="Use a passkey").click()
    assert options.value.request.post_data_json == {"mfa_token": first["mfa_token"]}
    assert len(options.value.json()["allowCredentials"]) == 1
    assert verified.value.status == 200
    assert verified.value.request.headers["x-fastauth-delivery"] == "cookie"
    assert set(verified.value.request.post_data_json) == {"mfa_token", "credential"}
    assert verified.value.request.post_data_json["mfa_token"] == first["mfa_token"]
    signed_in_as(page, email)
    message(page).to_have_text("Signed in.")
    assert amr(page) == ["pwd", "hwk", "mfa"]


def test_a_second_step_whose_token_is_in_its_cookie_offers_the_passkey(
    open_page: Callable[..., Any], server: Server
) -> None:
    """A provider's return (`?mfa_required=1`, the MFA token in an HttpOnly cookie on /auth/mfa): the
    methods are unknown, so the page offers the passkey; the requests carry no token of their own."""
    email = _email("hedy")
    totp = enrol_totp(server.ip_base, email)
    page = open_page()
    authenticator(page)
    sign_in(page, email)
    page.locator("#mfa-code").fill(totp.code_at(settled_step()))
    page.get_by_role("button", name="Verify", exact=True).click()
    signed_in_as(page, email)
    assert add_passkey(page, "Phone").status == 201
    sign_out(page)

    # the first factor elsewhere; its MFA token in the cookie a provider's callback would set
    first = httpx.post(f"{server.ip_base}/auth/login", json={"email": email, "password": PASSWORD}).json()
    mfa_cookie = {
        "name": "fastauth_mfa",
        "value": first["mfa_token"],
        "domain": "localhost",
        "path": "/auth/mfa",
    }
    page.context.add_cookies([{**mfa_cookie, "httpOnly": True, "sameSite": "Lax"}])
    page.goto("/?mfa_required=1")
    state(page).to_have_attribute("data-state", "mfa")
    with (
        page.expect_response("**/auth/mfa/passkey/options") as options,
        page.expect_response("**/auth/mfa/verify") as verified,
    ):
        page.get_by_role("button", name="Use a passkey").click()
    assert options.value.request.post_data_json == {}
    assert verified.value.status == 200
    assert set(verified.value.request.post_data_json) == {"credential"}
    signed_in_as(page, email)
    assert amr(page) == ["pwd", "hwk", "mfa"]
    assert "fastauth_mfa" not in cookies(page)


def test_a_device_that_cannot_verify_the_user_does_not_sign_in(
    open_page: Callable[..., Any], server: Server
) -> None:
    email = _email("mallory")
    page = open_page()
    device = authenticator(page)
    register(page, email)
    assert add_passkey(page, "Laptop").status == 201
    sign_out(page)
    count = device.credentials()[0]["signCount"]

    device.user_verified(False)
    page.get_by_role("button", name="Sign in with a passkey").click()
    message(page).to_have_text(NOT_USED)
    message(page).to_have_attribute("data-kind", "error")
    state(page).to_have_attribute("data-state", "signed-out")
    assert "fastauth_access" not in cookies(page)
    assert device.credentials()[0]["signCount"] == count
    shot(page, "83-passkey-not-verified")

    # verified again: the same passkey signs in
    device.user_verified(True)
    assert passkey_sign_in(page).status == 200
    signed_in_as(page, email)


def test_without_the_browsers_json_helpers_the_page_converts_itself(
    open_page: Callable[..., Any], server: Server
) -> None:
    email = _email("edsger")
    page = open_page(init_script=WITHOUT_JSON_HELPERS)
    assert page.evaluate(
        "[typeof PublicKeyCredential.parseRequestOptionsFromJSON, typeof PublicKeyCredential.prototype.toJSON]"
    ) == ["undefined", "undefined"]
    authenticator(page)
    register(page, email)
    assert add_passkey(page, "Laptop").status == 201
    listed(page, ["Laptop"])
    sign_out(page)
    assert passkey_sign_in(page).status == 200
    signed_in_as(page, email)
    assert amr(page) == ["hwk", "mfa"]


def test_on_another_host_the_page_names_the_one_that_works(
    open_page: Callable[..., Any], server: Server
) -> None:
    from playwright.sync_api import expect

    page = open_page(server.ip_base)
    hint = page.locator("#passkey-signin-elsewhere")
    expect(hint).to_have_text(f"Passkeys work at {server.base}.")
    expect(hint.get_by_role("link")).to_have_attribute("href", f"{server.base}/")
    expect(page.locator("#passkey-sign-in")).to_be_hidden()
    shot(page, "84-passkey-other-host")

    # signed in there: the list, but no "Add" that the browser would refuse
    email = _email("barbara")
    register(page, email)
    card = page.locator("#passkeys-card")
    expect(card.locator("#passkeys-elsewhere")).to_have_text(f"Passkeys work at {server.base}.")
    expect(card.locator("#passkey-add-form")).to_be_hidden()
    expect(card.locator("#passkeys-empty")).to_be_visible()

"""Sign-in through an OpenID Connect provider, over HTTP, on SQLite and PostgreSQL: oidc-provider-mock
(a real provider on 127.0.0.1: discovery, JWKS, RS256 ID tokens) is the issuer `mock`, the browser is
`support.oidc.Browser` against the app's routes.

Account-security §4: identities keyed on (iss, sub), no implicit linking unless opted into (and then
both sides verified, the local password and sessions gone), linking from a verified signed-in
account only, never unlinking the last way in.
"""

from __future__ import annotations

from typing import Any

import pytest

from support.http import BAD_LOGIN_BODY, PASSWORD, bearer, login, post_refresh, private_status
from support.oidc import NOTHING, PUBLIC_URL, STATE_COOKIE, Browser, Issuer, redirect_code, rows

ALICE = "alice@example.com"
WELCOME = f"{PUBLIC_URL}/welcome"
NEW_PASSWORD = "a brand new passphrase"
TOKEN_KEYS = {"access_token", "refresh_token", "token_type", "expires_in"}
ACCOUNT_EXISTS = {
    "detail": "An account with this email exists: sign in as usual, then link the provider from your account",
    "code": "oauth_account_exists",
}
UNVERIFIED = {
    "detail": "The provider has not verified this email address",
    "code": "provider_email_unverified",
}
INVALID_CODE = {"detail": "Invalid or expired code", "code": "invalid_code"}


async def provider_sign_in(app: Any, issuer: Issuer, sub: str, **params: str) -> Any:
    """A browser's sign-in as `sub` with code delivery back to /welcome: the callback's answer."""
    browser = Browser(app)
    url = await browser.start(redirect_to="/welcome", **params)
    answer = await browser.callback(issuer.approve(url, sub))
    assert STATE_COOKIE not in browser.cookies  # spent, and cleared
    return answer


async def tokens_for(app: Any, issuer: Issuer, sub: str) -> dict[str, Any]:
    """A full sign-in as `sub`: the tokens the one-time code is exchanged for."""
    code = redirect_code(await provider_sign_in(app, issuer, sub), WELCOME)
    answer = await Browser(app).exchange(code)
    assert answer.status_code == 200, answer.text
    assert set(answer.json()) == TOKEN_KEYS
    return dict(answer.json())


async def me(app: Any, token: str) -> dict[str, Any]:
    answer = await app.client.get("/auth/me", headers=bearer(token))
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


async def accounts(app: Any, token: str) -> list[tuple[str, str | None]]:
    answer = await app.client.get("/auth/oauth/accounts", headers=bearer(token))
    assert answer.status_code == 200, answer.text
    return [(item["provider"], item["email"]) for item in answer.json()]


async def reset_password(app: Any, hooks: Any, email: str, password: str = NEW_PASSWORD) -> None:
    forgot = await app.client.post("/auth/forgot-password", json={"email": email})
    assert forgot.status_code == 202, forgot.text
    await app.auth.service.settle()  # the mail step runs off the request path
    reset = await app.client.post(
        "/auth/reset-password", json={"token": hooks.reset_codes[email], "password": password}
    )
    assert reset.status_code == 200, reset.text


async def verified_local(app: Any, email: str = ALICE) -> dict[str, Any]:
    """A verified password account, signed in: its tokens."""
    await app.auth.service.create_user(email, PASSWORD, is_verified=True)
    return await login(app.client, email)


async def test_first_sign_in_creates_a_verified_account_without_a_password(
    mock_app: Any, issuer: Issuer, hooks: Any
) -> None:
    app = await mock_app()
    issuer.set_user("alice-sub", ALICE)
    answer = await provider_sign_in(app, issuer, "alice-sub")
    code = redirect_code(answer, WELCOME)
    assert answer.headers["cache-control"] == "no-store"
    assert answer.headers["referrer-policy"] == "no-referrer"
    tokens = await Browser(app).exchange(code)
    assert tokens.status_code == 200, tokens.text
    assert tokens.json()["token_type"] == "bearer"
    profile = await me(app, tokens.json()["access_token"])
    assert (profile["email"], profile["is_verified"], profile["is_active"]) == (ALICE, True, True)
    assert await rows(app) == {"users": 1, "identities": 1, "sessions": 1}
    # No password works, not even the stored marker of "no password".
    for password in (PASSWORD, "!", ""):
        refused = await app.client.post("/auth/login", json={"email": ALICE, "password": password})
        assert (refused.status_code, refused.json()) == (401, BAD_LOGIN_BODY), password
    # A reset gives it a password; then both ways reach the same account.
    await reset_password(app, hooks, ALICE)
    by_password = await login(app.client, ALICE, NEW_PASSWORD)
    assert (await me(app, by_password["access_token"]))["id"] == profile["id"]
    again = await tokens_for(app, issuer, "alice-sub")
    assert (await me(app, again["access_token"]))["id"] == profile["id"]


async def test_a_second_sign_in_reaches_the_same_account_even_with_a_new_address(
    mock_app: Any, issuer: Issuer
) -> None:
    app = await mock_app()
    issuer.set_user("alice-sub", ALICE)
    first = await me(app, (await tokens_for(app, issuer, "alice-sub"))["access_token"])
    second = await me(app, (await tokens_for(app, issuer, "alice-sub"))["access_token"])
    assert second["id"] == first["id"]
    # Keyed on (iss, sub): a changed address at the provider still reaches the account.
    issuer.set_user("alice-sub", "alice@elsewhere.example")
    third_tokens = await tokens_for(app, issuer, "alice-sub")
    third = await me(app, third_tokens["access_token"])
    assert (third["id"], third["email"]) == (first["id"], ALICE)
    assert await accounts(app, third_tokens["access_token"]) == [("mock", "alice@elsewhere.example")]
    assert (await rows(app))["users"] == 1


async def test_a_code_is_exchanged_once(mock_app: Any, issuer: Issuer) -> None:
    app = await mock_app()
    issuer.set_user("alice-sub", ALICE)
    code = redirect_code(await provider_sign_in(app, issuer, "alice-sub"), WELCOME)
    browser = Browser(app)
    first = await browser.exchange(code)
    assert first.status_code == 200, first.text
    assert first.headers["cache-control"] == "no-store"
    for attempt in (code, "x" * 43, ""):
        refused = await browser.exchange(attempt)
        assert (refused.status_code, refused.json()) == (400, INVALID_CODE), attempt
    assert (await rows(app))["sessions"] == 1


async def test_cookie_delivery_signs_the_browser_in(mock_app: Any, issuer: Issuer) -> None:
    app = await mock_app(cookie_opt_in=True)
    issuer.set_user("alice-sub", ALICE)
    browser = Browser(app)
    url = await browser.start(redirect_to="/welcome", delivery="cookie")
    answer = await browser.callback(issuer.approve(url, "alice-sub"))
    assert answer.status_code == 302, answer.text
    assert answer.headers["location"] == WELCOME
    assert set(browser.cookies) == {"fastauth_access", "fastauth_refresh", "csrf_token"}
    profile = await browser.request("GET", "/auth/me")
    assert profile.status_code == 200, profile.text
    assert profile.json()["email"] == ALICE


async def test_cookie_delivery_without_cookie_opt_in_gets_a_code(mock_app: Any, issuer: Issuer) -> None:
    app = await mock_app()
    issuer.set_user("alice-sub", ALICE)
    answer = await provider_sign_in(app, issuer, "alice-sub", delivery="cookie")
    redirect_code(answer, WELCOME)
    assert "fastauth_access" not in answer.headers.get("set-cookie", "")


async def test_an_existing_password_account_is_not_taken_over(mock_app: Any, issuer: Issuer) -> None:
    app = await mock_app()
    await app.register(ALICE)
    issuer.set_user("alice-sub", ALICE)
    answer = await provider_sign_in(app, issuer, "alice-sub")
    assert (answer.status_code, answer.json()) == (409, ACCOUNT_EXISTS)
    assert await rows(app) == {"users": 1, "identities": 0, "sessions": 1}
    await login(app.client, ALICE)


async def test_implicit_linking_merges_into_a_verified_account_and_ends_its_password_and_sessions(
    mock_app: Any, issuer: Issuer
) -> None:
    app = await mock_app(provider={"link_verified_email": True})
    old = await verified_local(app)
    local_id = (await me(app, old["access_token"]))["id"]
    issuer.set_user("alice-sub", ALICE)
    tokens = await tokens_for(app, issuer, "alice-sub")
    assert (await me(app, tokens["access_token"]))["id"] == local_id
    refused = await app.client.post("/auth/login", json={"email": ALICE, "password": PASSWORD})
    assert (refused.status_code, refused.json()) == (401, BAD_LOGIN_BODY)
    assert await private_status(app, old["access_token"]) == 401
    assert (await post_refresh(app, old["refresh_token"])).status_code == 401
    assert await accounts(app, tokens["access_token"]) == [("mock", ALICE)]


async def test_implicit_linking_refuses_an_unverified_local_account(mock_app: Any, issuer: Issuer) -> None:
    app = await mock_app(provider={"link_verified_email": True})
    squatter = await app.register(ALICE)  # registered first, never verified (a pre-hijack)
    issuer.set_user("alice-sub", ALICE)
    answer = await provider_sign_in(app, issuer, "alice-sub")
    assert (answer.status_code, answer.json()) == (409, ACCOUNT_EXISTS)
    assert (await rows(app))["identities"] == 0
    assert await private_status(app, squatter["access_token"]) == 200


async def test_an_address_the_provider_has_not_verified_creates_nothing(
    mock_app: Any, issuer: Issuer
) -> None:
    app = await mock_app()
    issuer.set_user("alice-sub", ALICE, email_verified=False)
    answer = await provider_sign_in(app, issuer, "alice-sub")
    assert (answer.status_code, answer.json()) == (403, UNVERIFIED)
    assert await rows(app) == NOTHING


async def test_a_verified_user_links_a_provider_and_then_signs_in_with_it(
    mock_app: Any, issuer: Issuer
) -> None:
    app = await mock_app()
    local = await verified_local(app)
    issuer.set_user("alice-work", "alice@work.example")
    browser = Browser(app)
    url = await browser.start_link(local["access_token"], redirect_to="/settings")
    answer = await browser.callback(issuer.approve(url, "alice-work"))
    assert answer.status_code == 302, answer.text
    assert answer.headers["location"] == f"{PUBLIC_URL}/settings?linked=mock"
    assert await accounts(app, local["access_token"]) == [("mock", "alice@work.example")]
    via_provider = await tokens_for(app, issuer, "alice-work")
    assert (await me(app, via_provider["access_token"]))["email"] == ALICE
    assert await rows(app) == {"users": 1, "identities": 1, "sessions": 2}


async def test_an_unverified_user_cannot_start_a_link(mock_app: Any) -> None:
    app = await mock_app()
    tokens = await app.register(ALICE)
    answer = await app.client.post("/auth/oauth/mock/link", headers=bearer(tokens["access_token"]))
    assert (answer.status_code, answer.json()) == (
        403,
        {"detail": "Email not verified", "code": "email_not_verified"},
    )
    assert "set-cookie" not in answer.headers


async def test_linking_an_identity_of_another_user_is_refused(mock_app: Any, issuer: Issuer) -> None:
    app = await mock_app()
    issuer.set_user("bob-sub", "bob@example.com")
    bob = await tokens_for(app, issuer, "bob-sub")
    alice = await verified_local(app)
    browser = Browser(app)
    url = await browser.start_link(alice["access_token"], redirect_to="/settings")
    answer = await browser.callback(issuer.approve(url, "bob-sub"))
    assert (answer.status_code, answer.json()) == (
        409,
        {"detail": "This provider account is linked to another account", "code": "identity_taken"},
    )
    assert await accounts(app, alice["access_token"]) == []
    assert await accounts(app, bob["access_token"]) == [("mock", "bob@example.com")]


async def test_unlinking_works_while_a_password_remains(mock_app: Any, issuer: Issuer) -> None:
    app = await mock_app()
    local = await verified_local(app)
    issuer.set_user("alice-work", "alice@work.example")
    browser = Browser(app)
    url = await browser.start_link(local["access_token"])
    assert (await browser.callback(issuer.approve(url, "alice-work"))).status_code == 302
    listed = await app.client.get("/auth/oauth/accounts", headers=bearer(local["access_token"]))
    identity_id = listed.json()[0]["id"]
    gone = await app.client.delete(
        f"/auth/oauth/accounts/{identity_id}", headers=bearer(local["access_token"])
    )
    assert (gone.status_code, gone.content) == (204, b"")
    assert await accounts(app, local["access_token"]) == []
    again = await app.client.delete(
        f"/auth/oauth/accounts/{identity_id}", headers=bearer(local["access_token"])
    )
    assert (again.status_code, again.json()) == (
        404,
        {"detail": "No such linked account", "code": "identity_not_found"},
    )
    # The provider account is free again: signing in with it now creates an account of its own.
    redirect_code(await provider_sign_in(app, issuer, "alice-work"), WELCOME)
    assert await rows(app) == {"users": 2, "identities": 1, "sessions": 1}


async def test_the_last_way_to_sign_in_cannot_be_unlinked(mock_app: Any, issuer: Issuer) -> None:
    app = await mock_app()
    issuer.set_user("alice-sub", ALICE)
    tokens = await tokens_for(app, issuer, "alice-sub")
    identity_id = (
        await app.client.get("/auth/oauth/accounts", headers=bearer(tokens["access_token"]))
    ).json()[0]["id"]
    refused = await app.client.delete(
        f"/auth/oauth/accounts/{identity_id}", headers=bearer(tokens["access_token"])
    )
    assert (refused.status_code, refused.json()) == (
        409,
        {
            "detail": "This is the account's only way to sign in: set a password first",
            "code": "last_sign_in_method",
        },
    )
    assert await accounts(app, tokens["access_token"]) == [("mock", ALICE)]
    # Another user cannot unlink it either.
    bob = await verified_local(app, "bob@example.com")
    other = await app.client.delete(
        f"/auth/oauth/accounts/{identity_id}", headers=bearer(bob["access_token"])
    )
    assert (other.status_code, other.json()) == (
        404,
        {"detail": "No such linked account", "code": "identity_not_found"},
    )
    assert (await rows(app))["identities"] == 1


async def test_deleting_the_account_deletes_its_identities(mock_app: Any, issuer: Issuer, hooks: Any) -> None:
    app = await mock_app()
    issuer.set_user("alice-sub", ALICE)
    first = await tokens_for(app, issuer, "alice-sub")
    first_id = (await me(app, first["access_token"]))["id"]
    await reset_password(app, hooks, ALICE)
    signed_in = await login(app.client, ALICE, NEW_PASSWORD)
    deleted = await app.client.request(
        "DELETE", "/auth/me", json={"password": NEW_PASSWORD}, headers=bearer(signed_in["access_token"])
    )
    assert deleted.status_code == 204, deleted.text
    assert await rows(app) == NOTHING
    again = await tokens_for(app, issuer, "alice-sub")
    profile = await me(app, again["access_token"])
    assert profile["email"] == ALICE and profile["id"] != first_id
    assert (await rows(app))["identities"] == 1


async def test_on_signin_hears_the_provider(mock_app: Any, issuer: Issuer, hooks: Any) -> None:
    app = await mock_app()
    issuer.set_user("alice-sub", ALICE)
    code = redirect_code(await provider_sign_in(app, issuer, "alice-sub"), WELCOME)
    assert hooks.signins == []  # the session starts at the exchange, and the hook with it
    assert (await Browser(app).exchange(code)).status_code == 200
    await verified_local(app, "bob@example.com")
    assert hooks.signins == [(ALICE, "mock"), ("bob@example.com", None)]


async def test_the_audit_log_records_provider_sign_ups_sign_ins_links_and_unlinks(
    mock_app: Any, issuer: Issuer, hooks: Any
) -> None:
    app = await mock_app()
    service = app.auth.service
    issuer.set_user("alice-sub", ALICE)
    tokens = await tokens_for(app, issuer, "alice-sub")
    user_id = (await me(app, tokens["access_token"]))["id"]
    sid = (await service.verify_refresh(tokens["refresh_token"])).sid
    await reset_password(app, hooks, ALICE)
    signed_in = await login(app.client, ALICE, NEW_PASSWORD)
    issuer.set_user("alice-work", "alice@work.example")
    browser = Browser(app)
    url = await browser.start_link(signed_in["access_token"])
    assert (await browser.callback(issuer.approve(url, "alice-work"))).status_code == 302
    listed = (await app.client.get("/auth/oauth/accounts", headers=bearer(signed_in["access_token"]))).json()
    unlinked = await app.client.delete(
        f"/auth/oauth/accounts/{listed[1]['id']}", headers=bearer(signed_in["access_token"])
    )
    assert unlinked.status_code == 204
    records = list(reversed(await service.store.list_audit(user_id=user_id)))
    provider_events = [
        (r.event, r.detail)
        for r in records
        if r.event in ("signup", "signin", "identity_linked", "identity_unlinked")
    ]
    password_sid = (await service.verify_refresh(signed_in["refresh_token"])).sid
    assert provider_events == [
        ("signup", "via mock"),
        ("identity_linked", "mock"),
        ("signin", f"session {sid} via mock"),
        ("signin", f"session {password_sid}"),
        ("identity_linked", "mock"),
        ("identity_unlinked", "mock"),
    ]


@pytest.mark.parametrize(
    ("redirect_to", "status"),
    [("https://evil.example/", 400), ("//evil.example/", 400), ("/welcome", 302)],
)
async def test_redirect_to_must_be_on_the_allow_list(mock_app: Any, redirect_to: str, status: int) -> None:
    app = await mock_app()
    answer = await app.client.get("/auth/oauth/mock/authorize", params={"redirect_to": redirect_to})
    assert answer.status_code == status, answer.text
    if status == 400:
        assert answer.json() == {
            "detail": "redirect_to is not an allowed address",
            "code": "redirect_not_allowed",
        }
        assert "set-cookie" not in answer.headers

"""Attacks on the second factor over HTTP, each answered exactly: codes out of the drift window, MFA
tokens misused (as access tokens, the other way round, signed by another key, expired, tampered, of
another user, spent), recovery codes reused or another user's, every sign-in path that could skip the
second factor (password login, the RFC 6749 password grant, a provider sign-in with code and with
cookie delivery, the refresh of an older session, registration), rate limiting of wrong codes, and
step-up routes that ask for `otp`.

The app's clock is a `Clock` moved by hand, and the authenticator app's TOTP reads the same clock, so
the time steps are exact: no test depends on when it runs. The replay of one code across two server
processes is in tests/scale/test_mfa_processes.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi import Depends

from fastauth.hooks import EventHooks
from fastauth.mfa import STEP, Totp
from fastauth.web.routers.mfa import mfa_cookie_name
from support.clock import Clock
from support.forge import claims, resign, tampered
from support.http import (
    INVALID_TOKEN_BODY,
    PASSWORD,
    assert_invalid_token,
    assert_not_authenticated,
    bearer,
    set_cookies,
)
from support.oidc import CLIENT_ID, CLIENT_SECRET, PUBLIC_URL, Browser, Issuer, mock_issuer, redirect_code

ALICE, BOB = "alice@example.com", "bob@example.com"
WELCOME = f"{PUBLIC_URL}/welcome"
BAD_CODE = {"detail": "Invalid or expired code", "code": "invalid_mfa_code"}
SPENT = {"detail": "Invalid or expired code", "code": "invalid_code"}
TOO_MANY = {"detail": "Too many attempts; try again later", "code": "rate_limited"}
STEP_UP = {"detail": "Sign in again to confirm this", "code": "recent_sign_in_required"}
STEP_UP_CHALLENGE = 'Bearer error="insufficient_user_authentication", max_age=300, acr_values="otp"'
MFA_KEYS = {"mfa_required", "mfa_token", "methods"}
TOKEN_KEYS = {"access_token", "refresh_token", "token_type", "expires_in"}
OTHER_SECRET = "another-server-secret-" + "y" * 40
LOGIN_COOKIES = {"fastauth_access", "fastauth_refresh", "csrf_token"}


@dataclass
class Enrolled:
    """An account with TOTP on: its registration's tokens (the session that enrolled), its TOTP as
    the authenticator app has it, and its recovery codes."""

    email: str
    tokens: dict[str, Any]
    totp: Totp
    recovery: list[str]


def step(clock: Clock) -> int:
    return int(clock()) // STEP


def now_code(person: Enrolled, clock: Clock, ahead: int = 0) -> str:
    """What the authenticator app shows (`ahead` steps from now)."""
    return person.totp.code_at(step(clock) + ahead)


async def enrol_with(a: Any, clock: Clock, headers: dict[str, str]) -> tuple[Totp, list[str]]:
    setup = await a.client.post("/auth/mfa/totp/setup", headers=headers)
    assert setup.status_code == 200, setup.text
    totp = Totp(setup.json()["secret"], clock=clock)
    confirmed = await a.client.post(
        "/auth/mfa/totp/confirm", headers=headers, json={"code": totp.code_at(step(clock))}
    )
    assert confirmed.status_code == 200, confirmed.text
    clock.advance(STEP)  # the enrolment's step is spent; the app shows a new code
    return totp, list(confirmed.json()["recovery_codes"])


async def enrolled(a: Any, clock: Clock, email: str = ALICE) -> Enrolled:
    tokens = await a.register(email, PASSWORD)
    totp, recovery = await enrol_with(a, clock, bearer(tokens["access_token"]))
    return Enrolled(email, tokens, totp, recovery)


async def mfa_token(a: Any, email: str = ALICE) -> str:
    """A password sign-in of an enrolled account: its MFA token (and nothing else)."""
    answer = await a.client.post("/auth/login", json={"email": email, "password": PASSWORD})
    assert answer.status_code == 200, answer.text
    assert set(answer.json()) == MFA_KEYS, answer.text
    return str(answer.json()["mfa_token"])


async def verify(a: Any, token: str | None, code: str, **kwargs: Any) -> Any:
    body = {"code": code} if token is None else {"mfa_token": token, "code": code}
    return await a.client.post("/auth/mfa/verify", json=body, **kwargs)


def assert_refused(answer: Any, status: int, body: dict[str, str]) -> None:
    assert (answer.status_code, answer.json()) == (status, body), answer.text
    assert "access_token" not in answer.text


# --- codes outside the window ----------------------------------------------------------------------


@pytest.mark.parametrize("offset", [-2, 2], ids=["two-steps-ago", "two-steps-ahead"])
async def test_a_code_two_steps_away_is_refused(make_app: Any, offset: int) -> None:
    clock = Clock()
    a = await make_app(clock=clock)
    alice = await enrolled(a, clock)
    clock.advance(5 * STEP)  # so that two steps ago is still after the step the enrolment spent
    token = await mfa_token(a)
    assert_refused(await verify(a, token, now_code(alice, clock, offset)), 400, BAD_CODE)
    # The token is still usable with the right code (a wrong code does not spend it).
    assert (await verify(a, token, now_code(alice, clock))).status_code == 200


async def test_a_code_older_than_the_last_accepted_step_is_refused(make_app: Any) -> None:
    """The code one step ahead (drift) was accepted; the current one, older, is refused after it."""
    clock = Clock()
    a = await make_app(clock=clock)
    alice = await enrolled(a, clock)
    assert (await verify(a, await mfa_token(a), now_code(alice, clock, +1))).status_code == 200
    assert_refused(await verify(a, await mfa_token(a), now_code(alice, clock)), 400, BAD_CODE)


# --- the MFA token misused -------------------------------------------------------------------------


async def test_the_mfa_token_is_no_access_token(make_app: Any) -> None:
    clock = Clock()
    a = await make_app(clock=clock)
    await enrolled(a, clock)
    assert_invalid_token(await a.client.get("/auth/me", headers=bearer(await mfa_token(a))))


async def test_the_mfa_token_is_no_refresh_token(make_app: Any) -> None:
    clock = Clock()
    a = await make_app(clock=clock)
    await enrolled(a, clock)
    refused = await a.client.post("/auth/refresh", json={"refresh_token": await mfa_token(a)})
    assert_refused(refused, 401, INVALID_TOKEN_BODY)


async def test_the_mfa_token_is_no_refresh_grant(make_app: Any) -> None:
    clock = Clock()
    a = await make_app(clock=clock)
    await enrolled(a, clock)
    refused = await a.client.post(
        "/auth/token", data={"grant_type": "refresh_token", "refresh_token": await mfa_token(a)}
    )
    assert (refused.status_code, refused.json()) == (
        400,
        {"error": "invalid_grant", "error_description": "Invalid or expired token"},
    )


@pytest.mark.parametrize("kind", ["access_token", "refresh_token"])
async def test_an_access_or_refresh_token_is_no_mfa_token(make_app: Any, kind: str) -> None:
    clock = Clock()
    a = await make_app(clock=clock)
    alice = await enrolled(a, clock)
    await mfa_token(a)  # a sign-in is waiting for its second factor
    assert_refused(await verify(a, alice.tokens[kind], now_code(alice, clock)), 401, INVALID_TOKEN_BODY)


@pytest.mark.parametrize("kind", ["access_token", "refresh_token"])
async def test_an_access_or_refresh_token_in_the_mfa_cookie_is_no_mfa_token(make_app: Any, kind: str) -> None:
    clock = Clock()
    a = await make_app(clock=clock)
    alice = await enrolled(a, clock)
    await mfa_token(a)
    answer = await verify(
        a,
        None,
        now_code(alice, clock),
        headers={"Cookie": f"{mfa_cookie_name(a.auth.config)}={alice.tokens[kind]}"},
    )
    assert_refused(answer, 401, INVALID_TOKEN_BODY)


async def test_an_mfa_token_signed_by_another_key_is_refused(make_app: Any) -> None:
    clock = Clock()
    a = await make_app(clock=clock)
    alice = await enrolled(a, clock)
    forged = resign(await mfa_token(a), OTHER_SECRET)  # same header and claims, another key
    assert_refused(await verify(a, forged, now_code(alice, clock)), 401, INVALID_TOKEN_BODY)


async def test_an_expired_mfa_token_is_refused(make_app: Any) -> None:
    clock = Clock()
    a = await make_app(clock=clock)
    alice = await enrolled(a, clock)
    token = await mfa_token(a)
    cfg = a.auth.config.jwt
    clock.advance(cfg.mfa_token_ttl + cfg.leeway + 1)
    assert_refused(await verify(a, token, now_code(alice, clock)), 401, INVALID_TOKEN_BODY)


async def test_an_mfa_token_just_before_expiry_still_works(make_app: Any) -> None:
    clock = Clock()
    a = await make_app(clock=clock)
    alice = await enrolled(a, clock)
    token = await mfa_token(a)
    clock.advance(a.auth.config.jwt.mfa_token_ttl - 1)
    assert (await verify(a, token, now_code(alice, clock))).status_code == 200


async def test_an_mfa_token_with_another_users_code_is_refused(make_app: Any) -> None:
    clock = Clock()
    a = await make_app(clock=clock)
    alice = await enrolled(a, clock)
    bob = await enrolled(a, clock, BOB)
    assert now_code(alice, clock) != now_code(bob, clock)  # (one in a million)
    token = await mfa_token(a, ALICE)
    assert_refused(await verify(a, token, now_code(bob, clock)), 400, BAD_CODE)
    # Bob's code is not spent by the attempt: Bob signs in with it.
    assert (await verify(a, await mfa_token(a, BOB), now_code(bob, clock))).status_code == 200


async def test_an_mfa_token_reused_after_success_is_refused(make_app: Any) -> None:
    clock = Clock()
    a = await make_app(clock=clock)
    alice = await enrolled(a, clock)
    token = await mfa_token(a)
    assert (await verify(a, token, now_code(alice, clock))).status_code == 200
    clock.advance(STEP)  # a fresh, unused code: only the token is spent
    assert_refused(await verify(a, token, now_code(alice, clock)), 400, SPENT)


async def test_an_mfa_token_reused_after_success_with_a_recovery_code_is_refused(make_app: Any) -> None:
    clock = Clock()
    a = await make_app(clock=clock)
    alice = await enrolled(a, clock)
    token = await mfa_token(a)
    assert (await verify(a, token, now_code(alice, clock))).status_code == 200
    assert_refused(await verify(a, token, alice.recovery[0]), 400, SPENT)
    status = await a.client.get("/auth/mfa", headers=bearer(alice.tokens["access_token"]))
    assert status.json() == {"totp": True, "recovery_codes_left": 10}  # the refusal spent no code


async def test_a_tampered_mfa_token_with_another_sid_is_refused(make_app: Any) -> None:
    """The sid swapped for Bob's live challenge, Alice's signature kept."""
    clock = Clock()
    a = await make_app(clock=clock)
    alice = await enrolled(a, clock)
    await enrolled(a, clock, BOB)
    token = await mfa_token(a, ALICE)
    bobs = claims(await mfa_token(a, BOB))["sid"]
    assert_refused(
        await verify(a, tampered(token, sid=bobs), now_code(alice, clock)), 401, INVALID_TOKEN_BODY
    )


async def test_a_tampered_mfa_token_with_another_sub_is_refused(make_app: Any) -> None:
    clock = Clock()
    a = await make_app(clock=clock)
    await enrolled(a, clock)
    bob = await enrolled(a, clock, BOB)
    token = await mfa_token(a, ALICE)
    forged = tampered(token, sub=claims(bob.tokens["access_token"])["sub"])
    assert_refused(await verify(a, forged, now_code(bob, clock)), 401, INVALID_TOKEN_BODY)


# --- recovery codes --------------------------------------------------------------------------------


@pytest.mark.parametrize("spelling", ["as-shown", "lower-case", "no-dash"])
async def test_a_recovery_code_reused_is_refused(make_app: Any, spelling: str) -> None:
    clock = Clock()
    a = await make_app(clock=clock)
    alice = await enrolled(a, clock)
    code = alice.recovery[3]
    assert (await verify(a, await mfa_token(a), code)).status_code == 200
    again = {"as-shown": code, "lower-case": code.lower(), "no-dash": code.replace("-", "")}[spelling]
    assert_refused(await verify(a, await mfa_token(a), again), 400, BAD_CODE)


async def test_another_users_recovery_code_is_refused(make_app: Any) -> None:
    clock = Clock()
    a = await make_app(clock=clock)
    await enrolled(a, clock)
    bob = await enrolled(a, clock, BOB)
    assert_refused(await verify(a, await mfa_token(a, ALICE), bob.recovery[0]), 400, BAD_CODE)
    status = await a.client.get("/auth/mfa", headers=bearer(bob.tokens["access_token"]))
    assert status.json() == {"totp": True, "recovery_codes_left": 10}  # Bob's code is not spent


# --- no sign-in path skips the second factor -------------------------------------------------------


async def test_the_password_login_answers_mfa_required_never_tokens(make_app: Any) -> None:
    clock = Clock()
    a = await make_app(clock=clock)
    await enrolled(a, clock)
    answer = await a.client.post("/auth/login", json={"email": ALICE, "password": PASSWORD})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert set(body) == MFA_KEYS and body["mfa_required"] is True
    assert body["methods"] == ["totp", "recovery_code"]
    assert claims(body["mfa_token"])["type"] == "mfa"
    assert answer.headers.get_list("set-cookie") == []


async def test_the_password_login_with_cookie_delivery_sets_no_login_cookies(make_app: Any) -> None:
    clock = Clock()
    a = await make_app(clock=clock, cookie_opt_in=True, cookie_secure=False)
    await enrolled(a, clock)
    answer = await a.client.post(
        "/auth/login",
        json={"email": ALICE, "password": PASSWORD},
        headers={"X-FastAuth-Delivery": "cookie"},
    )
    assert answer.status_code == 200, answer.text
    assert set(answer.json()) == MFA_KEYS
    assert answer.headers.get_list("set-cookie") == []


async def test_the_password_grant_hands_out_no_tokens(make_app: Any) -> None:
    clock = Clock()
    a = await make_app(clock=clock)
    await enrolled(a, clock)
    answer = await a.client.post(
        "/auth/token", data={"grant_type": "password", "username": ALICE, "password": PASSWORD}
    )
    assert (answer.status_code, answer.json()) == (
        400,
        {
            "error": "invalid_grant",
            "error_description": "A second factor is required to complete this sign-in",
        },
    )
    assert answer.headers["cache-control"] == "no-store"


async def test_a_refresh_from_another_session_before_enrolment_is_refused(make_app: Any) -> None:
    clock = Clock()
    a = await make_app(clock=clock)
    mine = await a.register(ALICE, PASSWORD)
    other = (await a.client.post("/auth/login", json={"email": ALICE, "password": PASSWORD})).json()
    await enrol_with(a, clock, bearer(mine["access_token"]))
    refused = await a.client.post("/auth/refresh", json={"refresh_token": other["refresh_token"]})
    assert_refused(refused, 401, INVALID_TOKEN_BODY)
    assert_invalid_token(await a.client.get("/auth/me", headers=bearer(other["access_token"])))


async def test_the_session_that_enrolled_keeps_refreshing_but_stays_password_only(make_app: Any) -> None:
    clock = Clock()
    a = await make_app(clock=clock)
    mine = await a.register(ALICE, PASSWORD)
    await enrol_with(a, clock, bearer(mine["access_token"]))
    refreshed = await a.client.post("/auth/refresh", json={"refresh_token": mine["refresh_token"]})
    assert refreshed.status_code == 200, refreshed.text
    assert claims(refreshed.json()["access_token"])["amr"] == ["pwd"]  # a refresh never upgrades


async def test_registration_gives_a_new_account_no_factor(make_app: Any) -> None:
    clock = Clock()
    a = await make_app(clock=clock)
    tokens = await a.register(BOB, PASSWORD)
    status = await a.client.get("/auth/mfa", headers=bearer(tokens["access_token"]))
    assert status.json() == {"totp": False, "recovery_codes_left": 0}
    assert claims(tokens["access_token"])["amr"] == ["pwd"]


async def test_registering_an_enrolled_accounts_email_again_hands_out_no_tokens(make_app: Any) -> None:
    clock = Clock()
    a = await make_app(clock=clock)
    await enrolled(a, clock)
    again = await a.client.post("/auth/register", json={"email": ALICE, "password": PASSWORD})
    assert_refused(again, 409, {"detail": "This email is already registered", "code": "email_taken"})


# --- a provider sign-in (oidc-provider-mock) -------------------------------------------------------


@pytest.fixture
def issuer() -> Iterator[Issuer]:
    with mock_issuer() as running:
        yield running


async def provider_app(make_app: Any, issuer: Issuer, clock: Clock, **overrides: Any) -> Any:
    mock = {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "issuer": issuer.url}
    return await make_app(
        clock=clock, public_url=PUBLIC_URL, cookie_secure=False, oauth={"mock": mock}, **overrides
    )


async def provider_enrolled(a: Any, issuer: Issuer, clock: Clock) -> Enrolled:
    """Alice's account, made by her first provider sign-in, then enrolled from that session."""
    issuer.set_user("alice-sub", ALICE)
    browser = Browser(a)
    url = await browser.start(redirect_to="/welcome")
    first = await browser.exchange(
        redirect_code(await browser.callback(issuer.approve(url, "alice-sub")), WELCOME)
    )
    assert first.status_code == 200 and set(first.json()) == TOKEN_KEYS, first.text
    tokens = first.json()
    totp, recovery = await enrol_with(a, clock, bearer(tokens["access_token"]))
    return Enrolled(ALICE, tokens, totp, recovery)


async def test_a_provider_sign_in_with_code_delivery_answers_mfa_required(
    make_app: Any, issuer: Issuer
) -> None:
    clock = Clock()
    a = await provider_app(make_app, issuer, clock)
    alice = await provider_enrolled(a, issuer, clock)
    browser = Browser(a)
    url = await browser.start(redirect_to="/welcome")
    code = redirect_code(await browser.callback(issuer.approve(url, "alice-sub")), WELCOME)
    exchanged = await browser.exchange(code)
    assert exchanged.status_code == 200, exchanged.text
    assert set(exchanged.json()) == MFA_KEYS and exchanged.json()["mfa_required"] is True
    assert exchanged.headers.get_list("set-cookie") == []
    done = await verify(a, exchanged.json()["mfa_token"], now_code(alice, clock))
    assert done.status_code == 200, done.text
    assert claims(done.json()["access_token"])["amr"] == ["fed", "otp", "mfa"]


async def test_a_provider_sign_in_with_cookie_delivery_sets_only_the_mfa_cookie(
    make_app: Any, issuer: Issuer
) -> None:
    clock = Clock()
    a = await provider_app(make_app, issuer, clock, cookie_opt_in=True)
    alice = await provider_enrolled(a, issuer, clock)
    browser = Browser(a)
    url = await browser.start(redirect_to="/welcome", delivery="cookie")
    back = await browser.callback(issuer.approve(url, "alice-sub"))
    assert back.status_code == 302, back.text
    assert back.headers["location"] == f"{WELCOME}?mfa_required=1"
    assert "mfa_token" not in back.headers["location"]
    made = set_cookies(back)
    assert not LOGIN_COOKIES & set(made)
    assert set(browser.cookies) == {"fastauth_mfa"}
    cookie = made["fastauth_mfa"]
    assert cookie.attr("httponly") is True and cookie.attr("path") == "/auth/mfa"
    assert claims(cookie.value)["type"] == "mfa"
    assert_not_authenticated(await browser.request("GET", "/auth/me"))  # the MFA cookie signs nobody in
    done = await browser.request("POST", "/auth/mfa/verify", json={"code": now_code(alice, clock)})
    assert done.status_code == 200, done.text
    assert claims(done.json()["access_token"])["amr"] == ["fed", "otp", "mfa"]
    assert "fastauth_mfa" not in browser.cookies  # spent, and cleared


async def test_the_mfa_cookie_is_single_use(make_app: Any, issuer: Issuer) -> None:
    clock = Clock()
    a = await provider_app(make_app, issuer, clock, cookie_opt_in=True)
    alice = await provider_enrolled(a, issuer, clock)
    browser = Browser(a)
    url = await browser.start(redirect_to="/welcome", delivery="cookie")
    await browser.callback(issuer.approve(url, "alice-sub"))
    token = browser.cookies["fastauth_mfa"]
    assert (
        await browser.request("POST", "/auth/mfa/verify", json={"code": now_code(alice, clock)})
    ).status_code == 200
    clock.advance(STEP)
    replay = await verify(a, None, now_code(alice, clock), headers={"Cookie": f"fastauth_mfa={token}"})
    assert_refused(replay, 400, SPENT)


# --- rate limiting ---------------------------------------------------------------------------------


async def limited_app(make_app: Any, clock: Clock) -> Any:
    return await make_app(clock=clock, rate_limit_enabled=True, login_rate_limit_per_account="3/minute")


def assert_too_many(answer: Any) -> None:
    assert_refused(answer, 429, TOO_MANY)
    assert 1 <= int(answer.headers["retry-after"]) <= 60


@pytest.mark.parametrize("fourth", ["wrong", "right"])
async def test_the_fourth_code_in_a_minute_is_rate_limited(make_app: Any, fourth: str) -> None:
    clock = Clock()
    a = await limited_app(make_app, clock)
    alice = await enrolled(a, clock)
    token = await mfa_token(a)
    for wrong in ("000000", "111111", "222222"):
        assert_refused(await verify(a, token, wrong), 400, BAD_CODE)
    code = "333333" if fourth == "wrong" else now_code(alice, clock)
    assert_too_many(await verify(a, token, code))


async def test_a_new_sign_in_does_not_reset_the_code_budget(make_app: Any) -> None:
    clock = Clock()
    a = await limited_app(make_app, clock)
    alice = await enrolled(a, clock)
    token = await mfa_token(a)
    for wrong in ("000000", "111111", "222222"):
        assert_refused(await verify(a, token, wrong), 400, BAD_CODE)
    assert_too_many(await verify(a, await mfa_token(a), now_code(alice, clock)))


async def test_recovery_code_guessing_is_rate_limited(make_app: Any) -> None:
    clock = Clock()
    a = await limited_app(make_app, clock)
    alice = await enrolled(a, clock)
    token = await mfa_token(a)
    for wrong in ("AAAAA-AAAAA", "BBBBB-BBBBB", "CCCCC-CCCCC"):
        assert_refused(await verify(a, token, wrong), 400, BAD_CODE)
    assert_too_many(await verify(a, token, alice.recovery[0]))


# --- step-up ---------------------------------------------------------------------------------------


async def strong_app(make_app: Any, clock: Clock) -> Any:
    a = await make_app(clock=clock)

    @a.app.get("/strong")
    async def strong(
        claims: dict[str, Any] = Depends(a.auth.require_recent_auth(amr=["otp"])),
    ) -> dict[str, Any]:
        return {"amr": claims["amr"]}

    return a


async def test_step_up_accepts_a_sign_in_completed_with_totp(make_app: Any) -> None:
    clock = Clock()
    a = await strong_app(make_app, clock)
    alice = await enrolled(a, clock)
    done = await verify(a, await mfa_token(a), now_code(alice, clock))
    answer = await a.client.get("/strong", headers=bearer(done.json()["access_token"]))
    assert (answer.status_code, answer.json()) == (200, {"amr": ["pwd", "otp", "mfa"]})


async def test_step_up_accepts_a_sign_in_completed_with_a_recovery_code(make_app: Any) -> None:
    clock = Clock()
    a = await strong_app(make_app, clock)
    alice = await enrolled(a, clock)
    done = await verify(a, await mfa_token(a), alice.recovery[0])
    answer = await a.client.get("/strong", headers=bearer(done.json()["access_token"]))
    assert (answer.status_code, answer.json()) == (200, {"amr": ["pwd", "otp", "mfa"]})


async def test_step_up_refuses_a_password_only_sign_in(make_app: Any) -> None:
    clock = Clock()
    a = await strong_app(make_app, clock)
    tokens = await a.register(BOB, PASSWORD)
    answer = await a.client.get("/strong", headers=bearer(tokens["access_token"]))
    assert_refused(answer, 401, STEP_UP)
    assert answer.headers.get_list("www-authenticate") == [STEP_UP_CHALLENGE]


async def test_step_up_refuses_the_enrolling_sessions_password_only_tokens(make_app: Any) -> None:
    """Enrolling does not upgrade the session that enrolled, nor does its refresh."""
    clock = Clock()
    a = await strong_app(make_app, clock)
    alice = await enrolled(a, clock)
    refreshed = await a.client.post("/auth/refresh", json={"refresh_token": alice.tokens["refresh_token"]})
    for token in (alice.tokens["access_token"], refreshed.json()["access_token"]):
        answer = await a.client.get("/strong", headers=bearer(token))
        assert_refused(answer, 401, STEP_UP)
        assert answer.headers.get_list("www-authenticate") == [STEP_UP_CHALLENGE]


async def test_step_up_refuses_the_mfa_token(make_app: Any) -> None:
    clock = Clock()
    a = await strong_app(make_app, clock)
    await enrolled(a, clock)
    assert_invalid_token(await a.client.get("/strong", headers=bearer(await mfa_token(a))))


# --- the first factor changes while the second is pending ------------------------------------------


class MailCodes(EventHooks):
    """Keeps the password-reset codes the app would mail."""

    def __init__(self) -> None:
        self.reset: dict[str, str] = {}

    async def on_after_forgot_password(self, user: Any, token: str) -> None:
        self.reset[user.email] = token


NEW_PASSWORD = "a brand new passphrase"
BAD_MAILED_CODE = {
    "/auth/reset-password": {"detail": "RESET_PASSWORD_BAD_TOKEN", "code": "reset_password_bad_token"},
    "/auth/verify": {"detail": "VERIFY_USER_BAD_TOKEN", "code": "verify_user_bad_token"},
}


async def test_a_pending_sign_in_does_not_survive_a_password_change(make_app: Any) -> None:
    clock = Clock()
    a = await make_app(clock=clock)
    alice = await enrolled(a, clock)
    pending = await mfa_token(a)  # someone who had the old password
    changed = await a.client.post(
        "/auth/change-password",
        headers=bearer(alice.tokens["access_token"]),
        json={"current_password": PASSWORD, "new_password": NEW_PASSWORD},
    )
    assert changed.status_code == 204, changed.text
    assert_refused(await verify(a, pending, now_code(alice, clock)), 400, SPENT)


async def test_a_pending_sign_in_does_not_survive_a_password_reset(make_app: Any) -> None:
    clock, mail = Clock(), MailCodes()
    a = await make_app(clock=clock, hooks=mail)
    alice = await enrolled(a, clock)
    pending = await mfa_token(a)
    assert (await a.client.post("/auth/forgot-password", json={"email": ALICE})).status_code == 202
    await a.auth.service.settle()
    reset = await a.client.post(
        "/auth/reset-password", json={"token": mail.reset[ALICE], "password": NEW_PASSWORD}
    )
    assert reset.status_code == 200, reset.text
    assert_refused(await verify(a, pending, now_code(alice, clock)), 400, SPENT)


async def test_a_pending_sign_in_of_a_deactivated_account_is_refused(make_app: Any) -> None:
    clock = Clock()
    a = await make_app(clock=clock)
    alice = await enrolled(a, clock)
    pending = await mfa_token(a)
    await a.auth.service.set_user_active(claims(pending)["sub"], False)
    assert_refused(await verify(a, pending, now_code(alice, clock)), 400, SPENT)


@pytest.mark.parametrize("route", ["/auth/reset-password", "/auth/verify"])
async def test_the_challenge_inside_the_mfa_token_is_no_other_code(make_app: Any, route: str) -> None:
    """The MFA token's sid is its challenge code, readable by anyone: bound to its purpose only."""
    clock = Clock()
    a = await make_app(clock=clock, hooks=MailCodes())
    await enrolled(a, clock)
    sid = claims(await mfa_token(a))["sid"]
    answer = await a.client.post(route, json={"token": sid, "password": NEW_PASSWORD})
    assert_refused(answer, 400, BAD_MAILED_CODE[route])


async def test_a_cross_site_form_cannot_complete_a_sign_in_into_cookies(make_app: Any) -> None:
    """Login CSRF through the second step: with cookie delivery, a cross-site form posting someone's own
    MFA token and code would sign the victim's browser into that account; refused as at /login."""
    clock = Clock()
    a = await make_app(clock=clock, token_delivery="cookie", cookie_secure=False)
    await a.client.post("/auth/register", json={"email": "mallory@example.com", "password": PASSWORD})
    refused = await a.client.post(
        "/auth/mfa/verify",
        json={"mfa_token": "x", "code": "123456"},
        headers={"Sec-Fetch-Site": "cross-site"},
    )
    assert (refused.status_code, refused.json()["code"]) == (403, "cross_site_signin")
    assert "set-cookie" not in refused.headers
    exchange = await a.client.post("/auth/oauth/token", json={"code": "x" * 43}, headers={"Origin": "null"})
    assert (exchange.status_code, exchange.json()["code"]) == (403, "cross_site_signin")

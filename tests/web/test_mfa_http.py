"""TOTP over HTTP: enrolment (setup, confirm with recovery codes shown once), then a password sign-in
answers `mfa_required` with an MFA token instead of tokens, and `POST /auth/mfa/verify` completes it
(`amr` pwd, otp, mfa). The MFA token is its own kind: never an access token, and no access token is
one; it is spent once; a code is accepted once."""

from __future__ import annotations

from typing import Any

import pytest

from fastauth.mfa import Totp
from support.http import PASSWORD, bearer
from support.totp import now_step, settled_step

EMAIL = "alice@example.com"
INVALID_TOKEN = {"detail": "Invalid or expired token", "code": "invalid_token"}
BAD_CODE = {"detail": "Invalid or expired code", "code": "invalid_mfa_code"}


async def enrol(a: Any) -> tuple[Totp, list[str]]:
    tokens = await a.register(EMAIL, PASSWORD)
    headers = bearer(tokens["access_token"])
    setup = await a.client.post("/auth/mfa/totp/setup", headers=headers)
    assert setup.status_code == 200, setup.text
    assert setup.headers["cache-control"] == "no-store"
    body = setup.json()
    assert set(body) == {"secret", "otpauth_uri", "qr_svg"} and body["qr_svg"].startswith("<svg")
    totp = Totp(body["secret"])
    confirmed = await a.client.post(
        "/auth/mfa/totp/confirm", headers=headers, json={"code": totp.code_at(settled_step() - 1)}
    )
    assert confirmed.status_code == 200, confirmed.text
    codes = confirmed.json()["recovery_codes"]
    assert len(codes) == 10
    status = await a.client.get("/auth/mfa", headers=headers)
    assert status.json() == {"totp": True, "recovery_codes_left": 10}
    return totp, codes


async def password_step(a: Any) -> str:
    answer = await a.client.post("/auth/login", json={"email": EMAIL, "password": PASSWORD})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert set(body) == {"mfa_required", "mfa_token", "methods"} and body["mfa_required"] is True
    assert body["methods"] == ["totp", "recovery_code"]
    assert answer.headers["cache-control"] == "no-store"
    return str(body["mfa_token"])


async def test_a_sign_in_of_an_enrolled_user_needs_the_second_factor(make_app: Any) -> None:
    a = await make_app()
    totp, _ = await enrol(a)
    mfa_token = await password_step(a)
    done = await a.client.post(
        "/auth/mfa/verify", json={"mfa_token": mfa_token, "code": totp.code_at(now_step())}
    )
    assert done.status_code == 200, done.text
    claims = (await a.auth.service.authenticate(done.json()["access_token"])).claims
    assert claims["amr"] == ["pwd", "otp", "mfa"]
    # The token is spent; the code too.
    again = await a.client.post(
        "/auth/mfa/verify", json={"mfa_token": mfa_token, "code": totp.code_at(now_step())}
    )
    assert again.status_code == 400


async def test_a_replayed_code_is_refused_for_a_new_sign_in(make_app: Any) -> None:
    a = await make_app()
    totp, _ = await enrol(a)
    code = totp.code_at(now_step() + 1)
    first = await a.client.post("/auth/mfa/verify", json={"mfa_token": await password_step(a), "code": code})
    assert first.status_code == 200, first.text
    second = await a.client.post("/auth/mfa/verify", json={"mfa_token": await password_step(a), "code": code})
    assert (second.status_code, second.json()) == (400, BAD_CODE)


async def test_a_recovery_code_completes_a_sign_in_once(make_app: Any) -> None:
    a = await make_app()
    _, codes = await enrol(a)
    done = await a.client.post(
        "/auth/mfa/verify", json={"mfa_token": await password_step(a), "code": codes[0]}
    )
    assert done.status_code == 200, done.text
    reused = await a.client.post(
        "/auth/mfa/verify", json={"mfa_token": await password_step(a), "code": codes[0]}
    )
    assert (reused.status_code, reused.json()) == (400, BAD_CODE)


async def test_a_wrong_code_leaves_the_mfa_token_usable(make_app: Any) -> None:
    a = await make_app()
    totp, _ = await enrol(a)
    mfa_token = await password_step(a)
    wrong = await a.client.post("/auth/mfa/verify", json={"mfa_token": mfa_token, "code": "000000"})
    assert (wrong.status_code, wrong.json()) == (400, BAD_CODE)
    right = await a.client.post(
        "/auth/mfa/verify", json={"mfa_token": mfa_token, "code": totp.code_at(now_step())}
    )
    assert right.status_code == 200, right.text


async def test_the_mfa_token_is_no_access_token_and_no_access_token_is_one(make_app: Any) -> None:
    a = await make_app()
    totp, _ = await enrol(a)
    mfa_token = await password_step(a)
    as_access = await a.client.get("/auth/me", headers=bearer(mfa_token))
    assert (as_access.status_code, as_access.json()) == (401, INVALID_TOKEN)
    tokens = await a.client.post(
        "/auth/mfa/verify", json={"mfa_token": mfa_token, "code": totp.code_at(now_step())}
    )
    for other in (tokens.json()["access_token"], tokens.json()["refresh_token"]):
        refused = await a.client.post(
            "/auth/mfa/verify", json={"mfa_token": other, "code": totp.code_at(now_step())}
        )
        assert (refused.status_code, refused.json()) == (401, INVALID_TOKEN)


async def test_a_newer_sign_in_voids_the_older_mfa_token(make_app: Any) -> None:
    a = await make_app()
    totp, _ = await enrol(a)
    older = await password_step(a)
    await password_step(a)
    refused = await a.client.post(
        "/auth/mfa/verify", json={"mfa_token": older, "code": totp.code_at(now_step())}
    )
    assert refused.status_code == 400


@pytest.mark.parametrize("body", [{}, {"code": "123456"}, {"mfa_token": "", "code": "123456"}])
async def test_verify_without_an_mfa_token_is_not_authenticated(make_app: Any, body: dict[str, str]) -> None:
    a = await make_app()
    answer = await a.client.post("/auth/mfa/verify", json=body)
    assert answer.status_code in (401, 422)
    if answer.status_code == 401:
        assert answer.json()["code"] == "not_authenticated"


async def test_enabling_ends_the_other_sessions_and_disabling_needs_password_and_code(make_app: Any) -> None:
    a = await make_app()
    before = await a.register(EMAIL, PASSWORD)
    other = await a.client.post("/auth/login", json={"email": EMAIL, "password": PASSWORD})
    headers = bearer(before["access_token"])
    secret = (await a.client.post("/auth/mfa/totp/setup", headers=headers)).json()["secret"]
    totp = Totp(secret)
    await a.client.post(
        "/auth/mfa/totp/confirm", headers=headers, json={"code": totp.code_at(settled_step() - 1)}
    )
    assert (await a.client.get("/auth/me", headers=bearer(other.json()["access_token"]))).status_code == 401
    assert (await a.client.get("/auth/me", headers=headers)).status_code == 200
    wrong = await a.client.post(
        "/auth/mfa/totp/disable",
        headers=headers,
        json={"password": "wrong password", "code": totp.code_at(now_step())},
    )
    assert wrong.status_code == 400
    off = await a.client.post(
        "/auth/mfa/totp/disable",
        headers=headers,
        json={"password": PASSWORD, "code": totp.code_at(now_step())},
    )
    assert off.status_code == 204, off.text
    plain = await a.client.post("/auth/login", json={"email": EMAIL, "password": PASSWORD})
    assert set(plain.json()) >= {"access_token", "refresh_token"}

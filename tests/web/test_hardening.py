"""Regression tests for the findings of the security review (each names the finding it pins down)."""

from __future__ import annotations

import json
import warnings
from typing import Any

import pytest

from fastauth import FastAuthConfig
from fastauth.config import FastAuthSecurityWarning, JWTConfig
from fastauth.errors import ConfigError
from fastauth.keys import generate_private_key, private_key_to_pem

SURROGATE = "x\ud800yyyyyyyy"  # JSON can carry it (as \\ud800); UTF-8 cannot encode it


def _json(value: Any) -> dict[str, Any]:
    """httpx encodes JSON as UTF-8 text, which cannot carry a lone surrogate: send the escaped form."""
    return {"content": json.dumps(value).encode("ascii"), "headers": {"content-type": "application/json"}}


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_unencodable_passwords_never_tell_known_from_unknown_emails(make_app: Any) -> None:
    """M1: a lone surrogate used to give 500 for unknown emails and 401 for known ones."""
    a = await make_app()
    await a.register("known@example.com", "password123")
    known = await a.client.post("/auth/login", **_json({"email": "known@example.com", "password": SURROGATE}))
    unknown = await a.client.post(
        "/auth/login", **_json({"email": "nobody@example.com", "password": SURROGATE})
    )
    assert known.status_code == unknown.status_code == 401
    assert known.json() == unknown.json() == {"detail": "Invalid email or password"}


async def test_unencodable_passwords_are_a_clear_422_on_register_and_change(make_app: Any) -> None:
    a = await make_app()
    r = await a.client.post("/auth/register", **_json({"email": "u@example.com", "password": SURROGATE}))
    assert r.status_code == 422 and r.json() == {"detail": "password must be valid Unicode text"}
    tokens = await a.register("v@example.com", "password123")
    body = _json({"current_password": "password123", "new_password": SURROGATE})
    body["headers"].update(_bearer(tokens["access_token"]))
    r = await a.client.post("/auth/change-password", **body)
    assert r.status_code == 422 and r.json() == {"detail": "password must be valid Unicode text"}
    body = _json({"current_password": SURROGATE, "new_password": "another password"})
    body["headers"].update(_bearer(tokens["access_token"]))
    r = await a.client.post("/auth/change-password", **body)
    assert r.status_code == 400


@pytest.mark.parametrize("route", ["/auth/login", "/auth/register"])
async def test_cross_site_sign_in_with_cookies_is_refused(make_app: Any, route: str) -> None:
    """M2: login CSRF. A cross-site form must not set auth cookies in the browser."""
    a = await make_app(token_delivery="cookie", cookie_secure=False)
    await a.register("victim@example.com", "password123")
    form = {"username": "victim@example.com", "email": "new@example.com", "password": "password123"}
    r = await a.client.post(route, data=form, headers={"Sec-Fetch-Site": "cross-site"})
    assert r.status_code == 403 and r.json() == {"detail": "Cross-site sign-in refused"}
    assert "set-cookie" not in r.headers
    r = await a.client.post(route, data=form, headers={"Origin": "null"})
    assert r.status_code == 403
    login = {"username": "victim@example.com", "password": "password123"}
    same = await a.client.post("/auth/login", data=login, headers={"Sec-Fetch-Site": "same-origin"})
    assert same.status_code == 200 and "set-cookie" in same.headers


async def test_cross_site_sign_in_with_json_delivery_is_harmless_and_allowed(make_app: Any) -> None:
    a = await make_app()
    await a.register("j@example.com", "password123")
    r = await a.client.post(
        "/auth/login",
        data={"username": "j@example.com", "password": "password123"},
        headers={"Sec-Fetch-Site": "cross-site"},
    )
    assert r.status_code == 200 and "set-cookie" not in r.headers


async def test_large_bodies_are_refused_before_being_buffered(make_app: Any) -> None:
    """M3: the 16 KiB cap holds for declared and for streamed bodies."""
    a = await make_app()
    big = b'{"email": "a@example.com", "password": "' + b"p" * 100_000 + b'"}'
    r = await a.client.post("/auth/login", content=big, headers={"content-type": "application/json"})
    assert r.status_code == 413

    sent = 0

    async def stream() -> Any:
        nonlocal sent
        for _ in range(64):
            sent += 1
            yield b"x" * 4096

    r = await a.client.post("/auth/refresh", content=stream(), headers={"content-type": "application/json"})
    assert r.status_code == 413
    assert sent < 64  # the server stopped reading soon after the cap, instead of buffering it all


async def test_change_password_counts_against_the_login_budget(make_app: Any) -> None:
    """L1: guessing the current password through change-password is throttled like login."""
    a = await make_app(rate_limit_enabled=True, login_rate_limit_per_account="3/minute")
    tokens = await a.register("c@example.com", "password123")
    codes = []
    for _ in range(4):
        r = await a.client.post(
            "/auth/change-password",
            json={"current_password": "wrong guess", "new_password": "another password"},
            headers=_bearer(tokens["access_token"]),
        )
        codes.append(r.status_code)
    assert codes == [400, 400, 400, 429]


def test_urls_with_passwords_stay_out_of_repr() -> None:
    """L4."""
    config = FastAuthConfig(
        secret="s" * 64, database_url="postgresql://u:dbpassw0rd@h/db", redis_url="redis://:redispassw0rd@h"
    )
    assert "dbpassw0rd" not in repr(config) and "redispassw0rd" not in repr(config)


def test_a_short_secret_cannot_seal_stored_keys() -> None:
    """L5: without PEM keys the secret seals the private keys in the database."""
    with pytest.raises(ConfigError, match="at least 32 characters"):
        FastAuthConfig(secret="hunter2-hunter2", jwt=JWTConfig(algorithm="ES256"))
    pem = private_key_to_pem(generate_private_key("ES256"))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        FastAuthConfig(
            secret="still-required-for-the-config", jwt=JWTConfig(algorithm="ES256", private_key=pem)
        )
    assert any(issubclass(w.category, FastAuthSecurityWarning) for w in caught)


async def test_metadata_is_never_cached_by_shared_caches(make_app: Any) -> None:
    """L6: the document is built from the Host header."""
    a = await make_app(jwt={"algorithm": "ES256"})
    r = await a.client.get("/.well-known/oauth-authorization-server")
    assert r.status_code == 200 and r.headers["cache-control"] == "no-store"


async def test_metadata_urls_come_from_public_url_when_configured(make_app: Any) -> None:
    """L6: a configured public URL, not the Host header, names the endpoints."""
    a = await make_app(jwt={"algorithm": "ES256"}, public_url="https://auth.example.com")
    r = await a.client.get("/.well-known/oauth-authorization-server", headers={"Host": "evil.example"})
    assert r.json()["jwks_uri"] == "https://auth.example.com/.well-known/jwks.json"
    assert r.json()["token_endpoint"] == "https://auth.example.com/auth/login"
    with pytest.raises(ConfigError, match="public_url"):
        FastAuthConfig(secret="s" * 64, public_url="auth.example.com/")

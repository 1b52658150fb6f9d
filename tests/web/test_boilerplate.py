"""FastAPI-boilerplate conventions by configuration alone: login at `POST /api/v1/auth/login` (form), the
access token in the JSON body, the refresh token only in an HttpOnly cookie, `POST /api/v1/auth/refresh`
with that cookie; `SECRET_KEY` / `ACCESS_TOKEN_EXPIRE_MINUTES` from the environment; the module-level
dependencies of `fastauth.dependencies`.

The client speaks https (`https://testserver`) so httpx's cookie jar behaves like a browser with the
default `cookie_secure=True`: `Secure` cookies are kept, and the refresh cookie is sent only under its
path.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import Depends, FastAPI

from fastauth import FastAuth, FastAuthConfig, User
from fastauth.dependencies import get_current_user
from fastauth.passwords import PasswordHasher
from support.app import FAST_HASHER_PARAMS
from support.forge import claims
from support.http import PASSWORD, assert_not_authenticated, bearer, set_cookies

PREFIX = "/api/v1/auth"
REFRESH_COOKIE = "__Secure-fastauth_refresh"
CSRF_COOKIE = "__Host-csrf_token"
FAST_HASHER = PasswordHasher(FAST_HASHER_PARAMS)


class Boilerplate:
    def __init__(self, auth: FastAuth, client: httpx.AsyncClient) -> None:
        self.auth, self.client = auth, client

    async def login(self, email: str = "alice@example.com") -> httpx.Response:
        # the OAuth2 password form, as Swagger's Authorize button and the boilerplates send it
        return await self.client.post(f"{PREFIX}/login", data={"username": email, "password": PASSWORD})


@pytest.fixture
async def boilerplate(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Any]:
    """`await boilerplate(**config)`: an app configured like a boilerplate, behind an https client."""
    monkeypatch.chdir(tmp_path)  # no stray .env
    opened: list[Boilerplate] = []

    async def factory(**config: Any) -> Boilerplate:
        values: dict[str, Any] = {
            "route_prefix": PREFIX,
            "token_delivery": "refresh_cookie",
            "database_url": database_url,
            "rate_limit_enabled": False,
        }
        values.update(config)
        auth = FastAuth(FastAuthConfig(**values), password_hasher=FAST_HASHER)
        app = FastAPI()
        auth.mount(app)

        @app.get("/api/v1/users/me")
        async def me(user: User = Depends(get_current_user)) -> dict[str, str]:
            return {"email": user.email}

        await auth.startup()
        await auth.accounts.register("alice@example.com", PASSWORD)
        client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="https://testserver")
        opened.append(Boilerplate(auth, client))
        return opened[-1]

    yield factory
    for b in opened:
        await b.client.aclose()
        await b.auth.shutdown()


SECRET = "boilerplate-secret-" + "k" * 40


async def test_login_form_access_in_body_refresh_in_http_only_cookie(boilerplate: Any) -> None:
    b = await boilerplate(secret=SECRET)
    r = await b.login()
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {"access_token", "token_type", "expires_in"}  # no refresh_token in the body
    assert body["token_type"] == "bearer" and body["expires_in"] == 900

    cookies = set_cookies(r)
    refresh = cookies[REFRESH_COOKIE]
    assert refresh.attr("httponly") is True and refresh.attr("secure") is True
    assert refresh.attr("path") == PREFIX and str(refresh.attr("samesite")).lower() == "strict"
    assert claims(refresh.value)["type"] == "refresh"
    csrf = cookies[CSRF_COOKIE]
    assert csrf.attr("httponly") is None  # the page's JavaScript reads it to echo it
    assert "__Host-fastauth_access" not in cookies  # the access token stays in the body

    assert (await b.client.get("/api/v1/users/me", headers=bearer(body["access_token"]))).json() == {
        "email": "alice@example.com"
    }
    # the refresh cookie alone authenticates nothing outside the auth routes
    assert_not_authenticated(await b.client.get("/api/v1/users/me"))


async def test_refresh_with_the_cookie_and_the_csrf_header(boilerplate: Any) -> None:
    b = await boilerplate(secret=SECRET)
    first = (await b.login()).json()["access_token"]
    old_refresh = b.client.cookies[REFRESH_COOKIE]

    # the cookie alone is not enough: a cross-site form could send it
    r = await b.client.post(f"{PREFIX}/refresh")
    assert r.status_code == 403 and r.json() == {
        "detail": "CSRF token missing or invalid",
        "code": "csrf_failed",
    }

    r = await b.client.post(f"{PREFIX}/refresh", headers={"X-CSRF-Token": b.client.cookies[CSRF_COOKIE]})
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {"access_token", "token_type", "expires_in"}
    assert body["access_token"] != first
    assert claims(body["access_token"])["sid"] == claims(first)["sid"]  # the same login session
    new_refresh = set_cookies(r)[REFRESH_COOKIE]
    assert new_refresh.value != old_refresh and new_refresh.attr("httponly") is True
    assert (await b.client.get("/api/v1/users/me", headers=bearer(body["access_token"]))).status_code == 200

    # no cookie at all: 401
    b.client.cookies.clear()
    assert_not_authenticated(await b.client.post(f"{PREFIX}/refresh"))


async def test_only_the_configured_prefix_is_served(boilerplate: Any) -> None:
    b = await boilerplate(secret=SECRET)
    r = await b.client.post("/auth/login", data={"username": "alice@example.com", "password": PASSWORD})
    assert r.status_code == 404
    paths = set((await b.client.get("/openapi.json")).json()["paths"])
    assert {f"{PREFIX}/login", f"{PREFIX}/refresh", f"{PREFIX}/logout", f"{PREFIX}/register"} <= paths


async def test_logout_clears_the_refresh_cookie(boilerplate: Any) -> None:
    b = await boilerplate(secret=SECRET)
    access = (await b.login()).json()["access_token"]
    r = await b.client.post(f"{PREFIX}/logout", headers=bearer(access))
    assert r.status_code == 204
    assert set_cookies(r)[REFRESH_COOKIE].attr("max-age") == "0"
    assert (await b.client.get("/api/v1/users/me", headers=bearer(access))).status_code == 401


async def test_plain_env_names_configure_it(boilerplate: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """`SECRET_KEY` and `ACCESS_TOKEN_EXPIRE_MINUTES`, as a boilerplate's `.env` spells them."""
    monkeypatch.setenv("SECRET_KEY", "from-the-environment-" + "e" * 40)
    monkeypatch.setenv("ACCESS_TOKEN_EXPIRE_MINUTES", "5")
    monkeypatch.setenv("REFRESH_TOKEN_EXPIRE_DAYS", "2")
    b = await boilerplate()  # no secret in code
    assert b.auth.config.secret.get_secret_value() == "from-the-environment-" + "e" * 40
    assert b.auth.config.jwt.access_token_ttl == 300
    assert b.auth.config.jwt.refresh_token_ttl == 2 * 86400

    r = await b.login()
    assert r.status_code == 200, r.text
    access = r.json()["access_token"]
    assert r.json()["expires_in"] == 300
    assert claims(access)["exp"] - claims(access)["iat"] == 300
    refresh = set_cookies(r)[REFRESH_COOKIE]
    assert claims(refresh.value)["exp"] - claims(refresh.value)["iat"] == 2 * 86400
    assert (await b.client.get("/api/v1/users/me", headers=bearer(access))).status_code == 200


async def test_env_file_with_plain_names(boilerplate: Any, tmp_path: Path) -> None:
    """The same names in a `.env` file in the working directory."""
    (tmp_path / ".env").write_text(
        f"SECRET_KEY={'dotenv-secret-' + 'd' * 40}\nACCESS_TOKEN_EXPIRE_MINUTES=30\n"
    )
    b = await boilerplate()
    assert b.auth.config.jwt.access_token_ttl == 1800
    assert (await b.login()).json()["expires_in"] == 1800

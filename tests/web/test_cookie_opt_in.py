"""Per-request cookie delivery (`cookie_opt_in`) and the sign-in page switch (`ui_enabled`), over HTTP.

With `cookie_opt_in=True`, API clients keep JSON delivery while a request with
`X-Fastauth-Delivery: cookie` gets cookie delivery, with CSRF exactly as in cookie mode. Cookies are
read from the Set-Cookie headers and sent back explicitly (the client's own jar is never used). The
page at `/` is off in the library and on in `fastauth serve`; the browser tests are in tests/browser/.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from fastauth import ConfigError, FastAuthConfig
from fastauth.server import create_app_from_env, load_config
from fastauth.ui import CONTENT_SECURITY_POLICY
from support.forge import claims
from support.http import PASSWORD, bearer, cookie_header, set_cookies

OPT_IN = {"X-Fastauth-Delivery": "cookie"}
ACCESS, REFRESH, CSRF = "fastauth_access", "fastauth_refresh", "csrf_token"
CSRF_FAILED = {"detail": "CSRF token missing or invalid", "code": "csrf_failed"}
CREDENTIALS = {"email": "alice@example.com", "password": PASSWORD}


class Jar:
    """The cookies of one browser, kept by hand from Set-Cookie headers."""

    def __init__(self, a: Any) -> None:
        self.a = a
        self.cookies: dict[str, str] = {}

    async def send(
        self, method: str, path: str, *, csrf: bool = False, opt_in: bool = False, **kwargs: Any
    ) -> httpx.Response:
        headers = dict(kwargs.pop("headers", {}))
        if self.cookies:
            headers["Cookie"] = cookie_header(self.cookies)
        if csrf:
            headers["X-CSRF-Token"] = self.cookies[CSRF]
        if opt_in:
            headers.update(OPT_IN)
        self.a.client.cookies.clear()
        response = await self.a.client.request(method, path, headers=headers, **kwargs)
        self.a.client.cookies.clear()
        for name, cookie in set_cookies(response).items():
            if cookie.attr("max-age") == "0":
                self.cookies.pop(name, None)
            else:
                self.cookies[name] = cookie.value
        return response


async def _opted_in(make_app: Any, **overrides: Any) -> tuple[Any, Jar]:
    """An app with `cookie_opt_in`, and a browser signed in through the opt-in header."""
    a = await make_app(cookie_opt_in=True, cookie_secure=False, **overrides)
    await a.register()  # JSON, as an API client
    jar = Jar(a)
    r = await jar.send("POST", "/auth/login", opt_in=True, json=CREDENTIALS)
    assert r.status_code == 200, r.text
    assert set(jar.cookies) == {ACCESS, REFRESH, CSRF}
    return a, jar


# --------------------------------------------------------------------------------------------------
# delivery


async def test_without_the_header_api_clients_keep_json_delivery(make_app: Any) -> None:
    a = await make_app(cookie_opt_in=True, cookie_secure=False)
    r = await a.client.post("/auth/register", json=CREDENTIALS)
    assert r.status_code == 201
    assert {"access_token", "refresh_token"} <= set(r.json()) and not set_cookies(r)
    r = await a.client.post("/auth/login", data={"username": CREDENTIALS["email"], "password": PASSWORD})
    assert r.status_code == 200  # Swagger's Authorize button: the OAuth2 form, tokens in the body
    tokens = r.json()
    assert {"access_token", "refresh_token"} <= set(tokens) and not set_cookies(r)
    r = await a.client.post("/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert r.status_code == 200 and "access_token" in r.json() and not set_cookies(r)
    r = await a.client.post("/auth/logout", headers=bearer(r.json()["access_token"]))
    assert r.status_code == 204 and not set_cookies(r)  # no cookies used, none to clear


@pytest.mark.parametrize("path", ["/auth/register", "/auth/login"])
async def test_with_the_header_tokens_come_as_cookies_only(make_app: Any, path: str) -> None:
    a = await make_app(cookie_opt_in=True, cookie_secure=False)
    if path == "/auth/login":
        await a.register()
    r = await a.client.post(path, json=CREDENTIALS, headers={"X-Fastauth-Delivery": "Cookie"})
    assert r.status_code == (201 if path == "/auth/register" else 200)
    assert r.json() == {"token_type": "bearer", "expires_in": 900}  # no token in the body
    assert r.headers["cache-control"] == "no-store"
    found = set_cookies(r)
    assert set(found) == {ACCESS, REFRESH, CSRF}
    assert found[ACCESS].attr("httponly") is True and found[ACCESS].attr("path") == "/"
    assert found[REFRESH].attr("httponly") is True and found[REFRESH].attr("path") == "/auth"
    assert str(found[REFRESH].attr("samesite")).lower() == "strict"
    assert found[CSRF].attr("httponly") is None  # readable by the page, to echo in X-CSRF-Token
    assert claims(found[ACCESS].value)["sid"] == claims(found[REFRESH].value)["sid"]


async def test_secure_cookies_keep_their_prefixes(make_app: Any) -> None:
    a = await make_app(cookie_opt_in=True)
    r = await a.client.post("/auth/register", json=CREDENTIALS, headers=OPT_IN)
    found = set_cookies(r)
    assert set(found) == {"__Host-fastauth_access", "__Secure-fastauth_refresh", "__Host-csrf_token"}
    assert all(cookie.attr("secure") is True for cookie in found.values())


async def test_an_unknown_delivery_value_is_json(make_app: Any) -> None:
    a = await make_app(cookie_opt_in=True, cookie_secure=False)
    r = await a.client.post("/auth/register", json=CREDENTIALS, headers={"X-Fastauth-Delivery": "cookies"})
    assert "access_token" in r.json() and not set_cookies(r)


async def test_the_header_means_nothing_without_cookie_opt_in(make_app: Any) -> None:
    a = await make_app(cookie_secure=False)  # the library default: cookie_opt_in=False
    r = await a.client.post("/auth/register", json=CREDENTIALS, headers=OPT_IN)
    assert r.status_code == 201 and "access_token" in r.json() and not set_cookies(r)
    # ...and an access cookie authenticates nothing there.
    a.client.cookies.clear()
    forged = await a.client.get("/private", headers={"Cookie": f"{ACCESS}={r.json()['access_token']}"})
    assert forged.status_code == 401


# --------------------------------------------------------------------------------------------------
# cookies authenticate, CSRF guards them


async def test_access_cookie_authenticates_and_unsafe_methods_need_csrf(make_app: Any) -> None:
    _, jar = await _opted_in(make_app)
    assert (await jar.send("GET", "/private")).status_code == 200
    assert (await jar.send("GET", "/auth/me")).json()["email"] == "alice@example.com"

    refused = await jar.send("POST", "/private")
    assert refused.status_code == 403 and refused.json() == CSRF_FAILED
    assert (await jar.send("POST", "/private", headers={"X-CSRF-Token": "x.y"})).status_code == 403
    assert (await jar.send("POST", "/private", csrf=True)).status_code == 200

    refused = await jar.send("DELETE", "/auth/sessions")
    assert refused.status_code == 403 and refused.json() == CSRF_FAILED
    assert refused.headers.get_list("set-cookie") == []
    assert (await jar.send("POST", "/auth/change-password", json={})).status_code == 403
    live = await jar.send("GET", "/auth/sessions")
    assert live.status_code == 200 and len(live.json()) == 2  # nothing was revoked (API + browser)


async def test_refresh_with_the_cookie_needs_the_header_and_csrf(make_app: Any) -> None:
    _, jar = await _opted_in(make_app)
    before = dict(jar.cookies)

    refused = await jar.send("POST", "/auth/refresh", opt_in=True)
    assert refused.status_code == 403 and refused.json() == CSRF_FAILED
    # Without the opt-in header the cookie is not read at all: a cookie session never gets tokens
    # in a response body.
    ignored = await jar.send("POST", "/auth/refresh", csrf=True)
    assert ignored.status_code == 401 and "access_token" not in ignored.text
    assert jar.cookies == before  # neither attempt spent the refresh token

    r = await jar.send("POST", "/auth/refresh", opt_in=True, csrf=True)
    assert r.status_code == 200
    assert r.json() == {"token_type": "bearer", "expires_in": 900}
    assert jar.cookies[ACCESS] != before[ACCESS] and jar.cookies[REFRESH] != before[REFRESH]
    assert jar.cookies[CSRF] != before[CSRF]
    assert (await jar.send("GET", "/private")).status_code == 200


async def test_logout_needs_csrf_and_clears_the_cookies(make_app: Any) -> None:
    _, jar = await _opted_in(make_app)
    old = dict(jar.cookies)
    refused = await jar.send("POST", "/auth/logout")
    assert refused.status_code == 403 and refused.json() == CSRF_FAILED

    r = await jar.send("POST", "/auth/logout", csrf=True)
    assert r.status_code == 204
    cleared = set_cookies(r)
    assert set(cleared) == {ACCESS, REFRESH, CSRF}
    assert all(cookie.attr("max-age") == "0" for cookie in cleared.values())
    assert cleared[REFRESH].attr("path") == "/auth"  # deleted with the attributes it was set with
    assert jar.cookies == {}
    jar.cookies = old  # a copy kept by someone: the session is over anyway
    assert (await jar.send("GET", "/private")).status_code == 401
    assert (await jar.send("POST", "/auth/refresh", opt_in=True, csrf=True)).status_code == 401


async def test_logout_with_only_the_refresh_cookie_needs_csrf(make_app: Any) -> None:
    _, jar = await _opted_in(make_app)
    del jar.cookies[ACCESS]  # the access cookie expired and the browser dropped it
    assert (await jar.send("POST", "/auth/logout")).status_code == 403
    r = await jar.send("POST", "/auth/logout", csrf=True)
    assert r.status_code == 204 and jar.cookies == {}
    assert (await jar.send("POST", "/auth/refresh", opt_in=True)).status_code == 401


async def test_sign_out_everywhere_with_cookies_clears_them(make_app: Any) -> None:
    a, jar = await _opted_in(make_app)
    api = (await a.client.post("/auth/login", json=CREDENTIALS)).json()  # another device, JSON
    r = await jar.send("DELETE", "/auth/sessions", csrf=True)
    assert r.status_code == 204 and jar.cookies == {}
    assert (await a.client.get("/private", headers=bearer(api["access_token"]))).status_code == 401


async def test_revoking_the_current_session_by_id_clears_the_cookies(make_app: Any) -> None:
    _, jar = await _opted_in(make_app)
    (session,) = [s for s in (await jar.send("GET", "/auth/sessions")).json() if s["current"]]
    r = await jar.send("DELETE", f"/auth/sessions/{session['id']}", csrf=True)
    assert r.status_code == 204 and jar.cookies == {}


# --------------------------------------------------------------------------------------------------
# the sign-in page: off in the library, on in `fastauth serve`


async def test_the_page_is_off_by_default_in_the_library(make_app: Any) -> None:
    a = await make_app(cookie_opt_in=True)
    assert a.auth.config.ui_enabled is False
    assert (await a.client.get("/")).status_code == 404
    assert (await a.client.get("/ui/static/app.js")).status_code == 404


def test_the_page_needs_cookie_delivery() -> None:
    secret = "s" * 64
    with pytest.raises(ConfigError, match="ui_enabled needs cookie delivery"):
        FastAuthConfig(secret=secret, ui_enabled=True)
    with pytest.raises(ConfigError, match="ui_enabled needs cookie delivery"):
        FastAuthConfig(secret=secret, ui_enabled=True, token_delivery="refresh_cookie")
    assert FastAuthConfig(secret=secret, ui_enabled=True, cookie_opt_in=True).ui_enabled
    assert FastAuthConfig(secret=secret, ui_enabled=True, token_delivery="cookie").ui_enabled


async def test_the_page_when_enabled_in_the_library(make_app: Any) -> None:
    a = await make_app(cookie_opt_in=True, ui_enabled=True, route_prefix="/api/v1/auth")
    r = await a.client.get("/")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert r.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert "default-src 'self'" in CONTENT_SECURITY_POLICY and "unsafe" not in CONTENT_SECURITY_POLICY
    assert r.headers["x-frame-options"] == "DENY"
    html = r.text
    assert 'data-api="/api/v1/auth"' in html and 'data-csrf-cookie="__Host-csrf_token"' in html
    # Nothing inline (the CSP would refuse it anyway): every script has a src, no style attributes.
    assert re.findall(r"<script(?![^>]*\bsrc=)", html) == []
    assert " style=" not in html and "<style" not in html and " on" + "click=" not in html
    assert 'for="login-email"' in html and 'for="register-password"' in html  # labelled inputs
    assert 'aria-live="polite"' in html
    for name, media_type in [
        ("app.js", "text/javascript"),
        ("style.css", "text/css"),
        ("icon.svg", "image/svg"),
    ]:
        asset = await a.client.get(f"/ui/static/{name}")
        assert asset.status_code == 200 and asset.headers["content-type"].startswith(media_type)
        assert f"/ui/static/{name}?v=" in html
        again = await a.client.get(f"/ui/static/{name}", headers={"If-None-Match": asset.headers["etag"]})
        assert again.status_code == 304
    assert (await a.client.get("/ui/static/../__init__.py")).status_code == 404
    assert (await a.client.get("/ui/static/other.js")).status_code == 404
    assert "/" not in (await a.client.get("/openapi.json")).json()["paths"]  # not part of the API


@pytest.fixture
async def serve_app(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> AsyncIterator[Any]:
    """`await serve_app(**env)`: what `fastauth serve` runs (its uvicorn factory), in an empty folder."""
    monkeypatch.chdir(tmp_path)
    opened: list[Any] = []

    async def factory(**env: str) -> tuple[Any, httpx.AsyncClient]:
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        app = create_app_from_env()
        client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1:8000")
        opened.append((app, client))
        return app, client

    yield factory
    for app, client in opened:
        await client.aclose()
        await app.state.fastauth.shutdown()


async def test_fastauth_serve_turns_the_page_and_the_opt_in_on(serve_app: Any) -> None:
    app, client = await serve_app()
    cfg = app.state.fastauth.config
    assert cfg.cookie_opt_in is True and cfg.ui_enabled is True and cfg.token_delivery == "json"
    page = await client.get("/")
    assert page.status_code == 200 and "Sign in" in page.text and "development mode" in page.text
    assert page.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    api = await client.post("/auth/register", json=CREDENTIALS)
    assert "access_token" in api.json() and not set_cookies(api)  # curl and Swagger keep JSON
    browser = await client.post("/auth/login", json=CREDENTIALS, headers=OPT_IN)
    assert "access_token" not in browser.json() and set(set_cookies(browser)) == {ACCESS, REFRESH, CSRF}


async def test_fastauth_serve_settings_turn_them_off(
    serve_app: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    app, client = await serve_app(FASTAUTH_UI_ENABLED="false")
    assert app.state.fastauth.config.cookie_opt_in is True
    assert (await client.get("/")).status_code == 404

    # No cookie delivery left: the page could not work, so it stays off rather than failing to start.
    monkeypatch.delenv("FASTAUTH_UI_ENABLED")
    monkeypatch.setenv("FASTAUTH_COOKIE_OPT_IN", "false")
    cfg, _ = load_config()
    assert cfg.cookie_opt_in is False and cfg.ui_enabled is False
    monkeypatch.setenv("FASTAUTH_TOKEN_DELIVERY", "cookie")  # ...unless cookie mode is on for everyone
    assert load_config()[0].ui_enabled is True

    # A .env file counts as configuration too.
    monkeypatch.delenv("FASTAUTH_COOKIE_OPT_IN")
    monkeypatch.delenv("FASTAUTH_TOKEN_DELIVERY")
    (tmp_path / ".env").write_text("FASTAUTH_UI_ENABLED=false\n")
    cfg, _ = load_config()
    assert cfg.cookie_opt_in is True and cfg.ui_enabled is False

"""Cookie delivery: cookie attributes, cross-site sign-in refused (login CSRF), signed double-submit CSRF
bound to the session, refresh and logout.

httpx keeps no `Secure` cookie over http://, so cookies are read from the Set-Cookie headers and sent
back explicitly in a `Cookie` header (the client's jar is emptied before every request). One test at
the end drives the plain-http development mode through httpx's own cookie jar, like a browser would.
"""

from __future__ import annotations

import time
from email.utils import parsedate_to_datetime
from typing import Any

import pytest

from support.clock import Clock
from support.forge import claims
from support.http import (
    PASSWORD,
    SetCookie,
    assert_invalid_token,
    assert_not_authenticated,
    bearer,
    cookie_header,
    set_cookies,
)

CSRF_FAILED = {"detail": "CSRF token missing or invalid", "code": "csrf_failed"}


def cookie_names(secure: bool) -> tuple[str, str, str]:
    """(access, refresh, csrf) cookie names: `__Host-`/`__Secure-` prefixes when Secure."""
    if secure:
        return "__Host-fastauth_access", "__Secure-fastauth_refresh", "__Host-csrf_token"
    return "fastauth_access", "fastauth_refresh", "csrf_token"


class Browser:
    """Keeps the cookies of one login session by hand and sends them explicitly."""

    def __init__(self, a: Any, secure: bool) -> None:
        self.a = a
        self.access_name, self.refresh_name, self.csrf_name = cookie_names(secure)
        self.jar: dict[str, str] = {}

    @property
    def prefix(self) -> str:
        return str(self.a.auth.config.route_prefix)

    def absorb(self, response: Any) -> dict[str, SetCookie]:
        found = set_cookies(response)
        for name, cookie in found.items():
            if cookie.attr("max-age") == "0":
                self.jar.pop(name, None)
            else:
                self.jar[name] = cookie.value
        return found

    async def send(
        self, method: str, path: str, *, cookies: dict[str, str] | None = None, csrf: str | None = None,
        headers: dict[str, str] | None = None, **kwargs: Any,
    ) -> Any:  # fmt: skip
        self.a.client.cookies.clear()
        sent = dict(headers or {})
        jar = self.jar if cookies is None else cookies
        if jar:
            sent["Cookie"] = cookie_header(jar)
        if csrf is not None:
            sent["X-CSRF-Token"] = csrf
        response = await self.a.client.request(method, path, headers=sent, **kwargs)
        self.a.client.cookies.clear()
        return response

    async def login(self, email: str = "alice@example.com", password: str = PASSWORD) -> Any:
        r = await self.send(
            "POST", f"{self.prefix}/login", cookies={}, json={"email": email, "password": password}
        )
        assert r.status_code == 200, r.text
        self.absorb(r)
        return r

    @property
    def access(self) -> str:
        return self.jar[self.access_name]

    @property
    def refresh(self) -> str:
        return self.jar[self.refresh_name]

    @property
    def csrf(self) -> str:
        return self.jar[self.csrf_name]


@pytest.fixture(params=[True, False], ids=["secure", "plain-http"])
def secure(request: pytest.FixtureRequest) -> bool:
    return bool(request.param)


async def _cookie_app(make_app: Any, secure: bool, **overrides: Any) -> Any:
    a = await make_app(token_delivery="cookie", cookie_secure=secure, **overrides)
    await a.register("alice@example.com")  # cookie mode: the register response carries cookies only
    a.client.cookies.clear()
    return a


def _check_attributes(cookie: SetCookie, *, path: str, samesite: str, httponly: bool, secure: bool) -> None:
    assert cookie.attr("path") == path, cookie
    assert str(cookie.attr("samesite")).lower() == samesite, cookie
    assert (cookie.attr("httponly") is True) is httponly, cookie
    assert (cookie.attr("secure") is True) is secure, cookie
    assert cookie.attr("domain") is None, cookie


async def test_login_sets_the_three_cookies_and_no_tokens_in_the_body(make_app: Any, secure: bool) -> None:
    a = await _cookie_app(make_app, secure)
    browser = Browser(a, secure)
    r = await browser.login()
    assert r.json() == {"token_type": "bearer", "expires_in": 900}
    assert r.headers["cache-control"] == "no-store"
    found = set_cookies(r)
    access_name, refresh_name, csrf_name = cookie_names(secure)
    assert set(found) == {access_name, refresh_name, csrf_name}
    _check_attributes(found[access_name], path="/", samesite="lax", httponly=True, secure=secure)
    _check_attributes(found[refresh_name], path="/auth", samesite="strict", httponly=True, secure=secure)
    _check_attributes(found[csrf_name], path="/", samesite="lax", httponly=False, secure=secure)
    assert found[access_name].attr("max-age") == "900"
    assert found[refresh_name].attr("max-age") == str(7 * 24 * 3600)
    # the cookies hold real tokens of one session, and the CSRF token is not a token
    access, refresh = claims(found[access_name].value), claims(found[refresh_name].value)
    assert access["type"] == "access" and refresh["type"] == "refresh"
    assert access["sid"] == refresh["sid"]
    assert found[csrf_name].value.count(".") == 1


async def test_register_in_cookie_mode_sets_cookies_too(make_app: Any, secure: bool) -> None:
    a = await make_app(token_delivery="cookie", cookie_secure=secure)
    r = await a.client.post("/auth/register", json={"email": "alice@example.com", "password": PASSWORD})
    assert r.status_code == 201
    assert r.json() == {"token_type": "bearer", "expires_in": 900}
    assert set(set_cookies(r)) == set(cookie_names(secure))


@pytest.mark.parametrize("route", ["/auth/login", "/auth/register"])
async def test_cross_site_sign_in_with_cookies_is_refused(make_app: Any, route: str) -> None:
    """M2: login CSRF. A cross-site form must not set auth cookies in the browser."""
    a = await make_app(token_delivery="cookie", cookie_secure=False)
    await a.register("victim@example.com", "password123")
    form = {"username": "victim@example.com", "email": "new@example.com", "password": "password123"}
    r = await a.client.post(route, data=form, headers={"Sec-Fetch-Site": "cross-site"})
    assert r.status_code == 403 and r.json() == {
        "detail": "Cross-site sign-in refused",
        "code": "cross_site_signin",
    }
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


async def test_cookie_authenticates_safe_methods_without_csrf(make_app: Any, secure: bool) -> None:
    a = await _cookie_app(make_app, secure)
    browser = Browser(a, secure)
    await browser.login()
    r = await browser.send("GET", "/private", cookies={browser.access_name: browser.access})
    assert r.status_code == 200 and r.json()["email"] == "alice@example.com"
    assert (
        await browser.send("GET", "/claims", cookies={browser.access_name: browser.access})
    ).status_code == 200
    assert (await browser.send("GET", "/auth/me")).status_code == 200
    # the refresh cookie or the CSRF cookie alone authenticate nothing
    assert_not_authenticated(
        await browser.send("GET", "/private", cookies={browser.refresh_name: browser.refresh})
    )
    assert_not_authenticated(await browser.send("GET", "/private", cookies={browser.csrf_name: browser.csrf}))
    # a cookie under the other mode's name is not read
    other_name = cookie_names(not secure)[0]
    assert_not_authenticated(await browser.send("GET", "/private", cookies={other_name: browser.access}))


async def test_unsafe_methods_need_the_session_bound_csrf_token(make_app: Any, secure: bool) -> None:
    a = await _cookie_app(make_app, secure)
    victim, attacker = Browser(a, secure), Browser(a, secure)
    await victim.login()
    await attacker.login()  # another session (here even the same user) has its own CSRF token

    async def post(**kwargs: Any) -> Any:
        return await victim.send("POST", "/private", **kwargs)

    refusals = {
        "no header": await post(),
        "wrong header": await post(csrf="nonce.not-a-mac"),
        "empty header": await post(csrf=""),
        "header from another session's cookie": await post(csrf=attacker.csrf),
        "header and csrf cookie from another session": await post(
            cookies={**victim.jar, victim.csrf_name: attacker.csrf}, csrf=attacker.csrf
        ),
        "right header, no csrf cookie": await post(
            cookies={victim.access_name: victim.access}, csrf=victim.csrf
        ),
        "right header, csrf cookie of another session": await post(
            cookies={**victim.jar, victim.csrf_name: attacker.csrf}, csrf=victim.csrf
        ),
        "oversized header": await post(csrf=victim.csrf + "x" * 300),
    }
    for case, r in refusals.items():
        assert r.status_code == 403, (case, r.status_code, r.text)
        assert r.json() == CSRF_FAILED, case
    ok = await post(csrf=victim.csrf)
    assert ok.status_code == 200, ok.text
    assert ok.json() == {"id": claims(victim.access)["sub"]}


async def test_bearer_header_needs_no_csrf(make_app: Any, secure: bool) -> None:
    a = await _cookie_app(make_app, secure)
    browser = Browser(a, secure)
    await browser.login()
    r = await browser.send("POST", "/private", cookies={}, headers=bearer(browser.access))
    assert r.status_code == 200
    # with the cookies present as well, the header is what counts
    r = await browser.send("POST", "/private", headers=bearer(browser.access))
    assert r.status_code == 200
    # and a bad header is not rescued by a good cookie
    assert_invalid_token(await browser.send("POST", "/private", headers=bearer("garbage"), csrf=browser.csrf))


async def test_refresh_with_the_cookie(make_app: Any, secure: bool) -> None:
    a = await _cookie_app(make_app, secure)
    browser = Browser(a, secure)
    await browser.login()
    old = dict(browser.jar)
    refresh_only = {browser.refresh_name: browser.refresh, browser.csrf_name: browser.csrf}
    r = await browser.send("POST", "/auth/refresh", cookies=refresh_only)
    assert r.status_code == 403 and r.json() == CSRF_FAILED
    r = await browser.send("POST", "/auth/refresh", cookies=refresh_only, csrf="x.y")
    assert r.status_code == 403
    # the refused attempts spent nothing: with the header it rotates
    r = await browser.send("POST", "/auth/refresh", cookies=refresh_only, csrf=browser.csrf)
    assert r.status_code == 200, r.text
    assert r.json() == {"token_type": "bearer", "expires_in": 900}
    assert r.headers["cache-control"] == "no-store"
    found = browser.absorb(r)
    assert set(found) == set(cookie_names(secure))
    _check_attributes(
        found[browser.refresh_name], path="/auth", samesite="strict", httponly=True, secure=secure
    )
    assert browser.refresh != old[browser.refresh_name]
    assert browser.csrf != old[browser.csrf_name]
    assert claims(browser.access)["sid"] == claims(old[browser.access_name])["sid"]
    assert (await browser.send("POST", "/private", csrf=browser.csrf)).status_code == 200
    # the old refresh cookie is spent: presenting it again is reuse, and ends the session
    reuse = await browser.send(
        "POST", "/auth/refresh", cookies={browser.refresh_name: old[browser.refresh_name],
                                          browser.csrf_name: old[browser.csrf_name]},
        csrf=old[browser.csrf_name],
    )  # fmt: skip
    assert_invalid_token(reuse)
    assert_invalid_token(await browser.send("GET", "/private"))


async def test_refresh_token_in_the_body_still_works_in_cookie_mode(make_app: Any, secure: bool) -> None:
    a = await _cookie_app(make_app, secure)
    browser = Browser(a, secure)
    await browser.login()
    r = await browser.send("POST", "/auth/refresh", cookies={}, json={"refresh_token": browser.refresh})
    assert r.status_code == 200
    assert "refresh_token" not in r.json()


async def test_logout_clears_every_cookie_and_ends_the_session(make_app: Any, secure: bool) -> None:
    a = await _cookie_app(make_app, secure)
    browser = Browser(a, secure)
    await browser.login()
    old = dict(browser.jar)
    r = await browser.send("POST", "/auth/logout")
    assert r.status_code == 403 and r.json() == CSRF_FAILED  # no forced logout from another site
    assert (await browser.send("GET", "/private")).status_code == 200
    r = await browser.send("POST", "/auth/logout", csrf=browser.csrf)
    assert r.status_code == 204
    cleared = set_cookies(r)
    assert set(cleared) == set(cookie_names(secure))
    for name, path, samesite, httponly in (
        (browser.access_name, "/", "lax", True),
        (browser.refresh_name, "/auth", "strict", True),
        (browser.csrf_name, "/", "lax", False),
    ):
        cookie = cleared[name]
        assert cookie.value == ""
        assert cookie.attr("max-age") == "0"
        assert parsedate_to_datetime(str(cookie.attr("expires"))).timestamp() <= time.time() + 1
        _check_attributes(cookie, path=path, samesite=samesite, httponly=httponly, secure=secure)
    # the old cookies, replayed, no longer work
    assert_invalid_token(await browser.send("GET", "/private", cookies=old))
    assert_invalid_token(await browser.send("POST", "/private", cookies=old, csrf=old[browser.csrf_name]))
    r = await browser.send("POST", "/auth/refresh", cookies=old, csrf=old[browser.csrf_name])
    assert_invalid_token(r)


async def test_logout_with_expired_access_cookie_ends_the_session(
    make_app: Any, secure: bool, clock: Clock
) -> None:
    a = await _cookie_app(make_app, secure, clock=clock)
    browser = Browser(a, secure)
    await browser.login()
    old = dict(browser.jar)
    clock.advance(900 + 5 + 1)
    assert_invalid_token(await browser.send("GET", "/private"))
    # without the CSRF header the refresh cookie ends nothing
    r = await browser.send("POST", "/auth/logout")
    assert r.status_code == 403
    r = await browser.send("POST", "/auth/logout", csrf=browser.csrf)
    assert r.status_code == 204
    assert set(set_cookies(r)) == set(cookie_names(secure))
    r = await browser.send("POST", "/auth/refresh", cookies=old, csrf=old[browser.csrf_name])
    assert_invalid_token(r)


async def test_refresh_cookie_mode(make_app: Any, secure: bool) -> None:
    a = await make_app(token_delivery="refresh_cookie", cookie_secure=secure)
    access_name, refresh_name, csrf_name = cookie_names(secure)
    r = await a.client.post("/auth/register", json={"email": "alice@example.com", "password": PASSWORD})
    assert r.status_code == 201
    body = r.json()
    assert set(body) == {"access_token", "token_type", "expires_in"}
    found = set_cookies(r)
    assert set(found) == {refresh_name, csrf_name}
    _check_attributes(found[refresh_name], path="/auth", samesite="strict", httponly=True, secure=secure)
    assert claims(found[refresh_name].value)["sid"] == claims(body["access_token"])["sid"]
    browser = Browser(a, secure)
    browser.absorb(r)
    # the access token travels in the header; no access cookie is read in this mode
    assert (
        await browser.send("POST", "/private", cookies={}, headers=bearer(body["access_token"]))
    ).status_code == 200
    assert_not_authenticated(
        await browser.send("GET", "/private", cookies={access_name: body["access_token"]})
    )
    # refresh from the cookie needs the CSRF header
    assert (await browser.send("POST", "/auth/refresh")).status_code == 403
    r = await browser.send("POST", "/auth/refresh", csrf=browser.csrf)
    assert r.status_code == 200
    fresh = r.json()
    assert set(fresh) == {"access_token", "token_type", "expires_in"}
    browser.absorb(r)
    assert (
        await browser.send("GET", "/private", cookies={}, headers=bearer(fresh["access_token"]))
    ).status_code == 200
    r = await browser.send("POST", "/auth/logout", headers=bearer(fresh["access_token"]))
    assert r.status_code == 204
    assert set(set_cookies(r)) == {access_name, refresh_name, csrf_name}
    assert_invalid_token(
        await browser.send("GET", "/private", cookies={}, headers=bearer(fresh["access_token"]))
    )


async def test_browser_flow_with_the_client_cookie_jar(make_app: Any) -> None:
    """Development mode over plain http, cookies kept by httpx like a browser, under a custom prefix."""
    a = await make_app(token_delivery="cookie", cookie_secure=False, route_prefix="/api/v1/auth")
    c = a.client
    r = await c.post("/api/v1/auth/register", json={"email": "alice@example.com", "password": PASSWORD})
    assert r.status_code == 201
    assert set_cookies(r)["fastauth_refresh"].attr("path") == "/api/v1/auth"
    assert (await c.get("/private")).status_code == 200
    assert (await c.post("/private")).status_code == 403
    csrf = c.cookies["csrf_token"]
    assert (await c.post("/private", headers={"X-CSRF-Token": csrf})).status_code == 200
    r = await c.post("/api/v1/auth/refresh", headers={"X-CSRF-Token": csrf})
    assert r.status_code == 200
    csrf = c.cookies["csrf_token"]
    sessions = await c.get("/api/v1/auth/sessions")
    assert sessions.status_code == 200 and [s["current"] for s in sessions.json()] == [True]
    r = await c.post("/api/v1/auth/logout", headers={"X-CSRF-Token": csrf})
    assert r.status_code == 204
    assert dict(c.cookies) == {}  # the jar dropped every cookie
    assert_not_authenticated(await c.get("/private"))


async def test_a_dead_refresh_cookie_is_cleared_with_the_401(make_app: Any) -> None:
    a = await make_app(token_delivery="cookie", cookie_secure=False)
    r = await a.client.post("/auth/register", json={"email": "dead@example.com", "password": "password123"})
    assert r.status_code == 201
    csrf = a.client.cookies["csrf_token"]
    assert (await a.client.delete("/auth/sessions", headers={"X-CSRF-Token": csrf})).status_code == 204
    # The session is gone; put its refresh cookie back as a browser that missed the logout would have it.
    a.client.cookies.set("fastauth_refresh", r.cookies["fastauth_refresh"], path="/auth")
    a.client.cookies.set("csrf_token", csrf)
    dead = await a.client.post("/auth/refresh", headers={"X-CSRF-Token": csrf})
    assert dead.status_code == 401
    assert dead.headers["www-authenticate"] == 'Bearer error="invalid_token"'
    set_cookies = dead.headers.get_list("set-cookie")
    assert any(c.startswith("fastauth_refresh=") and "Max-Age=0" in c for c in set_cookies), set_cookies

"""Login CSRF from a page of the same site but another origin (a sibling subdomain that may be someone
else's), and from browsers without Fetch Metadata: with cookie delivery, a sign-in is accepted from this
server's own pages and from trusted origins (`public_url`, the passkey origins, the provider return
addresses, `cookie_sign_in_origins`), and refused from any other page with 403 `cross_site_signin` and no
cookie. JSON delivery sets no cookie, so it is never refused.
"""

from __future__ import annotations

from typing import Any

import pytest

from fastauth.errors import ConfigError
from support.app import make_config

PASSWORD = "password123"
LOGIN = {"username": "victim@example.com", "password": PASSWORD}
REFUSED = {"detail": "Cross-site sign-in refused", "code": "cross_site_signin"}


async def _app(make_app: Any, **overrides: Any) -> Any:
    a = await make_app(token_delivery="cookie", cookie_secure=False, **overrides)
    await a.register("victim@example.com", PASSWORD)
    return a


@pytest.mark.parametrize(
    "headers",
    [
        # a sibling subdomain (same site, another origin), with Fetch Metadata
        {"Sec-Fetch-Site": "same-site", "Origin": "https://evil.example.com"},
        # the same page with the origin left out of the trusted ones
        {"Sec-Fetch-Site": "same-site", "Origin": "http://other.testserver"},
        # a browser without Fetch Metadata, on another host
        {"Origin": "https://evil.example.net"},
        # another port of this host is another origin
        {"Origin": "http://testserver:8080"},
        # a user-initiated request that still names a foreign origin
        {"Sec-Fetch-Site": "none", "Origin": "https://evil.example.net"},
    ],
    ids=["same-site", "same-site-untrusted", "no-fetch-metadata", "other-port", "none-with-origin"],
)
@pytest.mark.parametrize("route", ["/auth/login", "/auth/register"])
async def test_a_sign_in_from_another_origins_page_is_refused(
    make_app: Any, route: str, headers: dict[str, str]
) -> None:
    a = await _app(make_app)
    form = {**LOGIN, "email": "new@example.com"}
    r = await a.client.post(route, data=form, headers=headers)
    assert (r.status_code, r.json()) == (403, REFUSED)
    assert "set-cookie" not in r.headers
    assert await a.auth.service.store.get_user_by_email("new@example.com") is None


@pytest.mark.parametrize(
    "headers",
    [
        {"Sec-Fetch-Site": "same-origin", "Origin": "http://testserver"},
        {"Sec-Fetch-Site": "same-origin"},
        {"Origin": "http://testserver"},  # no Fetch Metadata: the Origin is this host
        {},  # no browser: nothing to protect against
    ],
    ids=["same-origin", "same-origin-no-origin", "own-host", "no-headers"],
)
async def test_this_servers_own_pages_sign_in(make_app: Any, headers: dict[str, str]) -> None:
    a = await _app(make_app)
    r = await a.client.post("/auth/login", data=LOGIN, headers=headers)
    assert r.status_code == 200 and "set-cookie" in r.headers


async def test_trusted_origins_sign_in_from_a_sibling_subdomain(make_app: Any) -> None:
    a = await _app(
        make_app,
        public_url="https://auth.example.com",
        cookie_sign_in_origins=("https://App.example.com",),
        oauth_redirect_allowlist=("https://shop.example.com/return",),
    )
    for origin in ("https://app.example.com", "https://auth.example.com", "https://shop.example.com"):
        r = await a.client.post(
            "/auth/login", data=LOGIN, headers={"Sec-Fetch-Site": "same-site", "Origin": origin}
        )
        assert r.status_code == 200 and "set-cookie" in r.headers, origin
    r = await a.client.post(
        "/auth/login",
        data=LOGIN,
        headers={"Sec-Fetch-Site": "same-site", "Origin": "https://blog.example.com"},
    )
    assert (r.status_code, r.json()) == (403, REFUSED)


async def test_json_delivery_is_never_refused(make_app: Any) -> None:
    a = await make_app()
    await a.register("j@example.com", PASSWORD)
    r = await a.client.post(
        "/auth/login",
        data={"username": "j@example.com", "password": PASSWORD},
        headers={"Sec-Fetch-Site": "same-site", "Origin": "https://evil.example.com"},
    )
    assert r.status_code == 200 and "set-cookie" not in r.headers


@pytest.mark.parametrize(
    "entry", ["app.example.com", "https://app.example.com/path", "ftp://app.example.com", "https://"]
)
def test_a_cookie_sign_in_origin_that_is_no_origin_stops_start_up(entry: str) -> None:
    with pytest.raises(ConfigError) as info:
        make_config("sqlite+aiosqlite:///:memory:", cookie_sign_in_origins=(entry,))
    assert "cookie_sign_in_origins entries must be origins like 'https://app.example.com'" in str(info.value)

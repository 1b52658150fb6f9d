"""EventHooks through the HTTP flows: which hook fires when, the allow_signin gate, modify_jwt."""

from __future__ import annotations

from typing import Any

import httpx

from fastauth import EventHooks
from support.forge import claims
from support.http import PASSWORD, assert_invalid_token, bearer, login


class Recorder(EventHooks):
    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []
        self.allow = True
        self.extra: dict[str, Any] = {}
        self.override: dict[str, Any] = {}

    async def modify_jwt(self, token: dict[str, Any], user: Any) -> dict[str, Any]:
        return {**token, **self.extra, "email": user.email, **self.override}

    async def allow_signin(self, user: Any) -> bool:
        self.calls.append(("allow_signin", user.email))
        return self.allow

    async def on_signup(self, user: Any) -> None:
        self.calls.append(("signup", user.email))

    async def on_signin(self, user: Any) -> None:
        self.calls.append(("signin", user.email))

    async def on_signout(self, user: Any) -> None:
        self.calls.append(("signout", user.email))

    async def on_token_refresh(self, user: Any) -> None:
        self.calls.append(("refresh", user.email))

    async def on_failed_login(self, email: str, ip: str | None) -> None:
        self.calls.append(("failed_login", email, ip))

    async def on_refresh_reuse(self, user_id: str, session_id: str) -> None:
        self.calls.append(("refresh_reuse", user_id, session_id))

    def take(self) -> list[tuple[Any, ...]]:
        calls, self.calls = self.calls, []
        return [c for c in calls if c[0] != "allow_signin"]


async def test_each_flow_fires_its_hooks(make_app: Any) -> None:
    hooks = Recorder()
    a = await make_app(hooks=hooks)
    first = await a.register("alice@example.com")
    assert hooks.take() == [("signup", "alice@example.com"), ("signin", "alice@example.com")]

    second = await login(a.client, "alice@example.com")
    assert hooks.take() == [("signin", "alice@example.com")]

    r = await a.client.post("/auth/login", json={"email": "Alice@Example.com", "password": "wrong password"})
    assert r.status_code == 401
    r = await a.client.post("/auth/login", json={"email": "nobody@example.com", "password": PASSWORD})
    assert r.status_code == 401
    assert hooks.take() == [
        ("failed_login", "Alice@Example.com", "127.0.0.1"),
        ("failed_login", "nobody@example.com", "127.0.0.1"),
    ]

    rotated = (await a.client.post("/auth/refresh", json={"refresh_token": first["refresh_token"]})).json()
    assert hooks.take() == [("refresh", "alice@example.com")]

    # reuse: the security event names the user and the session that was revoked
    r = await a.client.post("/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert r.status_code == 401
    sid = claims(first["refresh_token"])["sid"]
    assert hooks.take() == [("refresh_reuse", claims(first["access_token"])["sub"], sid)]
    assert_invalid_token(await a.client.get("/private", headers=bearer(rotated["access_token"])))

    r = await a.client.post("/auth/logout", headers=bearer(second["access_token"]))
    assert r.status_code == 204
    assert hooks.take() == [("signout", "alice@example.com")]

    # a refused logout and a refused refresh fire nothing
    assert (await a.client.post("/auth/logout")).status_code == 401
    assert (await a.client.post("/auth/refresh", json={"refresh_token": "garbage"})).status_code == 401
    assert hooks.take() == []

    # logout everywhere is a sign-out too
    third = await login(a.client, "alice@example.com")
    hooks.take()
    assert (await a.client.delete("/auth/sessions", headers=bearer(third["access_token"]))).status_code == 204
    assert hooks.take() == [("signout", "alice@example.com")]


async def test_allow_signin_gates_login_and_refresh(make_app: Any) -> None:
    hooks = Recorder()
    a = await make_app(hooks=hooks)
    tokens = await a.register("alice@example.com")
    hooks.take()
    hooks.allow = False
    r = await a.client.post("/auth/login", json={"email": "alice@example.com", "password": PASSWORD})
    assert r.status_code == 403
    assert r.json() == {"detail": "Sign-in not allowed", "code": "signin_not_allowed"}
    assert "access_token" not in r.text
    r = await a.client.post("/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert r.status_code == 403
    assert hooks.take() == []  # no signin, no refresh
    # the gate never opens on a wrong password: that stays the generic 401
    r = await a.client.post("/auth/login", json={"email": "alice@example.com", "password": "wrong password"})
    assert r.status_code == 401
    # refused attempts started no session and spent no refresh token
    hooks.allow = True
    listed = await a.client.get("/auth/sessions", headers=bearer(tokens["access_token"]))
    assert len(listed.json()) == 1
    r = await a.client.post("/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert r.status_code == 200


async def test_modify_jwt_adds_claims(make_app: Any) -> None:
    hooks = Recorder()
    hooks.extra = {"tenant": "acme", "scopes": ["read", "write"]}
    a = await make_app(hooks=hooks)
    tokens = await a.register("alice@example.com")
    r = await a.client.get("/claims", headers=bearer(tokens["access_token"]))
    assert r.status_code == 200
    body = r.json()
    assert body["tenant"] == "acme" and body["scopes"] == ["read", "write"]
    assert body["email"] == "alice@example.com"
    assert body["type"] == "access"
    # refreshed tokens carry them too; refresh tokens never do
    rotated = (await a.client.post("/auth/refresh", json={"refresh_token": tokens["refresh_token"]})).json()
    assert claims(rotated["access_token"])["tenant"] == "acme"
    assert "tenant" not in claims(rotated["refresh_token"])


async def test_modify_jwt_changing_a_reserved_claim_fails_closed(make_app: Any) -> None:
    """A hook that rewrites `sub` is a bug in the application: a 500 that issues nothing and leaves nothing."""
    hooks = Recorder()
    a = await make_app(hooks=hooks)
    tokens = await a.register("alice@example.com")
    client = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=a.app, raise_app_exceptions=False), base_url="http://testserver"
    )
    try:
        for override in ({"sub": "admin"}, {"sid": "other"}, {"exp": 2**40}, {"type": "refresh"}):
            hooks.override = override
            r = await client.post("/auth/login", json={"email": "alice@example.com", "password": PASSWORD})
            assert r.status_code == 500, (override, r.text)
            assert "eyJ" not in r.text and "access_token" not in r.text
            r = await client.post("/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
            assert r.status_code == 500, (override, r.text)
        hooks.override = {}
    finally:
        await client.aclose()
    # no half-made session was left behind, and the failed refreshes spent nothing
    listed = await a.client.get("/auth/sessions", headers=bearer(tokens["access_token"]))
    assert [s["id"] for s in listed.json()] == [claims(tokens["access_token"])["sid"]]
    r = await a.client.post("/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert r.status_code == 200
    assert claims(r.json()["access_token"])["sub"] == claims(tokens["access_token"])["sub"]

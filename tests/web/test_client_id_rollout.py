"""`client_id` in access tokens (RFC 9068 §2.2) during a rolling deploy: access tokens issued just before
the upgrade (no `client_id`) keep verifying on every verifier path until they expire; a `client_id` that
is there must be a non-empty string; hooks cannot change it."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from fastauth import EventHooks
from fastauth.contrib.fastapi_users import JWTStrategy
from fastauth.errors import ExpiredToken, InvalidClaims
from fastauth.tokens.engine import TokenEngine
from fastauth.verifier import JWKSVerifier
from support.forge import decode
from support.http import bearer

PASSWORD = "correct horse"


def _pre_upgrade(engine: TokenEngine, sub: str, sid: str, **changes: Any) -> str:
    """An access token as fastauth signed it before `client_id`: the same claims without it."""
    claims = engine.access_claims(sub, sid)
    del claims["client_id"]
    claims.update(changes)
    return engine.sign_access(claims).token


async def test_a_token_from_before_the_upgrade_keeps_working_until_it_expires(
    make_app: Any, clock: Any
) -> None:
    a = await make_app(clock=clock, jwt={"algorithm": "ES256"})
    pair = await a.register("alice@example.com", PASSWORD)
    _, claims = decode(pair["access_token"])
    assert claims["client_id"] == "fastauth"
    old = _pre_upgrade(a.auth.service.engine, claims["sub"], claims["sid"])
    assert "client_id" not in decode(old)[1]

    # The server: get_current_user, get_current_claims, logout's access token check.
    assert (await a.client.get("/private", headers=bearer(old))).status_code == 200
    assert (await a.client.get("/claims", headers=bearer(old))).json()["sub"] == claims["sub"]
    # Another service verifying through the JWKS.
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=a.app), base_url="http://testserver"
    ) as http:
        verifier = JWKSVerifier(
            "http://testserver/.well-known/jwks.json",
            issuer="fastauth",
            audience="fastauth",
            http_client=http,
            clock=clock,
        )
        assert (await verifier.verify(old)).sub == claims["sub"]
        # ... until it expires, like any access token.
        clock.advance(900 + 5)
        with pytest.raises(ExpiredToken):
            await verifier.verify(old)
    assert (await a.client.get("/private", headers=bearer(old))).status_code == 401


def test_the_fastapi_users_strategy_accepts_a_token_from_before_the_upgrade() -> None:
    strategy = JWTStrategy("s" * 64, lifetime_seconds=900)
    old = _pre_upgrade(strategy.engine, "user-1", "sid-1")
    assert strategy.verify(old).sub == "user-1"


@pytest.mark.parametrize(
    "value",
    ["", 7, None, True, ["fastauth"], {"id": "fastauth"}, "x" * 257],
    ids=["empty", "int", "null", "bool", "list", "object", "too long"],
)
async def test_a_client_id_that_is_there_must_be_a_string(make_app: Any, value: Any) -> None:
    a = await make_app()
    pair = await a.register("alice@example.com", PASSWORD)
    _, claims = decode(pair["access_token"])
    engine = a.auth.service.engine
    bad = _pre_upgrade(engine, claims["sub"], claims["sid"], client_id=value)
    with pytest.raises(InvalidClaims, match="client_id"):
        engine.verify_access(bad)
    r = await a.client.get("/private", headers=bearer(bad))
    assert (r.status_code, r.json()) == (401, {"detail": "Invalid or expired token", "code": "invalid_token"})


@pytest.mark.parametrize("change", ["changed", "removed"])
async def test_modify_jwt_cannot_touch_client_id(make_app: Any, change: str) -> None:
    class Hook(EventHooks):
        async def modify_jwt(self, token: dict[str, Any], user: Any) -> dict[str, Any]:
            if change == "changed":
                return {**token, "client_id": "evil"}
            return {name: value for name, value in token.items() if name != "client_id"}

    a = await make_app(hooks=Hook())
    r = await a.client.post("/auth/register", json={"email": "bob@example.com", "password": PASSWORD})
    assert (r.status_code, r.json()) == (
        500,
        {"detail": "Internal error in an authentication hook", "code": "hook_error"},
    )
    assert "access_token" not in r.text

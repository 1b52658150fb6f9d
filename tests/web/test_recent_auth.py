"""`auth.require_recent_auth(max_age=..., amr=...)`: a route that wants a recent (or a stronger)
sign-in answers 401 `insufficient_user_authentication` with what it wants (RFC 9470), so the client
signs the user in again; a refresh never makes an old sign-in recent."""

from __future__ import annotations

from typing import Any

from fastapi import Depends

from support.clock import Clock
from support.http import PASSWORD, bearer

EMAIL = "alice@example.com"


async def app_with_routes(make_app: Any, clock: Clock) -> Any:
    a = await make_app(clock=clock)

    @a.app.get("/sensitive")
    async def sensitive(
        claims: dict[str, Any] = Depends(a.auth.require_recent_auth(max_age=60)),
    ) -> dict[str, Any]:
        return {"sub": claims["sub"]}

    @a.app.get("/strong")
    async def strong(
        claims: dict[str, Any] = Depends(a.auth.require_recent_auth(max_age=600, amr=["otp"])),
    ) -> dict[str, Any]:
        return {"sub": claims["sub"]}

    return a


async def test_a_fresh_sign_in_passes_and_an_old_one_is_asked_for_again(make_app: Any) -> None:
    clock = Clock()
    a = await app_with_routes(make_app, clock)
    tokens = await a.register(EMAIL, PASSWORD)
    assert (await a.client.get("/sensitive", headers=bearer(tokens["access_token"]))).status_code == 200
    clock.advance(61)
    refreshed = await a.client.post("/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    old = await a.client.get("/sensitive", headers=bearer(refreshed.json()["access_token"]))
    assert (old.status_code, old.json()) == (
        401,
        {"detail": "Sign in again to confirm this", "code": "recent_sign_in_required"},
    )
    assert old.headers["www-authenticate"] == 'Bearer error="insufficient_user_authentication", max_age=60'
    again = await a.client.post("/auth/login", json={"email": EMAIL, "password": PASSWORD})
    assert (await a.client.get("/sensitive", headers=bearer(again.json()["access_token"]))).status_code == 200


async def test_a_route_that_wants_a_second_factor_refuses_a_password_sign_in(make_app: Any) -> None:
    clock = Clock()
    a = await app_with_routes(make_app, clock)
    tokens = await a.register(EMAIL, PASSWORD)
    weak = await a.client.get("/strong", headers=bearer(tokens["access_token"]))
    assert weak.status_code == 401
    assert weak.headers["www-authenticate"] == (
        'Bearer error="insufficient_user_authentication", max_age=600, acr_values="otp"'
    )


async def test_no_token_is_not_authenticated_not_step_up(make_app: Any) -> None:
    a = await app_with_routes(make_app, Clock())
    answer = await a.client.get("/sensitive")
    assert (answer.status_code, answer.json()["code"]) == (401, "not_authenticated")

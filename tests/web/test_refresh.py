"""POST /refresh: rotation, reuse detection revoking the whole session, the race, the absolute session age."""

from __future__ import annotations

import asyncio
from typing import Any

from support.clock import Clock
from support.forge import claims
from support.http import (
    assert_invalid_token,
    assert_not_authenticated,
    bearer,
    login,
    post_refresh,
    private_status,
    set_user,
)

PAIR_KEYS = {"access_token", "refresh_token", "token_type", "expires_in"}


async def test_refresh_rotates_to_a_new_pair_in_the_same_session(make_app: Any) -> None:
    a = await make_app()
    first = await a.register("alice@example.com")
    r = await post_refresh(a, first["refresh_token"])
    assert r.status_code == 200, r.text
    assert r.headers["cache-control"] == "no-store"
    second = r.json()
    assert set(second) == PAIR_KEYS
    assert second["token_type"] == "bearer" and second["expires_in"] == 900
    assert second["access_token"] != first["access_token"]
    assert second["refresh_token"] != first["refresh_token"]
    old_rt, new_rt = claims(first["refresh_token"]), claims(second["refresh_token"])
    assert new_rt["sid"] == old_rt["sid"] == claims(second["access_token"])["sid"]
    assert new_rt["jti"] != old_rt["jti"]
    assert new_rt["sub"] == old_rt["sub"]
    # the old access token stays valid until it expires (same live session); the new one works
    assert await private_status(a, second["access_token"]) == 200
    assert await private_status(a, first["access_token"]) == 200
    # and the new refresh token rotates again
    third = await post_refresh(a, second["refresh_token"])
    assert third.status_code == 200


async def test_reused_refresh_token_revokes_its_session_and_only_it(make_app: Any) -> None:
    a = await make_app()
    stolen = await a.register("alice@example.com")  # session A
    other = await login(a.client, "alice@example.com")  # session B of the same user
    rotated = (await post_refresh(a, stolen["refresh_token"])).json()
    assert await private_status(a, rotated["access_token"]) == 200

    assert_invalid_token(await post_refresh(a, stolen["refresh_token"]))  # reuse

    # session A is gone at once: its newest refresh token and every access token of it
    assert_invalid_token(await post_refresh(a, rotated["refresh_token"]))
    assert_invalid_token(await a.client.get("/private", headers=bearer(rotated["access_token"])))
    assert_invalid_token(await a.client.get("/claims", headers=bearer(rotated["access_token"])))
    assert_invalid_token(await a.client.get("/private", headers=bearer(stolen["access_token"])))
    # session B is untouched
    assert await private_status(a, other["access_token"]) == 200
    listed = await a.client.get("/auth/sessions", headers=bearer(other["access_token"]))
    assert [s["id"] for s in listed.json()] == [claims(other["access_token"])["sid"]]
    assert (await post_refresh(a, other["refresh_token"])).status_code == 200


async def test_twenty_concurrent_refreshes_exactly_one_wins(make_app: Any) -> None:
    a = await make_app()
    tokens = await a.register("alice@example.com")
    other = await login(a.client, "alice@example.com")
    responses = await asyncio.gather(*(post_refresh(a, tokens["refresh_token"]) for _ in range(20)))
    codes = sorted(r.status_code for r in responses)
    assert codes == [200] + [401] * 19, codes
    for r in responses:
        if r.status_code == 401:
            assert_invalid_token(r)
    winner = next(r.json() for r in responses if r.status_code == 200)
    # Every loser presented a spent token: that is reuse, so the session is revoked (no grace window).
    assert_invalid_token(await post_refresh(a, winner["refresh_token"]))
    assert_invalid_token(await a.client.get("/private", headers=bearer(winner["access_token"])))
    # another session of the user is not affected
    assert await private_status(a, other["access_token"]) == 200


async def test_concurrent_refreshes_of_different_sessions_all_succeed(make_app: Any) -> None:
    a = await make_app()
    pairs = [await a.register("alice@example.com")]
    pairs += [await login(a.client, "alice@example.com") for _ in range(4)]
    responses = await asyncio.gather(*(post_refresh(a, p["refresh_token"]) for p in pairs))
    assert [r.status_code for r in responses] == [200] * 5
    for r in responses:
        assert await private_status(a, r.json()["access_token"]) == 200


async def test_refresh_of_an_inactive_user_is_refused(make_app: Any) -> None:
    a = await make_app()
    tokens = await a.register("alice@example.com")
    assert await private_status(a, tokens["access_token"]) == 200  # the user is cached now
    await set_user(a.auth, "alice@example.com", is_active=False)
    assert_invalid_token(await post_refresh(a, tokens["refresh_token"]))
    # re-activating does not bring the refused session back
    await set_user(a.auth, "alice@example.com", is_active=True)
    assert_invalid_token(await post_refresh(a, tokens["refresh_token"]))
    assert_invalid_token(await a.client.get("/private", headers=bearer(tokens["access_token"])))
    # a new login does work
    await login(a.client, "alice@example.com")


async def test_refresh_of_an_inactive_user_changed_behind_the_cache(make_app: Any) -> None:
    """Refresh reads the user from the store, not the cache: a change made outside fastauth counts."""
    a = await make_app()
    tokens = await a.register("alice@example.com")
    assert await private_status(a, tokens["access_token"]) == 200  # cached as active
    user = await a.auth.accounts.store.get_user_by_email("alice@example.com")
    user.is_active = False
    await a.auth.accounts.store.update_user(user)  # no cache invalidation
    assert_invalid_token(await post_refresh(a, tokens["refresh_token"]))


async def test_session_max_age_is_never_extended(make_app: Any, clock: Clock) -> None:
    a = await make_app(
        clock=clock, jwt={"access_token_ttl": 300, "refresh_token_ttl": 3600, "session_max_age": 1000}
    )
    start = int(clock())
    end = start + 1000
    tokens = await a.register("alice@example.com")
    assert claims(tokens["refresh_token"])["exp"] == end  # 3600 s capped by the session
    assert claims(tokens["access_token"])["exp"] == start + 300
    current = tokens
    for step in (250, 250, 250, 200):  # t = 250, 500, 750, 950
        clock.advance(step)
        r = await post_refresh(a, current["refresh_token"])
        assert r.status_code == 200, (step, r.text)
        current = r.json()
        now = int(clock())
        access_exp = claims(current["access_token"])["exp"]
        assert claims(current["refresh_token"])["exp"] == end
        assert access_exp == min(now + 300, end)
        assert current["expires_in"] == access_exp - now
    assert current["expires_in"] == 50  # at t = 950 only 50 s remain
    clock.advance(51)  # t = 1001: the session is over, whatever the refresh token's leeway
    assert_invalid_token(await post_refresh(a, current["refresh_token"]))
    clock.advance(5)  # t = 1006: past the access token's exp + leeway as well
    assert_invalid_token(await a.client.get("/private", headers=bearer(current["access_token"])))


async def test_expired_refresh_token_is_refused(make_app: Any, clock: Clock) -> None:
    a = await make_app(clock=clock, jwt={"access_token_ttl": 60, "refresh_token_ttl": 120})
    tokens = await a.register("alice@example.com")
    clock.advance(120 + 5)
    assert_invalid_token(await post_refresh(a, tokens["refresh_token"]))


async def test_cross_type_tokens_are_refused(make_app: Any) -> None:
    a = await make_app()
    tokens = await a.register("alice@example.com")
    assert_invalid_token(await post_refresh(a, tokens["access_token"]))  # access token on /refresh
    assert_invalid_token(await a.client.get("/private", headers=bearer(tokens["refresh_token"])))
    assert_invalid_token(await a.client.get("/claims", headers=bearer(tokens["refresh_token"])))
    # neither attempt spent or revoked anything
    assert await private_status(a, tokens["access_token"]) == 200
    assert (await post_refresh(a, tokens["refresh_token"])).status_code == 200


async def test_refresh_without_or_with_a_bad_token(make_app: Any) -> None:
    a = await make_app()
    tokens = await a.register("alice@example.com")
    assert_not_authenticated(await a.client.post("/auth/refresh"))
    assert_not_authenticated(await a.client.post("/auth/refresh", json={}))
    assert_not_authenticated(await a.client.post("/auth/refresh", json={"refresh_token": ""}))
    # the refresh token in the Authorization header is not how /refresh works
    assert_not_authenticated(await a.client.post("/auth/refresh", headers=bearer(tokens["refresh_token"])))
    for bad in ("garbage", "a.b.c", tokens["refresh_token"] + "x"):
        assert_invalid_token(await post_refresh(a, bad))
    r = await a.client.post("/auth/refresh", json={"refresh_token": 42})
    assert r.status_code == 422
    assert (await post_refresh(a, tokens["refresh_token"])).status_code == 200


async def test_refresh_token_of_a_logged_out_session_is_refused(make_app: Any) -> None:
    a = await make_app()
    tokens = await a.register("alice@example.com")
    r = await a.client.post("/auth/logout", headers=bearer(tokens["access_token"]))
    assert r.status_code == 204
    assert_invalid_token(await post_refresh(a, tokens["refresh_token"]))

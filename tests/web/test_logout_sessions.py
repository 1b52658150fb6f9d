"""POST /logout, GET/DELETE /sessions, POST /change-password."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from support.clock import Clock
from support.forge import claims
from support.http import (
    BAD_LOGIN_BODY,
    PASSWORD,
    assert_invalid_token,
    assert_not_authenticated,
    bearer,
    login,
    post_refresh,
    private_status,
)

SESSION_KEYS = {"id", "created_at", "last_used_at", "expires_at", "ip", "user_agent", "current"}


# logout


async def test_logout_ends_the_session_of_the_access_token(make_app: Any) -> None:
    a = await make_app()
    tokens = await a.register("alice@example.com")
    other = await login(a.client, "alice@example.com")
    r = await a.client.post("/auth/logout", headers=bearer(tokens["access_token"]))
    assert r.status_code == 204
    assert r.content == b""
    assert r.headers["cache-control"] == "no-store"
    assert "set-cookie" not in r.headers  # json delivery: no cookies to clear
    for path in ("/private", "/claims", "/auth/me"):
        assert_invalid_token(await a.client.get(path, headers=bearer(tokens["access_token"])))
    assert_invalid_token(await post_refresh(a, tokens["refresh_token"]))
    # other spellings of the revoked token are refused too (revocation is keyed on the session)
    header, payload, signature = tokens["access_token"].split(".")
    for variant in (f"{header}.{payload}.{signature}=", f"{header}=.{payload}.{signature}"):
        assert_invalid_token(await a.client.get("/private", headers=bearer(variant)))
    # a second logout with the same token is refused: the token is dead
    assert_invalid_token(await a.client.post("/auth/logout", headers=bearer(tokens["access_token"])))
    # the other session lives on
    assert await private_status(a, other["access_token"]) == 200
    assert (await post_refresh(a, other["refresh_token"])).status_code == 200


async def test_logout_with_access_and_refresh_token(make_app: Any) -> None:
    a = await make_app()
    tokens = await a.register("alice@example.com")
    rotated = (await post_refresh(a, tokens["refresh_token"])).json()
    r = await a.client.post(
        "/auth/logout",
        headers=bearer(rotated["access_token"]),
        json={"refresh_token": rotated["refresh_token"]},
    )
    assert r.status_code == 204
    assert_invalid_token(await post_refresh(a, rotated["refresh_token"]))
    assert_invalid_token(await a.client.get("/private", headers=bearer(rotated["access_token"])))
    assert_invalid_token(await a.client.get("/private", headers=bearer(tokens["access_token"])))


async def test_logout_with_an_expired_access_token_and_the_refresh_token(make_app: Any, clock: Clock) -> None:
    a = await make_app(clock=clock)
    tokens = await a.register("alice@example.com")
    clock.advance(900 + 5 + 1)
    assert_invalid_token(await a.client.get("/private", headers=bearer(tokens["access_token"])))
    r = await a.client.post(
        "/auth/logout",
        headers=bearer(tokens["access_token"]),
        json={"refresh_token": tokens["refresh_token"]},
    )
    assert r.status_code == 204
    assert_invalid_token(await post_refresh(a, tokens["refresh_token"]))
    access_token = (await login(a.client, "alice@example.com"))["access_token"]
    listed = await a.client.get("/auth/sessions", headers=bearer(access_token))
    assert [s["id"] for s in listed.json()] == [claims(access_token)["sid"]]


async def test_logout_with_only_the_refresh_token(make_app: Any) -> None:
    a = await make_app()
    tokens = await a.register("alice@example.com")
    r = await a.client.post("/auth/logout", json={"refresh_token": tokens["refresh_token"]})
    assert r.status_code == 204
    assert_invalid_token(await post_refresh(a, tokens["refresh_token"]))
    assert_invalid_token(await a.client.get("/private", headers=bearer(tokens["access_token"])))


async def test_logout_with_nothing_or_with_bad_tokens(make_app: Any) -> None:
    a = await make_app()
    tokens = await a.register("alice@example.com")
    assert_not_authenticated(await a.client.post("/auth/logout"))
    assert_not_authenticated(await a.client.post("/auth/logout", json={}))
    assert_invalid_token(await a.client.post("/auth/logout", headers=bearer("garbage")))
    assert_invalid_token(await a.client.post("/auth/logout", json={"refresh_token": "garbage"}))
    # an access token where the refresh token belongs does not end anything
    assert_invalid_token(await a.client.post("/auth/logout", json={"refresh_token": tokens["access_token"]}))
    # a refresh token in the Authorization header is not an access token
    assert_invalid_token(await a.client.post("/auth/logout", headers=bearer(tokens["refresh_token"])))
    assert await private_status(a, tokens["access_token"]) == 200
    assert (await post_refresh(a, tokens["refresh_token"])).status_code == 200


async def test_logout_never_ends_another_users_session(make_app: Any) -> None:
    a = await make_app()
    alice = await a.register("alice@example.com")
    bob = await a.register("bob@example.com")
    r = await a.client.post(
        "/auth/logout", headers=bearer(alice["access_token"]), json={"refresh_token": bob["refresh_token"]}
    )
    assert r.status_code == 204
    assert_invalid_token(await a.client.get("/private", headers=bearer(alice["access_token"])))
    assert await private_status(a, bob["access_token"]) == 200
    assert (await post_refresh(a, bob["refresh_token"])).status_code == 200


# sessions


async def test_sessions_are_listed_with_their_details(make_app: Any, clock: Clock) -> None:
    a = await make_app(clock=clock)
    first = await a.register("alice@example.com")
    clock.advance(10)
    phone = await login(a.client, "alice@example.com", headers={"User-Agent": "Phone/1.0"})
    clock.advance(10)
    await a.register("bob@example.com")  # another user's session is never listed
    r = await a.client.get("/auth/sessions", headers=bearer(phone["access_token"]))
    assert r.status_code == 200
    listed = r.json()
    assert [s["id"] for s in listed] == [
        claims(phone["access_token"])["sid"],
        claims(first["access_token"])["sid"],
    ]
    for s in listed:
        assert set(s) == SESSION_KEYS
        assert s["ip"] == "127.0.0.1"
    newest, oldest = listed
    assert newest["current"] is True and oldest["current"] is False
    assert newest["user_agent"] == "Phone/1.0"
    assert oldest["user_agent"].startswith("python-httpx/")
    start = int(clock()) - 20
    assert datetime.fromisoformat(oldest["created_at"]).timestamp() == start
    assert datetime.fromisoformat(newest["created_at"]).timestamp() == start + 10
    assert datetime.fromisoformat(newest["expires_at"]).timestamp() == start + 10 + 30 * 24 * 3600
    # a refresh moves last_used_at, and "current" follows the caller
    clock.advance(100)
    rotated = (await post_refresh(a, first["refresh_token"])).json()
    r = await a.client.get("/auth/sessions", headers=bearer(rotated["access_token"]))
    by_id = {s["id"]: s for s in r.json()}
    old = by_id[claims(first["access_token"])["sid"]]
    assert old["current"] is True and by_id[newest["id"]]["current"] is False
    assert datetime.fromisoformat(old["last_used_at"]).timestamp() == start + 120
    assert datetime.fromisoformat(old["created_at"]).timestamp() == start


async def test_delete_one_session(make_app: Any) -> None:
    a = await make_app()
    mine = await a.register("alice@example.com")
    laptop = await login(a.client, "alice@example.com")
    bob = await a.register("bob@example.com")
    laptop_sid = claims(laptop["access_token"])["sid"]
    h = bearer(mine["access_token"])
    r = await a.client.delete(f"/auth/sessions/{laptop_sid}", headers=h)
    assert r.status_code == 204
    assert_invalid_token(await a.client.get("/private", headers=bearer(laptop["access_token"])))
    assert_invalid_token(await post_refresh(a, laptop["refresh_token"]))
    assert await private_status(a, mine["access_token"]) == 200
    listed = await a.client.get("/auth/sessions", headers=h)
    assert [s["id"] for s in listed.json()] == [claims(mine["access_token"])["sid"]]
    # gone, unknown, or somebody else's: 404, and nothing happens
    assert (await a.client.delete(f"/auth/sessions/{laptop_sid}", headers=h)).status_code == 404
    assert (await a.client.delete("/auth/sessions/no-such-session", headers=h)).status_code == 404
    r = await a.client.delete(f"/auth/sessions/{claims(bob['access_token'])['sid']}", headers=h)
    assert r.status_code == 404 and r.json() == {"detail": "No such session", "code": "session_not_found"}
    assert await private_status(a, bob["access_token"]) == 200
    # revoking one's own current session works too
    r = await a.client.delete(f"/auth/sessions/{claims(mine['access_token'])['sid']}", headers=h)
    assert r.status_code == 204
    assert_invalid_token(await a.client.get("/private", headers=h))


async def test_delete_all_sessions_including_the_current_one(make_app: Any) -> None:
    a = await make_app()
    pairs = [await a.register("alice@example.com")]
    pairs += [await login(a.client, "alice@example.com") for _ in range(2)]
    bob = await a.register("bob@example.com")
    r = await a.client.delete("/auth/sessions", headers=bearer(pairs[0]["access_token"]))
    assert r.status_code == 204
    for pair in pairs:
        assert_invalid_token(await a.client.get("/private", headers=bearer(pair["access_token"])))
        assert_invalid_token(await post_refresh(a, pair["refresh_token"]))
    assert await private_status(a, bob["access_token"]) == 200
    fresh = await login(a.client, "alice@example.com")
    listed = await a.client.get("/auth/sessions", headers=bearer(fresh["access_token"]))
    assert len(listed.json()) == 1


async def test_change_password(make_app: Any) -> None:
    a = await make_app()
    current = await a.register("alice@example.com")
    other = await login(a.client, "alice@example.com")
    h = bearer(current["access_token"])
    wrong = await a.client.post(
        "/auth/change-password",
        headers=h,
        json={"current_password": "not it at all", "new_password": "new secret"},
    )
    assert wrong.status_code == 400
    assert wrong.json() == {"detail": "The current password is wrong", "code": "current_password_wrong"}
    short = await a.client.post(
        "/auth/change-password", headers=h, json={"current_password": PASSWORD, "new_password": "short"}
    )
    assert short.status_code == 422
    assert short.json() == {
        "detail": "password must be at least 8 characters long",
        "code": "password_policy",
    }
    # neither attempt changed anything or revoked anything
    assert await private_status(a, other["access_token"]) == 200
    await login(a.client, "alice@example.com")
    # (that login made a third session; it must go too)
    third = await login(a.client, "alice@example.com")

    ok = await a.client.post(
        "/auth/change-password", headers=h, json={"current_password": PASSWORD, "new_password": "new secret"}
    )
    assert ok.status_code == 204
    for pair in (other, third):
        assert_invalid_token(await a.client.get("/private", headers=bearer(pair["access_token"])))
        assert_invalid_token(await post_refresh(a, pair["refresh_token"]))
    assert await private_status(a, current["access_token"]) == 200
    listed = await a.client.get("/auth/sessions", headers=h)
    assert [s["id"] for s in listed.json()] == [claims(current["access_token"])["sid"]]
    assert (await post_refresh(a, current["refresh_token"])).status_code == 200
    old = await a.client.post("/auth/login", json={"email": "alice@example.com", "password": PASSWORD})
    assert old.status_code == 401 and old.json() == BAD_LOGIN_BODY
    await login(a.client, "alice@example.com", "new secret")


async def test_change_password_needs_the_fields(make_app: Any) -> None:
    a = await make_app()
    tokens = await a.register("alice@example.com")
    r = await a.client.post(
        "/auth/change-password", headers=bearer(tokens["access_token"]), json={"new_password": "new secret"}
    )
    assert r.status_code == 422
    await login(a.client, "alice@example.com")


async def test_revocations_survive_a_restart(make_app: Any) -> None:
    """A new process on the same database still refuses the access tokens of ended sessions."""
    a = await make_app()
    ended = await a.register("alice@example.com")
    revoked_one = await login(a.client, "alice@example.com")
    live = await login(a.client, "alice@example.com")
    assert (await a.client.post("/auth/logout", headers=bearer(ended["access_token"]))).status_code == 204
    sid = claims(revoked_one["access_token"])["sid"]
    assert (
        await a.client.delete(f"/auth/sessions/{sid}", headers=bearer(live["access_token"]))
    ).status_code == 204
    await a.auth.shutdown()

    b = await make_app()  # same database, fresh memory
    for pair in (ended, revoked_one):
        assert_invalid_token(await b.client.get("/private", headers=bearer(pair["access_token"])))
        assert_invalid_token(await b.client.get("/claims", headers=bearer(pair["access_token"])))
        assert_invalid_token(await post_refresh(b, pair["refresh_token"]))
    assert await private_status(b, live["access_token"]) == 200
    assert (await post_refresh(b, live["refresh_token"])).status_code == 200

"""Sessions on the memory store: start, rotation, reuse detection, the grace window, the absolute age,
concurrent refreshes, and the refusals that must not spend a refresh token."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any

import pytest

from fastauth.errors import (
    ExpiredToken,
    HookError,
    RevokedToken,
    SigninNotAllowed,
    WrongTokenType,
)
from fastauth.hooks import EventHooks
from fastauth.service import AuthService
from fastauth.sessions import TokenPair
from fastauth.storage.base import SessionRecord, User
from fastauth.storage.memory import MemoryStore
from support.app import TEST_SECRET
from support.clock import Clock
from support.forge import claims, resign

EMAIL = "ada@example.com"
PASSWORD = "correct horse battery staple"
DAY = 24 * 3600

REUSE = "refresh token reuse"
GRACE = "refresh token already rotated (within the grace window)"
REVOKED = "session revoked"


async def record_of(store: MemoryStore, session_id: str) -> SessionRecord:
    record = await store.get_session(session_id)
    assert record is not None
    return record


async def jti_of(service: AuthService, pair: TokenPair) -> str:
    return (await service.verify_refresh(pair.refresh_token)).jti


async def refused(service: AuthService, refresh_token: str, expected: type[Exception], reason: str) -> None:
    """`service.refresh(refresh_token)` raises exactly `expected` with this reason."""
    with pytest.raises(expected) as info:
        await service.refresh(refresh_token)
    assert type(info.value) is expected
    assert getattr(info.value, "reason", None) == reason


# --- start -------------------------------------------------------------------------------------


async def test_start_gives_a_pair_and_a_fresh_session_row(
    service: AuthService, store: MemoryStore, clock: Clock
) -> None:
    now = int(clock.now)
    user, pair = await service.register(EMAIL, PASSWORD, ip="203.0.113.7", user_agent="pytest/1")

    assert pair.token_type == "bearer"
    assert pair.expires_in == 900
    assert pair.refresh_expires_at == now + 7 * DAY
    access = await service.authenticate(pair.access_token)
    refresh = await service.verify_refresh(pair.refresh_token)
    assert (access.sub, access.sid, access.expires_at) == (user.id, pair.session_id, now + 900)
    assert (refresh.sub, refresh.sid, refresh.expires_at) == (user.id, pair.session_id, now + 7 * DAY)
    assert await record_of(store, pair.session_id) == SessionRecord(
        id=pair.session_id,
        user_id=user.id,
        refresh_jti=refresh.jti,
        created_at=now,
        last_used_at=now,
        expires_at=now + 30 * DAY,
        ip="203.0.113.7",
        user_agent="pytest/1",
        amr="pwd",
    )


async def test_every_sign_in_starts_a_new_session(service: AuthService, store: MemoryStore) -> None:
    user, first = await service.register(EMAIL, PASSWORD)
    _, second = await service.sign_in(EMAIL, PASSWORD, user_agent="x" * 600)
    _, third = await service.sign_in(EMAIL, PASSWORD, user_agent="")

    assert len({first.session_id, second.session_id, third.session_id}) == 3
    assert {s.id for s in await service.list_sessions(user)} == {
        first.session_id,
        second.session_id,
        third.session_id,
    }
    assert (await record_of(store, second.session_id)).user_agent == "x" * 512
    assert (await record_of(store, third.session_id)).user_agent is None


async def test_each_token_verifies_only_as_its_own_kind(service: AuthService) -> None:
    _, pair = await service.register(EMAIL, PASSWORD)
    with pytest.raises(WrongTokenType):
        await service.authenticate(pair.refresh_token)
    with pytest.raises(WrongTokenType):
        await service.refresh(pair.access_token)


# --- rotation and reuse ------------------------------------------------------------------------


async def test_refresh_rotates_within_the_same_session(
    service: AuthService, store: MemoryStore, clock: Clock
) -> None:
    start = int(clock.now)
    user, first = await service.register(EMAIL, PASSWORD)
    first_jti = await jti_of(service, first)
    clock.advance(60)

    same_user, second = await service.refresh(first.refresh_token)

    assert same_user.id == user.id
    assert second.session_id == first.session_id
    assert second.refresh_token != first.refresh_token
    assert second.access_token != first.access_token
    second_jti = await jti_of(service, second)
    assert second_jti != first_jti
    assert await record_of(store, first.session_id) == SessionRecord(
        id=first.session_id,
        user_id=user.id,
        refresh_jti=second_jti,
        created_at=start,
        last_used_at=start + 60,
        expires_at=start + 30 * DAY,
        previous_jti=first_jti,
        rotated_at=start + 60,
        amr="pwd",
    )
    assert (await service.authenticate(second.access_token)).sid == first.session_id

    # the new refresh token works ...
    _, third = await service.refresh(second.refresh_token)
    assert third.session_id == first.session_id
    # ... and a spent one is refused
    await refused(service, second.refresh_token, RevokedToken, REUSE)


async def test_reuse_revokes_the_whole_session_and_fires_on_refresh_reuse_once(
    service: AuthService, store: MemoryStore, clock: Clock, hooks: Any
) -> None:
    user, first = await service.register(EMAIL, PASSWORD)
    _, other = await service.sign_in(EMAIL, PASSWORD)
    _, second = await service.refresh(first.refresh_token)
    clock.advance(30)
    hooks.take()

    await refused(service, first.refresh_token, RevokedToken, REUSE)

    assert hooks.take() == [("on_refresh_reuse", user.id, first.session_id)]
    assert (await record_of(store, first.session_id)).revoked_at == int(clock.now)
    for access_token in (first.access_token, second.access_token):
        with pytest.raises(RevokedToken):
            await service.authenticate(access_token)
    # the winner's refresh token went with the session; that refusal is no second reuse event
    await refused(service, second.refresh_token, RevokedToken, REVOKED)
    await refused(service, first.refresh_token, RevokedToken, REVOKED)
    assert hooks.take() == []
    # the user's other session is untouched
    assert (await service.authenticate(other.access_token)).sid == other.session_id
    assert [s.id for s in await service.list_sessions(user)] == [other.session_id]


async def test_a_revoked_session_refuses_its_refresh_token_without_a_reuse_event(
    service: AuthService, hooks: Any
) -> None:
    user, pair = await service.register(EMAIL, PASSWORD)
    await service.end_session(user, pair.session_id)
    hooks.take()

    await refused(service, pair.refresh_token, RevokedToken, REVOKED)
    assert hooks.take() == []


async def test_a_refresh_token_naming_another_user_is_refused(
    service: AuthService, store: MemoryStore
) -> None:
    _, victim = await service.register("victim@example.com", PASSWORD)
    mallory, _ = await service.register("mallory@example.com", PASSWORD)
    # validly signed (the attacker would need the secret), but the sub does not own the session
    forged = resign(victim.refresh_token, TEST_SECRET, sub=mallory.id)
    assert (await service.verify_refresh(forged)).sub == mallory.id

    await refused(service, forged, RevokedToken, REVOKED)
    assert (await record_of(store, victim.session_id)).revoked_at is None


# --- the grace window --------------------------------------------------------------------------


@pytest.fixture
async def grace_service(make_service: Any) -> AuthService:
    service: AuthService = await make_service(jwt={"refresh_reuse_grace": 10})
    return service


async def test_grace_refuses_the_latest_spent_token_without_revoking_then_revokes_after_it(
    grace_service: AuthService, store: MemoryStore, clock: Clock, hooks: Any
) -> None:
    user, first = await grace_service.register(EMAIL, PASSWORD)
    clock.advance(1)
    _, second = await grace_service.refresh(first.refresh_token)
    hooks.take()

    clock.advance(10)  # exactly the grace window after the rotation: still inside it
    await refused(grace_service, first.refresh_token, RevokedToken, GRACE)
    assert (await record_of(store, first.session_id)).revoked_at is None
    assert (await grace_service.authenticate(second.access_token)).sid == first.session_id
    assert hooks.take() == []

    clock.advance(1)  # 11 s after the rotation: reuse
    await refused(grace_service, first.refresh_token, RevokedToken, REUSE)
    assert (await record_of(store, first.session_id)).revoked_at == int(clock.now)
    assert hooks.take() == [("on_refresh_reuse", user.id, first.session_id)]
    with pytest.raises(RevokedToken):
        await grace_service.authenticate(second.access_token)


async def test_a_grace_refusal_spends_nothing(
    grace_service: AuthService, store: MemoryStore, clock: Clock
) -> None:
    _, first = await grace_service.register(EMAIL, PASSWORD)
    _, second = await grace_service.refresh(first.refresh_token)
    before = await record_of(store, first.session_id)

    await refused(grace_service, first.refresh_token, RevokedToken, GRACE)

    assert await record_of(store, first.session_id) == before
    _, third = await grace_service.refresh(second.refresh_token)  # the winner's token still works
    assert (await record_of(store, first.session_id)).refresh_jti == await jti_of(grace_service, third)


async def test_an_older_spent_token_always_revokes_even_inside_the_grace_window(
    grace_service: AuthService, store: MemoryStore, clock: Clock, hooks: Any
) -> None:
    user, first = await grace_service.register(EMAIL, PASSWORD)
    _, second = await grace_service.refresh(first.refresh_token)
    _, third = await grace_service.refresh(second.refresh_token)
    hooks.take()

    await refused(grace_service, first.refresh_token, RevokedToken, REUSE)

    assert (await record_of(store, first.session_id)).revoked_at == int(clock.now)
    assert hooks.take() == [("on_refresh_reuse", user.id, first.session_id)]
    await refused(grace_service, third.refresh_token, RevokedToken, REVOKED)


# --- the absolute age --------------------------------------------------------------------------


async def test_refreshing_never_extends_the_session_and_it_ends_at_its_maximum_age(
    make_service: Any, store: MemoryStore, clock: Clock
) -> None:
    service: AuthService = await make_service(jwt={"session_max_age": 3600})
    start = int(clock.now)
    user, pair = await service.register(EMAIL, PASSWORD)
    assert pair.refresh_expires_at == start + 3600

    for elapsed in (1000, 2000, 3000):
        clock.advance(elapsed - (int(clock.now) - start))
        _, pair = await service.refresh(pair.refresh_token)
        assert pair.refresh_expires_at == start + 3600
        assert claims(pair.refresh_token)["exp"] == start + 3600
        assert pair.expires_in == min(900, 3600 - elapsed)  # the access token is capped too
        assert (await record_of(store, pair.session_id)).expires_at == start + 3600

    before = await record_of(store, pair.session_id)
    clock.advance(600)  # now == the session's end; the token itself is still inside its leeway
    await refused(service, pair.refresh_token, ExpiredToken, "session has reached its maximum age")
    assert await record_of(store, pair.session_id) == before  # neither rotated nor revoked
    assert await service.list_sessions(user) == []

    clock.advance(5)  # past exp + leeway: the token itself has expired
    await refused(service, pair.refresh_token, ExpiredToken, "token has expired")
    with pytest.raises(ExpiredToken):
        await service.authenticate(pair.access_token)


# --- concurrent refreshes ----------------------------------------------------------------------


class YieldingHooks(EventHooks):
    """An application whose `allow_signin` awaits real I/O (a database lookup): every refresh yields
    to the event loop once, between reading the session and rotating it, as over a SQL store."""

    def __init__(self) -> None:
        self.reuse: list[tuple[str, str]] = []
        self.refreshed: list[str] = []

    async def allow_signin(self, user: Any) -> bool:
        await asyncio.sleep(0)
        return True

    async def on_token_refresh(self, user: Any) -> None:
        self.refreshed.append(user.id)

    async def on_refresh_reuse(self, user_id: str, session_id: str) -> None:
        self.reuse.append((user_id, session_id))


def split(results: list[Any]) -> tuple[list[tuple[User, TokenPair]], list[BaseException]]:
    wins = [result for result in results if not isinstance(result, BaseException)]
    losses = [result for result in results if isinstance(result, BaseException)]
    return wins, losses


async def test_twenty_concurrent_refreshes_one_wins_and_the_session_ends_revoked(
    service: AuthService, store: MemoryStore, clock: Clock, hooks: Any
) -> None:
    """Nothing in a refresh awaits real I/O on the memory store, so the twenty run one after another:
    the first rotates, the second finds its token spent (reuse: the session is revoked, one event),
    the other eighteen find the session revoked."""
    user, pair = await service.register(EMAIL, PASSWORD)
    hooks.take()

    results = await asyncio.gather(
        *(service.refresh(pair.refresh_token) for _ in range(20)), return_exceptions=True
    )

    wins, losses = split(results)
    assert len(wins) == 1 and results[0] is wins[0]
    assert [type(error) for error in losses] == [RevokedToken] * 19
    assert [error.reason for error in losses if isinstance(error, RevokedToken)] == [REUSE] + [REVOKED] * 18
    assert (await record_of(store, pair.session_id)).revoked_at == int(clock.now)
    with pytest.raises(RevokedToken):
        await service.authenticate(wins[0][1].access_token)
    await refused(service, wins[0][1].refresh_token, RevokedToken, REVOKED)
    assert hooks.take() == [
        ("allow_signin", user.id, EMAIL),
        ("modify_jwt", user.id, EMAIL),
        ("on_token_refresh", user.id, EMAIL),
        ("on_refresh_reuse", user.id, pair.session_id),
    ]


async def test_twenty_interleaved_refreshes_fire_on_refresh_reuse_once(
    make_service: Any, store: MemoryStore, clock: Clock
) -> None:
    """As over a SQL store: all twenty read the live session before any rotates. One wins the
    compare-and-set, the nineteen losers are reuse and the session is revoked: one security event
    for the one revoked session, as when the same spent token comes back one request at a time."""
    hooks = YieldingHooks()
    service: AuthService = await make_service(hooks=hooks)
    user, pair = await service.register(EMAIL, PASSWORD)

    results = await asyncio.gather(
        *(service.refresh(pair.refresh_token) for _ in range(20)), return_exceptions=True
    )

    wins, losses = split(results)
    assert len(wins) == 1
    assert [type(error) for error in losses] == [RevokedToken] * 19
    assert (await record_of(store, pair.session_id)).revoked_at == int(clock.now)
    with pytest.raises(RevokedToken):
        await service.authenticate(wins[0][1].access_token)
    assert hooks.refreshed == [user.id]
    assert hooks.reuse == [(user.id, pair.session_id)]


async def test_a_sign_out_during_a_refresh_is_no_reuse(
    make_service: Any, store: MemoryStore, clock: Clock
) -> None:
    """The session is ended while a refresh is between reading it and rotating it: the refresh is
    refused as for any ended session, and no token was used twice, so there is no reuse event."""
    hooks = YieldingHooks()
    service: AuthService = await make_service(hooks=hooks)
    user, pair = await service.register(EMAIL, PASSWORD)

    refreshed, ended = await asyncio.gather(
        service.refresh(pair.refresh_token),
        service.end_session(user, pair.session_id),
        return_exceptions=True,
    )

    assert ended is None
    assert type(refreshed) is RevokedToken
    assert (await record_of(store, pair.session_id)).revoked_at == int(clock.now)
    assert hooks.refreshed == []
    assert hooks.reuse == []
    assert refreshed.reason == REVOKED


async def test_twenty_interleaved_refreshes_inside_the_grace_window_keep_the_session(
    make_service: Any, store: MemoryStore
) -> None:
    hooks = YieldingHooks()
    service: AuthService = await make_service(hooks=hooks, jwt={"refresh_reuse_grace": 5})
    _, pair = await service.register(EMAIL, PASSWORD)

    results = await asyncio.gather(
        *(service.refresh(pair.refresh_token) for _ in range(20)), return_exceptions=True
    )

    wins, losses = split(results)
    assert len(wins) == 1
    assert [(type(error), getattr(error, "reason", None)) for error in losses] == [(RevokedToken, GRACE)] * 19
    assert (await record_of(store, pair.session_id)).revoked_at is None
    assert hooks.reuse == []
    _, after = await service.refresh(wins[0][1].refresh_token)
    assert (await service.authenticate(after.access_token)).sid == pair.session_id


# --- refusals that spend nothing ---------------------------------------------------------------


async def test_deactivation_ends_the_sessions_and_their_refresh_is_refused(
    service: AuthService, store: MemoryStore, clock: Clock
) -> None:
    user, pair = await service.register(EMAIL, PASSWORD)
    clock.advance(5)

    await service.set_user_active(user.id, False)

    assert (await record_of(store, pair.session_id)).revoked_at == int(clock.now)
    await refused(service, pair.refresh_token, RevokedToken, REVOKED)
    with pytest.raises(RevokedToken):
        await service.authenticate(pair.access_token)


async def test_a_user_deactivated_behind_fastauths_back_is_refused_and_the_session_revoked(
    service: AuthService, store: MemoryStore, clock: Clock, hooks: Any
) -> None:
    user, pair = await service.register(EMAIL, PASSWORD)
    jti = await jti_of(service, pair)
    await store.update_user(replace(user, is_active=False))  # another tool wrote the table
    clock.advance(5)
    hooks.take()

    await refused(service, pair.refresh_token, RevokedToken, "user is gone or inactive")

    record = await record_of(store, pair.session_id)
    assert (record.revoked_at, record.refresh_jti, record.rotated_at) == (int(clock.now), jti, None)
    with pytest.raises(RevokedToken):
        await service.authenticate(pair.access_token)
    assert hooks.take() == []


async def test_allow_signin_false_at_refresh_refuses_and_rotates_nothing(
    service: AuthService, store: MemoryStore, hooks: Any
) -> None:
    user, pair = await service.register(EMAIL, PASSWORD)
    before = await record_of(store, pair.session_id)
    hooks.take()
    hooks.allow = False

    with pytest.raises(SigninNotAllowed):
        await service.refresh(pair.refresh_token)

    assert hooks.take() == [("allow_signin", user.id, EMAIL)]
    assert await record_of(store, pair.session_id) == before
    assert (await service.authenticate(pair.access_token)).sid == pair.session_id
    hooks.allow = True
    _, after = await service.refresh(pair.refresh_token)  # not spent, so no reuse either
    assert after.session_id == pair.session_id
    assert [call[0] for call in hooks.take()] == ["allow_signin", "modify_jwt", "on_token_refresh"]


async def test_a_failing_modify_jwt_at_refresh_spends_nothing(
    service: AuthService, store: MemoryStore, hooks: Any
) -> None:
    _, pair = await service.register(EMAIL, PASSWORD)
    before = await record_of(store, pair.session_id)
    hooks.fail["modify_jwt"] = RuntimeError("claims service down")

    with pytest.raises(HookError):
        await service.refresh(pair.refresh_token)

    assert await record_of(store, pair.session_id) == before
    del hooks.fail["modify_jwt"]
    _, after = await service.refresh(pair.refresh_token)
    assert (await record_of(store, pair.session_id)).refresh_jti == await jti_of(service, after)

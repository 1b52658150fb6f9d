"""Revocation: the in-memory list, sign-out, ending one session or all of them, the published list,
and warming a new process's list from the store."""

from __future__ import annotations

from typing import Any

import pytest

from fastauth.errors import NotAuthenticated, RevokedToken, SessionNotFound, TokenError
from fastauth.revocation import MemoryRevocationList, RevocationList
from fastauth.service import AuthService
from fastauth.storage.memory import MemoryStore
from support.clock import Clock

PASSWORD = "correct horse battery staple"
#: access-token lifetime (900) + leeway (5) + 1: how long a revoked session's tokens could still verify
HORIZON = 906


async def revoked_at_of(store: MemoryStore, session_id: str) -> int | None:
    record = await store.get_session(session_id)
    assert record is not None
    return record.revoked_at


# --- MemoryRevocationList ----------------------------------------------------------------------


async def test_a_revocation_lasts_until_its_until() -> None:
    revoked = MemoryRevocationList()
    assert isinstance(revoked, RevocationList)

    await revoked.revoke(["a", "b"], until=100)

    assert await revoked.is_revoked("a", 99) is True
    assert await revoked.is_revoked("b", 99) is True
    assert await revoked.is_revoked("c", 99) is False
    assert len(revoked) == 2
    assert await revoked.is_revoked("a", 100) is False  # `until` itself is past
    assert len(revoked) == 0  # both entries were pruned by that one lookup


async def test_pruning_drops_only_what_has_expired() -> None:
    revoked = MemoryRevocationList()
    await revoked.revoke(["short"], until=100)
    await revoked.revoke(["long"], until=300)

    assert await revoked.is_revoked("long", 150) is True
    assert len(revoked) == 1
    assert await revoked.is_revoked("short", 150) is False
    assert await revoked.is_revoked("long", 299) is True
    assert await revoked.is_revoked("long", 300) is False
    assert len(revoked) == 0


async def test_the_longer_until_wins() -> None:
    revoked = MemoryRevocationList()
    await revoked.revoke(["a"], until=100)
    await revoked.revoke(["a"], until=200)  # extends
    await revoked.revoke(["a"], until=50)  # shortens nothing

    assert len(revoked) == 1
    assert await revoked.is_revoked("a", 150) is True  # the stale (100, a) heap entry removed nothing
    assert await revoked.is_revoked("a", 199) is True
    assert await revoked.is_revoked("a", 200) is False
    assert len(revoked) == 0


async def test_an_empty_revoke_changes_nothing() -> None:
    revoked = MemoryRevocationList()
    await revoked.revoke([], until=100)
    assert len(revoked) == 0
    assert await revoked.is_revoked("a", 0) is False


# --- sign_out ----------------------------------------------------------------------------------


async def test_sign_out_with_access_and_refresh_of_the_same_user_ends_both_sessions(
    service: AuthService, store: MemoryStore, clock: Clock
) -> None:
    user, first = await service.register("ada@example.com", PASSWORD)
    _, second = await service.sign_in("ada@example.com", PASSWORD)
    _, kept = await service.sign_in("ada@example.com", PASSWORD)

    await service.sign_out(
        access=await service.authenticate(first.access_token),
        refresh=await service.verify_refresh(second.refresh_token),
    )

    for ended in (first, second):
        record = await store.get_session(ended.session_id)
        assert record is not None and record.revoked_at == int(clock.now)
        with pytest.raises(RevokedToken):
            await service.authenticate(ended.access_token)
        with pytest.raises(RevokedToken):
            await service.refresh(ended.refresh_token)
    assert [s.id for s in await service.list_sessions(user)] == [kept.session_id]


async def test_sign_out_ignores_a_refresh_token_of_another_user(
    service: AuthService, store: MemoryStore
) -> None:
    ada, mine = await service.register("ada@example.com", PASSWORD)
    bob, theirs = await service.register("bob@example.com", PASSWORD)

    await service.sign_out(
        access=await service.authenticate(mine.access_token),
        refresh=await service.verify_refresh(theirs.refresh_token),
    )

    assert await service.list_sessions(ada) == []
    assert [s.id for s in await service.list_sessions(bob)] == [theirs.session_id]
    assert (await service.authenticate(theirs.access_token)).sub == bob.id
    _, rotated = await service.refresh(theirs.refresh_token)
    assert rotated.session_id == theirs.session_id


async def test_sign_out_with_a_refresh_token_alone_ends_its_session(service: AuthService) -> None:
    user, pair = await service.register("ada@example.com", PASSWORD)
    await service.sign_out(access=None, refresh=await service.verify_refresh(pair.refresh_token))
    assert await service.list_sessions(user) == []
    with pytest.raises(RevokedToken):
        await service.authenticate(pair.access_token)


async def test_sign_out_without_any_token_is_not_authenticated(service: AuthService) -> None:
    with pytest.raises(NotAuthenticated):
        await service.sign_out(access=None, refresh=None, presented=False)


async def test_sign_out_when_the_presented_token_was_bad_is_a_token_error(service: AuthService) -> None:
    with pytest.raises(RevokedToken) as info:
        await service.sign_out(access=None, refresh=None)
    assert isinstance(info.value, TokenError)
    assert not isinstance(info.value, NotAuthenticated)


# --- end_session, end_all_sessions -------------------------------------------------------------


async def test_end_session_ends_one_of_the_callers_sessions(
    service: AuthService, store: MemoryStore, clock: Clock
) -> None:
    user, ended = await service.register("ada@example.com", PASSWORD)
    _, kept = await service.sign_in("ada@example.com", PASSWORD)
    clock.advance(3)

    await service.end_session(user, ended.session_id)

    record = await store.get_session(ended.session_id)
    assert record is not None and record.revoked_at == int(clock.now)
    with pytest.raises(RevokedToken):
        await service.authenticate(ended.access_token)
    assert [s.id for s in await service.list_sessions(user)] == [kept.session_id]


async def test_end_session_of_another_users_session_is_not_found_and_ends_nothing(
    service: AuthService, store: MemoryStore
) -> None:
    ada, _ = await service.register("ada@example.com", PASSWORD)
    _, bobs = await service.register("bob@example.com", PASSWORD)

    with pytest.raises(SessionNotFound):
        await service.end_session(ada, bobs.session_id)

    record = await store.get_session(bobs.session_id)
    assert record is not None and record.revoked_at is None
    assert (await service.authenticate(bobs.access_token)).sid == bobs.session_id


async def test_end_session_of_an_ended_or_unknown_session_is_not_found(
    service: AuthService, store: MemoryStore
) -> None:
    user, pair = await service.register("ada@example.com", PASSWORD)
    await service.end_session(user, pair.session_id)
    revoked_at = await revoked_at_of(store, pair.session_id)
    assert revoked_at is not None

    with pytest.raises(SessionNotFound):
        await service.end_session(user, pair.session_id)
    with pytest.raises(SessionNotFound):
        await service.end_session(user, "no-such-session")
    assert await revoked_at_of(store, pair.session_id) == revoked_at


async def test_end_all_sessions_ends_the_users_sessions_only(service: AuthService, clock: Clock) -> None:
    user, first = await service.register("ada@example.com", PASSWORD)
    _, second = await service.sign_in("ada@example.com", PASSWORD)
    bob, bobs = await service.register("bob@example.com", PASSWORD)
    await service.end_session(user, first.session_id)

    ended = await service.end_all_sessions(user)

    assert ended == [second.session_id]  # the one already ended is not ended again
    assert await service.list_sessions(user) == []
    with pytest.raises(RevokedToken):
        await service.authenticate(second.access_token)
    assert [s.id for s in await service.list_sessions(bob)] == [bobs.session_id]
    assert await service.end_all_sessions(user) == []


# --- the published list and warming ------------------------------------------------------------


async def test_recently_revoked_lists_sessions_whose_tokens_could_still_verify(
    service: AuthService, clock: Clock
) -> None:
    user, first = await service.register("ada@example.com", PASSWORD)
    _, second = await service.sign_in("ada@example.com", PASSWORD)
    await service.sign_in("ada@example.com", PASSWORD)  # a live session is never listed
    start = int(clock.now)
    await service.end_session(user, first.session_id)
    clock.advance(100)
    await service.end_session(user, second.session_id)

    assert sorted(await service.recently_revoked()) == sorted(
        [(first.session_id, start + HORIZON), (second.session_id, start + 100 + HORIZON)]
    )
    clock.advance(HORIZON - 100 - 1)  # one second before the first entry's end
    assert {sid for sid, _ in await service.recently_revoked()} == {first.session_id, second.session_id}
    clock.advance(1)
    assert await service.recently_revoked() == [(second.session_id, start + 100 + HORIZON)]
    clock.advance(100)
    assert await service.recently_revoked() == []


async def test_a_revoked_access_token_is_refused_until_it_could_no_longer_verify(
    service: AuthService, clock: Clock
) -> None:
    user, pair = await service.register("ada@example.com", PASSWORD)
    await service.end_session(user, pair.session_id)
    clock.advance(900 + 4)  # the token's exp + leeway - 1: it still verifies, so the list refuses it
    with pytest.raises(RevokedToken):
        await service.authenticate(pair.access_token)
    assert len(service.sessions.revocation) == 1


async def test_a_new_process_warms_its_list_from_the_store(
    service: AuthService, make_service: Any, clock: Clock
) -> None:
    user, pair = await service.register("ada@example.com", PASSWORD)
    await service.end_session(user, pair.session_id)
    clock.advance(10)

    restarted: AuthService = await make_service()  # same store, empty memory list until startup

    with pytest.raises(RevokedToken):
        await restarted.authenticate(pair.access_token)
    assert len(restarted.sessions.revocation) == 1

"""One contract, three stores: `MemoryStore`, SQLite and PostgreSQL answer every call the same way."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest

from fastauth.errors import EmailTaken, StoreUnavailable
from fastauth.storage.base import AuditRecord, CodeRecord, KeyRecord, SessionRecord, Store, User
from fastauth.storage.sqlalchemy import SQLAlchemyAdapter

NOW = 1_800_000_000


def user(number: int = 1, **fields: object) -> User:
    values: dict[str, object] = {
        "id": f"user{number}",
        "email": f"user{number}@example.com",
        "hashed_password": f"$argon2id$hash{number}",
        "created_at": NOW - 1000 + number,
    }
    values.update(fields)
    return User(**values)  # type: ignore[arg-type]


def session(number: int, user_id: str = "user1", **fields: object) -> SessionRecord:
    values: dict[str, object] = {
        "id": f"session{number:02d}",
        "user_id": user_id,
        "refresh_jti": f"jti{number}",
        "created_at": NOW - 100 + number,
        "last_used_at": NOW - 100 + number,
        "expires_at": NOW + 3600,
    }
    values.update(fields)
    return SessionRecord(**values)  # type: ignore[arg-type]


def key(generation: int, kid: str | None = None, **fields: object) -> KeyRecord:
    values: dict[str, object] = {
        "kid": kid or f"kid{generation}",
        "algorithm": "RS256",
        "generation": generation,
        "public_pem": f"public {generation}",
        "private_sealed": f"sealed {generation}",
        "created_at": NOW + generation,
        "activate_at": NOW + generation,
    }
    values.update(fields)
    return KeyRecord(**values)  # type: ignore[arg-type]


def code(
    number: int, user_id: str = "user1", purpose: str = "reset_password", **fields: object
) -> CodeRecord:
    values: dict[str, object] = {
        "id": f"code{number:02d}",
        "user_id": user_id,
        "purpose": purpose,
        "code_hash": f"{number:064x}",
        "created_at": NOW - 100 + number,
        "expires_at": NOW + 1800,
    }
    values.update(fields)
    return CodeRecord(**values)  # type: ignore[arg-type]


def hashed(number: int) -> str:
    return f"{number:064x}"


def audit(number: int, user_id: str | None = "user1", **fields: object) -> AuditRecord:
    values: dict[str, object] = {
        "id": f"audit{number:02d}",
        "at": NOW - 100 + number,
        "event": "signin",
        "user_id": user_id,
        "ip": "203.0.113.7",
        "user_agent": "Mozilla/5.0 (X11; Linux x86_64)",
        "detail": f"session session{number:02d}",
    }
    values.update(fields)
    return AuditRecord(**values)  # type: ignore[arg-type]


async def test_a_user_is_stored_and_found_by_id_and_by_email(store: Store) -> None:
    alice = user(1, roles=("admin", "editor"), is_verified=True, is_superuser=True)
    await store.create_user(alice)
    assert await store.get_user("user1") == alice
    assert await store.get_user_by_email("user1@example.com") == alice
    assert await store.get_user("nobody") is None
    assert await store.get_user_by_email("nobody@example.com") is None


async def test_a_duplicate_email_is_email_taken_and_changes_nothing(store: Store) -> None:
    await store.create_user(user(1))
    with pytest.raises(EmailTaken):
        await store.create_user(user(2, email="user1@example.com"))
    assert await store.get_user("user2") is None
    assert await store.get_user_by_email("user1@example.com") == user(1)


async def test_update_writes_the_fields_back_but_not_id_or_creation_time(store: Store) -> None:
    await store.create_user(user(1))
    await store.create_user(user(2))
    changed = replace(
        user(1),
        email="new@example.com",
        hashed_password="$argon2id$new",
        is_active=False,
        is_verified=True,
        roles=("editor",),
        created_at=5,
    )
    await store.update_user(changed)
    assert await store.get_user("user1") == replace(changed, created_at=user(1).created_at)
    assert await store.get_user_by_email("user1@example.com") is None
    with pytest.raises(EmailTaken):
        await store.update_user(replace(user(2), email="new@example.com"))
    assert await store.get_user("user2") == user(2)


async def test_set_user_fields_writes_only_those_fields(store: Store) -> None:
    await store.create_user(user(1))
    await store.create_user(user(2))
    # a concurrent writer changed another field meanwhile: writing one field must not undo it
    await store.update_user(replace(user(1), is_active=False))
    after = await store.set_user_fields("user1", {"hashed_password": "$argon2id$new", "roles": ("a", "b")})
    assert after == replace(user(1), is_active=False, hashed_password="$argon2id$new", roles=("a", "b"))
    assert await store.get_user("user1") == after
    with pytest.raises(EmailTaken):
        await store.set_user_fields("user2", {"email": "user1@example.com"})
    assert await store.get_user("user2") == user(2)
    assert await store.set_user_fields("nobody", {"is_verified": True}) is None
    for bad in ({"id": "x"}, {"created_at": 1}, {"no_such_field": 1}):
        with pytest.raises(ValueError, match="not writable user fields"):
            await store.set_user_fields("user1", bad)


async def test_returned_records_are_copies(store: Store) -> None:
    await store.create_user(user(1))
    await store.create_session(session(1))
    await store.insert_key(key(1))
    found = await store.get_user("user1")
    assert found is not None
    found.email, found.is_active = "changed@example.com", False
    stored_session = await store.get_session("session01")
    assert stored_session is not None
    stored_session.refresh_jti = "changed"
    (stored_key,) = await store.list_keys()
    stored_key.retired_at = NOW
    assert await store.get_user("user1") == user(1)
    assert await store.get_session("session01") == session(1)
    assert await store.list_keys() == [key(1)]


async def test_create_user_with_session_inserts_both_or_neither(store: Store) -> None:
    await store.create_user_with_session(user(1), session(1))
    assert await store.get_user("user1") == user(1)
    assert await store.get_session("session01") == session(1)
    with pytest.raises(EmailTaken):
        await store.create_user_with_session(user(2, email="user1@example.com"), session(2, user_id="user2"))
    assert await store.get_user("user2") is None
    assert await store.get_session("session02") is None
    assert await store.list_sessions("user1", NOW) == [session(1)]


async def test_twenty_concurrent_rotations_of_one_refresh_token_exactly_one_wins(store: Store) -> None:
    await store.create_user(user(1))
    await store.create_session(session(1))
    results = await asyncio.gather(
        *(store.rotate_refresh("session01", "jti1", f"new{number}", NOW) for number in range(20))
    )
    assert results.count(True) == 1
    winner = f"new{results.index(True)}"
    assert await store.get_session("session01") == replace(
        session(1), refresh_jti=winner, previous_jti="jti1", rotated_at=NOW, last_used_at=NOW
    )
    # The spent token never rotates again; the current one does.
    assert await store.rotate_refresh("session01", "jti1", "again", NOW + 1) is False
    assert await store.rotate_refresh("session01", winner, "next", NOW + 1) is True


async def test_a_revoked_or_expired_session_does_not_rotate(store: Store) -> None:
    await store.create_user(user(1))
    await store.create_session(session(1))
    await store.create_session(session(2, expires_at=NOW))
    assert await store.revoke_session("session01", NOW) is True
    assert await store.rotate_refresh("session01", "jti1", "new", NOW) is False
    assert await store.rotate_refresh("session02", "jti2", "new", NOW) is False  # expires_at == now
    assert await store.rotate_refresh("nosuch", "jti1", "new", NOW) is False
    assert (await store.get_session("session02")) == session(2, expires_at=NOW)


async def test_revoke_is_true_once(store: Store) -> None:
    await store.create_user(user(1))
    await store.create_session(session(1))
    assert await store.revoke_session("session01", NOW) is True
    assert await store.revoke_session("session01", NOW + 5) is False
    assert await store.revoke_session("nosuch", NOW) is False
    assert await store.get_session("session01") == session(1, revoked_at=NOW)


async def test_revoke_user_sessions_spares_one_and_other_users(store: Store) -> None:
    await store.create_user(user(1))
    await store.create_user(user(2))
    for number in (1, 2, 3):
        await store.create_session(session(number))
    await store.create_session(session(4, user_id="user2"))
    await store.revoke_session("session03", NOW - 10)
    revoked = await store.revoke_user_sessions("user1", NOW, except_session="session02")
    assert revoked == ["session01"]
    assert await store.revoke_user_sessions("user1", NOW) == ["session02"]
    assert await store.revoke_user_sessions("user1", NOW) == []
    assert (await store.get_session("session03")) == session(3, revoked_at=NOW - 10)
    assert (await store.get_session("session04")) == session(4, user_id="user2")


async def test_list_sessions_is_live_ones_newest_first(store: Store) -> None:
    await store.create_user(user(1))
    await store.create_user(user(2))
    await store.create_session(session(1, created_at=NOW - 50))
    await store.create_session(session(2, created_at=NOW - 10))
    await store.create_session(session(3, created_at=NOW - 10))  # same time: by id
    await store.create_session(session(4, created_at=NOW - 5, expires_at=NOW))  # expired
    await store.create_session(session(5, created_at=NOW - 1))
    await store.create_session(session(6, user_id="user2"))
    await store.revoke_session("session05", NOW)
    listed = await store.list_sessions("user1", NOW)
    assert [record.id for record in listed] == ["session02", "session03", "session01"]
    assert listed[0] == session(2, created_at=NOW - 10)
    assert await store.list_sessions("nobody", NOW) == []


async def test_revoked_since_lists_revocations_from_that_second_on(store: Store) -> None:
    await store.create_user(user(1))
    for number in (1, 2, 3, 4):
        await store.create_session(session(number))
    await store.revoke_session("session01", NOW - 100)
    await store.revoke_session("session02", NOW - 50)
    await store.revoke_session("session03", NOW)
    assert sorted(await store.revoked_since(NOW - 50)) == [("session02", NOW - 50), ("session03", NOW)]
    assert await store.revoked_since(NOW + 1) == []


async def test_prune_deletes_sessions_that_ended_before_the_cut(store: Store) -> None:
    await store.create_user(user(1))
    await store.create_session(session(1, expires_at=NOW - 10))  # expired before the cut
    await store.create_session(session(2, expires_at=NOW))  # expires at the cut: kept
    await store.create_session(session(3))  # revoked before the cut
    await store.create_session(session(4))  # revoked at the cut: kept
    await store.create_session(session(5))  # live
    await store.revoke_session("session03", NOW - 1)
    await store.revoke_session("session04", NOW)
    assert await store.prune_sessions(NOW) == 2
    assert await store.get_session("session01") is None
    assert await store.get_session("session03") is None
    assert [await store.get_session(f"session0{n}") is not None for n in (2, 4, 5)] == [True, True, True]
    assert await store.prune_sessions(NOW) == 0


async def test_keys_insert_once_per_kid_and_generation_list_retire_delete(store: Store) -> None:
    assert await store.insert_key(key(2)) is True
    assert await store.insert_key(key(1)) is True
    assert await store.insert_key(key(2, kid="other")) is False  # generation taken
    assert await store.insert_key(key(3, kid="kid1")) is False  # kid taken
    assert await store.list_keys() == [key(1), key(2)]
    assert await store.retire_key("kid1", NOW + 60) is True
    assert await store.retire_key("kid1", NOW + 90) is False
    assert await store.retire_key("nosuch", NOW) is False
    assert await store.list_keys() == [key(1, retired_at=NOW + 60), key(2)]
    assert await store.delete_key("kid1") is True
    assert await store.delete_key("kid1") is False
    assert await store.list_keys() == [key(2)]


async def test_concurrent_inserts_of_one_generation_exactly_one_wins(store: Store) -> None:
    results = await asyncio.gather(*(store.insert_key(key(7, kid=f"racer{number}")) for number in range(10)))
    assert results.count(True) == 1
    assert [record.kid for record in await store.list_keys()] == [f"racer{results.index(True)}"]


async def test_delete_user_takes_its_sessions_and_codes_and_nothing_else(store: Store) -> None:
    await store.create_user(user(1))
    await store.create_user(user(2))
    await store.create_session(session(1))
    await store.create_session(session(2, user_id="user2"))
    await store.insert_code(code(1))
    await store.insert_code(code(2, user_id="user2"))
    assert await store.delete_user("user1") is True
    assert await store.delete_user("user1") is False
    assert await store.delete_user("nobody") is False
    assert await store.get_user("user1") is None
    assert await store.get_user_by_email("user1@example.com") is None
    assert await store.get_session("session01") is None
    assert await store.find_code(hashed(1), "reset_password", NOW) is None
    assert await store.get_user("user2") == user(2)
    assert await store.get_session("session02") == session(2, user_id="user2")
    assert await store.find_code(hashed(2), "reset_password", NOW) == code(2, user_id="user2")
    # The email is free again, and nothing of the old account is left to prune.
    await store.create_user(user(3, email="user1@example.com"))
    assert await store.prune_codes(NOW + 10_000) == 1  # user2's code only
    assert await store.prune_sessions(NOW + 10_000) == 1  # user2's session only


async def test_a_deleted_users_session_revocations_outlive_the_rows_until_pruned(store: Store) -> None:
    await store.create_user(user(1))
    await store.create_user(user(2))
    await store.create_session(session(1, revoked_at=NOW - 50))  # revoked before the deletion
    await store.create_session(session(2))  # live when the account goes: revoked as of `now`
    await store.create_session(session(3, user_id="user2", revoked_at=NOW - 40))
    assert await store.delete_user("user1", now=NOW) is True
    assert await store.get_session("session01") is None and await store.get_session("session02") is None
    assert sorted(await store.revoked_since(NOW - 60)) == [
        ("session01", NOW - 50),
        ("session02", NOW),
        ("session03", NOW - 40),
    ]
    assert sorted(await store.revoked_since(NOW - 45)) == [("session02", NOW), ("session03", NOW - 40)]
    # Pruning up to a cut drops the revocations from before it, the deleted account's too.
    assert await store.prune_sessions(NOW - 45) == 0  # no session row ended before the cut
    assert sorted(await store.revoked_since(0)) == [("session02", NOW), ("session03", NOW - 40)]
    assert await store.prune_sessions(NOW + 1) == 1  # user2's revoked session
    assert await store.revoked_since(0) == []


async def test_a_code_is_found_while_live_and_records_are_copies(store: Store) -> None:
    await store.create_user(user(1))
    await store.insert_code(code(1, data="new@example.com"))
    found = await store.find_code(hashed(1), "reset_password", NOW)
    assert found == code(1, data="new@example.com")
    assert found is not None
    found.consumed_at, found.data = NOW, "changed"
    assert await store.find_code(hashed(1), "reset_password", NOW) == code(1, data="new@example.com")
    assert await store.find_code(hashed(1), "reset_password", NOW + 1800) is None  # expires_at == now
    assert await store.find_code(hashed(1), "change_email", NOW) is None  # another purpose
    assert await store.find_code(hashed(9), "reset_password", NOW) is None  # unknown
    # Finding never consumes.
    assert await store.consume_code(hashed(1), "reset_password", NOW) == code(
        1, data="new@example.com", consumed_at=NOW
    )


async def test_a_code_is_consumed_once(store: Store) -> None:
    await store.create_user(user(1))
    await store.insert_code(code(1))
    assert await store.consume_code(hashed(1), "reset_password", NOW) == code(1, consumed_at=NOW)
    assert await store.consume_code(hashed(1), "reset_password", NOW + 1) is None
    assert await store.find_code(hashed(1), "reset_password", NOW + 1) is None
    assert await store.consume_code(hashed(9), "reset_password", NOW) is None


async def test_expired_and_cross_purpose_codes_are_not_consumed(store: Store) -> None:
    await store.create_user(user(1))
    await store.insert_code(code(1, expires_at=NOW))
    await store.insert_code(code(2, purpose="verify_email"))
    assert await store.consume_code(hashed(1), "reset_password", NOW) is None  # expires_at == now
    assert await store.consume_code(hashed(2), "reset_password", NOW) is None
    assert await store.consume_code(hashed(2), "change_email", NOW) is None
    # Refused attempts changed nothing: the right purpose still consumes, the expired code is untouched.
    assert await store.find_code(hashed(1), "reset_password", NOW - 1) == code(1, expires_at=NOW)
    assert await store.consume_code(hashed(2), "verify_email", NOW) == code(
        2, purpose="verify_email", consumed_at=NOW
    )


async def test_twenty_concurrent_consumes_of_one_code_exactly_one_gets_it(store: Store) -> None:
    await store.create_user(user(1))
    await store.insert_code(code(1))
    results = await asyncio.gather(
        *(store.consume_code(hashed(1), "reset_password", NOW + number) for number in range(20))
    )
    winners = [result for result in results if result is not None]
    assert len(winners) == 1
    assert winners == [code(1, consumed_at=NOW + results.index(winners[0]))]
    assert await store.find_code(hashed(1), "reset_password", NOW) is None


async def test_a_new_code_voids_the_older_ones_of_its_user_and_purpose_only(store: Store) -> None:
    await store.create_user(user(1))
    await store.create_user(user(2))
    await store.insert_code(code(1))
    await store.insert_code(code(2))
    await store.insert_code(code(3, purpose="verify_email"))
    await store.insert_code(code(4, user_id="user2"))
    await store.insert_code(code(5))  # created at NOW - 95: voids 1 and 2, not 3 or 4
    assert await store.find_code(hashed(5), "reset_password", NOW) == code(5)
    for number in (1, 2):
        assert await store.find_code(hashed(number), "reset_password", NOW) is None
        assert await store.consume_code(hashed(number), "reset_password", NOW) is None
    assert await store.find_code(hashed(3), "verify_email", NOW) == code(3, purpose="verify_email")
    assert await store.find_code(hashed(4), "reset_password", NOW) == code(4, user_id="user2")
    # Each is voided at the creation time of the code that replaced it, and pruned from then on.
    assert await store.prune_codes(NOW - 98) == 0
    assert await store.prune_codes(NOW - 97) == 1  # code 1, voided by code 2 (created NOW - 98)
    assert await store.prune_codes(NOW - 95) == 0
    assert await store.prune_codes(NOW - 94) == 1  # code 2, voided by code 5 (created NOW - 95)


async def test_insert_without_void_older_keeps_the_older_codes(store: Store) -> None:
    await store.create_user(user(1))
    await store.insert_code(code(1))
    await store.insert_code(code(2), void_older=False)
    assert await store.find_code(hashed(1), "reset_password", NOW) == code(1)
    assert await store.find_code(hashed(2), "reset_password", NOW) == code(2)


async def test_ten_concurrent_issues_leave_exactly_one_live_code(store: Store) -> None:
    await store.create_user(user(1))
    await asyncio.gather(*(store.insert_code(code(number, created_at=NOW)) for number in range(1, 11)))
    live = [await store.find_code(hashed(number), "reset_password", NOW) for number in range(1, 11)]
    assert len([record for record in live if record is not None]) == 1


async def test_void_codes_voids_the_purposes_given_for_that_user(store: Store) -> None:
    await store.create_user(user(1))
    await store.create_user(user(2))
    await store.insert_code(code(1, purpose="reset_password"))
    await store.insert_code(code(2, purpose="change_email"))
    await store.insert_code(code(3, purpose="verify_email"))
    await store.insert_code(code(4, user_id="user2"))
    expired = code(5, purpose="change_email", expires_at=NOW - 10)
    await store.insert_code(expired, void_older=False)  # expired, never consumed: voided too
    assert await store.void_codes("user1", ["reset_password", "change_email"], NOW) == 3
    assert await store.void_codes("user1", ["reset_password", "change_email"], NOW) == 0
    assert await store.void_codes("user1", [], NOW) == 0
    assert await store.find_code(hashed(1), "reset_password", NOW) is None
    assert await store.find_code(hashed(2), "change_email", NOW) is None
    assert await store.find_code(hashed(3), "verify_email", NOW) == code(3, purpose="verify_email")
    assert await store.find_code(hashed(4), "reset_password", NOW) == code(4, user_id="user2")


async def test_prune_deletes_codes_that_expired_or_were_consumed_before_the_cut(store: Store) -> None:
    await store.create_user(user(1))
    await store.insert_code(code(1, expires_at=NOW - 10), void_older=False)  # expired before the cut
    await store.insert_code(code(2, expires_at=NOW), void_older=False)  # expires at the cut: kept
    await store.insert_code(code(3), void_older=False)  # consumed before the cut
    await store.insert_code(code(4), void_older=False)  # consumed at the cut: kept
    await store.insert_code(code(5), void_older=False)  # live
    await store.consume_code(hashed(3), "reset_password", NOW - 1)
    await store.consume_code(hashed(4), "reset_password", NOW)
    assert await store.prune_codes(NOW) == 2
    assert await store.find_code(hashed(2), "reset_password", NOW - 1) == code(2, expires_at=NOW)
    assert await store.find_code(hashed(5), "reset_password", NOW) == code(5)
    assert await store.consume_code(hashed(4), "reset_password", NOW) is None  # still there, spent
    assert await store.prune_codes(NOW) == 0
    assert await store.prune_codes(NOW + 1) == 2  # 2 expired at NOW, 4 consumed at NOW


async def test_a_refused_insert_voids_nothing(store: Store) -> None:
    await store.create_user(user(1))
    await store.insert_code(code(1))
    with pytest.raises(ValueError):
        await store.insert_code(code(2, id="code01"))  # the id is taken
    with pytest.raises(ValueError):
        await store.insert_code(code(3, code_hash=hashed(1)))  # the hash is taken
    with pytest.raises(ValueError):
        await store.insert_code(code(4, user_id="nobody"))
    assert await store.find_code(hashed(1), "reset_password", NOW) == code(1)  # not voided
    assert [await store.find_code(hashed(n), "reset_password", NOW) for n in (2, 3, 4)] == [None] * 3


async def test_every_code_and_audit_call_on_an_unreachable_database_is_store_unavailable() -> None:
    store = SQLAlchemyAdapter("postgresql://fastauth@127.0.0.1:9/none")
    calls = [
        lambda: store.insert_code(code(1)),
        lambda: store.consume_code(hashed(1), "reset_password", NOW),
        lambda: store.find_code(hashed(1), "reset_password", NOW),
        lambda: store.void_codes("user1", ["reset_password"], NOW),
        lambda: store.prune_codes(NOW),
        lambda: store.delete_user("user1"),
        lambda: store.insert_audit(audit(1)),
        lambda: store.list_audit(),
        lambda: store.prune_audit(NOW),
    ]
    try:
        for call in calls:
            with pytest.raises(StoreUnavailable):
                await call()
    finally:
        await store.close()


async def test_audit_records_are_stored_whole_and_listed_newest_first(store: Store) -> None:
    await store.insert_audit(audit(1))
    await store.insert_audit(audit(3, event="signout", ip=None, user_agent=None, detail=None))
    await store.insert_audit(audit(2, user_id=None, event="signin_failed", detail="who@example.com"))
    await store.insert_audit(audit(4, user_id="user2", event="key_rotated", at=NOW - 99))  # ties 1: by id
    assert await store.list_audit() == [
        audit(3, event="signout", ip=None, user_agent=None, detail=None),
        audit(2, user_id=None, event="signin_failed", detail="who@example.com"),
        audit(4, user_id="user2", event="key_rotated", at=NOW - 99),
        audit(1),
    ]
    assert [record.id for record in await store.list_audit(limit=2)] == ["audit03", "audit02"]
    assert await store.list_audit(limit=0) == []


async def test_audit_records_are_filtered_by_user_and_by_time(store: Store) -> None:
    for number in range(1, 7):
        await store.insert_audit(audit(number, user_id="user1" if number % 2 else "user2"))
    ids = [record.id for record in await store.list_audit(user_id="user1")]
    assert ids == ["audit05", "audit03", "audit01"]
    assert [record.id for record in await store.list_audit(user_id="user2", limit=2)] == [
        "audit06",
        "audit04",
    ]
    # `before` is strict: a record at that second is not before it.
    assert [record.id for record in await store.list_audit(before=NOW - 96)] == [
        "audit03",
        "audit02",
        "audit01",
    ]
    assert [record.id for record in await store.list_audit(user_id="user2", before=NOW - 94)] == [
        "audit04",
        "audit02",
    ]
    assert await store.list_audit(user_id="nobody") == []
    assert await store.list_audit(before=NOW - 99) == []


async def test_audit_records_are_copies_and_ids_unique(store: Store) -> None:
    await store.insert_audit(audit(1))
    (found,) = await store.list_audit()
    found.detail, found.user_id = "changed", None
    assert await store.list_audit() == [audit(1)]
    with pytest.raises(ValueError):
        await store.insert_audit(audit(1, event="signout"))
    assert await store.list_audit() == [audit(1)]


async def test_prune_audit_deletes_records_before_the_cut(store: Store) -> None:
    for number in range(1, 5):
        await store.insert_audit(audit(number))  # at NOW - 99 ... NOW - 96
    assert await store.prune_audit(NOW - 99) == 0  # strictly before
    assert await store.prune_audit(NOW - 97) == 2
    assert [record.id for record in await store.list_audit()] == ["audit04", "audit03"]
    assert await store.prune_audit(NOW - 97) == 0
    assert await store.prune_audit(NOW) == 2
    assert await store.list_audit() == []


async def test_audit_records_outlive_the_deleted_user(store: Store) -> None:
    await store.create_user(user(1))
    await store.insert_audit(audit(1))
    await store.insert_audit(audit(2, event="account_deleted", detail="user1@example.com"))
    assert await store.delete_user("user1") is True
    assert await store.list_audit(user_id="user1") == [
        audit(2, event="account_deleted", detail="user1@example.com"),
        audit(1),
    ]
    # No foreign key: a record may name a user the store never had.
    await store.insert_audit(audit(3, user_id="never-existed"))
    assert [record.id for record in await store.list_audit(user_id="never-existed")] == ["audit03"]

"""The `PasskeyStore` contract on every store (memory, SQLite, PostgreSQL): passkeys are inserted,
found and listed (oldest first, as copies), a credential id is registered once across all users, only
the owner renames or deletes, the sign count is a compare-and-set (of twenty concurrent uses with one
old count exactly one wins); ceremony challenges are consumed once (of twenty concurrent consumers
exactly one gets it), only for their own purpose and before they expire, and pruning drops only the
expired; a user's passkeys go with the user."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest

from fastauth.storage.base import PasskeyChallengeRecord, PasskeyRecord, Store, User

ADA, BOB = "u-ada", "u-bob"


async def two_users(store: Store) -> None:
    await store.create_user(User(id=ADA, email="ada@example.com", hashed_password="h", created_at=1))
    await store.create_user(User(id=BOB, email="bob@example.com", hashed_password="h", created_at=1))


def passkey(pid: str, user_id: str = ADA, *, created_at: int = 10, **changes: object) -> PasskeyRecord:
    record = PasskeyRecord(
        id=pid,
        user_id=user_id,
        credential_id=f"cred-{pid}",
        public_key="pQECAyYgASFYIA",
        sign_count=0,
        user_handle=f"handle-{user_id}",
        name=f"Key {pid}",
        created_at=created_at,
        transports=("internal", "hybrid"),
        aaguid="00000000-0000-0000-0000-000000000000",
        backup_eligible=True,
        backed_up=True,
    )
    return replace(record, **changes)  # type: ignore[arg-type]


def challenge(
    cid: str, purpose: str = "login", *, expires_at: int = 400, **changes: object
) -> PasskeyChallengeRecord:
    record = PasskeyChallengeRecord(id=cid, purpose=purpose, created_at=100, expires_at=expires_at)
    return replace(record, **changes)  # type: ignore[arg-type]


# passkeys


async def test_a_passkey_is_stored_whole_and_found_by_its_credential_id(store: Store) -> None:
    await two_users(store)
    record = passkey("p1", last_used_at=None)
    await store.insert_passkey(record)
    assert await store.get_passkey("cred-p1") == record
    assert await store.get_passkey("cred-unknown") is None
    assert await store.get_passkey("p1") is None  # found by credential id, not by its own id
    assert await store.list_passkeys(ADA) == [record]
    assert await store.list_passkeys(BOB) == []


async def test_a_transportless_device_bound_passkey_round_trips(store: Store) -> None:
    await two_users(store)
    record = passkey("p1", transports=(), backup_eligible=False, backed_up=False, sign_count=7, aaguid="")
    await store.insert_passkey(record)
    assert await store.get_passkey("cred-p1") == record


async def test_passkeys_are_listed_oldest_first_and_only_the_users_own(store: Store) -> None:
    await two_users(store)
    newest = passkey("p-a", created_at=30)
    oldest = passkey("p-c", created_at=10)
    middle = passkey("p-b", created_at=20)
    bobs = passkey("p-bob", BOB, created_at=5)
    for record in (newest, bobs, oldest, middle):
        await store.insert_passkey(record)
    assert [p.id for p in await store.list_passkeys(ADA)] == ["p-c", "p-b", "p-a"]
    assert [p.id for p in await store.list_passkeys(BOB)] == ["p-bob"]


async def test_what_the_store_returns_is_a_copy_not_the_stored_record(store: Store) -> None:
    await two_users(store)
    record = passkey("p1")
    await store.insert_passkey(record)
    record.name, record.sign_count = "changed after insert", 99
    found = await store.get_passkey("cred-p1")
    assert found is not None and (found.name, found.sign_count) == ("Key p1", 0)
    found.name, found.sign_count = "changed after get", 50
    listed = (await store.list_passkeys(ADA))[0]
    assert (listed.name, listed.sign_count) == ("Key p1", 0)
    listed.name = "changed after list"
    again = await store.get_passkey("cred-p1")
    assert again is not None and again.name == "Key p1"


async def test_a_credential_id_is_registered_once_whoever_registers_it(store: Store) -> None:
    await two_users(store)
    await store.insert_passkey(passkey("p1"))
    with pytest.raises(ValueError):
        await store.insert_passkey(passkey("p2", credential_id="cred-p1"))
    with pytest.raises(ValueError):
        await store.insert_passkey(passkey("p3", BOB, credential_id="cred-p1"))
    assert [p.id for p in await store.list_passkeys(ADA)] == ["p1"]
    assert await store.list_passkeys(BOB) == []
    stored = await store.get_passkey("cred-p1")
    assert stored is not None and stored.user_id == ADA


async def test_a_passkey_of_an_unknown_user_is_refused(store: Store) -> None:
    await two_users(store)
    with pytest.raises(ValueError):
        await store.insert_passkey(passkey("p1", "u-nobody"))
    assert await store.get_passkey("cred-p1") is None
    assert await store.list_passkeys("u-nobody") == []


async def test_only_the_owner_renames_a_passkey(store: Store) -> None:
    await two_users(store)
    await store.insert_passkey(passkey("p1"))
    assert await store.rename_passkey("p1", BOB, "Bob's now") is False
    assert await store.rename_passkey("p-unknown", ADA, "Nothing") is False
    stored = await store.get_passkey("cred-p1")
    assert stored is not None and stored.name == "Key p1"
    assert await store.rename_passkey("p1", ADA, "Laptop") is True
    stored = await store.get_passkey("cred-p1")
    assert stored is not None and stored.name == "Laptop"


async def test_only_the_owner_deletes_a_passkey(store: Store) -> None:
    await two_users(store)
    await store.insert_passkey(passkey("p1"))
    await store.insert_passkey(passkey("p2", created_at=11))
    assert await store.delete_passkey("p1", BOB) is False
    assert [p.id for p in await store.list_passkeys(ADA)] == ["p1", "p2"]
    assert await store.delete_passkey("p1", ADA) is True
    assert await store.delete_passkey("p1", ADA) is False
    assert await store.get_passkey("cred-p1") is None
    assert [p.id for p in await store.list_passkeys(ADA)] == ["p2"]


async def test_use_is_a_compare_and_set_on_the_sign_count(store: Store) -> None:
    await two_users(store)
    await store.insert_passkey(passkey("p1", sign_count=5))
    assert await store.use_passkey("p1", 4, 6, 200) is False  # a stale old count
    stored = await store.get_passkey("cred-p1")
    assert stored is not None and (stored.sign_count, stored.last_used_at) == (5, None)
    assert await store.use_passkey("p1", 5, 6, 200) is True
    stored = await store.get_passkey("cred-p1")
    assert stored is not None and (stored.sign_count, stored.last_used_at) == (6, 200)
    assert await store.use_passkey("p1", 5, 7, 201) is False  # the count it read is stale now
    assert await store.use_passkey("p-unknown", 0, 1, 201) is False
    stored = await store.get_passkey("cred-p1")
    assert stored is not None and (stored.sign_count, stored.last_used_at) == (6, 200)


async def test_twenty_concurrent_uses_with_one_old_count_exactly_one_wins(store: Store) -> None:
    await two_users(store)
    await store.insert_passkey(passkey("p1", sign_count=3))
    results = await asyncio.gather(*(store.use_passkey("p1", 3, 4 + n, 300 + n) for n in range(20)))
    assert sorted(results) == [False] * 19 + [True]
    winner = results.index(True)
    stored = await store.get_passkey("cred-p1")
    assert stored is not None and (stored.sign_count, stored.last_used_at) == (4 + winner, 300 + winner)


async def test_deleting_a_user_deletes_their_passkeys_and_no_one_elses(store: Store) -> None:
    await two_users(store)
    await store.insert_passkey(passkey("p1"))
    await store.insert_passkey(passkey("p2", created_at=11))
    await store.insert_passkey(passkey("p-bob", BOB))
    assert await store.delete_user(ADA) is True
    assert await store.list_passkeys(ADA) == []
    assert await store.get_passkey("cred-p1") is None and await store.get_passkey("cred-p2") is None
    assert [p.id for p in await store.list_passkeys(BOB)] == ["p-bob"]
    # The credential id is free again: an account made later may register it.
    await store.create_user(User(id=ADA, email="ada@example.com", hashed_password="h", created_at=2))
    await store.insert_passkey(passkey("p9"))
    assert [p.id for p in await store.list_passkeys(ADA)] == ["p9"]


# challenges


async def test_a_challenge_is_consumed_once_and_comes_back_whole(store: Store) -> None:
    record = challenge("c1", "second_factor", user_id=ADA, data="sign-in-1")
    await store.insert_passkey_challenge(record)
    assert await store.consume_passkey_challenge("c1", "second_factor", 200) == record
    assert await store.consume_passkey_challenge("c1", "second_factor", 200) is None
    assert await store.consume_passkey_challenge("c-unknown", "login", 200) is None


async def test_a_taken_challenge_id_is_refused(store: Store) -> None:
    await store.insert_passkey_challenge(challenge("c1", "login"))
    with pytest.raises(ValueError):
        await store.insert_passkey_challenge(challenge("c1", "register", user_id=ADA))
    assert await store.consume_passkey_challenge("c1", "register", 200) is None
    assert await store.consume_passkey_challenge("c1", "login", 200) == challenge("c1", "login")


async def test_a_challenge_of_another_purpose_is_none_and_stays_for_its_own(store: Store) -> None:
    record = challenge("c1", "register", user_id=ADA, data="handle")
    await store.insert_passkey_challenge(record)
    assert await store.consume_passkey_challenge("c1", "login", 200) is None
    assert await store.consume_passkey_challenge("c1", "second_factor", 200) is None
    assert await store.consume_passkey_challenge("c1", "register", 200) == record


async def test_an_expired_challenge_is_none(store: Store) -> None:
    await store.insert_passkey_challenge(challenge("c1", expires_at=400))
    assert await store.consume_passkey_challenge("c1", "login", 400) is None  # expires_at is the end
    assert await store.consume_passkey_challenge("c1", "login", 401) is None
    await store.insert_passkey_challenge(challenge("c2", expires_at=400))
    assert await store.consume_passkey_challenge("c2", "login", 399) == challenge("c2", expires_at=400)


async def test_twenty_concurrent_consumers_exactly_one_gets_the_challenge(store: Store) -> None:
    record = challenge("c1", "login")
    await store.insert_passkey_challenge(record)
    results = await asyncio.gather(*(store.consume_passkey_challenge("c1", "login", 200) for _ in range(20)))
    assert [r for r in results if r is not None] == [record]
    assert results.count(None) == 19


async def test_prune_removes_only_the_expired_challenges(store: Store) -> None:
    await store.insert_passkey_challenge(challenge("old-1", expires_at=100))
    await store.insert_passkey_challenge(challenge("old-2", "register", expires_at=299, user_id=ADA))
    await store.insert_passkey_challenge(challenge("live-1", expires_at=300))
    await store.insert_passkey_challenge(challenge("live-2", expires_at=900))
    assert await store.prune_passkey_challenges(300) == 2
    assert await store.prune_passkey_challenges(300) == 0
    # The expired ones are gone (even for a clock that says they are not expired yet), the rest stay.
    assert await store.consume_passkey_challenge("old-1", "login", 50) is None
    assert await store.consume_passkey_challenge("old-2", "register", 50) is None
    assert await store.consume_passkey_challenge("live-1", "login", 200) == challenge(
        "live-1", expires_at=300
    )
    assert await store.consume_passkey_challenge("live-2", "login", 200) == challenge(
        "live-2", expires_at=900
    )

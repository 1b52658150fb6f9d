"""The second-factor tables on every store: the TOTP replay guard is a compare-and-set (of twenty
concurrent acceptances of one step exactly one wins, on SQLite and PostgreSQL: two processes cannot both
accept a code), recovery codes are spent once, and both go with the user."""

from __future__ import annotations

import asyncio

import pytest

from fastauth.storage.base import MFARecord, Store, User


async def user_with_totp(store: Store) -> str:
    await store.create_user(User(id="u1", email="ada@example.com", hashed_password="h", created_at=1))
    await store.put_totp(MFARecord(user_id="u1", totp_sealed="v1.sealed", created_at=1))
    return "u1"


async def test_enrolment_is_confirmed_once_and_then_cannot_be_replaced(store: Store) -> None:
    uid = await user_with_totp(store)
    await store.put_totp(
        MFARecord(user_id=uid, totp_sealed="v1.other", created_at=2)
    )  # unconfirmed: replaced
    assert (await store.get_mfa(uid)).totp_sealed == "v1.other"  # type: ignore[union-attr]
    assert await store.confirm_totp(uid, 100, 3) is True
    assert await store.confirm_totp(uid, 101, 4) is False
    with pytest.raises(ValueError):
        await store.put_totp(MFARecord(user_id=uid, totp_sealed="v1.third", created_at=5))
    record = await store.get_mfa(uid)
    assert record is not None and (record.confirmed_at, record.last_step) == (3, 100)


async def test_a_step_is_accepted_once_and_never_an_earlier_one(store: Store) -> None:
    uid = await user_with_totp(store)
    assert await store.accept_totp_step(uid, 100) is False  # not confirmed yet
    await store.confirm_totp(uid, 100, 3)
    assert await store.accept_totp_step(uid, 100) is False  # the enrolment's step
    assert await store.accept_totp_step(uid, 101) is True
    assert await store.accept_totp_step(uid, 101) is False
    assert await store.accept_totp_step(uid, 100) is False


async def test_twenty_concurrent_acceptances_of_one_step_exactly_one_wins(store: Store) -> None:
    uid = await user_with_totp(store)
    await store.confirm_totp(uid, 100, 3)
    results = await asyncio.gather(*(store.accept_totp_step(uid, 101) for _ in range(20)))
    assert sorted(results) == [False] * 19 + [True]


async def test_recovery_codes_are_spent_once_replaced_as_a_set_and_go_with_the_user(store: Store) -> None:
    uid = await user_with_totp(store)
    await store.replace_recovery_codes(uid, ["a" * 64, "b" * 64], 10)
    assert await store.count_recovery_codes(uid) == 2
    results = await asyncio.gather(*(store.consume_recovery_code(uid, "a" * 64, 11) for _ in range(10)))
    assert sorted(results) == [False] * 9 + [True]
    assert await store.consume_recovery_code("someone-else", "b" * 64, 11) is False
    await store.replace_recovery_codes(uid, ["c" * 64], 12)
    assert await store.consume_recovery_code(uid, "b" * 64, 13) is False
    assert await store.count_recovery_codes(uid) == 1
    assert await store.delete_user(uid) is True
    assert await store.get_mfa(uid) is None and await store.count_recovery_codes(uid) == 0

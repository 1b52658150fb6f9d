"""One-time codes on the memory store: random, stored as SHA-256 only, bound to a purpose, consumed
once, expiring on a hand-moved clock, voided by a newer code or by `void`; every refusal is the same
`InvalidCode`, and a malformed code never reaches the store.

The same storage semantics on SQLite and PostgreSQL: `tests/storage/test_store_contract.py`.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
from collections.abc import Awaitable, Iterable
from dataclasses import asdict
from typing import Any

import pytest

from fastauth.accounts.one_time import OneTimeCodes, Purpose
from fastauth.errors import InvalidCode
from fastauth.storage.base import CodeRecord, User
from fastauth.storage.memory import MemoryStore
from support.clock import Clock

START = 1_700_000_000  # the `clock` fixture's start (tests/core/conftest.py)

LIFETIMES = {"verify_email": 24 * 3600, "reset_password": 30 * 60, "change_email": 30 * 60}
REFUSED = "invalid or expired code"


class SpyStore(MemoryStore):
    """A `MemoryStore` that records every call of the code methods, with its arguments."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[str, tuple[Any, ...]]] = []

    async def insert_code(self, record: CodeRecord, *, void_older: bool = True) -> None:
        self.calls.append(("insert_code", (record, void_older)))
        await super().insert_code(record, void_older=void_older)

    async def consume_code(self, code_hash: str, purpose: str, now: int) -> CodeRecord | None:
        self.calls.append(("consume_code", (code_hash, purpose, now)))
        return await super().consume_code(code_hash, purpose, now)

    async def find_code(self, code_hash: str, purpose: str, now: int) -> CodeRecord | None:
        self.calls.append(("find_code", (code_hash, purpose, now)))
        return await super().find_code(code_hash, purpose, now)

    async def void_codes(self, user_id: str, purposes: Iterable[str], now: int) -> int:
        purposes = tuple(purposes)
        self.calls.append(("void_codes", (user_id, purposes, now)))
        return await super().void_codes(user_id, purposes, now)

    async def prune_codes(self, before: int) -> int:
        self.calls.append(("prune_codes", (before,)))
        return await super().prune_codes(before)


@pytest.fixture
async def spy() -> SpyStore:
    store = SpyStore()
    for number in (1, 2):
        await store.create_user(User(id=f"user{number}", email=f"u{number}@example.com", hashed_password="x"))
    return store


@pytest.fixture
def codes(spy: SpyStore, clock: Clock) -> OneTimeCodes:
    return OneTimeCodes(spy, lifetimes=LIFETIMES, clock=clock)


def sha256(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()


async def refused(call: Awaitable[Any]) -> str:
    """The message of the `InvalidCode` that awaiting `call` raises."""
    with pytest.raises(InvalidCode) as info:
        await call
    assert type(info.value) is InvalidCode
    return str(info.value)


# --- issuing -----------------------------------------------------------------------------------


async def test_a_code_is_256_random_bits_in_base64url(codes: OneTimeCodes) -> None:
    issued = {await codes.issue("user1", "verify_email") for _ in range(50)}
    assert len(issued) == 50
    assert all(re.fullmatch(r"[A-Za-z0-9_-]{43}", code) for code in issued)  # token_urlsafe(32)


async def test_the_store_only_ever_sees_the_codes_sha256(
    codes: OneTimeCodes, spy: SpyStore, clock: Clock
) -> None:
    code = await codes.issue("user1", "change_email", data="new@example.com")
    await codes.check(code, "change_email")
    await codes.consume(code, "change_email")
    (name, (record, void_older)), *_ = spy.calls
    assert (name, void_older) == ("insert_code", True)
    assert record == CodeRecord(
        id=record.id,
        user_id="user1",
        purpose="change_email",
        code_hash=sha256(code),
        created_at=int(clock.now),
        expires_at=int(clock.now) + 1800,
        data="new@example.com",
    )
    assert re.fullmatch(r"[0-9a-f]{32}", record.id) and record.id not in code
    assert [call[1][0] for call in spy.calls[1:]] == [sha256(code), sha256(code)]
    # The clear code is in no argument of any call, nor in anything the store holds.
    assert code not in repr(spy.calls)
    assert code not in repr([asdict(stored) for stored in spy._codes.values()])
    assert code not in repr(record)  # the hash is left out of the repr too
    assert "code_hash" not in repr(record)


async def test_a_code_carries_its_user_purpose_and_data(codes: OneTimeCodes, clock: Clock) -> None:
    code = await codes.issue("user2", "change_email", data="new@example.com")
    record = await codes.consume(code, "change_email")
    assert (record.user_id, record.purpose, record.data) == ("user2", "change_email", "new@example.com")
    assert record.consumed_at == int(clock.now)


async def test_an_unknown_purpose_or_a_missing_lifetime_is_a_programming_error(spy: SpyStore) -> None:
    codes = OneTimeCodes(spy, lifetimes=LIFETIMES)
    with pytest.raises(ValueError, match="unknown purpose 'login'"):
        await codes.issue("user1", "login")  # type: ignore[arg-type]
    for lifetimes in (
        {"verify_email": 86400, "reset_password": 1800},
        {**LIFETIMES, "change_email": 0},
        {**LIFETIMES, "reset_password": True},
    ):
        with pytest.raises(ValueError, match="must be a positive number of seconds"):
            OneTimeCodes(spy, lifetimes=lifetimes)
    assert spy.calls == []


# --- checking and consuming --------------------------------------------------------------------


async def test_check_leaves_the_code_live_and_consume_spends_it_once(codes: OneTimeCodes) -> None:
    code = await codes.issue("user1", "reset_password")
    assert (await codes.check(code, "reset_password")).consumed_at is None
    assert (await codes.check(code, "reset_password")).consumed_at is None
    assert (await codes.consume(code, "reset_password")).user_id == "user1"
    assert await refused(codes.consume(code, "reset_password")) == REFUSED
    assert await refused(codes.check(code, "reset_password")) == REFUSED


async def test_of_twenty_concurrent_consumes_exactly_one_succeeds(codes: OneTimeCodes) -> None:
    code = await codes.issue("user1", "reset_password")
    results = await asyncio.gather(
        *(codes.consume(code, "reset_password") for _ in range(20)), return_exceptions=True
    )
    assert len([result for result in results if isinstance(result, CodeRecord)]) == 1
    assert [type(result) for result in results if not isinstance(result, CodeRecord)] == [InvalidCode] * 19


@pytest.mark.parametrize(
    ("purpose", "lifetime"), [("verify_email", 86400), ("reset_password", 1800), ("change_email", 1800)]
)
async def test_a_code_expires_after_its_purposes_lifetime(
    codes: OneTimeCodes, clock: Clock, purpose: Purpose, lifetime: int
) -> None:
    code = await codes.issue("user1", purpose)
    clock.advance(lifetime - 1)
    assert (await codes.check(code, purpose)).user_id == "user1"
    clock.advance(1)  # expires_at == now: expired
    assert await refused(codes.check(code, purpose)) == REFUSED
    assert await refused(codes.consume(code, purpose)) == REFUSED


async def test_a_code_is_refused_for_another_purpose_and_still_works_for_its_own(codes: OneTimeCodes) -> None:
    code = await codes.issue("user1", "reset_password")
    for other in ("verify_email", "change_email"):
        assert await refused(codes.check(code, other)) == REFUSED
        assert await refused(codes.consume(code, other)) == REFUSED
    assert (await codes.consume(code, "reset_password")).purpose == "reset_password"


async def test_a_new_code_voids_the_older_one_of_its_purpose_only(codes: OneTimeCodes) -> None:
    verify = await codes.issue("user1", "verify_email")
    older = await codes.issue("user1", "reset_password")
    other_user = await codes.issue("user2", "reset_password")
    newer = await codes.issue("user1", "reset_password")
    assert await refused(codes.consume(older, "reset_password")) == REFUSED
    assert (await codes.consume(newer, "reset_password")).user_id == "user1"
    assert (await codes.consume(other_user, "reset_password")).user_id == "user2"
    assert (await codes.consume(verify, "verify_email")).user_id == "user1"


async def test_void_voids_reset_and_email_change_codes_but_not_verification(codes: OneTimeCodes) -> None:
    reset = await codes.issue("user1", "reset_password")
    change = await codes.issue("user1", "change_email", data="new@example.com")
    verify = await codes.issue("user1", "verify_email")
    other_user = await codes.issue("user2", "reset_password")
    assert await codes.void("user1", ["reset_password", "change_email"]) == 2
    assert await codes.void("user1", ["reset_password", "change_email"]) == 0
    assert await refused(codes.consume(reset, "reset_password")) == REFUSED
    assert await refused(codes.consume(change, "change_email")) == REFUSED
    assert (await codes.consume(verify, "verify_email")).user_id == "user1"
    assert (await codes.consume(other_user, "reset_password")).user_id == "user2"


async def test_prune_deletes_what_expired_or_was_spent_before_now(
    codes: OneTimeCodes, spy: SpyStore, clock: Clock
) -> None:
    spent = await codes.issue("user1", "verify_email")
    await codes.consume(spent, "verify_email")
    short = await codes.issue("user1", "reset_password")
    live = await codes.issue("user2", "verify_email")
    assert await codes.prune() == 0  # spent at this very second: kept
    clock.advance(1800)
    assert await codes.prune() == 1  # the spent code
    clock.advance(1)
    assert await codes.prune() == 1  # the reset code, expired a second ago
    assert spy.calls[-1] == ("prune_codes", (int(clock.now),))
    assert await refused(codes.check(short, "reset_password")) == REFUSED
    assert (await codes.check(live, "verify_email")).user_id == "user2"


# --- every refusal is the same -----------------------------------------------------------------


async def test_unknown_truncated_extended_and_voided_codes_get_the_one_refusal(codes: OneTimeCodes) -> None:
    voided = await codes.issue("user1", "reset_password")
    code = await codes.issue("user1", "reset_password")
    unknown = "A" * 43
    for wrong in (unknown, voided, code[:-1], code[1:], code + "A", "A" + code, code.swapcase()):
        assert await refused(codes.check(wrong, "reset_password")) == REFUSED
        assert await refused(codes.consume(wrong, "reset_password")) == REFUSED
    assert (await codes.consume(code, "reset_password")).user_id == "user1"  # the refusals spent nothing


MALFORMED: list[Any] = [
    "",
    None,
    123,
    b"bytes-are-not-a-code",
    ["list"],
    "A" * 257,
    "padded=",
    " leading-space",
    "trailing-space ",
    "new\nline",
    "plus+and/slash",  # base64, not base64url
    "caf\u00e9",
    "lone\ud800surrogate",
    "nul\x00byte",
    "\uff21" * 43,  # fullwidth letters
]


@pytest.mark.parametrize("malformed", MALFORMED, ids=repr)
async def test_a_malformed_code_is_refused_alike_without_touching_the_store(
    codes: OneTimeCodes, spy: SpyStore, malformed: Any
) -> None:
    assert await refused(codes.check(malformed, "reset_password")) == REFUSED
    assert await refused(codes.consume(malformed, "verify_email")) == REFUSED
    assert spy.calls == []


async def test_a_padded_or_wrapped_live_code_is_refused(codes: OneTimeCodes, spy: SpyStore) -> None:
    code = await codes.issue("user1", "reset_password")
    spy.calls.clear()
    extended = code + "A" * (256 - len(code))  # well-formed, so looked up: not found
    for wrapped in (code + "=", code + "==", f" {code}", f"{code}\n", f'"{code}"', extended, extended + "A"):
        assert await refused(codes.consume(wrapped, "reset_password")) == REFUSED
    assert spy.calls == [("consume_code", (sha256(extended), "reset_password", START))]
    assert (await codes.consume(code, "reset_password")).user_id == "user1"


async def test_the_longest_code_looked_up_is_256_characters(codes: OneTimeCodes, spy: SpyStore) -> None:
    assert await refused(codes.check("A" * 256, "reset_password")) == REFUSED
    assert await refused(codes.check("A" * 257, "reset_password")) == REFUSED
    assert [call[0] for call in spy.calls] == ["find_code"]

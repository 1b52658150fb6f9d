"""`fastauth.tokens.reload.KidReload`: the one unknown-kid rule of the session layer, the JWKS verifier and
the fastapi-users strategy. It is handed the reload coroutine, so a fake one counts the reloads here."""

from __future__ import annotations

import asyncio

import pytest

from fastauth.errors import InvalidSignature, UnknownKey
from fastauth.tokens.reload import KidReload


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Store:
    """A reload that counts its calls, optionally slow or failing, and then knows the new kid."""

    def __init__(self, *, delay: float = 0.0, fail: bool = False) -> None:
        self.loads = 0
        self.delay = delay
        self.fail = fail
        self.known = {"old"}

    async def load(self) -> None:
        self.loads += 1
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.fail:
            raise OSError("store down")
        self.known.add("new")

    def verify(self, kid: str) -> str:
        if kid not in self.known:
            raise UnknownKey("unknown kid")
        return kid


async def test_one_reload_per_interval() -> None:
    clock, store = Clock(), Store()
    rule = KidReload(10.0, clock=clock)
    assert await rule.reload(store.load) is True
    assert await rule.reload(store.load) is False
    clock.now += 9.9
    assert await rule.reload(store.load) is False
    clock.now += 0.1
    assert await rule.reload(store.load) is True
    assert store.loads == 2


async def test_a_reported_load_counts() -> None:
    clock, store = Clock(), Store()
    rule = KidReload(10.0, clock=clock)
    rule.loaded()  # e.g. a scheduled JWKS fetch
    clock.now += 5
    assert await rule.reload(store.load) is False
    clock.now += 5
    assert await rule.reload(store.load) is True
    assert store.loads == 1


async def test_a_burst_waits_for_one_reload_and_retries_against_it() -> None:
    clock, store = Clock(), Store(delay=0.01)
    rule = KidReload(10.0, clock=clock)
    results = await asyncio.gather(*(rule.retry(lambda: store.verify("new"), store.load) for _ in range(100)))
    assert results == ["new"] * 100
    assert store.loads == 1


async def test_a_burst_of_forged_kids_costs_one_reload() -> None:
    clock, store = Clock(), Store(delay=0.01)
    rule = KidReload(10.0, clock=clock)

    async def attempt(i: int) -> type[BaseException] | None:
        try:
            await rule.retry(lambda: store.verify(f"forged-{i}"), store.load)
        except UnknownKey as error:
            return type(error)
        return None

    assert set(await asyncio.gather(*(attempt(i) for i in range(200)))) == {UnknownKey}
    assert store.loads == 1
    assert set(await asyncio.gather(*(attempt(i) for i in range(200, 400)))) == {UnknownKey}
    assert store.loads == 1, "rate-limited: no second reload within the interval"


async def test_retry_verifies_once_more_only_after_a_reload() -> None:
    clock, store = Clock(), Store()
    rule = KidReload(1.0, clock=clock)
    assert await rule.retry(lambda: store.verify("old"), store.load) == "old"
    assert store.loads == 0, "a known kid never reloads"
    assert await rule.retry(lambda: store.verify("new"), store.load) == "new"
    assert store.loads == 1
    with pytest.raises(UnknownKey):
        await rule.retry(lambda: store.verify("other"), store.load)
    assert store.loads == 1


async def test_other_refusals_never_reload() -> None:
    clock, store = Clock(), Store()
    rule = KidReload(0.0, clock=clock)

    def bad_signature() -> str:
        raise InvalidSignature("signature does not verify")

    with pytest.raises(InvalidSignature):
        await rule.retry(bad_signature, store.load)
    assert store.loads == 0


async def test_a_failed_reload_counts_and_propagates() -> None:
    clock, store = Clock(), Store(fail=True)
    rule = KidReload(10.0, clock=clock)
    with pytest.raises(OSError, match="store down"):
        await rule.reload(store.load)
    assert await rule.reload(store.load) is False, "a store that fails is not asked again at once"
    assert store.loads == 1


def test_a_negative_interval_is_refused() -> None:
    with pytest.raises(ValueError, match="min_interval"):
        KidReload(-1.0)

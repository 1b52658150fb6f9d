"""Fixtures for the core tests: a real `AuthService` on a `MemoryStore`, a hand-moved clock, and hooks
that record every call.

No web layer, no database: each test builds the service the way an application does
(`AuthService.from_config`) with real argon2id at cheap parameters, so the whole folder runs in seconds.
Test modules cannot import this file, so what they share comes as fixtures (`hooks` is a `Recorder`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from fastauth.config import FastAuthConfig, JWTConfig
from fastauth.hooks import EventHooks
from fastauth.passwords import PasswordHasher
from fastauth.service import AuthService
from fastauth.storage.memory import MemoryStore
from support.app import FAST_HASHER_PARAMS, TEST_SECRET
from support.clock import Clock

#: The clock's start (2023-11-14T22:13:20Z); every time in these tests is relative to it.
START = 1_700_000_000

MakeService = Callable[..., Awaitable[AuthService]]


class Recorder(EventHooks):
    """Records every hook call as a tuple, in order; users are recorded as (id, email).

    `allow` is what `allow_signin` answers; `fail` maps a hook's name to the exception it raises.
    """

    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []
        self.allow = True
        self.fail: dict[str, Exception] = {}

    def _record(self, name: str, *args: Any) -> None:
        self.calls.append((name, *args))
        error = self.fail.get(name)
        if error is not None:
            raise error

    async def modify_jwt(self, token: dict[str, Any], user: Any) -> dict[str, Any]:
        self._record("modify_jwt", user.id, user.email)
        return token

    async def allow_signin(self, user: Any) -> bool:
        self._record("allow_signin", user.id, user.email)
        return self.allow

    async def on_signup(self, user: Any) -> None:
        self._record("on_signup", user.id, user.email)

    async def on_signin(self, user: Any) -> None:
        self._record("on_signin", user.id, user.email)

    async def on_signout(self, user: Any) -> None:
        self._record("on_signout", user.id, user.email)

    async def on_token_refresh(self, user: Any) -> None:
        self._record("on_token_refresh", user.id, user.email)

    async def on_failed_login(self, email: str, ip: str | None) -> None:
        self._record("on_failed_login", email, ip)

    async def on_refresh_reuse(self, user_id: str, session_id: str) -> None:
        self._record("on_refresh_reuse", user_id, session_id)

    def take(self) -> list[tuple[Any, ...]]:
        """The calls so far, and start a new list."""
        calls, self.calls = self.calls, []
        return calls

    def names(self) -> list[str]:
        return [call[0] for call in self.calls]


@pytest.fixture
def clock() -> Clock:
    """The service clock, at START until a test moves it."""
    return Clock(START)


@pytest.fixture
def hooks() -> Recorder:
    return Recorder()


@pytest.fixture
def store() -> MemoryStore:
    return MemoryStore()


@pytest.fixture
async def make_service(clock: Clock, hooks: Recorder, store: MemoryStore) -> AsyncIterator[MakeService]:
    """`await make_service(jwt={...}, **config)`: a started service on the test's store, clock and hooks.

    Rate limits are off unless a test turns them on (`rate_limit_enabled=True`).
    """
    opened: list[AuthService] = []

    async def make(
        *,
        jwt: dict[str, Any] | None = None,
        hooks: EventHooks | None = hooks,
        store: MemoryStore = store,
        hasher: PasswordHasher | None = None,
        **overrides: Any,
    ) -> AuthService:
        values: dict[str, Any] = {"secret": TEST_SECRET, "rate_limit_enabled": False, **overrides}
        if jwt is not None:
            values["jwt"] = JWTConfig(**jwt)
        service = AuthService.from_config(
            FastAuthConfig(**values),
            store=store,
            hooks=hooks,
            password_hasher=hasher if hasher is not None else PasswordHasher(FAST_HASHER_PARAMS),
            clock=clock,
        )
        await service.startup()
        opened.append(service)
        return service

    yield make
    for service in opened:
        await service.aclose()


@pytest.fixture
async def service(make_service: MakeService) -> AuthService:
    """The default configuration: access 900 s, refresh 7 days, sessions 30 days, leeway 5 s, no grace."""
    return await make_service()

"""Registration writes the user and its first session in one transaction."""

from __future__ import annotations

from typing import Any

import pytest

from fastauth.errors import StoreUnavailable


async def test_a_failure_while_storing_the_session_leaves_no_account(
    make_app: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    a = await make_app()
    adapter = a.auth.adapter
    original = adapter._insert_session

    async def broken(conn: Any, session: Any) -> None:
        raise StoreUnavailable("database unavailable: simulated")

    monkeypatch.setattr(adapter, "_insert_session", broken)
    r = await a.client.post("/auth/register", json={"email": "half@example.com", "password": "password123"})
    assert r.status_code == 503
    assert await adapter.get_user_by_email("half@example.com") is None  # rolled back with the session

    monkeypatch.setattr(adapter, "_insert_session", original)
    r = await a.client.post("/auth/register", json={"email": "half@example.com", "password": "password123"})
    assert r.status_code == 201  # not 409: nothing was left behind


async def test_allow_signin_false_registers_the_account_but_signs_nobody_in(make_app: Any) -> None:
    from fastauth import EventHooks

    class Gate(EventHooks):
        def __init__(self) -> None:
            self.signups: list[str] = []

        async def allow_signin(self, user: Any) -> bool:
            return False

        async def on_signup(self, user: Any) -> None:
            self.signups.append(user.email)

    hooks = Gate()
    a = await make_app(hooks=hooks)
    r = await a.client.post("/auth/register", json={"email": "gated@example.com", "password": "password123"})
    assert r.status_code == 403
    user = await a.auth.adapter.get_user_by_email("gated@example.com")
    assert user is not None and hooks.signups == ["gated@example.com"]
    assert await a.auth.adapter.list_sessions(user.id, 0) == []

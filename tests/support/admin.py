"""The cast of the admin API tests (tests/web/test_admin_api.py, test_users_router.py): a superuser, a
role administrator, a user with a role and a plain user, signed in; on a fresh app (`cast`) or on one
app a whole module shares (`shared_app`) for the tests that only read or are refused.

A shared app starts once per database instead of once per test: starting one (the schema, the
keys) is most of a small test's time, and the hostile-input rows are many.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from fastauth import FastAuth
from fastauth.authz import ADMIN
from fastauth.passwords import PasswordHasher
from fastauth.storage.base import User
from support import servers
from support.app import FAST_HASHER_PARAMS, AuthApp, build_app, make_config
from support.http import bearer, login

PASSWORD = "correct horse"
UA = "AdminTest/1.0"
#: `shared_app`'s databases, one per module and backend.
_counter = itertools.count()


@dataclass
class Cast:
    """root: a superuser; mod: `moderator` (fastauth:admin + posts:write); bob: `writer`
    (posts:write, no admin); alice: no role. Their tokens (login answers), and the app."""

    app: AuthApp
    root: User
    mod: User
    bob: User
    alice: User
    tokens: dict[str, dict[str, Any]]

    @property
    def client(self) -> httpx.AsyncClient:
        return self.app.client

    @property
    def service(self) -> Any:
        return self.app.auth.service

    def as_(self, who: str) -> dict[str, str]:
        """The Authorization (and User-Agent) headers of `who`."""
        return {**bearer(self.tokens[who]["access_token"]), "User-Agent": UA}


async def populate(app: AuthApp) -> Cast:
    """fastapi-users' users router at `/users`; roles moderator, writer, billing (billing:refund);
    the four users, each signed in."""
    app.app.include_router(app.auth.users_router(), prefix="/users")
    service = app.auth.service
    await service.roles.create("moderator", [ADMIN, "posts:write"], "runs the forum")
    await service.roles.create("writer", ["posts:write"])
    await service.roles.create("billing", ["billing:refund"])
    root = await service.create_user("root@example.com", PASSWORD, is_superuser=True, is_verified=True)
    mod = await service.create_user("mod@example.com", PASSWORD)
    mod = await service.accounts.update(mod.id, roles=("moderator",))
    bob = await service.create_user("bob@example.com", PASSWORD)
    bob = await service.accounts.update(bob.id, roles=("writer",))
    alice = await service.create_user("alice@example.com", PASSWORD)
    tokens = {
        name: await login(app.client, f"{name}@example.com", PASSWORD)
        for name in ("root", "mod", "bob", "alice")
    }
    return Cast(app, root, mod, bob, alice, tokens)


async def cast(make_app: Any, **config: Any) -> Cast:
    """The cast on a fresh app of the `make_app` fixture."""
    return await populate(await make_app(**config))


@asynccontextmanager
async def shared_app(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, **config: Any
) -> AsyncIterator[Cast]:
    """The cast on an app of its own for a module-scoped fixture parametrized "sqlite"/"postgres"
    (as `make_app`'s databases: a SQLite file, a new PostgreSQL database)."""
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('admin') / 'fastauth.db'}"
    else:
        server = request.getfixturevalue("postgres_server")
        url = await servers.create_database(server, f"fastauth_admin_{os.getpid()}_{next(_counter)}")
    auth = FastAuth(make_config(url, **config), password_hasher=PasswordHasher(FAST_HASHER_PARAMS))
    fastapi_app = build_app(auth)
    await auth.startup()
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=fastapi_app), base_url="http://testserver")
    try:
        yield await populate(AuthApp(auth, fastapi_app, client))
    finally:
        await client.aclose()
        await auth.shutdown()

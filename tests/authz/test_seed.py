"""Start-up, on SQLite and PostgreSQL: the configured roles (`FASTAUTH_AUTHZ__ROLES`) are written at every
start, idempotently, and the configuration wins over what the table says; two services starting at
once on one database both start. `authz.first_superuser_email` creates a verified superuser once, not
again at the next start, and never over an account that has the address."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx

from fastauth import FastAuth
from fastauth.passwords import PasswordHasher
from fastauth.storage.base import RoleRecord
from support.app import FAST_HASHER_PARAMS, build_app, make_config

PASSWORD = "correct horse battery"
EDITOR = {"editor": ["posts:write", "posts:read"]}


def service_on(database_url: str, **authz: Any) -> FastAuth:
    return FastAuth(
        make_config(database_url, authz=authz), password_hasher=PasswordHasher(FAST_HASHER_PARAMS)
    )


@asynccontextmanager
async def started(database_url: str, **authz: Any) -> AsyncIterator[FastAuth]:
    auth = service_on(database_url, **authz)
    await auth.startup()
    try:
        yield auth
    finally:
        await auth.shutdown()


async def roles_in(database_url: str) -> list[RoleRecord]:
    async with started(database_url) as auth:
        return await auth.service.store.list_roles()


async def test_the_configured_roles_are_there_after_start(database_url: str) -> None:
    async with started(database_url, roles={**EDITOR, "viewer": ["posts:read"]}) as auth:
        table = {role.name: role for role in await auth.service.store.list_roles()}
        assert {name: role.permissions for name, role in table.items()} == {
            "editor": ("posts:read", "posts:write"),
            "viewer": ("posts:read",),
        }
        assert table["editor"].description == "declared in the configuration"
        assert await auth.service.roles.permissions_of(["editor", "viewer"]) == {"posts:read", "posts:write"}


async def test_a_second_start_with_the_same_configuration_writes_nothing(database_url: str) -> None:
    async with started(database_url, roles=EDITOR) as auth:
        first = await auth.service.store.list_roles()
    await asyncio.sleep(1.1)  # a rewrite would show as a later updated_at
    async with started(database_url, roles=EDITOR) as auth:
        assert await auth.service.store.list_roles() == first


async def test_the_configuration_wins_on_restart(database_url: str) -> None:
    async with started(database_url, roles=EDITOR) as auth:
        store = auth.service.store
        created = (await store.get_role("editor")).created_at  # type: ignore[union-attr]
        # someone changes it in the database by hand
        await store.put_role(RoleRecord("editor", ("everything",), "by hand", created, created), create=False)
    async with started(database_url, roles=EDITOR) as auth:
        role = await auth.service.store.get_role("editor")
        assert role is not None
        assert (role.permissions, role.created_at) == (("posts:read", "posts:write"), created)
    # a new configuration replaces the permissions at the next start
    async with started(database_url, roles={"editor": ["posts:read"]}) as auth:
        assert (await auth.service.store.get_role("editor")).permissions == ("posts:read",)  # type: ignore[union-attr]


async def test_a_role_no_longer_configured_stays_and_its_holders_keep_it(database_url: str) -> None:
    async with started(database_url, roles=EDITOR) as auth:
        user = await auth.service.create_user("ed@example.com", PASSWORD, is_verified=True)
        await auth.service.accounts.update(user.id, roles=("editor",))
    async with started(database_url) as auth:
        assert [role.name for role in await auth.service.store.list_roles()] == ["editor"]
        assert auth.service.roles.configured == {}
        assert (await auth.service.store.get_user(user.id)).roles == ("editor",)  # type: ignore[union-attr]


async def test_two_services_starting_at_once_on_one_database_both_start(database_url: str) -> None:
    settings: dict[str, Any] = {
        "roles": {**EDITOR, "viewer": ["posts:read"]},
        "first_superuser_email": "root@example.com",
        "first_superuser_password": PASSWORD,
    }
    services = [service_on(database_url, **settings) for _ in range(2)]
    try:
        await asyncio.gather(*(auth.startup() for auth in services))
        store = services[0].service.store
        assert [role.name for role in await store.list_roles()] == ["editor", "viewer"]
        root = await store.get_user_by_email("root@example.com")
        assert root is not None and root.is_superuser
        assert len(await store.list_users(prefix="root@")) == 1
    finally:
        for auth in services:
            await auth.shutdown()


async def test_the_first_superuser_is_created_once_verified(database_url: str) -> None:
    settings = {"first_superuser_email": "Root@Example.com", "first_superuser_password": PASSWORD}
    async with started(database_url, **settings) as auth:
        root = await auth.service.store.get_user_by_email("root@example.com")
        assert root is not None
        assert (root.is_superuser, root.is_verified, root.is_active) == (True, True, True)
        events = [record.event for record in await auth.service.store.list_audit(user_id=root.id)]
    async with started(database_url, **settings) as auth:
        again = await auth.service.store.list_users(prefix="root@")
        assert [user.id for user in again] == [root.id]
        assert [r.event for r in await auth.service.store.list_audit(user_id=root.id)] == events
        # the password from the configuration signs in
        app = build_app(auth)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
            answer = await client.post(
                "/auth/login", json={"email": "root@example.com", "password": PASSWORD}
            )
            assert answer.status_code == 200, answer.text


async def test_a_changed_password_in_the_configuration_changes_nothing(database_url: str) -> None:
    async with started(
        database_url, first_superuser_email="root@example.com", first_superuser_password=PASSWORD
    ):
        pass
    async with started(
        database_url, first_superuser_email="root@example.com", first_superuser_password="another password!"
    ) as auth:
        root = await auth.service.store.get_user_by_email("root@example.com")
        assert root is not None
        assert (await auth.service.accounts.hasher.verify(PASSWORD, root.hashed_password))[0]


async def test_an_existing_account_with_the_address_is_left_as_it_is(database_url: str) -> None:
    async with started(database_url) as auth:
        alice = await auth.service.create_user("alice@example.com", PASSWORD)
    async with started(
        database_url, first_superuser_email="ALICE@example.com", first_superuser_password="another password!"
    ) as auth:
        found = await auth.service.store.get_user_by_email("alice@example.com")
        assert found == alice  # not promoted, not verified, same password
        assert len(await auth.service.store.list_users()) == 1


async def test_without_a_password_the_first_superuser_gets_a_random_one(database_url: str) -> None:
    async with started(database_url, first_superuser_email="root@example.com") as auth:
        root = await auth.service.store.get_user_by_email("root@example.com")
        assert root is not None and root.is_superuser
        assert root.hashed_password.startswith("$argon2id$")
        for guess in ("", "root", "password", "root@example.com"):
            assert not (await auth.service.accounts.hasher.verify(guess, root.hashed_password))[0]


async def test_no_first_superuser_email_creates_nobody(database_url: str) -> None:
    async with started(database_url, roles=EDITOR) as auth:
        assert await auth.service.store.list_users() == []

"""`Roles`: the role table, cached per process, and the permissions a set of role names grants.

The table is small and read on every sign-in, refresh and API-key use, so it is held in memory for
`cache_ttl` seconds and dropped at once after a change made here (and, with Redis, in every process
through the service's event bus). Roles declared in the configuration are written at start-up, every
start, so the configuration stays their source of truth; the admin API refuses to change them.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from fastauth.authz.permissions import check_permission, check_role_name
from fastauth.errors import RoleExists, RoleInConfig, RoleNotFound
from fastauth.storage.base import RoleRecord, Store, User

__all__ = ["Roles"]


class Roles:
    """Role definitions: read (cached), created, changed, deleted; permissions of role names."""

    def __init__(
        self,
        store: Store,
        *,
        configured: Mapping[str, Iterable[str]] | None = None,
        cache_ttl: float = 30.0,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        #: Roles the configuration declares: name -> permissions (checked names).
        self.configured: dict[str, tuple[str, ...]] = {
            check_role_name(name): tuple(sorted({check_permission(p) for p in perms}))
            for name, perms in (configured or {}).items()
        }
        self.cache_ttl = cache_ttl
        self._clock = clock
        self._monotonic = monotonic
        self._table: dict[str, RoleRecord] | None = None
        self._loaded_at = 0.0

    def now(self) -> int:
        """The clock, in whole seconds."""
        return int(self._clock())

    def invalidate(self) -> None:
        """Forget the cached table (a change here or in another process)."""
        self._table = None

    async def table(self) -> dict[str, RoleRecord]:
        """Every role by name, at most `cache_ttl` seconds old."""
        table = self._table
        if table is None or self._monotonic() - self._loaded_at > self.cache_ttl:
            table = {role.name: role for role in await self.store.list_roles()}
            self._table, self._loaded_at = table, self._monotonic()
        return table

    async def permissions_of(self, roles: Iterable[str]) -> frozenset[str]:
        """The union of the permissions of `roles`; a name no role has grants nothing."""
        table = await self.table()
        granted: set[str] = set()
        for name in roles:
            role = table.get(name)
            if role is not None:
                granted.update(role.permissions)
        return frozenset(granted)

    async def claims_for(self, user: User) -> dict[str, Any]:
        """What an access token says `user` may do: `roles` (their names) and, when they grant any,
        `scope` (the permissions, space-separated; RFC 9068 §2.2.3). Read at each sign-in and refresh,
        so a change of roles reaches a session at its next refresh."""
        claims: dict[str, Any] = {"roles": list(user.roles)}
        permissions = await self.permissions_of(user.roles)
        if permissions:
            claims["scope"] = " ".join(sorted(permissions))
        return claims

    async def seed(self) -> None:
        """Write the configured roles (idempotent: a role already as configured is left alone)."""
        if not self.configured:
            return
        now = self.now()
        table = await self.table()
        for name, permissions in self.configured.items():
            current = table.get(name)
            if current is not None and current.permissions == permissions:
                continue
            created = current.created_at if current is not None else now
            description = current.description if current is not None else "declared in the configuration"
            record = RoleRecord(name, permissions, description, created_at=created, updated_at=now)
            await self.store.put_role(record)
        self.invalidate()

    def _refuse_configured(self, name: str) -> None:
        if name in self.configured:
            raise RoleInConfig(name)

    async def get(self, name: str) -> RoleRecord:
        """The role, or `RoleNotFound` (read from the store: an admin sees it as it is now)."""
        role = await self.store.get_role(check_role_name(name))
        if role is None:
            raise RoleNotFound(name)
        return role

    async def list(self) -> list[RoleRecord]:
        """Every role, by name, as stored now."""
        return await self.store.list_roles()

    async def create(self, name: str, permissions: Iterable[str], description: str = "") -> RoleRecord:
        """A new role; `InvalidRole` for a bad name or permission, `RoleExists` for a taken name."""
        now = self.now()
        record = RoleRecord(
            check_role_name(name),
            tuple(sorted({check_permission(p) for p in permissions})),
            description,
            created_at=now,
            updated_at=now,
        )
        if not await self.store.put_role(record, create=True):
            raise RoleExists(name)
        self.invalidate()
        return record

    async def update(
        self, name: str, *, permissions: Iterable[str] | None = None, description: str | None = None
    ) -> RoleRecord:
        """Change a role's permissions or description; `RoleNotFound`, `RoleInConfig`, `InvalidRole`."""
        current = await self.get(name)
        self._refuse_configured(current.name)
        if permissions is not None:
            current.permissions = tuple(sorted({check_permission(p) for p in permissions}))
        if description is not None:
            current.description = description
        current.updated_at = self.now()
        if not await self.store.put_role(current, create=False):
            raise RoleNotFound(name)
        self.invalidate()
        return current

    async def delete(self, name: str) -> int:
        """Delete a role and take it from every user holding it; returns how many held it."""
        check_role_name(name)
        self._refuse_configured(name)
        if not await self.store.delete_role(name):
            raise RoleNotFound(name)
        self.invalidate()
        return await self.store.remove_role(name)

    async def check_assignable(self, names: Iterable[str]) -> tuple[str, ...]:
        """`names` as a user's roles (deduplicated, in order): each must be a defined role, so a typo
        never leaves a user holding a name that grants nothing."""
        table = await self.table()
        chosen: list[str] = []
        for name in names:
            check_role_name(name)
            if name not in table:
                self.invalidate()  # created in another process a moment ago?
                if name not in await self.table():
                    raise RoleNotFound(name)
            if name not in chosen:
                chosen.append(name)
        return tuple(chosen)

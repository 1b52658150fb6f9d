"""Queries on `fastauth_roles` (and the roles column of `fastauth_users`), each on a connection the
adapter opened (and will commit)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Row, delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from fastauth.storage.base import RoleRecord
from fastauth.storage.sqlalchemy.tables import ROLES

__all__ = ["delete_role", "get_role", "list_roles", "put_role", "remove_role"]


def _record(row: Row[Any]) -> RoleRecord:
    values = dict(row._mapping)
    values["permissions"] = tuple(values["permissions"].split())
    return RoleRecord(**values)


def _values(record: RoleRecord) -> dict[str, Any]:
    return {
        "name": record.name,
        "permissions": " ".join(record.permissions),
        "description": record.description,
        "created_at": record.created_at,
        "updated_at": record.updated_at,
    }


async def list_roles(conn: AsyncConnection) -> list[RoleRecord]:
    """Every role, by name."""
    return [_record(row) for row in await conn.execute(select(ROLES).order_by(ROLES.c.name))]


async def get_role(conn: AsyncConnection, name: str) -> RoleRecord | None:
    """The role of this name, or None."""
    row = (await conn.execute(select(ROLES).where(ROLES.c.name == name))).first()
    return _record(row) if row is not None else None


async def put_role(conn: AsyncConnection, record: RoleRecord, *, create: bool | None) -> bool:
    """Insert (`create=True`; a taken name raises `IntegrityError`), update (`False`) or either."""
    values = _values(record)
    if create is not True:
        changed = {k: v for k, v in values.items() if k not in ("name", "created_at")}
        result = await conn.execute(update(ROLES).where(ROLES.c.name == record.name).values(**changed))
        if result.rowcount == 1 or create is False:
            return bool(result.rowcount == 1)
    await conn.execute(ROLES.insert().values(**values))
    return True


async def delete_role(conn: AsyncConnection, name: str) -> bool:
    """Delete the role's row; True if it existed."""
    result = await conn.execute(delete(ROLES).where(ROLES.c.name == name))
    return bool(result.rowcount == 1)


async def remove_role(conn: AsyncConnection, users: Any, role: str) -> int:
    """Take `role` out of every user's space-separated roles, in one UPDATE; returns how many rows.
    Role names hold no spaces, so ' name ' inside ' roles ' is exactly one whole role. REPLACE is
    case-sensitive everywhere, SQLite's LIKE is not: a row counts only when REPLACE changes it."""
    roles = users.c.roles
    padded = " " + roles + " "
    held = padded.contains(f" {role} ", autoescape=True)
    replaced = func.replace(padded, f" {role} ", " ")
    result = await conn.execute(
        update(users).where(held, replaced != padded).values(roles=func.trim(replaced))
    )
    return int(result.rowcount or 0)

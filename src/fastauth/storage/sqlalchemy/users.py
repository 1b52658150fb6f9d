"""Queries on `fastauth_users`, each on a connection the adapter opened (and will commit)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from fastauth.storage.base import User
from fastauth.storage.sqlalchemy.tables import USERS, user_changes, user_record, user_values

__all__ = ["delete_user", "get_user", "get_user_by_email", "insert_user", "set_user_fields", "update_user"]

#: Written once, at insert: an update never moves them.
_FIXED = ("id", "created_at")


async def insert_user(conn: AsyncConnection, user: User) -> None:
    """Insert `user`; a taken email raises `IntegrityError` (the unique constraint)."""
    await conn.execute(USERS.insert().values(**user_values(user)))


async def get_user(conn: AsyncConnection, user_id: str) -> User | None:
    """The user with this id, or None."""
    row = (await conn.execute(select(USERS).where(USERS.c.id == user_id))).first()
    return user_record(row) if row is not None else None


async def get_user_by_email(conn: AsyncConnection, email: str) -> User | None:
    """The user with this (normalised) email, or None."""
    row = (await conn.execute(select(USERS).where(USERS.c.email == email))).first()
    return user_record(row) if row is not None else None


async def update_user(conn: AsyncConnection, user: User) -> None:
    """Write every field of `user` but its id and creation time back."""
    values = {name: value for name, value in user_values(user).items() if name not in _FIXED}
    await conn.execute(update(USERS).where(USERS.c.id == user.id).values(**values))


async def set_user_fields(conn: AsyncConnection, user_id: str, changes: Mapping[str, Any]) -> User | None:
    """Write only `changes` and return the row afterwards (one statement each), or None."""
    values = user_changes(changes)
    if values:
        await conn.execute(update(USERS).where(USERS.c.id == user_id).values(**values))
    return await get_user(conn, user_id)


async def delete_user(conn: AsyncConnection, user_id: str) -> bool:
    """Delete the user's row (its sessions and codes cascade); True if it existed."""
    result = await conn.execute(delete(USERS).where(USERS.c.id == user_id))
    return bool(result.rowcount == 1)

"""Queries on `fastauth_users`, each on a connection the adapter opened (and will commit), through the
adapter's `UserRows` (the table with the application's field columns, and the row mapping)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from fastauth.storage.base import User
from fastauth.storage.sqlalchemy.tables import UserRows

__all__ = [
    "delete_user",
    "get_user",
    "get_user_by_email",
    "get_user_by_field",
    "insert_user",
    "list_users",
    "set_user_fields",
    "update_user",
]

#: Written once, at insert: an update never moves them.
_FIXED = ("id", "created_at")


async def insert_user(conn: AsyncConnection, rows: UserRows, user: User) -> None:
    """Insert `user`; a taken email (or `Unique` field value) raises `IntegrityError`."""
    await conn.execute(rows.table.insert().values(**rows.values(user)))


async def get_user(conn: AsyncConnection, rows: UserRows, user_id: str) -> User | None:
    """The user with this id, or None."""
    table = rows.table
    row = (await conn.execute(select(table).where(table.c.id == user_id))).first()
    return rows.record(row) if row is not None else None


async def get_user_by_email(conn: AsyncConnection, rows: UserRows, email: str) -> User | None:
    """The user with this (normalised) email, or None."""
    table = rows.table
    row = (await conn.execute(select(table).where(table.c.email == email))).first()
    return rows.record(row) if row is not None else None


async def get_user_by_field(conn: AsyncConnection, rows: UserRows, name: str, value: Any) -> User | None:
    """The user whose `Unique` application field `name` has `value`, or None."""
    table = rows.table
    stored = rows.changes({name: value})[name]
    row = (await conn.execute(select(table).where(table.c[name] == stored))).first()
    return rows.record(row) if row is not None else None


async def update_user(conn: AsyncConnection, rows: UserRows, user: User) -> None:
    """Write every field of `user` but its id and creation time back."""
    values = {name: value for name, value in rows.values(user).items() if name not in _FIXED}
    await conn.execute(update(rows.table).where(rows.table.c.id == user.id).values(**values))


async def set_user_fields(
    conn: AsyncConnection, rows: UserRows, user_id: str, changes: Mapping[str, Any]
) -> User | None:
    """Write only `changes` and return the row afterwards (one statement each), or None."""
    values = rows.changes(changes)
    if values:
        await conn.execute(update(rows.table).where(rows.table.c.id == user_id).values(**values))
    return await get_user(conn, rows, user_id)


async def list_users(
    conn: AsyncConnection, rows: UserRows, *, prefix: str, after: str | None, limit: int
) -> list[User]:
    """At most `limit` users by email, starting with `prefix`, after `after`: a range of the unique
    email index from the later of the two (keyset pagination, no OFFSET). SQLite compares by code
    point, so the range also ends where the prefix does; elsewhere the collation decides the order,
    and the LIKE filter alone says where the prefix ends."""
    email = rows.table.c.email
    query = select(rows.table)
    if prefix:
        query = query.where(email.startswith(prefix, autoescape=True), email >= prefix)
        if conn.dialect.name == "sqlite" and prefix[-1] != chr(0x10FFFF):  # the last code point has no next
            query = query.where(email < prefix[:-1] + chr(ord(prefix[-1]) + 1))
    if after is not None:
        query = query.where(email > after)
    query = query.order_by(email).limit(max(limit, 0))
    return [rows.record(row) for row in await conn.execute(query)]


async def delete_user(conn: AsyncConnection, rows: UserRows, user_id: str) -> bool:
    """Delete the user's row (its sessions and codes cascade); True if it existed."""
    result = await conn.execute(delete(rows.table).where(rows.table.c.id == user_id))
    return bool(result.rowcount == 1)

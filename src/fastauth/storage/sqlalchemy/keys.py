"""Queries on `fastauth_keys`, each on a connection the adapter opened (and will commit)."""

from __future__ import annotations

from dataclasses import asdict

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from fastauth.storage.base import KeyRecord
from fastauth.storage.sqlalchemy.tables import KEYS, key_record

__all__ = ["delete_key", "insert_key", "list_keys", "retire_key"]


async def list_keys(conn: AsyncConnection) -> list[KeyRecord]:
    """Every stored key, oldest generation first."""
    rows = await conn.execute(select(KEYS).order_by(KEYS.c.generation))
    return [key_record(row) for row in rows]


async def insert_key(conn: AsyncConnection, record: KeyRecord) -> None:
    """Insert `record`; a taken kid or generation raises `IntegrityError`."""
    await conn.execute(KEYS.insert().values(**asdict(record)))


async def retire_key(conn: AsyncConnection, kid: str, now: int) -> bool:
    """Mark the key retired at `now`; True if it was not retired yet."""
    result = await conn.execute(
        update(KEYS).where(KEYS.c.kid == kid, KEYS.c.retired_at.is_(None)).values(retired_at=now)
    )
    return bool(result.rowcount == 1)


async def delete_key(conn: AsyncConnection, kid: str) -> bool:
    """Delete the key's row; True if it existed."""
    result = await conn.execute(delete(KEYS).where(KEYS.c.kid == kid))
    return bool(result.rowcount == 1)

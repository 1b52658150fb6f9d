"""Queries on `fastauth_codes`, each on a connection the adapter opened (and will commit)."""

from __future__ import annotations

from dataclasses import asdict

from sqlalchemy import ColumnElement, and_, delete, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from fastauth.storage.base import CodeRecord
from fastauth.storage.sqlalchemy.tables import CODES, USERS, code_record

__all__ = ["consume_code", "delete_user_codes", "find_code", "insert_code", "prune_codes", "void_codes"]


def _live(code_hash: str, purpose: str, now: int) -> ColumnElement[bool]:
    return and_(
        CODES.c.code_hash == code_hash,
        CODES.c.purpose == purpose,
        CODES.c.consumed_at.is_(None),
        CODES.c.expires_at > now,
    )


async def insert_code(conn: AsyncConnection, record: CodeRecord, *, void_older: bool) -> None:
    """Insert `record`; with `void_older`, first mark the unconsumed codes of its user and purpose
    consumed at `record.created_at`. The user's row is locked first (PostgreSQL; SQLite serialises
    every writer), so of two concurrent issues the later one voids the earlier one's code."""
    if void_older:
        await conn.execute(
            select(USERS.c.id).where(USERS.c.id == record.user_id).with_for_update(key_share=True)
        )
        await void_codes(conn, record.user_id, (record.purpose,), record.created_at)
    await conn.execute(CODES.insert().values(**asdict(record)))


async def consume_code(conn: AsyncConnection, code_hash: str, purpose: str, now: int) -> CodeRecord | None:
    """Compare-and-set in one UPDATE ... RETURNING: the record for the one caller that found it live."""
    result = await conn.execute(
        update(CODES).where(_live(code_hash, purpose, now)).values(consumed_at=now).returning(*CODES.c)
    )
    row = result.first()
    return code_record(row) if row is not None else None


async def find_code(conn: AsyncConnection, code_hash: str, purpose: str, now: int) -> CodeRecord | None:
    """The live code of this hash and purpose, or None."""
    row = (await conn.execute(select(CODES).where(_live(code_hash, purpose, now)))).first()
    return code_record(row) if row is not None else None


async def void_codes(conn: AsyncConnection, user_id: str, purposes: tuple[str, ...], now: int) -> int:
    """Mark the user's unconsumed codes of these purposes consumed at `now`; returns how many."""
    if not purposes:
        return 0
    result = await conn.execute(
        update(CODES)
        .where(CODES.c.user_id == user_id, CODES.c.purpose.in_(purposes), CODES.c.consumed_at.is_(None))
        .values(consumed_at=now)
    )
    return int(result.rowcount or 0)


async def prune_codes(conn: AsyncConnection, before: int) -> int:
    """Delete the codes that expired or were consumed before `before`; returns how many."""
    result = await conn.execute(
        delete(CODES).where((CODES.c.expires_at < before) | (CODES.c.consumed_at < before))
    )
    return int(result.rowcount or 0)


async def delete_user_codes(conn: AsyncConnection, user_id: str) -> None:
    """Delete every code of the user (what the foreign key's cascade does, without relying on it)."""
    await conn.execute(delete(CODES).where(CODES.c.user_id == user_id))

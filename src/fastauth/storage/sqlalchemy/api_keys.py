"""Queries on `fastauth_api_keys`, each on a connection the adapter opened (and will commit)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict
from typing import Any

from sqlalchemy import Row, and_, delete, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from fastauth.storage.base import ApiKeyRecord
from fastauth.storage.sqlalchemy.tables import API_KEYS

__all__ = [
    "delete_user_api_keys",
    "get_api_key",
    "get_api_key_by_hash",
    "insert_api_key",
    "list_api_keys",
    "revoke_api_key",
    "touch_api_keys",
]


def _record(row: Row[Any]) -> ApiKeyRecord:
    values = dict(row._mapping)
    values["scopes"] = tuple(values["scopes"].split())
    return ApiKeyRecord(**values)


async def insert_api_key(conn: AsyncConnection, record: ApiKeyRecord) -> None:
    """Insert; a taken id or hash, or an unknown user, raises `IntegrityError`."""
    values = asdict(record)
    values["scopes"] = " ".join(record.scopes)
    await conn.execute(API_KEYS.insert().values(**values))


async def get_api_key_by_hash(conn: AsyncConnection, key_hash: str) -> ApiKeyRecord | None:
    """The key with this hash, or None (one unique-index lookup)."""
    row = (await conn.execute(select(API_KEYS).where(API_KEYS.c.key_hash == key_hash))).first()
    return _record(row) if row is not None else None


async def get_api_key(conn: AsyncConnection, key_id: str) -> ApiKeyRecord | None:
    """The key with this id, or None."""
    row = (await conn.execute(select(API_KEYS).where(API_KEYS.c.id == key_id))).first()
    return _record(row) if row is not None else None


async def list_api_keys(conn: AsyncConnection, user_id: str) -> list[ApiKeyRecord]:
    """The user's keys that are not revoked, newest first."""
    query = (
        select(API_KEYS)
        .where(API_KEYS.c.user_id == user_id, API_KEYS.c.revoked_at.is_(None))
        .order_by(API_KEYS.c.created_at.desc(), API_KEYS.c.id)
    )
    return [_record(row) for row in await conn.execute(query)]


async def revoke_api_key(conn: AsyncConnection, key_id: str, now: int, user_id: str | None) -> bool:
    """Revoke a live key (of `user_id`, when given) in one UPDATE; True if it was live."""
    query = update(API_KEYS).where(API_KEYS.c.id == key_id, API_KEYS.c.revoked_at.is_(None))
    if user_id is not None:
        query = query.where(API_KEYS.c.user_id == user_id)
    result = await conn.execute(query.values(revoked_at=now))
    return bool(result.rowcount == 1)


async def touch_api_keys(conn: AsyncConnection, used: Mapping[str, int]) -> None:
    """Record last-use times; an older time never overwrites a newer one."""
    for key_id, at in used.items():
        column = API_KEYS.c.last_used_at
        await conn.execute(
            update(API_KEYS)
            .where(and_(API_KEYS.c.id == key_id, or_(column.is_(None), column < at)))
            .values(last_used_at=at)
        )


async def delete_user_api_keys(conn: AsyncConnection, user_id: str) -> None:
    """Delete the user's keys (their account is being deleted)."""
    await conn.execute(delete(API_KEYS).where(API_KEYS.c.user_id == user_id))

"""Queries on `fastauth_passkeys` and `fastauth_passkey_challenges`, each on a connection the adapter
opened (and will commit)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from sqlalchemy import Row, delete, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from fastauth.storage.base import PasskeyChallengeRecord, PasskeyRecord
from fastauth.storage.sqlalchemy.tables import PASSKEY_CHALLENGES, PASSKEYS

__all__ = [
    "consume_passkey_challenge",
    "delete_passkey",
    "delete_user_passkeys",
    "get_passkey",
    "insert_passkey",
    "insert_passkey_challenge",
    "list_passkeys",
    "prune_passkey_challenges",
    "rename_passkey",
    "use_passkey",
]


def _record(row: Row[Any]) -> PasskeyRecord:
    values = dict(row._mapping)
    values["transports"] = tuple(values["transports"].split())
    return PasskeyRecord(**values)


async def insert_passkey(conn: AsyncConnection, record: PasskeyRecord) -> None:
    """Insert; a taken credential id or an unknown user raises `IntegrityError`."""
    values = asdict(record)
    values["transports"] = " ".join(record.transports)
    await conn.execute(PASSKEYS.insert().values(**values))


async def get_passkey(conn: AsyncConnection, credential_id: str) -> PasskeyRecord | None:
    """The passkey of this credential id, or None."""
    row = (await conn.execute(select(PASSKEYS).where(PASSKEYS.c.credential_id == credential_id))).first()
    return _record(row) if row is not None else None


async def list_passkeys(conn: AsyncConnection, user_id: str) -> list[PasskeyRecord]:
    """The user's passkeys, oldest first."""
    query = (
        select(PASSKEYS).where(PASSKEYS.c.user_id == user_id).order_by(PASSKEYS.c.created_at, PASSKEYS.c.id)
    )
    return [_record(row) for row in (await conn.execute(query)).all()]


async def use_passkey(
    conn: AsyncConnection, passkey_id: str, old_count: int, new_count: int, now: int
) -> bool:
    """Compare-and-set on the sign count in one UPDATE."""
    result = await conn.execute(
        update(PASSKEYS)
        .where(PASSKEYS.c.id == passkey_id, PASSKEYS.c.sign_count == old_count)
        .values(sign_count=new_count, last_used_at=now)
    )
    return bool(result.rowcount == 1)


async def rename_passkey(conn: AsyncConnection, passkey_id: str, user_id: str, name: str) -> bool:
    """Rename one of the user's passkeys; True if it exists."""
    result = await conn.execute(
        update(PASSKEYS).where(PASSKEYS.c.id == passkey_id, PASSKEYS.c.user_id == user_id).values(name=name)
    )
    return bool(result.rowcount == 1)


async def delete_passkey(conn: AsyncConnection, passkey_id: str, user_id: str) -> bool:
    """Delete one of the user's passkeys; True if it existed."""
    result = await conn.execute(
        delete(PASSKEYS).where(PASSKEYS.c.id == passkey_id, PASSKEYS.c.user_id == user_id)
    )
    return bool(result.rowcount == 1)


async def delete_user_passkeys(conn: AsyncConnection, user_id: str) -> None:
    """Delete every passkey of the user (the foreign key's cascade, without relying on it)."""
    await conn.execute(delete(PASSKEYS).where(PASSKEYS.c.user_id == user_id))


async def insert_passkey_challenge(conn: AsyncConnection, record: PasskeyChallengeRecord) -> None:
    """Insert; a taken id raises `IntegrityError`."""
    await conn.execute(PASSKEY_CHALLENGES.insert().values(**asdict(record)))


async def consume_passkey_challenge(
    conn: AsyncConnection, challenge_id: str, purpose: str, now: int
) -> PasskeyChallengeRecord | None:
    """Compare-and-delete, as for provider states: the caller whose DELETE removed the row gets it."""
    table = PASSKEY_CHALLENGES
    row = (
        await conn.execute(
            select(table).where(
                table.c.id == challenge_id, table.c.purpose == purpose, table.c.expires_at > now
            )
        )
    ).first()
    if row is None:
        return None
    result = await conn.execute(delete(table).where(table.c.id == challenge_id))
    return PasskeyChallengeRecord(**row._mapping) if result.rowcount == 1 else None


async def prune_passkey_challenges(conn: AsyncConnection, before: int) -> int:
    """Delete the challenges that expired before `before`; returns how many."""
    result = await conn.execute(delete(PASSKEY_CHALLENGES).where(PASSKEY_CHALLENGES.c.expires_at < before))
    return int(result.rowcount or 0)

"""Queries on `fastauth_identities` and `fastauth_oauth_states`, each on a connection the adapter
opened (and will commit)."""

from __future__ import annotations

from dataclasses import asdict

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from fastauth.storage.base import IdentityRecord, OAuthStateRecord
from fastauth.storage.sqlalchemy.tables import IDENTITIES, OAUTH_STATES, identity_record, oauth_state_record

__all__ = [
    "consume_oauth_state",
    "delete_identity",
    "delete_user_identities",
    "get_identity",
    "insert_identity",
    "insert_oauth_state",
    "list_identities",
    "prune_oauth_states",
    "touch_identity",
]


async def insert_identity(conn: AsyncConnection, record: IdentityRecord) -> None:
    """Insert; a linked (issuer, subject) or an unknown user raises `IntegrityError`."""
    await conn.execute(IDENTITIES.insert().values(**asdict(record)))


async def get_identity(conn: AsyncConnection, issuer: str, subject: str) -> IdentityRecord | None:
    """The identity of this subject at this issuer, or None."""
    row = (
        await conn.execute(
            select(IDENTITIES).where(IDENTITIES.c.issuer == issuer, IDENTITIES.c.subject == subject)
        )
    ).first()
    return identity_record(row) if row is not None else None


async def list_identities(conn: AsyncConnection, user_id: str) -> list[IdentityRecord]:
    """The user's identities, oldest first, then by id."""
    rows = await conn.execute(
        select(IDENTITIES)
        .where(IDENTITIES.c.user_id == user_id)
        .order_by(IDENTITIES.c.created_at, IDENTITIES.c.id)
    )
    return [identity_record(row) for row in rows]


async def touch_identity(conn: AsyncConnection, identity_id: str, now: int, email: str | None) -> None:
    """Record a sign-in through the identity."""
    await conn.execute(
        update(IDENTITIES).where(IDENTITIES.c.id == identity_id).values(last_used_at=now, email=email)
    )


async def delete_identity(conn: AsyncConnection, identity_id: str, user_id: str) -> bool:
    """Delete one of `user_id`'s identities; True if it existed."""
    result = await conn.execute(
        delete(IDENTITIES).where(IDENTITIES.c.id == identity_id, IDENTITIES.c.user_id == user_id)
    )
    return bool(result.rowcount == 1)


async def delete_user_identities(conn: AsyncConnection, user_id: str) -> None:
    """Delete every identity of the user (what the foreign key's cascade does, without relying on it)."""
    await conn.execute(delete(IDENTITIES).where(IDENTITIES.c.user_id == user_id))


async def insert_oauth_state(conn: AsyncConnection, record: OAuthStateRecord) -> None:
    """Insert; a taken id raises `IntegrityError`."""
    await conn.execute(OAUTH_STATES.insert().values(**asdict(record)))


async def consume_oauth_state(conn: AsyncConnection, state_id: str, now: int) -> OAuthStateRecord | None:
    """Compare-and-delete: read the unexpired record, then delete it; the caller whose DELETE removed
    the row (rowcount 1) gets it, every concurrent one None."""
    row = (
        await conn.execute(
            select(OAUTH_STATES).where(OAUTH_STATES.c.id == state_id, OAUTH_STATES.c.expires_at > now)
        )
    ).first()
    if row is None:
        return None
    result = await conn.execute(delete(OAUTH_STATES).where(OAUTH_STATES.c.id == state_id))
    return oauth_state_record(row) if result.rowcount == 1 else None


async def prune_oauth_states(conn: AsyncConnection, before: int) -> int:
    """Delete the records that expired before `before`; returns how many."""
    result = await conn.execute(delete(OAUTH_STATES).where(OAUTH_STATES.c.expires_at < before))
    return int(result.rowcount or 0)

"""Queries on `fastauth_sessions`, each on a connection the adapter opened (and will commit)."""

from __future__ import annotations

from dataclasses import asdict

from sqlalchemy import delete, func, literal, select, union_all, update
from sqlalchemy.ext.asyncio import AsyncConnection

from fastauth.storage.base import SessionRecord
from fastauth.storage.sqlalchemy.tables import REVOKED, SESSIONS, session_record

__all__ = [
    "delete_user_sessions",
    "get_session",
    "insert_session",
    "list_sessions",
    "prune_sessions",
    "revoke_session",
    "revoke_user_sessions",
    "revoked_since",
    "rotate_refresh",
]


async def insert_session(conn: AsyncConnection, session: SessionRecord) -> None:
    """Insert `session` (its columns are the record's fields)."""
    await conn.execute(SESSIONS.insert().values(**asdict(session)))


async def get_session(conn: AsyncConnection, session_id: str) -> SessionRecord | None:
    """The session with this id, live or not, or None."""
    row = (await conn.execute(select(SESSIONS).where(SESSIONS.c.id == session_id))).first()
    return session_record(row) if row is not None else None


async def rotate_refresh(
    conn: AsyncConnection, session_id: str, old_jti: str, new_jti: str, now: int
) -> bool:
    """Compare-and-set in one UPDATE: True for the one caller whose `old_jti` was still current."""
    result = await conn.execute(
        update(SESSIONS)
        .where(
            SESSIONS.c.id == session_id,
            SESSIONS.c.refresh_jti == old_jti,
            SESSIONS.c.revoked_at.is_(None),
            SESSIONS.c.expires_at > now,
        )
        .values(refresh_jti=new_jti, last_used_at=now, previous_jti=old_jti, rotated_at=now)
    )
    return bool(result.rowcount == 1)


async def revoke_session(conn: AsyncConnection, session_id: str, now: int) -> bool:
    """Mark the session revoked at `now`; True if it was not revoked yet."""
    result = await conn.execute(
        update(SESSIONS)
        .where(SESSIONS.c.id == session_id, SESSIONS.c.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    return bool(result.rowcount == 1)


async def revoke_user_sessions(
    conn: AsyncConnection, user_id: str, now: int, except_session: str | None = None
) -> list[str]:
    """Revoke every unrevoked session of a user but `except_session`; returns the revoked ids."""
    conditions = [SESSIONS.c.user_id == user_id, SESSIONS.c.revoked_at.is_(None)]
    if except_session is not None:
        conditions.append(SESSIONS.c.id != except_session)
    ids = [row.id for row in await conn.execute(select(SESSIONS.c.id).where(*conditions))]
    if ids:
        await conn.execute(
            update(SESSIONS)
            .where(SESSIONS.c.id.in_(ids), SESSIONS.c.revoked_at.is_(None))
            .values(revoked_at=now)
        )
    return ids


async def list_sessions(conn: AsyncConnection, user_id: str, now: int) -> list[SessionRecord]:
    """Live sessions of a user (not revoked, not past `expires_at`), newest first, then by id."""
    rows = await conn.execute(
        select(SESSIONS)
        .where(SESSIONS.c.user_id == user_id, SESSIONS.c.revoked_at.is_(None), SESSIONS.c.expires_at > now)
        .order_by(SESSIONS.c.created_at.desc(), SESSIONS.c.id)
    )
    return [session_record(row) for row in rows]


async def revoked_since(conn: AsyncConnection, since: int) -> list[tuple[str, int]]:
    """(id, revoked_at) of the sessions revoked at or after `since`, those of deleted accounts too."""
    query = union_all(
        select(SESSIONS.c.id, SESSIONS.c.revoked_at).where(SESSIONS.c.revoked_at >= since),
        select(REVOKED.c.id, REVOKED.c.revoked_at).where(REVOKED.c.revoked_at >= since),
    )
    return [(row.id, int(row.revoked_at)) for row in await conn.execute(query)]


async def prune_sessions(conn: AsyncConnection, before: int) -> int:
    """Delete the sessions that expired or were revoked before `before` (and the revocations of
    deleted accounts' sessions from before it); returns how many sessions."""
    result = await conn.execute(
        delete(SESSIONS).where((SESSIONS.c.expires_at < before) | (SESSIONS.c.revoked_at < before))
    )
    await conn.execute(delete(REVOKED).where(REVOKED.c.revoked_at < before))
    return int(result.rowcount or 0)


async def delete_user_sessions(conn: AsyncConnection, user_id: str, now: int) -> None:
    """Delete every session of the user (what the foreign key's cascade does, without relying on it),
    keeping each one's revocation (a live one's as of `now`) in `fastauth_revoked_sessions`: without
    the row, a restarted process would otherwise accept the access tokens still in the field."""
    revoked_at = func.coalesce(SESSIONS.c.revoked_at, literal(now))
    await conn.execute(
        REVOKED.insert().from_select(
            ["id", "revoked_at"], select(SESSIONS.c.id, revoked_at).where(SESSIONS.c.user_id == user_id)
        )
    )
    await conn.execute(delete(SESSIONS).where(SESSIONS.c.user_id == user_id))

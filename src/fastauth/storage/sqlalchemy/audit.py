"""Queries on `fastauth_audit`, each on a connection the adapter opened (and will commit)."""

from __future__ import annotations

from dataclasses import asdict

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncConnection

from fastauth.storage.base import AuditRecord
from fastauth.storage.sqlalchemy.tables import AUDIT, audit_record

__all__ = ["insert_audit", "list_audit", "prune_audit"]


async def insert_audit(conn: AsyncConnection, record: AuditRecord) -> None:
    """Insert `record`; a taken id raises `IntegrityError`."""
    await conn.execute(AUDIT.insert().values(**asdict(record)))


async def list_audit(
    conn: AsyncConnection, *, user_id: str | None, before: int | None, limit: int
) -> list[AuditRecord]:
    """At most `limit` records, newest first (by `at`, then id), of `user_id` and before `before` when
    given: one index range scan, (user_id, at) or at."""
    query = select(AUDIT)
    if user_id is not None:
        query = query.where(AUDIT.c.user_id == user_id)
    if before is not None:
        query = query.where(AUDIT.c.at < before)
    query = query.order_by(AUDIT.c.at.desc(), AUDIT.c.id.desc()).limit(max(limit, 0))
    return [audit_record(row) for row in await conn.execute(query)]


async def prune_audit(conn: AsyncConnection, before: int) -> int:
    """Delete the records with `at` before `before`; returns how many."""
    result = await conn.execute(delete(AUDIT).where(AUDIT.c.at < before))
    return int(result.rowcount or 0)

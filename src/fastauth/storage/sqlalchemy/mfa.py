"""Queries on `fastauth_mfa` and `fastauth_recovery_codes`, each on a connection the adapter opened
(and will commit)."""

from __future__ import annotations

from dataclasses import asdict

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from fastauth.storage.base import MFARecord
from fastauth.storage.sqlalchemy.tables import MFA, RECOVERY_CODES

__all__ = [
    "accept_totp_step",
    "confirm_totp",
    "consume_recovery_code",
    "count_recovery_codes",
    "delete_mfa",
    "get_mfa",
    "put_totp",
    "replace_recovery_codes",
]


async def get_mfa(conn: AsyncConnection, user_id: str) -> MFARecord | None:
    """The user's TOTP record, or None."""
    row = (await conn.execute(select(MFA).where(MFA.c.user_id == user_id))).first()
    return MFARecord(**row._mapping) if row is not None else None


async def put_totp(conn: AsyncConnection, record: MFARecord) -> bool:
    """Replace an unconfirmed record (or insert); False when a confirmed one is in the way."""
    await conn.execute(delete(MFA).where(MFA.c.user_id == record.user_id, MFA.c.confirmed_at.is_(None)))
    if (await get_mfa(conn, record.user_id)) is not None:
        return False
    await conn.execute(MFA.insert().values(**asdict(record)))
    return True


async def confirm_totp(conn: AsyncConnection, user_id: str, step: int, now: int) -> bool:
    """Confirm an unconfirmed record, `step` its last accepted; True if it was unconfirmed."""
    result = await conn.execute(
        update(MFA)
        .where(MFA.c.user_id == user_id, MFA.c.confirmed_at.is_(None))
        .values(confirmed_at=now, last_step=step)
    )
    return bool(result.rowcount == 1)


async def accept_totp_step(conn: AsyncConnection, user_id: str, step: int) -> bool:
    """Compare-and-set in one UPDATE: the step is recorded only if later than the last accepted."""
    result = await conn.execute(
        update(MFA)
        .where(
            MFA.c.user_id == user_id,
            MFA.c.confirmed_at.is_not(None),
            (MFA.c.last_step.is_(None)) | (MFA.c.last_step < step),
        )
        .values(last_step=step)
    )
    return bool(result.rowcount == 1)


async def delete_mfa(conn: AsyncConnection, user_id: str) -> bool:
    """Remove the TOTP and the recovery codes; True if there was a TOTP."""
    await conn.execute(delete(RECOVERY_CODES).where(RECOVERY_CODES.c.user_id == user_id))
    result = await conn.execute(delete(MFA).where(MFA.c.user_id == user_id))
    return bool(result.rowcount == 1)


async def replace_recovery_codes(
    conn: AsyncConnection, user_id: str, code_hashes: list[str], now: int
) -> None:
    """The old set gone, the new one stored, in the caller's transaction."""
    await conn.execute(delete(RECOVERY_CODES).where(RECOVERY_CODES.c.user_id == user_id))
    if code_hashes:
        await conn.execute(
            RECOVERY_CODES.insert(),
            [{"code_hash": h, "user_id": user_id, "created_at": now, "used_at": None} for h in code_hashes],
        )


async def consume_recovery_code(conn: AsyncConnection, user_id: str, code_hash: str, now: int) -> bool:
    """Compare-and-set: spend the user's unused code; True for exactly one concurrent caller."""
    result = await conn.execute(
        update(RECOVERY_CODES)
        .where(
            RECOVERY_CODES.c.code_hash == code_hash,
            RECOVERY_CODES.c.user_id == user_id,
            RECOVERY_CODES.c.used_at.is_(None),
        )
        .values(used_at=now)
    )
    return bool(result.rowcount == 1)


async def count_recovery_codes(conn: AsyncConnection, user_id: str) -> int:
    """The user's unused recovery codes."""
    query = select(func.count()).where(
        RECOVERY_CODES.c.user_id == user_id, RECOVERY_CODES.c.used_at.is_(None)
    )
    return int((await conn.execute(query)).scalar_one())

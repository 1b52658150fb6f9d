"""fastauth's tables, and the one mapping between a `User` and its row.

The models describe today's schema (the head revision of `fastauth/storage/migrations`); a change here
needs a new revision, and `tests/storage/test_migrations.py` fails until the two agree.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, fields
from typing import Any

from sqlalchemy import BigInteger, Boolean, ForeignKey, Index, String, Table, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from fastauth.storage.base import AuditRecord, CodeRecord, KeyRecord, SessionRecord, User

__all__ = [
    "AUDIT",
    "CODES",
    "KEYS",
    "SESSIONS",
    "USERS",
    "USER_WRITABLE",
    "AuditRow",
    "Base",
    "CodeRow",
    "KeyRow",
    "SessionRow",
    "UserRow",
    "audit_record",
    "code_record",
    "key_record",
    "session_record",
    "user_changes",
    "user_record",
    "user_values",
]


class Base(DeclarativeBase):
    """The declarative base of fastauth's tables; `Base.metadata` holds them all (and nothing else)."""


class UserRow(Base):
    """An account (`fastauth_users`)."""

    __tablename__ = "fastauth_users"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    hashed_password: Mapped[str] = mapped_column(Text)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    is_verified: Mapped[bool] = mapped_column(Boolean, default=False)
    is_superuser: Mapped[bool] = mapped_column(Boolean, default=False)
    #: Space-separated role names.
    roles: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[int] = mapped_column(BigInteger)


class SessionRow(Base):
    """A login session, one refresh-token family (`fastauth_sessions`); columns = `SessionRecord` fields."""

    __tablename__ = "fastauth_sessions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(64), ForeignKey("fastauth_users.id", ondelete="CASCADE"))
    refresh_jti: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[int] = mapped_column(BigInteger)
    last_used_at: Mapped[int] = mapped_column(BigInteger)
    expires_at: Mapped[int] = mapped_column(BigInteger)
    ip: Mapped[str | None] = mapped_column(String(64), nullable=True)
    user_agent: Mapped[str | None] = mapped_column(String(512), nullable=True)
    revoked_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    previous_jti: Mapped[str | None] = mapped_column(String(64), nullable=True)
    rotated_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)

    __table_args__ = (
        Index("ix_fastauth_sessions_user", "user_id"),
        Index("ix_fastauth_sessions_expires", "expires_at"),
        Index("ix_fastauth_sessions_revoked", "revoked_at"),
    )


class KeyRow(Base):
    """Signing keys shared by every process (asymmetric algorithms without configured PEM keys); the
    columns are `KeyRecord`'s fields."""

    __tablename__ = "fastauth_keys"

    kid: Mapped[str] = mapped_column(String(128), primary_key=True)
    algorithm: Mapped[str] = mapped_column(String(16))
    #: Unique: when two processes rotate at once, one insert wins and the other reads its key.
    generation: Mapped[int] = mapped_column(BigInteger, unique=True)
    public_pem: Mapped[str] = mapped_column(Text)
    #: The private key, AES-GCM sealed under a key derived from `secret` (never stored in clear).
    private_sealed: Mapped[str] = mapped_column(Text)
    created_at: Mapped[int] = mapped_column(BigInteger)
    activate_at: Mapped[int] = mapped_column(BigInteger)
    retired_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)


class CodeRow(Base):
    """A one-time code (`fastauth_codes`), kept as its SHA-256 only; columns = `CodeRecord` fields."""

    __tablename__ = "fastauth_codes"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(64), ForeignKey("fastauth_users.id", ondelete="CASCADE"))
    purpose: Mapped[str] = mapped_column(String(32))
    #: Hex SHA-256 of the code; unique, so a code is found (and consumed) by it alone.
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[int] = mapped_column(BigInteger)
    expires_at: Mapped[int] = mapped_column(BigInteger)
    consumed_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    data: Mapped[str | None] = mapped_column(Text, nullable=True)

    __table_args__ = (Index("ix_fastauth_codes_user_purpose", "user_id", "purpose"),)


class AuditRow(Base):
    """A security event (`fastauth_audit`); columns = `AuditRecord` fields. `user_id` has no foreign key:
    the record of an account's deletion outlives the account."""

    __tablename__ = "fastauth_audit"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    at: Mapped[int] = mapped_column(BigInteger)
    event: Mapped[str] = mapped_column(String(32))
    user_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    ip: Mapped[str | None] = mapped_column(String(64), nullable=True)
    user_agent: Mapped[str | None] = mapped_column(String(512), nullable=True)
    detail: Mapped[str | None] = mapped_column(String(200), nullable=True)

    __table_args__ = (
        Index("ix_fastauth_audit_user_at", "user_id", "at"),
        Index("ix_fastauth_audit_at", "at"),
    )


USERS: Table = UserRow.__table__  # type: ignore[assignment]
SESSIONS: Table = SessionRow.__table__  # type: ignore[assignment]
KEYS: Table = KeyRow.__table__  # type: ignore[assignment]
CODES: Table = CodeRow.__table__  # type: ignore[assignment]
AUDIT: Table = AuditRow.__table__  # type: ignore[assignment]


def user_values(user: User) -> dict[str, Any]:
    """The row of `user`: every field under its own name, the roles joined by spaces."""
    values = asdict(user)
    values["roles"] = " ".join(user.roles)
    return values


#: The fields of `User` a change may write (an id and a creation time never change).
USER_WRITABLE = frozenset(f.name for f in fields(User)) - {"id", "created_at"}


def user_changes(changes: Mapping[str, Any]) -> dict[str, Any]:
    """Column values for a partial change of a user (roles joined by spaces); `ValueError` for a name
    that is not a writable field."""
    unknown = set(changes) - USER_WRITABLE
    if unknown:
        raise ValueError(f"not writable user fields: {sorted(unknown)}")
    values = dict(changes)
    if "roles" in values:
        values["roles"] = " ".join(values["roles"])
    return values


def user_record(row: Any) -> User:
    """The `User` of a `fastauth_users` row."""
    values = dict(row._mapping)
    roles = values.pop("roles")
    return User(**values, roles=tuple(roles.split()) if roles else ())


def session_record(row: Any) -> SessionRecord:
    """The `SessionRecord` of a `fastauth_sessions` row."""
    return SessionRecord(**row._mapping)


def key_record(row: Any) -> KeyRecord:
    """The `KeyRecord` of a `fastauth_keys` row."""
    return KeyRecord(**row._mapping)


def code_record(row: Any) -> CodeRecord:
    """The `CodeRecord` of a `fastauth_codes` row."""
    return CodeRecord(**row._mapping)


def audit_record(row: Any) -> AuditRecord:
    """The `AuditRecord` of a `fastauth_audit` row."""
    return AuditRecord(**row._mapping)

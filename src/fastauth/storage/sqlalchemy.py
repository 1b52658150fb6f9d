"""SQLAlchemy 2 async storage: SQLite (aiosqlite) as the embedded default, PostgreSQL (asyncpg) in production.

    adapter = SQLAlchemyAdapter(engine_url="sqlite+aiosqlite:///./fastauth.db")
    await adapter.create_tables()

Plain `sqlite:///` and `postgresql://` URLs are accepted and given their async driver. Every
database failure that is not a logic error becomes `StoreUnavailable`, which the HTTP layer answers
with 503: a broken database never looks like a wrong password.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import asdict
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    String,
    Table,
    Text,
    delete,
    event,
    inspect,
    select,
    update,
)
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from fastauth.errors import ConfigError, EmailTaken, StoreUnavailable
from fastauth.storage.base import KeyRecord, SessionRecord, User

__all__ = ["Base", "KeyRow", "SQLAlchemyAdapter", "SessionRow", "UserRow", "async_url"]


class Base(DeclarativeBase):
    pass


class UserRow(Base):
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
    """Signing keys shared by every process (asymmetric algorithms without configured PEM keys)."""

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


#: Tables every configuration uses; fastauth_keys is required only for keys kept in the database.
_REQUIRED_TABLES: tuple[str, ...] = ("fastauth_users", "fastauth_sessions")


def _schema_gaps(conn: Any, required: tuple[str, ...]) -> tuple[list[str], list[str], list[str]]:
    """(ALTER TABLE statements for missing nullable columns, missing NOT NULL columns as table.column,
    missing required tables), for the tables that exist."""
    inspector = inspect(conn)
    existing = set(inspector.get_table_names())
    statements: list[str] = []
    not_null: list[str] = []
    for table in Base.metadata.sorted_tables:
        if table.name not in existing:
            continue
        present = {column["name"] for column in inspector.get_columns(table.name)}
        for column in table.columns:
            if column.name in present:
                continue
            if column.nullable:
                kind = column.type.compile(dialect=conn.dialect)
                statements.append(f"ALTER TABLE {table.name} ADD COLUMN {column.name} {kind}")
            else:
                not_null.append(f"{table.name}.{column.name}")
    return statements, not_null, [name for name in required if name not in existing]


def async_url(url: str) -> str:
    """Give a plain SQLite/PostgreSQL URL its async driver."""
    for plain, driver in (
        ("sqlite://", "sqlite+aiosqlite://"),
        ("postgresql://", "postgresql+asyncpg://"),
        ("postgres://", "postgresql+asyncpg://"),
    ):
        if url.startswith(plain):
            return driver + url[len(plain) :]
    return url


def _user(row: Any) -> User:
    return User(
        id=row.id,
        email=row.email,
        hashed_password=row.hashed_password,
        is_active=bool(row.is_active),
        is_verified=bool(row.is_verified),
        is_superuser=bool(row.is_superuser),
        roles=tuple(row.roles.split()) if row.roles else (),
        created_at=int(row.created_at),
    )


def _session(row: Any) -> SessionRecord:
    return SessionRecord(**row._mapping)  # the columns are the record's fields


_USERS: Table = UserRow.__table__  # type: ignore[assignment]
_SESSIONS: Table = SessionRow.__table__  # type: ignore[assignment]
_KEYS: Table = KeyRow.__table__  # type: ignore[assignment]


class SQLAlchemyAdapter:
    """Users, sessions and signing keys in one SQL database: `UserStore`, `SessionStore`, `KeyStore`."""

    def __init__(
        self, engine_url: str | None = None, *, engine: AsyncEngine | None = None, **engine_kwargs: Any
    ):
        if engine is None:
            if engine_url is None:
                raise ValueError("give engine_url (e.g. 'sqlite+aiosqlite:///./fastauth.db') or engine")
            url = async_url(engine_url)
            if url.startswith("sqlite"):
                engine_kwargs.setdefault("connect_args", {"timeout": 30})
            else:
                engine_kwargs.setdefault("pool_pre_ping", True)
            engine = create_async_engine(url, **engine_kwargs)
            if url.startswith("sqlite"):
                event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        self.engine = engine

    @asynccontextmanager
    async def _tx(self) -> AsyncIterator[AsyncConnection]:
        try:
            async with self.engine.begin() as conn:
                yield conn
        except IntegrityError:
            raise
        except (OperationalError, DBAPIError, OSError, ConnectionError) as error:
            raise StoreUnavailable(f"database unavailable: {type(error).__name__}") from error

    async def create_tables(self) -> None:
        """Create fastauth's tables if they do not exist (idempotent, also when processes race).

        Two processes starting at once on an empty database both see the tables missing and both
        create them; the loser gets "already exists" (SQLite) or a duplicate catalog row (PostgreSQL).
        Trying again then finds the tables and does nothing.
        """
        for attempt in range(5):
            try:
                async with self._tx() as conn:
                    await conn.run_sync(Base.metadata.create_all)
                return
            except (StoreUnavailable, IntegrityError):
                if attempt == 4:
                    raise
                await asyncio.sleep(0.05 * (attempt + 1))

    async def check_schema(self, *, keys: bool = False) -> None:
        """Refuse to start on tables an older fastauth created without today's columns.

        `create_tables` creates missing tables but never changes existing ones, so a column added
        by a newer fastauth would otherwise surface as a failing query on the first request. The
        error names the statements to run for nullable columns (all fastauth has added so far).
        `keys`: the signing keys live in the database, so `fastauth_keys` is required too.
        """
        required = (*_REQUIRED_TABLES, KeyRow.__tablename__) if keys else _REQUIRED_TABLES
        async with self._tx() as conn:
            statements, required_columns, missing = await conn.run_sync(_schema_gaps, required)
        problems = []
        if missing:
            problems.append(
                f"the tables {', '.join(missing)} do not exist (set auto_create_tables, or create them)"
            )
        if statements:
            problems.append(
                "its tables were created by an older fastauth and lack columns; run: " + "; ".join(statements)
            )
        if required_columns:
            problems.append(
                f"the columns {', '.join(required_columns)} are missing and NOT NULL: add them with a value "
                "for the existing rows (a migration), or recreate the tables"
            )
        if problems:
            raise ConfigError("the database does not match this fastauth: " + " and ".join(problems))

    async def dispose(self) -> None:
        await self.engine.dispose()

    # users

    async def create_user(self, user: User) -> None:
        try:
            async with self._tx() as conn:
                await self._insert_user(conn, user)
        except IntegrityError:
            raise EmailTaken("email already registered") from None

    async def create_user_with_session(self, user: User, session: SessionRecord) -> None:
        try:
            async with self._tx() as conn:
                await self._insert_user(conn, user)
                await self._insert_session(conn, session)
        except IntegrityError:
            raise EmailTaken("email already registered") from None

    async def _insert_user(self, conn: AsyncConnection, user: User) -> None:
        await conn.execute(
            _USERS.insert().values(
                id=user.id,
                email=user.email,
                hashed_password=user.hashed_password,
                is_active=user.is_active,
                is_verified=user.is_verified,
                is_superuser=user.is_superuser,
                roles=" ".join(user.roles),
                created_at=user.created_at,
            )
        )

    async def get_user(self, user_id: str) -> User | None:
        async with self._tx() as conn:
            row = (await conn.execute(select(_USERS).where(_USERS.c.id == user_id))).first()
        return _user(row) if row is not None else None

    async def get_user_by_email(self, email: str) -> User | None:
        async with self._tx() as conn:
            row = (await conn.execute(select(_USERS).where(_USERS.c.email == email))).first()
        return _user(row) if row is not None else None

    async def update_user(self, user: User) -> None:
        try:
            async with self._tx() as conn:
                await conn.execute(
                    update(_USERS)
                    .where(_USERS.c.id == user.id)
                    .values(
                        email=user.email,
                        hashed_password=user.hashed_password,
                        is_active=user.is_active,
                        is_verified=user.is_verified,
                        is_superuser=user.is_superuser,
                        roles=" ".join(user.roles),
                    )
                )
        except IntegrityError:
            raise EmailTaken("email already registered") from None

    # sessions

    async def create_session(self, session: SessionRecord) -> None:
        async with self._tx() as conn:
            await self._insert_session(conn, session)

    async def _insert_session(self, conn: AsyncConnection, session: SessionRecord) -> None:
        await conn.execute(_SESSIONS.insert().values(**asdict(session)))

    async def get_session(self, session_id: str) -> SessionRecord | None:
        async with self._tx() as conn:
            row = (await conn.execute(select(_SESSIONS).where(_SESSIONS.c.id == session_id))).first()
        return _session(row) if row is not None else None

    async def rotate_refresh(self, session_id: str, old_jti: str, new_jti: str, now: int) -> bool:
        async with self._tx() as conn:
            result = await conn.execute(
                update(_SESSIONS)
                .where(
                    _SESSIONS.c.id == session_id,
                    _SESSIONS.c.refresh_jti == old_jti,
                    _SESSIONS.c.revoked_at.is_(None),
                    _SESSIONS.c.expires_at > now,
                )
                .values(refresh_jti=new_jti, last_used_at=now, previous_jti=old_jti, rotated_at=now)
            )
        return bool(result.rowcount == 1)

    async def revoke_session(self, session_id: str, now: int) -> bool:
        async with self._tx() as conn:
            result = await conn.execute(
                update(_SESSIONS)
                .where(_SESSIONS.c.id == session_id, _SESSIONS.c.revoked_at.is_(None))
                .values(revoked_at=now)
            )
        return bool(result.rowcount == 1)

    async def revoke_user_sessions(
        self, user_id: str, now: int, except_session: str | None = None
    ) -> list[str]:
        conditions = [_SESSIONS.c.user_id == user_id, _SESSIONS.c.revoked_at.is_(None)]
        if except_session is not None:
            conditions.append(_SESSIONS.c.id != except_session)
        async with self._tx() as conn:
            ids = [row.id for row in await conn.execute(select(_SESSIONS.c.id).where(*conditions))]
            if ids:
                await conn.execute(
                    update(_SESSIONS)
                    .where(_SESSIONS.c.id.in_(ids), _SESSIONS.c.revoked_at.is_(None))
                    .values(revoked_at=now)
                )
        return ids

    async def list_sessions(self, user_id: str, now: int) -> list[SessionRecord]:
        async with self._tx() as conn:
            rows = await conn.execute(
                select(_SESSIONS)
                .where(
                    _SESSIONS.c.user_id == user_id,
                    _SESSIONS.c.revoked_at.is_(None),
                    _SESSIONS.c.expires_at > now,
                )
                .order_by(_SESSIONS.c.created_at.desc(), _SESSIONS.c.id)
            )
            return [_session(row) for row in rows]

    async def revoked_since(self, since: int) -> list[tuple[str, int]]:
        async with self._tx() as conn:
            rows = await conn.execute(
                select(_SESSIONS.c.id, _SESSIONS.c.revoked_at).where(_SESSIONS.c.revoked_at >= since)
            )
            return [(row.id, int(row.revoked_at)) for row in rows]

    async def prune_sessions(self, before: int) -> int:
        async with self._tx() as conn:
            result = await conn.execute(
                delete(_SESSIONS).where((_SESSIONS.c.expires_at < before) | (_SESSIONS.c.revoked_at < before))
            )
        return int(result.rowcount or 0)

    # signing keys

    async def list_keys(self) -> list[KeyRecord]:
        async with self._tx() as conn:
            rows = await conn.execute(select(_KEYS).order_by(_KEYS.c.generation))
            return [KeyRecord(**row._mapping) for row in rows]

    async def insert_key(self, record: KeyRecord) -> bool:
        try:
            async with self._tx() as conn:
                await conn.execute(_KEYS.insert().values(**asdict(record)))
        except IntegrityError:
            return False
        return True

    async def delete_key(self, kid: str) -> bool:
        async with self._tx() as conn:
            result = await conn.execute(delete(_KEYS).where(_KEYS.c.kid == kid))
        return bool(result.rowcount == 1)

    async def retire_key(self, kid: str, now: int) -> bool:
        async with self._tx() as conn:
            result = await conn.execute(
                update(_KEYS).where(_KEYS.c.kid == kid, _KEYS.c.retired_at.is_(None)).values(retired_at=now)
            )
        return bool(result.rowcount == 1)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()

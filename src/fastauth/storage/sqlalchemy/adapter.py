"""`SQLAlchemyAdapter`: the `Store` on one SQL database, SQLite (aiosqlite) or PostgreSQL (asyncpg).

Every database failure that is not a logic error becomes `StoreUnavailable`, which the HTTP layer
answers with 503: a broken database never looks like a wrong password.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterable, Mapping
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import event
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from fastauth.errors import EmailTaken, FieldTaken, IdentityTaken, StoreUnavailable
from fastauth.fields import UserFields
from fastauth.storage.base import (
    ApiKeyRecord,
    AuditRecord,
    CodeRecord,
    IdentityRecord,
    KeyRecord,
    MFARecord,
    OAuthStateRecord,
    PasskeyChallengeRecord,
    PasskeyRecord,
    RoleRecord,
    SessionRecord,
    User,
)
from fastauth.storage.sqlalchemy import api_keys as api_key_rows
from fastauth.storage.sqlalchemy import audit as audit_rows
from fastauth.storage.sqlalchemy import codes as code_rows
from fastauth.storage.sqlalchemy import identities as identity_rows
from fastauth.storage.sqlalchemy import keys as key_rows
from fastauth.storage.sqlalchemy import mfa as mfa_rows
from fastauth.storage.sqlalchemy import passkeys as passkey_rows
from fastauth.storage.sqlalchemy import roles as role_rows
from fastauth.storage.sqlalchemy import schema
from fastauth.storage.sqlalchemy import sessions as session_rows
from fastauth.storage.sqlalchemy import users as user_rows
from fastauth.storage.sqlalchemy.tables import UserRows

__all__ = ["SQLAlchemyAdapter", "async_url"]


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


class SQLAlchemyAdapter:
    """Users, sessions, signing keys, one-time codes, the audit log, provider identities and sign-ins
    under way in one SQL database: a `fastauth.storage.base.Store`.

    `engine_url` (plain `sqlite:///` and `postgresql://` URLs get their async driver) or a ready
    `engine`; `user_fields`: the application's `UserFields` model, whose columns `fastauth_users` has
    (docs/user-fields.md); the other keywords go to `create_async_engine`. `close()` disposes of the
    engine.
    """

    def __init__(
        self,
        engine_url: str | None = None,
        *,
        engine: AsyncEngine | None = None,
        user_fields: type[UserFields] | None = None,
        **engine_kwargs: Any,
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
        #: The application's user fields (None: fastauth's own columns only).
        self.user_fields = user_fields
        self._users = UserRows(user_fields)
        #: `fastauth_users` with the application's columns, for the schema checks (None without any).
        self._field_table = self._users.table if self._users.specs else None

    @asynccontextmanager
    async def _tx(self) -> AsyncIterator[AsyncConnection]:
        try:
            async with self.engine.begin() as conn:
                yield conn
        except IntegrityError:
            raise
        except (OperationalError, DBAPIError, OSError, ConnectionError) as error:
            raise StoreUnavailable(f"database unavailable: {type(error).__name__}") from error

    # lifecycle

    @property
    def _upgrades_itself(self) -> bool:
        """SQLite is the zero-configuration database: a schema that is behind is upgraded at start.
        A server database is upgraded only by the operator (`fastauth db upgrade`)."""
        return self.engine.dialect.name == "sqlite"

    async def create_tables(self) -> None:
        """Create the schema at the head revision in an empty database; adopt unversioned (0.1.0) tables
        by stamping them; on SQLite also upgrade a schema that is behind. Safe when processes race:
        migrators take a lock (PostgreSQL, SQLite), and a failed attempt (another dialect) is retried.
        """
        for attempt in range(5):
            try:
                async with self._tx() as conn:
                    await conn.run_sync(
                        lambda sync: schema.adopt_or_create(
                            sync, upgrade_behind=self._upgrades_itself, users=self._field_table
                        )
                    )
                return
            except (StoreUnavailable, IntegrityError):
                if attempt == 4:
                    raise
                await asyncio.sleep(0.05 * (attempt + 1))

    async def check_schema(self, *, keys: bool = False) -> None:
        """Refuse (`ConfigError`) to start on a database this fastauth cannot use, saying what to do: a
        revision behind (`fastauth db upgrade`) or ahead, missing tables (`keys`: the signing keys live
        in the database, so `fastauth_keys` is required too), or unversioned tables lacking columns.
        Unversioned tables that match are accepted: the operator manages them."""
        async with self._tx() as conn:
            await conn.run_sync(lambda sync: schema.check(sync, keys=keys, users=self._field_table))

    async def schema_state(self) -> schema.SchemaState:
        """Where the database stands against this fastauth's revisions (reads only)."""
        async with self._tx() as conn:
            return await conn.run_sync(schema.read_state)

    async def upgrade(self) -> tuple[schema.SchemaState, schema.SchemaState]:
        """Bring the database to the head revision (`fastauth db upgrade`); the states before and after."""
        async with self._tx() as conn:
            return await conn.run_sync(schema.upgrade)

    async def close(self) -> None:
        """Dispose of the engine's connections."""
        await self.engine.dispose()

    async def dispose(self) -> None:
        """The same as `close()` (the 0.1.0 name)."""
        await self.close()

    # users

    async def create_user(self, user: User) -> None:
        """Insert; raises `EmailTaken` when the email exists, `FieldTaken` for a taken `Unique` field."""
        try:
            async with self._tx() as conn:
                await self._insert_user(conn, user)
        except IntegrityError:
            raise await self._taken(user.id, self._users.values(user)) from None

    async def create_user_with_session(self, user: User, session: SessionRecord) -> None:
        """Insert both in one transaction; raises `EmailTaken` or `FieldTaken` (and inserts nothing)."""
        try:
            async with self._tx() as conn:
                await self._insert_user(conn, user)
                await self._insert_session(conn, session)
        except IntegrityError:
            raise await self._taken(user.id, self._users.values(user)) from None

    async def _taken(self, user_id: str, values: Mapping[str, Any]) -> EmailTaken | FieldTaken:
        """Which unique value an insert or update of `user_id` collided with (read after the failed
        transaction): a `Unique` application field when another user holds its value, else the email."""
        unique = [spec.name for spec in self._users.specs.values() if spec.unique and spec.name in values]
        for name in unique:
            if values[name] is None:
                continue
            async with self._tx() as conn:
                other = await user_rows.get_user_by_field(conn, self._users, name, values[name])
            if other is not None and other.id != user_id:
                return FieldTaken(name)
        return EmailTaken("email already registered")

    # The two writes of a registration, as methods: a test replaces one to fail mid-transaction.

    async def _insert_user(self, conn: AsyncConnection, user: User) -> None:
        await user_rows.insert_user(conn, self._users, user)

    async def _insert_session(self, conn: AsyncConnection, session: SessionRecord) -> None:
        await session_rows.insert_session(conn, session)

    async def get_user(self, user_id: str) -> User | None:
        """The user with this id, or None."""
        async with self._tx() as conn:
            return await user_rows.get_user(conn, self._users, user_id)

    async def get_user_by_email(self, email: str) -> User | None:
        """The user with this (normalised) email, or None."""
        async with self._tx() as conn:
            return await user_rows.get_user_by_email(conn, self._users, email)

    async def get_user_by_field(self, name: str, value: Any) -> User | None:
        """The user whose `Unique` application field `name` has `value`, or None."""
        if name not in self._users.specs or not self._users.specs[name].unique:
            raise ValueError(f"{name!r} is not a Unique user field")
        async with self._tx() as conn:
            return await user_rows.get_user_by_field(conn, self._users, name, value)

    async def update_user(self, user: User) -> None:
        """Write the fields of `user` back; raises `EmailTaken` when the new email belongs to another
        user, `FieldTaken` for a `Unique` field's value another user has."""
        try:
            async with self._tx() as conn:
                await user_rows.update_user(conn, self._users, user)
        except IntegrityError:
            raise await self._taken(user.id, self._users.values(user)) from None

    async def set_user_fields(self, user_id: str, changes: Mapping[str, Any]) -> User | None:
        """Write only these fields; `EmailTaken` when the new email belongs to another user,
        `FieldTaken` for a `Unique` field's value another user has."""
        try:
            async with self._tx() as conn:
                return await user_rows.set_user_fields(conn, self._users, user_id, changes)
        except IntegrityError:
            raise await self._taken(user_id, self._users.changes(changes)) from None

    async def list_users(self, *, prefix: str = "", after: str | None = None, limit: int = 50) -> list[User]:
        """At most `limit` users by email, starting with `prefix`, after the email `after`."""
        async with self._tx() as conn:
            return await user_rows.list_users(conn, self._users, prefix=prefix, after=after, limit=limit)

    async def remove_role(self, role: str) -> int:
        """Take `role` away from every user holding it, in one statement."""
        async with self._tx() as conn:
            return await role_rows.remove_role(conn, self._users.table, role)

    async def delete_user(self, user_id: str, *, now: int | None = None) -> bool:
        """Delete the user with its sessions and one-time codes in one transaction; True if it existed.
        The sessions' revocations stay (a live one's as of `now`, default the wall clock) until
        `prune_sessions` drops them. The rows go explicitly, so an engine without SQLite's
        `foreign_keys` pragma loses none either."""
        at = int(time.time()) if now is None else now
        async with self._tx() as conn:
            await code_rows.delete_user_codes(conn, user_id)
            await identity_rows.delete_user_identities(conn, user_id)
            await mfa_rows.delete_mfa(conn, user_id)
            await passkey_rows.delete_user_passkeys(conn, user_id)
            await api_key_rows.delete_user_api_keys(conn, user_id)
            await session_rows.delete_user_sessions(conn, user_id, at)
            return await user_rows.delete_user(conn, self._users, user_id)

    # sessions

    async def create_session(self, session: SessionRecord) -> None:
        """Insert a session."""
        async with self._tx() as conn:
            await self._insert_session(conn, session)

    async def get_session(self, session_id: str) -> SessionRecord | None:
        """The session with this id, live or not, or None."""
        async with self._tx() as conn:
            return await session_rows.get_session(conn, session_id)

    async def rotate_refresh(self, session_id: str, old_jti: str, new_jti: str, now: int) -> bool:
        """Compare-and-set: exactly one of many concurrent callers with the same `old_jti` gets True."""
        async with self._tx() as conn:
            return await session_rows.rotate_refresh(conn, session_id, old_jti, new_jti, now)

    async def revoke_session(self, session_id: str, now: int) -> bool:
        """Mark revoked; True if it was live."""
        async with self._tx() as conn:
            return await session_rows.revoke_session(conn, session_id, now)

    async def revoke_user_sessions(
        self, user_id: str, now: int, except_session: str | None = None
    ) -> list[str]:
        """Revoke every live session of a user (but one); returns the revoked ids."""
        async with self._tx() as conn:
            return await session_rows.revoke_user_sessions(conn, user_id, now, except_session)

    async def list_sessions(self, user_id: str, now: int) -> list[SessionRecord]:
        """Live sessions (not revoked, not past `expires_at`), newest first."""
        async with self._tx() as conn:
            return await session_rows.list_sessions(conn, user_id, now)

    async def revoked_since(self, since: int) -> list[tuple[str, int]]:
        """(session id, revoked_at) for sessions revoked at or after `since`."""
        async with self._tx() as conn:
            return await session_rows.revoked_since(conn, since)

    async def prune_sessions(self, before: int) -> int:
        """Delete sessions that ended (expired or revoked) before `before`; returns how many."""
        async with self._tx() as conn:
            return await session_rows.prune_sessions(conn, before)

    # signing keys

    async def list_keys(self) -> list[KeyRecord]:
        """Every stored key, oldest generation first."""
        async with self._tx() as conn:
            return await key_rows.list_keys(conn)

    async def insert_key(self, record: KeyRecord) -> bool:
        """Insert; False (not an error) when another process took the generation or kid first."""
        try:
            async with self._tx() as conn:
                await key_rows.insert_key(conn, record)
        except IntegrityError:
            return False
        return True

    async def retire_key(self, kid: str, now: int) -> bool:
        """Mark retired; True if it was not retired yet."""
        async with self._tx() as conn:
            return await key_rows.retire_key(conn, kid, now)

    async def delete_key(self, kid: str) -> bool:
        """Delete a long-retired key's row; True if it existed."""
        async with self._tx() as conn:
            return await key_rows.delete_key(conn, kid)

    # one-time codes

    async def insert_code(self, record: CodeRecord, *, void_older: bool = True) -> None:
        """Insert `record`; with `void_older`, in the same transaction mark the unconsumed codes of its
        user and purpose consumed. `ValueError` (and nothing changed) for an unknown user or a taken
        id or hash."""
        try:
            async with self._tx() as conn:
                await code_rows.insert_code(conn, record, void_older=void_older)
        except IntegrityError:
            raise ValueError("the code's user does not exist, or its id or hash is taken") from None

    async def consume_code(self, code_hash: str, purpose: str, now: int) -> CodeRecord | None:
        """Compare-and-set: exactly one of many concurrent callers gets the live code, now consumed."""
        async with self._tx() as conn:
            return await code_rows.consume_code(conn, code_hash, purpose, now)

    async def find_code(self, code_hash: str, purpose: str, now: int) -> CodeRecord | None:
        """The live code of this hash and purpose, not consumed; None when there is none."""
        async with self._tx() as conn:
            return await code_rows.find_code(conn, code_hash, purpose, now)

    async def void_codes(self, user_id: str, purposes: Iterable[str], now: int) -> int:
        """Mark the user's unconsumed codes of these purposes consumed at `now`; returns how many."""
        async with self._tx() as conn:
            return await code_rows.void_codes(conn, user_id, tuple(purposes), now)

    async def prune_codes(self, before: int) -> int:
        """Delete codes that expired or were consumed before `before`; returns how many."""
        async with self._tx() as conn:
            return await code_rows.prune_codes(conn, before)

    # the audit log

    async def insert_audit(self, record: AuditRecord) -> None:
        """Append `record`; `ValueError` (nothing stored) when its id is taken."""
        try:
            async with self._tx() as conn:
                await audit_rows.insert_audit(conn, record)
        except IntegrityError:
            raise ValueError("audit record id already exists") from None

    async def list_audit(
        self, *, user_id: str | None = None, before: int | None = None, limit: int = 100
    ) -> list[AuditRecord]:
        """At most `limit` records, newest first (by `at`, then id), filtered as asked."""
        async with self._tx() as conn:
            return await audit_rows.list_audit(conn, user_id=user_id, before=before, limit=limit)

    async def prune_audit(self, before: int) -> int:
        """Delete the records with `at` before `before`; returns how many."""
        async with self._tx() as conn:
            return await audit_rows.prune_audit(conn, before)

    # provider identities

    async def insert_identity(self, record: IdentityRecord) -> None:
        """Insert; `IdentityTaken` for a linked (issuer, subject), `ValueError` for an unknown user."""
        try:
            async with self._tx() as conn:
                await identity_rows.insert_identity(conn, record)
        except IntegrityError:
            if await self.get_identity(record.issuer, record.subject) is not None:
                raise IdentityTaken("this provider account is linked already") from None
            raise ValueError("the identity's user does not exist, or its id is taken") from None

    async def get_identity(self, issuer: str, subject: str) -> IdentityRecord | None:
        """The identity of this subject at this issuer, or None."""
        async with self._tx() as conn:
            return await identity_rows.get_identity(conn, issuer, subject)

    async def list_identities(self, user_id: str) -> list[IdentityRecord]:
        """The user's identities, oldest first."""
        async with self._tx() as conn:
            return await identity_rows.list_identities(conn, user_id)

    async def touch_identity(self, identity_id: str, now: int, email: str | None) -> None:
        """Record a sign-in through the identity."""
        async with self._tx() as conn:
            await identity_rows.touch_identity(conn, identity_id, now, email)

    async def delete_identity(self, identity_id: str, user_id: str) -> bool:
        """Unlink one of `user_id`'s identities; True if it existed."""
        async with self._tx() as conn:
            return await identity_rows.delete_identity(conn, identity_id, user_id)

    # provider sign-ins under way

    async def insert_oauth_state(self, record: OAuthStateRecord) -> None:
        """Insert; `ValueError` for a taken id."""
        try:
            async with self._tx() as conn:
                await identity_rows.insert_oauth_state(conn, record)
        except IntegrityError:
            raise ValueError("oauth state id already exists") from None

    async def consume_oauth_state(self, state_id: str, now: int) -> OAuthStateRecord | None:
        """Compare-and-delete: exactly one of many concurrent callers gets the record."""
        async with self._tx() as conn:
            return await identity_rows.consume_oauth_state(conn, state_id, now)

    async def prune_oauth_states(self, before: int) -> int:
        """Delete the records that expired before `before`; returns how many."""
        async with self._tx() as conn:
            return await identity_rows.prune_oauth_states(conn, before)

    # second factors

    async def get_mfa(self, user_id: str) -> MFARecord | None:
        """The user's TOTP record, or None."""
        async with self._tx() as conn:
            return await mfa_rows.get_mfa(conn, user_id)

    async def put_totp(self, record: MFARecord) -> None:
        """Store a new unconfirmed secret; `ValueError` for an unknown user or a confirmed TOTP."""
        try:
            async with self._tx() as conn:
                if not await mfa_rows.put_totp(conn, record):
                    raise ValueError("a confirmed TOTP exists")
        except IntegrityError:
            raise ValueError("the user does not exist") from None

    async def confirm_totp(self, user_id: str, step: int, now: int) -> bool:
        """Mark confirmed with `step` the last accepted; True if it was unconfirmed."""
        async with self._tx() as conn:
            return await mfa_rows.confirm_totp(conn, user_id, step, now)

    async def accept_totp_step(self, user_id: str, step: int) -> bool:
        """Compare-and-set the last accepted step; True for exactly one concurrent caller."""
        async with self._tx() as conn:
            return await mfa_rows.accept_totp_step(conn, user_id, step)

    async def delete_mfa(self, user_id: str) -> bool:
        """Remove the TOTP and the recovery codes; True if there was a TOTP."""
        async with self._tx() as conn:
            return await mfa_rows.delete_mfa(conn, user_id)

    async def replace_recovery_codes(self, user_id: str, code_hashes: list[str], now: int) -> None:
        """A new set of recovery codes, the old one voided, in one transaction."""
        async with self._tx() as conn:
            await mfa_rows.replace_recovery_codes(conn, user_id, code_hashes, now)

    async def consume_recovery_code(self, user_id: str, code_hash: str, now: int) -> bool:
        """Spend one unused recovery code; True for exactly one concurrent caller."""
        async with self._tx() as conn:
            return await mfa_rows.consume_recovery_code(conn, user_id, code_hash, now)

    async def count_recovery_codes(self, user_id: str) -> int:
        """The user's unused recovery codes."""
        async with self._tx() as conn:
            return await mfa_rows.count_recovery_codes(conn, user_id)

    # passkeys

    async def insert_passkey(self, record: PasskeyRecord) -> None:
        """Insert; `ValueError` for a registered credential id or an unknown user."""
        try:
            async with self._tx() as conn:
                await passkey_rows.insert_passkey(conn, record)
        except IntegrityError:
            raise ValueError("the credential is registered already, or the user does not exist") from None

    async def get_passkey(self, credential_id: str) -> PasskeyRecord | None:
        """The passkey of this credential id, or None."""
        async with self._tx() as conn:
            return await passkey_rows.get_passkey(conn, credential_id)

    async def list_passkeys(self, user_id: str) -> list[PasskeyRecord]:
        """The user's passkeys, oldest first."""
        async with self._tx() as conn:
            return await passkey_rows.list_passkeys(conn, user_id)

    async def use_passkey(self, passkey_id: str, old_count: int, new_count: int, now: int) -> bool:
        """Compare-and-set the sign count; True for exactly one concurrent caller."""
        async with self._tx() as conn:
            return await passkey_rows.use_passkey(conn, passkey_id, old_count, new_count, now)

    async def rename_passkey(self, passkey_id: str, user_id: str, name: str) -> bool:
        """Rename one of `user_id`'s passkeys; True if it exists."""
        async with self._tx() as conn:
            return await passkey_rows.rename_passkey(conn, passkey_id, user_id, name)

    async def delete_passkey(self, passkey_id: str, user_id: str) -> bool:
        """Delete one of `user_id`'s passkeys; True if it existed."""
        async with self._tx() as conn:
            return await passkey_rows.delete_passkey(conn, passkey_id, user_id)

    async def insert_passkey_challenge(self, record: PasskeyChallengeRecord) -> None:
        """Insert; `ValueError` for a taken id."""
        try:
            async with self._tx() as conn:
                await passkey_rows.insert_passkey_challenge(conn, record)
        except IntegrityError:
            raise ValueError("passkey challenge id already exists") from None

    async def consume_passkey_challenge(
        self, challenge_id: str, purpose: str, now: int
    ) -> PasskeyChallengeRecord | None:
        """Compare-and-delete: exactly one of many concurrent callers gets the record."""
        async with self._tx() as conn:
            return await passkey_rows.consume_passkey_challenge(conn, challenge_id, purpose, now)

    async def prune_passkey_challenges(self, before: int) -> int:
        """Delete the challenges that expired before `before`; returns how many."""
        async with self._tx() as conn:
            return await passkey_rows.prune_passkey_challenges(conn, before)

    # roles

    async def list_roles(self) -> list[RoleRecord]:
        """Every role, by name."""
        async with self._tx() as conn:
            return await role_rows.list_roles(conn)

    async def get_role(self, name: str) -> RoleRecord | None:
        """The role of this name, or None."""
        async with self._tx() as conn:
            return await role_rows.get_role(conn, name)

    async def put_role(self, record: RoleRecord, *, create: bool | None = None) -> bool:
        """Write the role (`create=True`: only a new one; `False`: only an existing one)."""
        try:
            async with self._tx() as conn:
                return await role_rows.put_role(conn, record, create=create)
        except IntegrityError:
            return False

    async def delete_role(self, name: str) -> bool:
        """Delete the role's row; True if it existed."""
        async with self._tx() as conn:
            return await role_rows.delete_role(conn, name)

    # API keys

    async def insert_api_key(self, record: ApiKeyRecord) -> None:
        """Insert; `ValueError` for a taken id or hash or an unknown user."""
        try:
            async with self._tx() as conn:
                await api_key_rows.insert_api_key(conn, record)
        except IntegrityError:
            raise ValueError("API key id or hash taken, or its user does not exist") from None

    async def get_api_key_by_hash(self, key_hash: str) -> ApiKeyRecord | None:
        """The key with this hash, or None."""
        async with self._tx() as conn:
            return await api_key_rows.get_api_key_by_hash(conn, key_hash)

    async def get_api_key(self, key_id: str) -> ApiKeyRecord | None:
        """The key with this id, or None."""
        async with self._tx() as conn:
            return await api_key_rows.get_api_key(conn, key_id)

    async def list_api_keys(self, user_id: str) -> list[ApiKeyRecord]:
        """The user's live keys, newest first."""
        async with self._tx() as conn:
            return await api_key_rows.list_api_keys(conn, user_id)

    async def revoke_api_key(self, key_id: str, now: int, *, user_id: str | None = None) -> bool:
        """Revoke a live key (of `user_id`, when given); True if it was live."""
        async with self._tx() as conn:
            return await api_key_rows.revoke_api_key(conn, key_id, now, user_id)

    async def touch_api_keys(self, used: Mapping[str, int]) -> None:
        """Record last-use times in one transaction."""
        if used:
            async with self._tx() as conn:
                await api_key_rows.touch_api_keys(conn, used)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()

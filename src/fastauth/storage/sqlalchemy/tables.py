"""fastauth's tables, and the one mapping between a `User` and its row.

The models describe today's schema (the head revision of `fastauth/storage/migrations`); a change here
needs a new revision, and `tests/storage/test_migrations.py` fails until the two agree.
"""

from __future__ import annotations

import datetime as dt
import enum
import functools
import logging
from collections.abc import Callable, Mapping
from dataclasses import fields
from typing import Any

from pydantic import ValidationError
from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    Uuid,
    false,
    true,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeEngine

from fastauth.fields import FieldSpec, UserFields, describe
from fastauth.storage.base import (
    AuditRecord,
    CodeRecord,
    IdentityRecord,
    KeyRecord,
    OAuthStateRecord,
    SessionRecord,
    User,
)

log = logging.getLogger("fastauth")

__all__ = [
    "API_KEYS",
    "AUDIT",
    "CODES",
    "IDENTITIES",
    "KEYS",
    "MFA",
    "OAUTH_STATES",
    "PASSKEYS",
    "PASSKEY_CHALLENGES",
    "RECOVERY_CODES",
    "REVOKED",
    "ROLES",
    "SESSIONS",
    "USERS",
    "USER_WRITABLE",
    "ApiKeyRow",
    "AuditRow",
    "Base",
    "CodeRow",
    "IdentityRow",
    "KeyRow",
    "MFARow",
    "OAuthStateRow",
    "PasskeyChallengeRow",
    "PasskeyRow",
    "RecoveryCodeRow",
    "RevokedSessionRow",
    "RoleRow",
    "SessionRow",
    "UserRow",
    "UserRows",
    "audit_record",
    "code_record",
    "field_column",
    "identity_record",
    "key_record",
    "oauth_state_record",
    "session_record",
    "users_table",
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
    amr: Mapped[str | None] = mapped_column(String(64), nullable=True)

    __table_args__ = (
        Index("ix_fastauth_sessions_user", "user_id"),
        Index("ix_fastauth_sessions_expires", "expires_at"),
        Index("ix_fastauth_sessions_revoked", "revoked_at"),
    )


class RevokedSessionRow(Base):
    """A session revoked whose row is gone with its deleted account (`fastauth_revoked_sessions`): kept
    until no token of it can verify, so every process (after a restart too) still refuses them."""

    __tablename__ = "fastauth_revoked_sessions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    revoked_at: Mapped[int] = mapped_column(BigInteger)

    __table_args__ = (Index("ix_fastauth_revoked_sessions_revoked", "revoked_at"),)


class IdentityRow(Base):
    """A linked provider identity (`fastauth_identities`); columns = `IdentityRecord` fields. Unique on
    (issuer, subject): one provider account belongs to one user."""

    __tablename__ = "fastauth_identities"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(64), ForeignKey("fastauth_users.id", ondelete="CASCADE"))
    provider: Mapped[str] = mapped_column(String(32))
    issuer: Mapped[str] = mapped_column(String(255))
    subject: Mapped[str] = mapped_column(String(255))
    email: Mapped[str | None] = mapped_column(String(320), nullable=True)
    created_at: Mapped[int] = mapped_column(BigInteger)
    last_used_at: Mapped[int] = mapped_column(BigInteger)
    tokens_sealed: Mapped[str | None] = mapped_column(Text, nullable=True)

    __table_args__ = (
        UniqueConstraint("issuer", "subject", name="uq_fastauth_identities_issuer_subject"),
        Index("ix_fastauth_identities_user", "user_id"),
    )


class OAuthStateRow(Base):
    """A provider sign-in under way (`fastauth_oauth_states`); columns = `OAuthStateRecord` fields. No
    foreign key: a sign-in that creates an account has no user yet."""

    __tablename__ = "fastauth_oauth_states"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    provider: Mapped[str] = mapped_column(String(32))
    verifier: Mapped[str] = mapped_column(String(128))
    nonce: Mapped[str] = mapped_column(String(128))
    redirect_to: Mapped[str] = mapped_column(String(2048))
    delivery: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[int] = mapped_column(BigInteger)
    expires_at: Mapped[int] = mapped_column(BigInteger)
    link_user_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    link_session_id: Mapped[str | None] = mapped_column(String(64), nullable=True)

    __table_args__ = (Index("ix_fastauth_oauth_states_expires", "expires_at"),)


class MFARow(Base):
    """A user's TOTP (`fastauth_mfa`); columns = `MFARecord` fields."""

    __tablename__ = "fastauth_mfa"

    user_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("fastauth_users.id", ondelete="CASCADE"), primary_key=True
    )
    totp_sealed: Mapped[str] = mapped_column(Text)
    created_at: Mapped[int] = mapped_column(BigInteger)
    confirmed_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    last_step: Mapped[int | None] = mapped_column(BigInteger, nullable=True)


class RecoveryCodeRow(Base):
    """A recovery code (`fastauth_recovery_codes`), kept as its keyed hash only; single-use."""

    __tablename__ = "fastauth_recovery_codes"

    code_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(64), ForeignKey("fastauth_users.id", ondelete="CASCADE"))
    created_at: Mapped[int] = mapped_column(BigInteger)
    used_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)

    __table_args__ = (Index("ix_fastauth_recovery_codes_user", "user_id"),)


class PasskeyRow(Base):
    """A user's passkey (`fastauth_passkeys`); columns = `PasskeyRecord` fields (`transports` joined
    by spaces)."""

    __tablename__ = "fastauth_passkeys"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(64), ForeignKey("fastauth_users.id", ondelete="CASCADE"))
    #: base64url; WebAuthn allows up to 1023 bytes (1364 characters).
    credential_id: Mapped[str] = mapped_column(String(1400), unique=True)
    public_key: Mapped[str] = mapped_column(Text)
    sign_count: Mapped[int] = mapped_column(BigInteger)
    user_handle: Mapped[str] = mapped_column(String(128))
    name: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[int] = mapped_column(BigInteger)
    transports: Mapped[str] = mapped_column(String(200))
    aaguid: Mapped[str] = mapped_column(String(36))
    backup_eligible: Mapped[bool] = mapped_column(Boolean)
    backed_up: Mapped[bool] = mapped_column(Boolean)
    last_used_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)

    __table_args__ = (Index("ix_fastauth_passkeys_user", "user_id"),)


class PasskeyChallengeRow(Base):
    """A WebAuthn ceremony under way (`fastauth_passkey_challenges`); columns = `PasskeyChallengeRecord`
    fields. No foreign key: a passwordless sign-in's challenge has no user yet."""

    __tablename__ = "fastauth_passkey_challenges"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    purpose: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[int] = mapped_column(BigInteger)
    expires_at: Mapped[int] = mapped_column(BigInteger)
    user_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    data: Mapped[str | None] = mapped_column(String(128), nullable=True)

    __table_args__ = (Index("ix_fastauth_passkey_challenges_expires", "expires_at"),)


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
    actor_id: Mapped[str | None] = mapped_column(String(64), nullable=True)

    __table_args__ = (
        Index("ix_fastauth_audit_user_at", "user_id", "at"),
        Index("ix_fastauth_audit_at", "at"),
    )


class RoleRow(Base):
    """A role (`fastauth_roles`); columns = `RoleRecord` fields (`permissions` joined by spaces)."""

    __tablename__ = "fastauth_roles"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    permissions: Mapped[str] = mapped_column(Text)
    description: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[int] = mapped_column(BigInteger)


class ApiKeyRow(Base):
    """An API key (`fastauth_api_keys`); columns = `ApiKeyRecord` fields (`scopes` joined by spaces).
    Only the key's SHA-256 is kept, unique: a presented key is found by it in one index lookup."""

    __tablename__ = "fastauth_api_keys"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(64), ForeignKey("fastauth_users.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(100))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    scopes: Mapped[str] = mapped_column(Text)
    created_at: Mapped[int] = mapped_column(BigInteger)
    expires_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    last_used_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    revoked_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)

    __table_args__ = (Index("ix_fastauth_api_keys_user", "user_id"),)


USERS: Table = UserRow.__table__  # type: ignore[assignment]
SESSIONS: Table = SessionRow.__table__  # type: ignore[assignment]
KEYS: Table = KeyRow.__table__  # type: ignore[assignment]
CODES: Table = CodeRow.__table__  # type: ignore[assignment]
AUDIT: Table = AuditRow.__table__  # type: ignore[assignment]
REVOKED: Table = RevokedSessionRow.__table__  # type: ignore[assignment]
IDENTITIES: Table = IdentityRow.__table__  # type: ignore[assignment]
OAUTH_STATES: Table = OAuthStateRow.__table__  # type: ignore[assignment]
MFA: Table = MFARow.__table__  # type: ignore[assignment]
RECOVERY_CODES: Table = RecoveryCodeRow.__table__  # type: ignore[assignment]
PASSKEYS: Table = PasskeyRow.__table__  # type: ignore[assignment]
PASSKEY_CHALLENGES: Table = PasskeyChallengeRow.__table__  # type: ignore[assignment]
ROLES: Table = RoleRow.__table__  # type: ignore[assignment]
API_KEYS: Table = ApiKeyRow.__table__  # type: ignore[assignment]


#: The columns of fastauth's own `User` attributes (`fields` is the application's, one column each).
_OWN = tuple(f.name for f in fields(User) if f.name != "fields")
#: The fields of `User` a change may write (an id and a creation time never change).
USER_WRITABLE = frozenset(_OWN) - {"id", "created_at"}

_TYPES: Mapping[str, Callable[[FieldSpec], TypeEngine[Any]]] = {
    "str": lambda spec: String(spec.max_length) if spec.max_length else Text(),
    "int": lambda spec: BigInteger(),
    "float": lambda spec: Float(),
    "bool": lambda spec: Boolean(),
    "datetime": lambda spec: DateTime(timezone=True),
    "date": lambda spec: Date(),
    "uuid": lambda spec: Uuid(),
}


def field_column(spec: FieldSpec) -> Column[Any]:
    """The column of one application field. A default becomes the server default too, so the revision
    that adds a NOT NULL column fills the rows that exist."""
    server_default: Any = None
    if spec.has_default and spec.default is not None:
        value = _stored(spec, spec.default)
        if isinstance(value, bool):
            server_default = true() if value else false()
        elif isinstance(value, str | int | float):
            server_default = str(value)
    return Column(spec.name, _TYPES[spec.kind](spec), nullable=spec.nullable, server_default=server_default)


@functools.cache
def users_table(model: type[UserFields] | None = None) -> Table:
    """`fastauth_users` with the columns of the application's fields (`USERS` itself without any),
    their unique constraints and indexes; a table of its own `MetaData`, for this model only."""
    specs = describe(model)
    if not specs:
        return USERS
    table = USERS.to_metadata(MetaData())
    for spec in specs:
        table.append_column(field_column(spec))
        # Unique as a unique index, not a constraint: SQLite can add an index to a table, not a constraint.
        if spec.unique:
            Index(f"uq_fastauth_users_{spec.name}", table.c[spec.name], unique=True)
        elif spec.indexed:
            Index(f"ix_fastauth_users_{spec.name}", table.c[spec.name])
    return table


def _stored(spec: FieldSpec, value: Any) -> Any:
    """A validated value as its column holds it: an enum member as its value, a datetime in UTC (a
    naive one is taken as UTC: SQLite keeps no offset, so every database stores the same instant)."""
    if isinstance(value, enum.Enum):
        return value.value
    if spec.kind == "datetime" and isinstance(value, dt.datetime) and value.tzinfo is not None:
        return value.astimezone(dt.UTC)
    return value


def _read(spec: FieldSpec, value: Any) -> Any:
    """A column's value as the model reads it: a datetime always aware, in UTC."""
    if spec.kind == "datetime" and isinstance(value, dt.datetime):
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)
    return value


class UserRows:
    """The one mapping between a `User` and its `fastauth_users` row, for one set of application
    fields (`model`, None for none): the table, the values to write, the `User` of a row."""

    def __init__(self, model: type[UserFields] | None = None) -> None:
        self.model: type[UserFields] = model if model is not None else UserFields
        self.specs = {spec.name: spec for spec in describe(model)}
        self.table = users_table(model)
        #: The names a partial change may write: fastauth's writable attributes and every field.
        self.writable = USER_WRITABLE | frozenset(self.specs)

    def values(self, user: User) -> dict[str, Any]:
        """The row of `user`: every attribute under its own name, the roles joined by spaces, each
        application field in its column."""
        values = {name: getattr(user, name) for name in _OWN}
        values["roles"] = " ".join(user.roles)
        for name, spec in self.specs.items():
            values[name] = _stored(spec, getattr(user.fields, name))
        return values

    def changes(self, changes: Mapping[str, Any]) -> dict[str, Any]:
        """Column values for a partial change (roles joined by spaces); `ValueError` for a name that is
        not writable."""
        unknown = set(changes) - self.writable
        if unknown:
            raise ValueError(f"not writable user fields: {sorted(unknown)}")
        values = {
            name: _stored(self.specs[name], value) if name in self.specs else value
            for name, value in changes.items()
        }
        if "roles" in values:
            values["roles"] = " ".join(values["roles"])
        return values

    def record(self, row: Any) -> User:
        """The `User` of a row. The fields are validated by the model again (an enum's value becomes
        its member); a value the model now refuses (the declaration changed under stored rows) is
        kept as stored and logged, so a tightened rule never locks a user out."""
        values = dict(row._mapping)
        roles = values.pop("roles")
        own = {name: values.pop(name) for name in _OWN if name != "roles"}
        values = {
            name: _read(self.specs[name], value) if name in self.specs else value
            for name, value in values.items()
        }
        fields_value: UserFields
        try:
            fields_value = self.model.model_validate(values)
        except ValidationError as error:
            log.warning(
                "user %s: stored fields %s no longer validate; kept as stored",
                own.get("id"),
                sorted({str(e["loc"][0]) for e in error.errors() if e["loc"]}),
            )
            fields_value = self.model.model_construct(**values)
        return User(**own, roles=tuple(roles.split()) if roles else (), fields=fields_value)


def session_record(row: Any) -> SessionRecord:
    """The `SessionRecord` of a `fastauth_sessions` row."""
    return SessionRecord(**row._mapping)


def key_record(row: Any) -> KeyRecord:
    """The `KeyRecord` of a `fastauth_keys` row."""
    return KeyRecord(**row._mapping)


def code_record(row: Any) -> CodeRecord:
    """The `CodeRecord` of a `fastauth_codes` row."""
    return CodeRecord(**row._mapping)


def identity_record(row: Any) -> IdentityRecord:
    """The `IdentityRecord` of a `fastauth_identities` row."""
    return IdentityRecord(**row._mapping)


def oauth_state_record(row: Any) -> OAuthStateRecord:
    """The `OAuthStateRecord` of a `fastauth_oauth_states` row."""
    return OAuthStateRecord(**row._mapping)


def audit_record(row: Any) -> AuditRecord:
    """The `AuditRecord` of a `fastauth_audit` row."""
    return AuditRecord(**row._mapping)

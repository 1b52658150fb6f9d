"""The JSON shapes of the HTTP contract (request bodies and answers), for validation and OpenAPI."""

from __future__ import annotations

import functools
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, create_model

from fastauth.fields import UserFields, describe
from fastauth.passwords import NO_PASSWORD
from fastauth.storage.base import AuditRecord, SessionRecord, User

__all__ = [
    "AuditOut",
    "ChangeEmailIn",
    "ChangePasswordIn",
    "Credentials",
    "EmailIn",
    "PasswordIn",
    "RefreshIn",
    "ResetPasswordIn",
    "SessionOut",
    "TokenIn",
    "TokenOut",
    "UserOut",
    "user_read_model",
    "utc",
]


def utc(epoch: int) -> datetime:
    """Epoch seconds as an aware UTC datetime."""
    return datetime.fromtimestamp(epoch, UTC)


class Credentials(BaseModel):
    """Register and login: email and password."""

    email: str
    password: str


class RefreshIn(BaseModel):
    """Refresh and logout: the refresh token, unless it travels in its cookie."""

    refresh_token: str | None = None


class EmailIn(BaseModel):
    """Request-verify-token and forgot-password: the address (answered alike whatever it is)."""

    email: str


class TokenIn(BaseModel):
    """Verify: the mailed code."""

    token: str


class ResetPasswordIn(BaseModel):
    """Reset-password: the mailed code and the new password."""

    token: str
    password: str


class ChangeEmailIn(BaseModel):
    """Change email: the new address, confirmed by the current password (an account without one: by a
    recent sign-in, and `password` is left out)."""

    new_email: str
    password: str | None = None


class PasswordIn(BaseModel):
    """Delete the account: the current password confirms it (an account without one: a recent
    sign-in, and `password` is left out)."""

    password: str | None = None


class ChangePasswordIn(BaseModel):
    """Change password: the current one confirms, the new one replaces it."""

    current_password: str
    new_password: str


class TokenOut(BaseModel):
    """Issued tokens; with cookie delivery the tokens themselves are in cookies, not here."""

    access_token: str | None = None
    refresh_token: str | None = None
    token_type: str = "bearer"
    expires_in: int | None = None


class UserOut(BaseModel):
    """A user as the API shows it (never the password hash); `user_read_model` adds the application's
    fields beside fastauth's own, as fastapi-users' `UserRead` has them."""

    id: str
    email: str
    is_active: bool
    is_verified: bool
    is_superuser: bool
    roles: list[str]
    created_at: datetime
    #: False for an account made by a provider sign-in: it confirms changes by a recent sign-in.
    has_password: bool = True

    @classmethod
    def of(cls, user: User) -> UserOut:
        """The public view of `user`. Not validated again: the values are the stored user's, so a field
        the model now refuses (its rule changed under stored rows) is shown as stored, not a 500."""
        return cls.model_construct(
            id=user.id,
            email=user.email,
            is_active=user.is_active,
            is_verified=user.is_verified,
            is_superuser=user.is_superuser,
            roles=list(user.roles),
            created_at=utc(user.created_at),
            has_password=user.hashed_password != NO_PASSWORD,
            **user.fields.model_dump(),
        )


@functools.cache
def user_read_model(fields: type[UserFields]) -> type[UserOut]:
    """`UserOut` with the application's fields (`UserOut` itself when there are none)."""
    if not describe(fields):
        return UserOut
    declared: dict[str, Any] = {name: (info.annotation, info) for name, info in fields.model_fields.items()}
    return create_model("UserRead", __base__=UserOut, **declared)


class SessionOut(BaseModel):
    """One live session of the caller; `current` marks the one the request comes from."""

    id: str
    created_at: datetime
    last_used_at: datetime
    expires_at: datetime
    ip: str | None
    user_agent: str | None
    current: bool

    @classmethod
    def of(cls, record: SessionRecord, current_sid: str) -> SessionOut:
        """The public view of `record`."""
        return cls(
            id=record.id,
            created_at=utc(record.created_at),
            last_used_at=utc(record.last_used_at),
            expires_at=utc(record.expires_at),
            ip=record.ip,
            user_agent=record.user_agent,
            current=record.id == current_sid,
        )


class AuditOut(BaseModel):
    """One audit record (`GET /admin/audit`): a security event, when, whose and from where; never a secret."""

    id: str
    at: datetime
    event: str
    user_id: str | None
    ip: str | None
    user_agent: str | None
    detail: str | None
    #: The administrator who acted on `user_id`'s account (None: the user, or no one).
    actor_id: str | None = None

    @classmethod
    def of(cls, record: AuditRecord) -> AuditOut:
        """The public view of `record`."""
        return cls(
            id=record.id,
            at=utc(record.at),
            event=record.event,
            user_id=record.user_id,
            ip=record.ip,
            user_agent=record.user_agent,
            detail=record.detail,
            actor_id=record.actor_id,
        )

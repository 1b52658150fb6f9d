"""`EventHooks`: the places where an application adds its own behaviour.

Subclass and override what you need; every method has a harmless default. Hooks run inside the
request, so keep them quick; an exception in any hook fails the request closed (`HookError`, a 500).
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable
from typing import Any, TypeVar

from fastauth.errors import HookError

__all__ = ["MAIL_HOOKS", "EventHooks", "Events", "sends_mail"]

T = TypeVar("T")
log = logging.getLogger("fastauth.hooks")


class EventHooks:
    """The application's hooks: override any method; the service fires each through `Events`."""

    async def modify_jwt(self, token: dict[str, Any], user: Any) -> dict[str, Any]:
        """Return the access-token claims, with any custom claims added.

        Reserved claims (`sub`, `type`, `iat`, `exp`, `nbf`, `iss`, `aud`, `jti`, `sid`, `client_id`,
        `amr`, `auth_time`; `roles` and `scope` with `authz.roles_in_token`) must come back unchanged,
        or issuing fails with `HookError`.
        """
        return token

    async def allow_signin(self, user: Any) -> bool:
        """Gate every sign-in (login and refresh); False answers 403."""
        return True

    async def on_signup(self, user: Any) -> None:
        """After a user registered."""

    async def on_signin(self, user: Any) -> None:
        """After a successful login. Declare `on_signin(self, user, provider=None)` to get the sign-in
        provider's name too (None for a password)."""

    async def on_signout(self, user: Any) -> None:
        """After a logout."""

    async def on_token_refresh(self, user: Any) -> None:
        """After a refresh rotated a session's tokens."""

    async def on_failed_login(self, email: str, ip: str | None) -> None:
        """After a refused login (wrong password, unknown email, inactive user)."""

    async def on_refresh_reuse(self, user_id: str, session_id: str) -> None:
        """Security event: an already-used refresh token came back; its session has been revoked."""

    # Account lifecycle, with fastapi-users' names. Hooks that receive a `token` get the mailed code: an
    # application that sends its own mail does it here (fastauth mails it too when a sender is set).

    async def on_after_register(self, user: Any) -> None:
        """After a user registered (with `on_signup`; the fastapi-users name)."""

    async def on_after_request_verify(self, user: Any, token: str) -> None:
        """A verification code was made for `user` (registration or `request-verify-token`)."""

    async def on_after_verify(self, user: Any) -> None:
        """`user` proved their email address."""

    async def on_after_forgot_password(self, user: Any, token: str) -> None:
        """A password-reset code was made for `user`."""

    async def on_after_reset_password(self, user: Any) -> None:
        """`user` set a new password with a reset code; every session of theirs has ended."""

    async def on_email_changed(self, user: Any, old_email: str) -> None:
        """`user` proved a new address (`user.email`); `old_email` was theirs until now."""

    async def on_after_update(self, user: Any, update_dict: dict[str, Any]) -> None:
        """Some of `user`'s own fields changed (`PATCH /auth/me`, `update_fields`): the new values."""

    async def on_account_deleted(self, user: Any) -> None:
        """`user` deleted their account (fastauth holds nothing of it any more): delete the app's data."""


#: The hooks through which an application can deliver the mailed codes itself.
MAIL_HOOKS = ("on_after_request_verify", "on_after_forgot_password")


def sends_mail(hooks: EventHooks) -> bool:
    """Whether `hooks` overrides a hook that receives a mailed code (the application mails it)."""
    return any(getattr(type(hooks), name) is not getattr(EventHooks, name) for name in MAIL_HOOKS)


class Events:
    """The one dispatcher: fastauth calls `EventHooks` methods from here and nowhere else.

    Whatever a hook raises becomes `HookError` (logged with its traceback here, answered 500 by the web
    layer), so an application's bug can never pass for a fastauth answer such as "invalid email".
    """

    def __init__(self, hooks: EventHooks | None = None) -> None:
        self.hooks = hooks if hooks is not None else EventHooks()
        parameters = inspect.signature(self.hooks.on_signin).parameters
        #: Whether the application's `on_signin` takes the provider (the seed project's signature).
        self._signin_takes_provider = "provider" in parameters

    async def _call(self, name: str, call: Awaitable[T]) -> T:
        try:
            return await call
        except Exception as error:
            log.exception("EventHooks.%s raised %s", name, type(error).__name__)
            raise HookError(f"EventHooks.{name} raised {type(error).__name__}") from error

    async def modify_jwt(self, claims: dict[str, Any], user: Any) -> dict[str, Any]:
        """The hook's claims; anything but a dict is refused."""
        result = await self._call("modify_jwt", self.hooks.modify_jwt(claims, user))
        if not isinstance(result, dict):
            raise HookError(f"EventHooks.modify_jwt returned {type(result).__name__}, not a dict")
        return result

    async def allow_signin(self, user: Any) -> bool:
        """Whether the hook lets `user` sign in (or refresh)."""
        return bool(await self._call("allow_signin", self.hooks.allow_signin(user)))

    async def signup(self, user: Any) -> None:
        """An account was created."""
        await self._call("on_signup", self.hooks.on_signup(user))

    async def signin(self, user: Any, provider: str | None = None) -> None:
        """A session was started by a first factor. An `on_signin` that takes a `provider` parameter
        (`async def on_signin(self, user, provider=None)`) gets the sign-in provider's name, None for a
        password."""
        if self._signin_takes_provider:
            await self._call("on_signin", self.hooks.on_signin(user, provider))  # type: ignore[call-arg]
        else:
            await self._call("on_signin", self.hooks.on_signin(user))

    async def signout(self, user: Any) -> None:
        """The user ended their session (or all of them)."""
        await self._call("on_signout", self.hooks.on_signout(user))

    async def token_refresh(self, user: Any) -> None:
        """A refresh rotated a session's tokens."""
        await self._call("on_token_refresh", self.hooks.on_token_refresh(user))

    async def failed_login(self, email: str, ip: str | None) -> None:
        """A login was refused."""
        await self._call("on_failed_login", self.hooks.on_failed_login(email, ip))

    async def refresh_reuse(self, user_id: str, session_id: str) -> None:
        """A spent refresh token came back and its session was revoked."""
        await self._call("on_refresh_reuse", self.hooks.on_refresh_reuse(user_id, session_id))

    async def registered(self, user: Any) -> None:
        """An account was created: `on_signup`, then `on_after_register`."""
        await self._call("on_signup", self.hooks.on_signup(user))
        await self._call("on_after_register", self.hooks.on_after_register(user))

    async def verification_requested(self, user: Any, code: str) -> None:
        """A verification code was made."""
        await self._call("on_after_request_verify", self.hooks.on_after_request_verify(user, code))

    async def verified(self, user: Any) -> None:
        """An email address was proven."""
        await self._call("on_after_verify", self.hooks.on_after_verify(user))

    async def reset_requested(self, user: Any, code: str) -> None:
        """A password-reset code was made."""
        await self._call("on_after_forgot_password", self.hooks.on_after_forgot_password(user, code))

    async def password_reset(self, user: Any) -> None:
        """A password was reset with a code."""
        await self._call("on_after_reset_password", self.hooks.on_after_reset_password(user))

    async def email_changed(self, user: Any, old_email: str) -> None:
        """An account moved to a new, proven address."""
        await self._call("on_email_changed", self.hooks.on_email_changed(user, old_email))

    async def updated(self, user: Any, changes: dict[str, Any]) -> None:
        """Some user fields changed."""
        await self._call("on_after_update", self.hooks.on_after_update(user, dict(changes)))

    async def account_deleted(self, user: Any) -> None:
        """An account is gone."""
        await self._call("on_account_deleted", self.hooks.on_account_deleted(user))

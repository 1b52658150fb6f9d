"""`EventHooks`: the places where an application adds its own behaviour.

Subclass and override what you need; every method has a harmless default. Hooks run inside the
request, so keep them quick; an exception in `modify_jwt` or `allow_signin` fails the request closed.
"""

from __future__ import annotations

from typing import Any

__all__ = ["EventHooks"]


class EventHooks:
    async def modify_jwt(self, token: dict[str, Any], user: Any) -> dict[str, Any]:
        """Return the access-token claims, with any custom claims added.

        Reserved claims (`sub`, `type`, `iat`, `exp`, `nbf`, `iss`, `aud`, `jti`, `sid`) must come back
        unchanged, or issuing fails with `HookError`.
        """
        return token

    async def allow_signin(self, user: Any) -> bool:
        """Gate every sign-in (login and refresh); False answers 403."""
        return True

    async def on_signup(self, user: Any) -> None:
        """After a user registered."""

    async def on_signin(self, user: Any) -> None:
        """After a successful login."""

    async def on_signout(self, user: Any) -> None:
        """After a logout."""

    async def on_token_refresh(self, user: Any) -> None:
        """After a refresh rotated a session's tokens."""

    async def on_failed_login(self, email: str, ip: str | None) -> None:
        """After a refused login (wrong password, unknown email, inactive user)."""

    async def on_refresh_reuse(self, user_id: str, session_id: str) -> None:
        """Security event: an already-used refresh token came back; its session has been revoked."""

"""Login and registration throttling through the `limits` library, checked before any hashing."""

from __future__ import annotations

import math
import time
from typing import Any

from limits import RateLimitItem, parse
from limits.aio.strategies import MovingWindowRateLimiter
from limits.storage import storage_from_string

from fastauth.errors import RateLimited, StoreUnavailable

__all__ = ["RateLimits"]


def _async_uri(uri: str) -> str:
    return uri if uri.startswith("async+") else "async+" + uri


class RateLimits:
    """Per-account and per-IP login limits, per-IP registration limits, and the mail flows' limits:
    per address and per IP for requests that mail a code, per IP for requests that present one."""

    def __init__(
        self,
        *,
        enabled: bool,
        storage_uri: str,
        login_per_account: str,
        login_per_ip: str,
        register_per_ip: str,
        email_per_account: str = "5/hour",
        email_per_ip: str = "30/hour",
        code_per_ip: str = "60/hour",
        api_key: str = "600/minute",
    ) -> None:
        self.enabled = enabled
        uri = _async_uri(storage_uri)
        options: dict[str, Any] = {}
        if uri.startswith(("async+redis", "async+rediss")):
            from fastauth.storage.redis import client_options

            # fastauth's own Redis settings: a connection dead since a restart is retried once on a
            # fresh one, so the first login afterwards is not refused.
            options = {"implementation": "redispy", **client_options()}
        self._limiter = MovingWindowRateLimiter(storage_from_string(uri, **options))
        self.login_per_account = parse(login_per_account)
        self.login_per_ip = parse(login_per_ip)
        self.register_per_ip = parse(register_per_ip)
        self.email_per_account = parse(email_per_account)
        self.email_per_ip = parse(email_per_ip)
        self.code_per_ip = parse(code_per_ip)
        self.api_key = parse(api_key)

    async def _hit(self, item: RateLimitItem, *key: str) -> None:
        try:
            allowed = await self._limiter.hit(item, *key)
            if not allowed:
                stats = await self._limiter.get_window_stats(item, *key)
        except Exception as error:  # the storage (Redis) is down: fail closed, never unlimited
            raise StoreUnavailable(f"rate-limit storage unavailable: {type(error).__name__}") from error
        if not allowed:
            raise RateLimited(max(1, math.ceil(stats.reset_time - time.time())))

    async def check_login(self, account: str, ip: str | None) -> None:
        """A login (or a password confirmation) for `account` from `ip`; `RateLimited` over budget."""
        if not self.enabled:
            return
        await self._hit(self.login_per_ip, "fastauth-login-ip", ip or "unknown")
        await self._hit(self.login_per_account, "fastauth-login-account", account)

    async def check_oauth(self, ip: str | None) -> None:
        """A provider sign-in started or finished from `ip` (under the login budget's per-IP rate): each
        start stores a state, so a flood must not fill the store."""
        if self.enabled:
            await self._hit(self.login_per_ip, "fastauth-oauth-ip", ip or "unknown")

    async def check_passkey(self, ip: str | None) -> None:
        """A passwordless passkey ceremony started or finished from `ip` (under the login budget's
        per-IP rate): each start stores a challenge, and no account is known before the answer."""
        if self.enabled:
            await self._hit(self.login_per_ip, "fastauth-passkey-ip", ip or "unknown")

    async def check_register(self, ip: str | None) -> None:
        """A registration from `ip`; `RateLimited` over budget."""
        if self.enabled:
            await self._hit(self.register_per_ip, "fastauth-register-ip", ip or "unknown")

    async def check_email(self, account: str, ip: str | None) -> None:
        """A request that mails a code to `account` (forgot-password, request-verify-token, change-email)."""
        if not self.enabled:
            return
        await self._hit(self.email_per_ip, "fastauth-email-ip", ip or "unknown")
        await self._hit(self.email_per_account, "fastauth-email-account", account)

    async def check_code(self, ip: str | None) -> None:
        """A request that presents a mailed code (verify, reset-password, change-email/confirm)."""
        if self.enabled:
            await self._hit(self.code_per_ip, "fastauth-code-ip", ip or "unknown")

    async def check_api_key(self, key_id: str) -> None:
        """A request made with the API key `key_id`."""
        if self.enabled:
            await self._hit(self.api_key, "fastauth-api-key", key_id)

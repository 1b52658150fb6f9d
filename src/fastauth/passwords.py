"""Password hashing: argon2id through pwdlib, always off the event loop.

The default profile is OWASP's m=19 MiB, t=2, p=1 (about 0.1 s on a small machine): strong, and
cheap enough that login is not a denial-of-service lever once rate limits sit in front of it.
Unknown users are verified against a dummy hash of the same cost, so the answer takes as long as for
a wrong password.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from dataclasses import dataclass

from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher

__all__ = ["NO_PASSWORD", "OWASP_ARGON2", "Argon2Params", "PasswordHasher"]

#: The stored hash of an account without a password (it signs in through a provider): no password
#: verifies against it, and a reset gives the account one.
NO_PASSWORD = "!"


@dataclass(frozen=True, slots=True)
class Argon2Params:
    """argon2id cost parameters: passes, memory in KiB, lanes."""

    time_cost: int = 2
    memory_cost: int = 19456  # KiB
    parallelism: int = 1


#: OWASP Password Storage cheat sheet minimum (argon2id m=19 MiB, t=2, p=1).
OWASP_ARGON2 = Argon2Params()


class PasswordHasher:
    """Hash and verify in a worker thread; re-hash when the parameters change."""

    def __init__(self, params: Argon2Params = OWASP_ARGON2) -> None:
        self.params = params
        self._hash = PasswordHash(
            (
                Argon2Hasher(
                    time_cost=params.time_cost, memory_cost=params.memory_cost, parallelism=params.parallelism
                ),
            )
        )
        self._dummy: str | None = None

    async def hash(self, password: str) -> str:
        """An argon2id hash of `password`, computed in a worker thread."""
        return await asyncio.to_thread(self._hash.hash, password)

    async def verify(self, password: str, hashed: str | None) -> tuple[bool, str | None]:
        """(matches, new hash or None). `hashed=None` (unknown user) checks a dummy hash and fails."""
        if hashed is None:
            if self._dummy is None:
                self._dummy = await self.hash(secrets.token_urlsafe(24))
            with contextlib.suppress(Exception):  # same failures, same answer as for a real user
                await asyncio.to_thread(self._hash.verify_and_update, password, self._dummy)
            return False, None
        try:
            return await asyncio.to_thread(self._hash.verify_and_update, password, hashed)
        except Exception:  # an unreadable stored hash fails closed, like a wrong password
            return False, None

"""One-time codes: email verification, password reset, email change, and the exchange of a provider
sign-in for tokens (`oauth_exchange`, for SPAs and mobile apps: never tokens in a URL).

A code is `secrets.token_urlsafe(32)` (256 random bits), handed to the caller to mail and stored only
as its SHA-256 (`CodeRecord.code_hash`), bound to one user and one purpose, live until it expires or is
consumed, consumed at most once (the store's compare-and-set). Issuing a code voids the older codes of
its user and purpose. Every refusal (unknown, expired, used, voided, malformed, another purpose's) is
the same `InvalidCode`, so an answer tells nothing about why.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Literal, get_args

from fastauth.errors import InvalidCode
from fastauth.storage.base import CodeRecord, CodeStore

__all__ = ["OAUTH_EXCHANGE_TTL", "PURPOSES", "OneTimeCodes", "Purpose", "code_hash"]

Purpose = Literal["verify_email", "reset_password", "change_email", "oauth_exchange", "mfa_challenge"]
PURPOSES: tuple[Purpose, ...] = get_args(Purpose)

#: The longest text looked up at all; issued codes are 43 characters.
MAX_CODE_LENGTH = 256
#: Seconds the one-time code of a provider sign-in (SPA and mobile delivery) waits for its exchange.
OAUTH_EXCHANGE_TTL = 60
#: Seconds a sign-in waits for its second factor (`jwt.mfa_token_ttl` in a service).
MFA_CHALLENGE_TTL = 300
_CODE = re.compile(r"[A-Za-z0-9_-]+")
#: The one message of every refusal.
_REFUSED = "invalid or expired code"


def code_hash(code: str) -> str:
    """The hex SHA-256 a code is stored and looked up under."""
    return hashlib.sha256(code.encode("ascii")).hexdigest()


def _checked_hash(code: object) -> str:
    """The hash of a well-formed code; `InvalidCode` for anything else (no store call is made)."""
    if not isinstance(code, str) or len(code) > MAX_CODE_LENGTH or not _CODE.fullmatch(code):
        raise InvalidCode(_REFUSED)
    return code_hash(code)


class OneTimeCodes:
    """Purpose-bound single-use codes: random, hashed, consumed once."""

    def __init__(
        self, store: CodeStore, *, lifetimes: Mapping[str, int], clock: Callable[[], float] = time.time
    ) -> None:
        """`lifetimes`: the seconds a code of each purpose lives (the mailed purposes are needed; an
        `oauth_exchange` code lives `OAUTH_EXCHANGE_TTL` unless given); `clock`: the epoch time."""
        lifetimes = {"oauth_exchange": OAUTH_EXCHANGE_TTL, "mfa_challenge": MFA_CHALLENGE_TTL, **lifetimes}
        for purpose in PURPOSES:
            lifetime = lifetimes.get(purpose)
            if not isinstance(lifetime, int) or isinstance(lifetime, bool) or lifetime <= 0:
                raise ValueError(f"lifetimes[{purpose!r}] must be a positive number of seconds")
        self.store = store
        self.lifetimes = dict(lifetimes)
        self._clock = clock

    def _now(self) -> int:
        return int(self._clock())

    async def issue(self, user_id: str, purpose: Purpose, *, data: str | None = None) -> str:
        """A new code for the user and purpose, to be mailed; the older codes of the purpose are voided.
        Only its hash is stored, with `data` (e.g. the new email of an email change)."""
        if purpose not in PURPOSES:
            raise ValueError(f"unknown purpose {purpose!r}")
        code = secrets.token_urlsafe(32)
        now = self._now()
        record = CodeRecord(
            id=secrets.token_hex(16),
            user_id=user_id,
            purpose=purpose,
            code_hash=code_hash(code),
            created_at=now,
            expires_at=now + self.lifetimes[purpose],
            data=data,
        )
        await self.store.insert_code(record, void_older=True)
        return code

    async def check(self, code: str, purpose: Purpose) -> CodeRecord:
        """The live code's record, left unconsumed (e.g. to check a new password before spending it);
        `InvalidCode` otherwise."""
        hashed = _checked_hash(code)
        record = await self.store.find_code(hashed, purpose, self._now())
        if record is None:
            raise InvalidCode(_REFUSED)
        return record

    async def consume(self, code: str, purpose: Purpose) -> CodeRecord:
        """Spend the code now and return its record: of concurrent uses exactly one succeeds, the others
        (and every later use) get `InvalidCode`, as does a code that is not live."""
        hashed = _checked_hash(code)
        record = await self.store.consume_code(hashed, purpose, self._now())
        if record is None:
            raise InvalidCode(_REFUSED)
        return record

    async def void(self, user_id: str, purposes: Iterable[Purpose]) -> int:
        """Void the user's live codes of these purposes (a password change voids reset and email-change
        codes); returns how many."""
        return await self.store.void_codes(user_id, tuple(purposes), self._now())

    async def prune(self) -> int:
        """Delete the codes that expired or were spent before now; returns how many."""
        return await self.store.prune_codes(self._now())

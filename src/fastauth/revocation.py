"""Which sessions are revoked, answered from memory on every request.

An access token carries its session id (`sid`); revoking the session therefore revokes every access
token of it at once. An entry lives only as long as a token of that session could still be valid
(revoked_at + access-token lifetime + leeway), so the list never grows without bound. The database
stays the source of truth: on start-up the list is warmed from recently revoked sessions.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable
from typing import Protocol, runtime_checkable

__all__ = ["MemoryRevocationList", "RevocationList"]


@runtime_checkable
class RevocationList(Protocol):
    """Which sessions are revoked: asked on every request, so an answer must be cheap."""

    async def revoke(self, session_ids: Iterable[str], until: int) -> None:
        """Refuse these sessions' tokens until `until` (epoch seconds)."""

    async def is_revoked(self, session_id: str, now: int) -> bool:
        """Whether tokens of the session are refused at `now`."""


class MemoryRevocationList:
    """One process's revocation list: a dict plus a heap of expiry times for pruning."""

    def __init__(self) -> None:
        self._until: dict[str, int] = {}
        self._expiries: list[tuple[int, str]] = []

    async def revoke(self, session_ids: Iterable[str], until: int) -> None:
        """Refuse these sessions' tokens until `until` (a later `until` wins)."""
        for sid in session_ids:
            if until > self._until.get(sid, 0):
                self._until[sid] = until
                heapq.heappush(self._expiries, (until, sid))

    async def is_revoked(self, session_id: str, now: int) -> bool:
        """Whether the session is refused at `now` (entries past their `until` are pruned first)."""
        if self._expiries and self._expiries[0][0] <= now:
            self._prune(now)
        return session_id in self._until

    def _prune(self, now: int) -> None:
        while self._expiries and self._expiries[0][0] <= now:
            until, sid = heapq.heappop(self._expiries)
            if self._until.get(sid) == until:
                del self._until[sid]

    def __len__(self) -> int:
        return len(self._until)

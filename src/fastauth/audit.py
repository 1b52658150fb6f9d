"""The audit log: one record per security event (account-security §9), kept `audit_retention_days`.

    audit = Audit(store, retention=90 * 86400)
    await audit.record("signin", user_id=user.id, ip="203.0.113.7", user_agent="curl/8.5")

A record says when, what, whose and from where; its `detail` is a short note (an address, a session
id, a key id), never a password, a code or a token. Recording never fails the flow it records: a store
failure is logged and the flow goes on. The service records every event named in `EVENTS`.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Callable
from typing import Literal, get_args

from fastauth.storage.base import AuditRecord, AuditStore

__all__ = ["DAY", "EVENTS", "Audit", "AuditEvent"]

log = logging.getLogger("fastauth.audit")

#: The security events, written once. `signin_failed` has no user (the email is its detail); the
#: key events have none either (an operator's act).
AuditEvent = Literal[
    "signup",
    "signin",
    "signin_failed",
    "signout",
    "refresh_reuse",
    "password_changed",
    "reset_requested",
    "password_reset",
    "verification_requested",
    "email_verified",
    "email_change_requested",
    "email_changed",
    "account_deleted",
    "identity_linked",
    "identity_unlinked",
    "mfa_enabled",
    "mfa_disabled",
    "mfa_failed",
    "recovery_codes_regenerated",
    "recovery_code_used",
    "passkey_added",
    "passkey_removed",
    "passkey_renamed",
    "passkey_failed",
    "passkey_cloned",
    "key_rotated",
    "key_retired",
    "role_created",
    "role_changed",
    "role_deleted",
    "user_changed",
    "roles_changed",
    "sessions_ended",
    "api_key_created",
    "api_key_revoked",
    "token_revoked",
]
EVENTS: tuple[str, ...] = get_args(AuditEvent)

DAY = 86400
#: The column sizes of `fastauth_audit`: longer values are cut.
_IP, _USER_AGENT, _DETAIL = 64, 512, 200


def _cut(value: str | None, size: int) -> str | None:
    return value[:size] or None if value is not None else None


class Audit:
    """Records security events in an `AuditStore`, reads them back, prunes them past the retention.

    `enabled=False` records nothing (reading and pruning still work); `retention` is in seconds. At
    most once a day a `record` also prunes, so a process that runs for months keeps the retention too.
    """

    def __init__(
        self,
        store: AuditStore,
        *,
        enabled: bool = True,
        retention: int = 90 * DAY,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.enabled = enabled
        self.retention = retention
        self.clock = clock
        self._last_ns = 0
        self._next_prune: int | None = None

    def _new_id(self) -> str:
        """Unique, and increasing within the process: records of one second keep their order."""
        ns = max(time.time_ns(), self._last_ns + 1)
        self._last_ns = ns
        return f"{ns:019d}{secrets.token_hex(6)}"

    async def record(
        self,
        event: AuditEvent,
        /,
        *,
        user_id: str | None,
        ip: str | None = None,
        user_agent: str | None = None,
        detail: str | None = None,
        actor_id: str | None = None,
    ) -> None:
        """Store one record of `event`; a failure to store it is logged, never raised (an event not in
        `EVENTS` is a bug: `ValueError`). `actor_id`: the administrator who acted on `user_id`."""
        if event not in EVENTS:
            raise ValueError(f"unknown audit event {event!r}")
        if not self.enabled:
            return
        now = int(self.clock())
        record = AuditRecord(
            id=self._new_id(),
            at=now,
            event=event,
            user_id=user_id,
            ip=_cut(ip, _IP),
            user_agent=_cut(user_agent, _USER_AGENT),
            detail=_cut(detail, _DETAIL),
            actor_id=actor_id,
        )
        try:
            await self.store.insert_audit(record)
        except Exception as error:  # the flow it records goes on
            log.error("audit record %s not stored: %s", event, type(error).__name__)
            return
        if self._next_prune is not None and now >= self._next_prune:
            await self.prune_quietly()

    async def read(
        self, *, user_id: str | None = None, before: int | None = None, limit: int = 100
    ) -> list[AuditRecord]:
        """At most `limit` records, newest first: only `user_id`'s, only those before `before` when given."""
        return await self.store.list_audit(user_id=user_id, before=before, limit=limit)

    async def prune(self) -> int:
        """Delete the records older than the retention; returns how many."""
        now = int(self.clock())
        self._next_prune = now + DAY
        return await self.store.prune_audit(now - self.retention)

    async def prune_quietly(self) -> int:
        """`prune()`, with a failure logged instead of raised (start-up, and the daily prune): 0 then."""
        try:
            return await self.prune()
        except Exception as error:
            log.warning("audit records not pruned: %s", type(error).__name__)
            return 0

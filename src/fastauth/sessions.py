"""Login sessions: each one a refresh-token family that can be listed and revoked.

Start: a new session row and a token pair. Refresh: the presented refresh token's `jti` is consumed
with one compare-and-set; the winner gets a new pair, and a `jti` that is no longer current means the
token was used before, so the whole session is revoked (RFC 9700 §4.14.2). Revocation is keyed on the
session id, never on token text, and reaches the session's access tokens through the revocation list.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from fastauth.accounts import Accounts
from fastauth.errors import ExpiredToken, RevokedToken, SigninNotAllowed, UnknownKey
from fastauth.hooks import Events
from fastauth.revocation import RevocationList
from fastauth.storage.base import SessionRecord, SessionStore, User
from fastauth.tokens.claims import ACCESS, AUTHZ_CLAIMS, REFRESH, RESERVED_CLAIMS, custom_claims
from fastauth.tokens.engine import TokenEngine, VerifiedToken, new_token_id

if TYPE_CHECKING:
    from fastauth.audit import Audit
    from fastauth.keys.manager import KeyManager

__all__ = ["Sessions", "TokenPair", "revocation_horizon"]


def revocation_horizon(engine: TokenEngine, session_max_age: int) -> int:
    """Seconds after a revocation during which a token of that session could still verify."""
    return (engine.access_ttl or session_max_age) + engine.leeway + 1


@dataclass(frozen=True, slots=True)
class TokenPair:
    """What a sign-in or a refresh hands out: the two tokens and when they end."""

    access_token: str
    refresh_token: str
    expires_in: int | None
    session_id: str
    refresh_expires_at: int | None
    token_type: str = "bearer"
    #: Seconds the refresh token lives, counted from the signing instant (a cookie's Max-Age: counted
    #: from the answer's own clock it could come out a second short).
    refresh_expires_in: int | None = None


class Sessions:
    """Login sessions (refresh-token families): start, rotate, detect reuse, revoke, list, warm, prune."""

    def __init__(
        self,
        store: SessionStore,
        accounts: Accounts,
        engine: TokenEngine,
        revocation: RevocationList,
        events: Events,
        *,
        session_max_age: int,
        refresh_reuse_grace: int = 0,
        keys: KeyManager | None = None,
        audit: Audit | None = None,
        authorization: Callable[[User], Awaitable[Mapping[str, Any]]] | None = None,
    ) -> None:
        self.store = store
        self.accounts = accounts
        self.engine = engine
        self.revocation = revocation
        self.events = events
        self.session_max_age = session_max_age
        #: Seconds during which the refresh token spent by the latest rotation is refused without
        #: revoking the session (RFC 9700 / Auth0 "rotation overlap"); 0 = every reuse revokes.
        self.refresh_reuse_grace = refresh_reuse_grace
        #: Set when keys come from a shared key store: signing checks rotation first, and a token
        #: with an unknown kid triggers one (rate-limited) reload before it is refused.
        self.keys = keys
        #: Where a detected reuse is recorded (`refresh_reuse`), beside its hook.
        self.audit = audit
        #: What the access token says the user may do (`roles`, `scope`), when fastauth writes it
        #: (`authz.roles_in_token`: `Roles.claims_for`). Read at each sign-in and refresh.
        self.authorization = authorization

    def now(self) -> int:
        """The engine's clock, in whole seconds."""
        return int(self.engine.clock())

    @property
    def revocation_horizon(self) -> int:
        """How long after revocation a token of the session could still verify."""
        return revocation_horizon(self.engine, self.session_max_age)

    async def verify(self, token: object, kind: str) -> VerifiedToken:
        """Verify (no revocation check); a kid new to this process reloads the shared keys once, under the
        key manager's `KidReload` rate limit (another process may just have published it)."""
        keys = self.keys
        try:
            return self.engine.verify(token, kind)  # the hot path: no coroutine, no closure
        except UnknownKey:
            if keys is None or not await keys.unknown_kid.reload(keys.refresh):
                raise
        return self.engine.verify(token, kind)

    async def _pair(self, user: User, session: SessionRecord, refresh_jti: str, now: int) -> TokenPair:
        if self.keys is not None:
            await self.keys.maybe_refresh()  # lazy rotation check, cheap unless something is due
        base = self.engine.access_claims(user.id, session.id, not_after=session.expires_at, now=now)
        # How and when the session's user signed in (RFC 8176, RFC 9068 §2.2.1): the session's, so a
        # refresh repeats them and never upgrades them.
        base["auth_time"] = session.created_at
        if session.amr:
            base["amr"] = session.amr.split()
        reserved = RESERVED_CLAIMS
        if self.authorization is not None:
            base.update(await self.authorization(user))
            reserved = RESERVED_CLAIMS | AUTHZ_CLAIMS
        modified = await self.events.modify_jwt(dict(base), user)
        access = self.engine.sign_access({**custom_claims(base, modified, reserved), **base})
        refresh = self.engine.issue_refresh(
            user.id, session.id, jti=refresh_jti, not_after=session.expires_at, now=now
        )
        expires_in = access.expires_at - now if access.expires_at is not None else None
        refresh_in = refresh.expires_at - now if refresh.expires_at is not None else None
        return TokenPair(
            access.token,
            refresh.token,
            expires_in,
            session.id,
            refresh.expires_at,
            refresh_expires_in=refresh_in,
        )

    async def start(
        self,
        user: User,
        *,
        ip: str | None = None,
        user_agent: str | None = None,
        create_user: bool = False,
        amr: tuple[str, ...] = ("pwd",),
    ) -> TokenPair:
        """A fresh session (never reusing one: no fixation) and its first token pair.

        With `create_user` the user row is inserted in the same transaction as the session, so a failure
        leaves neither behind (registration). The `allow_signin` gate is the caller's (the service).
        `amr`: how the user signed in (RFC 8176), carried by every token of the session.
        """
        now = self.now()
        jti = new_token_id()
        session = SessionRecord(
            id=new_token_id(),
            user_id=user.id,
            refresh_jti=jti,
            created_at=now,
            last_used_at=now,
            expires_at=now + self.session_max_age,
            ip=ip,
            user_agent=(user_agent or "")[:512] or None,
            amr=" ".join(amr),
        )
        # Sign first: a failing `modify_jwt` hook must not leave a session row without tokens behind.
        pair = await self._pair(user, session, jti, now)
        if create_user:
            await self.store.create_user_with_session(user, session)
        else:
            await self.store.create_session(session)
        return pair

    async def refresh(
        self, refresh_token: object, *, ip: str | None = None, user_agent: str | None = None
    ) -> tuple[User, TokenPair]:
        """Rotate: exactly one caller per refresh token wins; a reused token revokes its session (and is
        audited with the presenter's `ip` and `user_agent`)."""
        seen = {"ip": ip, "user_agent": user_agent}
        token = await self.verify(refresh_token, REFRESH)
        now = self.now()
        session = await self.store.get_session(token.sid)
        if session is None or session.user_id != token.sub or session.revoked_at is not None:
            raise RevokedToken("session revoked")
        if session.expires_at <= now:
            raise ExpiredToken("session has reached its maximum age")
        if session.refresh_jti != token.jti:
            await self._reuse_detected(session, token.jti, now, **seen)
        user = await self.accounts.get_user(token.sub, fresh=True)
        if user is None or not user.is_active:
            await self.revoke(session.id)
            raise RevokedToken("user is gone or inactive")
        if not await self.events.allow_signin(user):
            raise SigninNotAllowed("sign-in refused")
        new_jti = new_token_id()
        # Sign before consuming: a failing `modify_jwt` hook must not spend the presented token.
        pair = await self._pair(user, session, new_jti, now)
        if not await self.store.rotate_refresh(session.id, token.jti, new_jti, now):
            # Lost the race, or it was used between our read and our write.
            current = await self.store.get_session(session.id)
            await self._reuse_detected(current or session, token.jti, now, **seen)
        self.accounts.cache.put(user)
        return user, pair

    async def _reuse_detected(
        self,
        session: SessionRecord,
        jti: str,
        now: int,
        *,
        ip: str | None = None,
        user_agent: str | None = None,
    ) -> None:
        """A spent refresh token came back: revoke the family, unless it is the grace-window case.

        With `refresh_reuse_grace` > 0, the token spent by the latest rotation, presented within that
        many seconds (two tabs refreshing at once), is refused without revoking the session. It never
        yields tokens: only the winner of the rotation holds the new pair. Any older token is reuse.
        """
        grace = self.refresh_reuse_grace
        if (
            grace
            and session.revoked_at is None
            and session.previous_jti == jti
            and session.rotated_at is not None
            and now - session.rotated_at <= grace
        ):
            raise RevokedToken("refresh token already rotated (within the grace window)")
        if session.revoked_at is not None or not await self.revoke(session.id):
            # Ended meanwhile (a sign-out, or a concurrent caller that detected the reuse first): no
            # second alert for one session, and no false alert for a refresh racing a sign-out.
            raise RevokedToken("session revoked")
        if self.audit is not None:
            await self.audit.record(
                "refresh_reuse",
                user_id=session.user_id,
                ip=ip,
                user_agent=user_agent,
                detail=f"session {session.id}",
            )
        await self.events.refresh_reuse(session.user_id, session.id)
        raise RevokedToken("refresh token reuse")

    async def check_access(self, access_token: object) -> VerifiedToken:
        """Verify an access token and refuse it if its session was revoked (a memory lookup)."""
        token = await self.verify(access_token, ACCESS)
        if await self.revocation.is_revoked(token.sid, self.now()):
            raise RevokedToken("session revoked")
        return token

    async def revoke(self, session_id: str) -> bool:
        """End one session (store and revocation list); True if it was live."""
        now = self.now()
        revoked = await self.store.revoke_session(session_id, now)
        await self.revocation.revoke([session_id], now + self.revocation_horizon)
        return revoked

    async def revoke_all(self, user_id: str, *, except_session: str | None = None) -> list[str]:
        """End every live session of a user (but one); returns the ended ids."""
        now = self.now()
        ids = await self.store.revoke_user_sessions(user_id, now, except_session=except_session)
        await self.revocation.revoke(ids, now + self.revocation_horizon)
        return ids

    async def list(self, user_id: str) -> list[SessionRecord]:
        """The user's live sessions, newest first."""
        return await self.store.list_sessions(user_id, self.now())

    async def warm(self) -> None:
        """Load sessions revoked recently enough that their tokens could still be presented."""
        now = self.now()
        for sid, revoked_at in await self.store.revoked_since(now - self.revocation_horizon):
            await self.revocation.revoke([sid], revoked_at + self.revocation_horizon)

    async def prune(self) -> int:
        """Delete sessions that ended long enough ago that no token of theirs can verify."""
        return await self.store.prune_sessions(self.now() - self.revocation_horizon)

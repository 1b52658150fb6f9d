"""`AuthService`: the composition root, framework-free.

    service = AuthService.from_config(FastAuthConfig(...))
    await service.startup()
    user, pair = await service.sign_in("ada@example.com", "correct horse battery staple")
    user, pair = await service.refresh(pair.refresh_token)
    await service.end_session(user, pair.session_id)
    await service.aclose()

It builds accounts, sessions, the token engine, the shared key manager, revocation, rate limits and
the event dispatcher by constructor injection, and it owns every decision a sign-in path needs: the
rate-limit keys, the `allow_signin` gate, which sessions a logout ends, who may end a session, which
hooks fire. The web layer (`fastauth.web`), the CLI and `contrib/` all start from here; nothing here
imports FastAPI or Starlette.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import dataclasses
import hashlib
import hmac
import json
import logging
import secrets
import time
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from typing import Any

import httpx
from pydantic import ValidationError

from fastauth.accounts import Accounts, UserCache, normalize_email, rate_limit_key
from fastauth.accounts.one_time import PURPOSES, OneTimeCodes, Purpose
from fastauth.accounts.users import new_user_id
from fastauth.audit import DAY, Audit
from fastauth.authz import ADMIN, REVOKE, ApiKeys, Principal, Roles, check_permission, looks_like_api_key
from fastauth.config import FastAuthConfig
from fastauth.errors import (
    AlreadyVerified,
    ApiKeyNotFound,
    ConfigError,
    EmailNotVerified,
    EmailTaken,
    FastAuthError,
    FieldTaken,
    IdentityNotFound,
    InvalidApiKey,
    InvalidChangeEmailToken,
    InvalidCode,
    InvalidCredentials,
    InvalidCursor,
    InvalidEmail,
    InvalidMFACode,
    InvalidPasskey,
    InvalidResetToken,
    InvalidScope,
    InvalidUserFields,
    InvalidVerifyToken,
    LastSignInMethod,
    MailOff,
    MFAAlreadyEnabled,
    MFANotEnabled,
    MFARequired,
    NotAuthenticated,
    OAuthError,
    OAuthStateInvalid,
    PasskeyCloned,
    PasskeyNotFound,
    PasskeysOff,
    PermissionDenied,
    RecentSignInRequired,
    RevokedToken,
    SessionNotFound,
    SigninNotAllowed,
    StoreUnavailable,
    TokenError,
    UnknownProvider,
    UserNotFound,
)
from fastauth.fields import FieldSpec, UserFields, Username, describe
from fastauth.hooks import EventHooks, Events, sends_mail
from fastauth.keys.manager import KeyManager
from fastauth.keys.sealing import seal
from fastauth.mail import MAIL_OFF, MailTemplates, Outbox, sender_from_config
from fastauth.mfa import Totp, new_recovery_codes, recovery_hash
from fastauth.mfa.passkeys import PASSKEY_ID, Passkeys, VerifiedPasskey, amr_of, clean_name
from fastauth.oauth import OAuthFlows, OAuthOutcome, decide, providers_from_config
from fastauth.oauth.providers import ProviderIdentity
from fastauth.passwords import NO_PASSWORD, PasswordHasher
from fastauth.ratelimits import RateLimits
from fastauth.revocation import MemoryRevocationList, RevocationList
from fastauth.sessions import Sessions, TokenPair, revocation_horizon
from fastauth.storage.base import (
    ApiKeyRecord,
    IdentityRecord,
    KeyRecord,
    MFARecord,
    PasskeyRecord,
    RoleRecord,
    SessionRecord,
    Store,
    User,
)
from fastauth.storage.redis import RedisEvents, RedisRevocationList, check_no_eviction
from fastauth.tokens.claims import REFRESH
from fastauth.tokens.engine import TokenEngine, VerifiedToken, new_token_id
from fastauth.tokens.keyring import KeyRing
from fastauth.tokens.kinds import MFA

__all__ = ["AuthService", "TotpSetup"]

log = logging.getLogger("fastauth")

#: Background mail steps that may wait at once, and the seconds `aclose` waits for them.
MAX_BACKGROUND = 1000
SETTLE_TIMEOUT = 10.0

#: A password change or reset voids the codes that could take the account over (account-security §1).
#: A sign-in waiting for its second factor (an MFA token) began with the old password: voided too.
_VOIDED_BY_PASSWORD_CHANGE: tuple[Purpose, ...] = ("reset_password", "change_email", "mfa_challenge")
#: The start-up line of a server without passkeys.
PASSKEYS_OFF = (
    "passkeys are off: they need an RP ID that is a domain name; set FASTAUTH_PUBLIC_URL to a URL on "
    "a domain (http://localhost:8000 in development) or FASTAUTH_PASSKEYS__RP_ID and __ORIGINS"
)


def _default_store(config: FastAuthConfig) -> Store:
    """The SQLAlchemy store for `database_url`, with the configured pool for server databases."""
    from fastauth.storage.sqlalchemy import SQLAlchemyAdapter

    pool: dict[str, Any] = {}
    if not config.database_url.startswith("sqlite"):
        pool = {"pool_size": config.database_pool_size, "max_overflow": config.database_max_overflow}
    return SQLAlchemyAdapter(config.database_url, user_fields=config.user_fields, **pool)


def _field_errors(error: ValidationError) -> InvalidUserFields:
    """The refusal naming each refused field and why (pydantic's message, never the value)."""
    parts = [f"{'.'.join(str(p) for p in e['loc']) or 'fields'}: {e['msg']}" for e in error.errors()]
    return InvalidUserFields("invalid user fields: " + "; ".join(parts))


def _roles_from_config(config: FastAuthConfig, store: Store, clock: Callable[[], float]) -> Roles:
    return Roles(store, configured=config.authz.roles, cache_ttl=config.user_cache_ttl, clock=clock)


def _audit_from_config(config: FastAuthConfig, store: Store, clock: Callable[[], float]) -> Audit:
    """The audit log `audit_enabled` and `audit_retention_days` describe, on `store`."""
    retention = config.audit_retention_days * DAY
    return Audit(store, enabled=config.audit_enabled, retention=retention, clock=clock)


@dataclasses.dataclass(frozen=True, slots=True)
class TotpSetup:
    """A TOTP enrolment under way: the secret (for manual entry), its `otpauth://` URI, the QR code."""

    secret: str = dataclasses.field(repr=False)
    uri: str = dataclasses.field(repr=False)
    qr_svg: str = dataclasses.field(repr=False)


def _unverified(identity: ProviderIdentity) -> ProviderIdentity:
    """`identity` without a usable address (one fastauth cannot normalise proves nothing)."""
    return dataclasses.replace(identity, email=None, email_verified=False)


def _address_or_none(email: str) -> str | None:
    """The normalised address a failed sign-in named, or None when it is none (never the raw text)."""
    try:
        return normalize_email(email)
    except InvalidEmail:
        return None


class AuthService:
    """Accounts, sessions, tokens, keys, revocation and hooks wired together; every flow starts here."""

    def __init__(
        self,
        config: FastAuthConfig,
        *,
        store: Store,
        engine: TokenEngine,
        accounts: Accounts,
        sessions: Sessions,
        events: Events,
        rate_limits: RateLimits,
        codes: OneTimeCodes,
        keys: KeyManager | None = None,
        redis: Any = None,
        bus: RedisEvents | None = None,
        outbox: Outbox | None = None,
        templates: MailTemplates | None = None,
        audit: Audit | None = None,
        oauth: OAuthFlows | None = None,
        roles: Roles | None = None,
        owns_store: bool = False,
    ) -> None:
        self.config = config
        self.store = store
        self.engine = engine
        self.accounts = accounts
        self.sessions = sessions
        self.events = events
        self.rate_limits = rate_limits
        #: Shared, rotating keys in the database: for asymmetric algorithms without PEM keys.
        self.keys = keys
        #: Shared state for many processes: revocation, rate limits and cache invalidation in Redis.
        self.redis = redis
        self.bus = bus
        #: Purpose-bound single-use codes (verification, reset, email change).
        self.codes = codes
        #: Mail in the background (None: no sender configured), and what the mails say.
        self.outbox = outbox
        self.templates = templates
        #: The mail flows work when fastauth sends mail, or when the application's hooks do.
        self.mail_on = outbox is not None or sends_mail(events.hooks)
        #: The audit log: a record for each security event (account-security §9).
        self.audit = audit if audit is not None else _audit_from_config(config, store, engine.clock)
        #: Sign-in providers (None: none configured).
        self.oauth = oauth
        #: The WebAuthn relying party (None: passkeys off, no RP ID on a domain configured).
        rp = config.passkeys
        self.passkeys: Passkeys | None = (
            Passkeys(
                store,
                rp_id=rp.rp_id,
                rp_name=rp.rp_name or config.email.app_name,
                origins=rp.origins,
                challenge_ttl=rp.challenge_ttl,
                clock=engine.clock,
            )
            if rp.rp_id is not None
            else None
        )
        #: The application's user fields (`fastauth.UserFields` itself when it declares none).
        self.user_fields: type[UserFields] = config.user_fields or UserFields
        self.field_specs: dict[str, FieldSpec] = {spec.name: spec for spec in describe(config.user_fields)}
        authz = config.authz
        #: Role definitions (cached) and the permissions they grant; `from_config` gives the same
        #: instance to the sessions, which write `roles` and `scope` into access tokens with it.
        self.roles = roles if roles is not None else _roles_from_config(config, store, engine.clock)
        #: API keys: checked through a cache, their last use written in batches.
        self.api_keys = ApiKeys(store, cache_ttl=authz.api_key_cache_ttl, clock=engine.clock)
        self._flush_task: asyncio.Task[None] | None = None
        self._background: set[asyncio.Task[None]] = set()
        self._owns_store = owns_store
        self._started = False
        self._event_resets = 0
        self._start_lock = asyncio.Lock()
        self._key_task: asyncio.Task[None] | None = None

    @classmethod
    def from_config(
        cls,
        config: FastAuthConfig | None = None,
        *,
        store: Store | None = None,
        hooks: EventHooks | None = None,
        password_hasher: PasswordHasher | None = None,
        revocation: RevocationList | None = None,
        clock: Callable[[], float] = time.time,
    ) -> AuthService:
        """Build every part from the configuration; `store=None` opens `config.database_url`."""
        cfg = config if config is not None else FastAuthConfig()
        owns_store = store is None
        if store is not None and getattr(store, "user_fields", None) is not cfg.user_fields:
            raise ConfigError(
                "the store and the configuration declare different user fields: build the store with "
                "the same model, like SQLAlchemyAdapter(url, user_fields=config.user_fields)"
            )
        the_store = store if store is not None else _default_store(cfg)
        events = Events(hooks)
        engine = TokenEngine.from_config(cfg, clock=clock)
        jwt = cfg.jwt
        keys: KeyManager | None = None
        if engine.keyring is None:

            def use_ring(ring: KeyRing) -> None:
                engine.keyring = ring

            longest = max(
                jwt.access_token_ttl or jwt.session_max_age, jwt.refresh_token_ttl or jwt.session_max_age
            )
            keys = KeyManager(
                the_store,
                secret=cfg.secret.get_secret_value(),
                algorithm=jwt.algorithm,
                token_lifetime=min(longest, jwt.session_max_age) + jwt.leeway,
                rotation_interval=jwt.key_rotation_interval,
                publish_ahead=jwt.jwks_cache_max_age,
                clock=clock,
                on_ring=use_ring,
            )
        redis: Any = None
        bus: RedisEvents | None = None
        rate_limit_uri = cfg.rate_limit_storage_uri
        horizon = revocation_horizon(engine, jwt.session_max_age)
        if cfg.redis_url:
            from fastauth.storage.redis import redis_client

            redis = redis_client(cfg.redis_url)
            bus = RedisEvents(redis)
            if revocation is None:

                async def recently_revoked() -> list[tuple[str, int]]:
                    # The database is the source of truth: Redis is filled from it whenever it lost the list.
                    since = int(clock()) - horizon
                    return [(sid, at + horizon) for sid, at in await the_store.revoked_since(since)]

                revocation = RedisRevocationList(redis, refill=recently_revoked)
            if rate_limit_uri == "memory://":
                rate_limit_uri = cfg.redis_url
        accounts = Accounts(
            the_store,
            password_hasher if password_hasher is not None else PasswordHasher(),
            password_min_length=cfg.password_min_length,
            password_max_length=cfg.password_max_length,
            cache=UserCache(ttl=cfg.user_cache_ttl),
            clock=clock,
            notify=bus.publish if bus is not None else None,
            username=Username(cfg.user_fields, cfg.username_field)
            if cfg.user_fields is not None and cfg.username_field is not None
            else None,
        )
        audit = _audit_from_config(cfg, the_store, clock)
        roles = _roles_from_config(cfg, the_store, clock)
        sessions = Sessions(
            the_store,
            accounts,
            engine,
            revocation if revocation is not None else MemoryRevocationList(),
            events,
            session_max_age=jwt.session_max_age,
            refresh_reuse_grace=jwt.refresh_reuse_grace,
            keys=keys,
            audit=audit,
            authorization=roles.claims_for if cfg.authz.roles_in_token else None,
        )
        rate_limits = RateLimits(
            enabled=cfg.rate_limit_enabled,
            storage_uri=rate_limit_uri,
            login_per_account=cfg.login_rate_limit_per_account,
            login_per_ip=cfg.login_rate_limit_per_ip,
            register_per_ip=cfg.register_rate_limit_per_ip,
            email_per_account=cfg.email_rate_limit_per_account,
            email_per_ip=cfg.email_rate_limit_per_ip,
            code_per_ip=cfg.code_rate_limit_per_ip,
            api_key=cfg.authz.api_key_rate_limit,
        )
        codes = OneTimeCodes(
            the_store,
            lifetimes={
                "verify_email": cfg.verify_email_ttl,
                "reset_password": cfg.reset_password_ttl,
                "change_email": cfg.change_email_ttl,
                "mfa_challenge": jwt.mfa_token_ttl,
            },
            clock=clock,
        )
        oauth: OAuthFlows | None = None
        if cfg.oauth:
            http = httpx.AsyncClient(follow_redirects=False)
            oauth = OAuthFlows(
                cfg, the_store, providers_from_config(cfg.oauth, http=http, clock=clock), clock=clock
            )
        sender = sender_from_config(cfg)
        outbox = Outbox(sender, retries=cfg.email.retries) if sender is not None else None
        templates = MailTemplates.from_config(cfg) if sender is not None else None
        return cls(
            cfg,
            store=the_store,
            engine=engine,
            accounts=accounts,
            sessions=sessions,
            events=events,
            rate_limits=rate_limits,
            codes=codes,
            keys=keys,
            redis=redis,
            bus=bus,
            outbox=outbox,
            templates=templates,
            audit=audit,
            oauth=oauth,
            roles=roles,
            owns_store=owns_store,
        )

    # lifecycle

    @property
    def started(self) -> bool:
        """Whether `startup()` has run (and `aclose()` has not since)."""
        return self._started

    async def open_store(self) -> None:
        """Bring the schema up to date (when configured) and check it: the store is ready for use.

        `startup()` starts with this; the CLI calls it alone where it must not load signing keys.
        """
        if self.config.auto_create_tables:
            await self.store.create_tables()
        await self.store.check_schema(keys=self.keys is not None)

    async def startup(self) -> None:
        """Open the store, check Redis, load the keys, warm the revocation list, prune. Idempotent."""
        async with self._start_lock:
            if self._started:
                return
            await self.open_store()
            revocation = self.sessions.revocation
            if self.redis is not None:
                try:
                    await check_no_eviction(self.redis)  # ConfigError: refuse to start
                except StoreUnavailable:
                    log.warning(
                        "Redis is unreachable at start-up: its eviction settings are checked when it answers"
                    )
                else:
                    if isinstance(revocation, RedisRevocationList):
                        revocation.eviction_checked = True
            await self.initialize_keys()
            if isinstance(revocation, RedisRevocationList):
                try:  # shared: filled only when Redis does not hold the list yet (or lost it)
                    await revocation.fill()
                except StoreUnavailable as error:
                    log.warning("revocation list not filled (%s): protected requests get 503", error)
            else:
                await self.sessions.warm()
            await self.sessions.prune()
            await self.codes.prune()
            if self.passkeys is not None:
                await self.passkeys.prune()
            else:
                log.info(PASSKEYS_OFF)
            await self.audit.prune_quietly()
            await self.roles.seed()
            await self._first_superuser()
            if self._flush_task is None or self._flush_task.done():
                self._flush_task = asyncio.create_task(self._flush_loop(), name="fastauth-api-key-uses")
            if self.bus is not None:
                self.bus.start(self._on_event)
            if self.outbox is not None:
                await self.outbox.start()
            elif not self.mail_on:
                log.info(MAIL_OFF)
            self._started = True

    async def ensure_started(self) -> None:
        """`startup()` unless it has run."""
        if not self._started:
            await self.startup()

    async def initialize_keys(self) -> None:
        """Load (or, on an empty database, create) the shared signing keys and start their rotation.

        Needed only for asymmetric algorithms without PEM keys; `startup()` calls it. Idempotent.
        """
        if self.keys is None:
            return
        await self.keys.initialize()
        if self._key_task is None or self._key_task.done():
            self._key_task = asyncio.create_task(self._key_loop(), name="fastauth-key-rotation")

    async def _key_loop(self) -> None:
        """Background rotation: wake when a key changes state or the reload interval passes."""
        assert self.keys is not None
        keys = self.keys
        while True:
            await asyncio.sleep(min(60.0, max(0.2, keys.next_check - keys.clock())))
            try:
                await keys.maybe_refresh()
            except Exception as error:  # a database hiccup must not end rotation for good
                log.warning("key refresh failed: %s", type(error).__name__)

    async def _on_event(self, message: str) -> None:
        """Another process changed something this one caches."""
        kind, _, value = message.partition(":")
        if kind == "user":
            self.accounts.cache.invalidate(value)
        elif kind == "apikey":
            self.api_keys.forget(value)
        elif kind == "roles":
            self.roles.invalidate()
            self.accounts.cache.clear()
        elif kind == "keys" and self.keys is not None:
            await self.keys.refresh()
        elif kind == "reset":
            self.accounts.cache.clear()
            self.api_keys.forget()
            self.roles.invalidate()
            self._event_resets += 1
            revocation = self.sessions.revocation
            if self._event_resets > 1 and isinstance(revocation, RedisRevocationList):
                # Reconnected after an outage: a revocation stored meanwhile may have missed Redis.
                revocation.invalidate()
                try:
                    await revocation.fill()
                except StoreUnavailable as error:
                    log.warning("revocation list not refilled (%s); it is retried on the next check", error)
            if self.keys is not None and self._started:
                await self.keys.refresh()

    async def _publish(self, message: str) -> None:
        if self.bus is not None:
            await self.bus.publish(message)

    async def aclose(self) -> None:
        """Stop the background work and close what this service opened (Redis, its own store).

        Pending mail steps get `SETTLE_TIMEOUT` seconds to finish; what is left then is cancelled (and
        logged), so a hung store or mail server cannot hang the shutdown.
        """
        settling = asyncio.ensure_future(self.settle())
        done, _ = await asyncio.wait({settling}, timeout=SETTLE_TIMEOUT)
        if not done:
            stuck = list(self._background)
            log.error("shutdown: %d account mail step(s) cancelled after %ss", len(stuck), SETTLE_TIMEOUT)
            settling.cancel()
            for task in stuck:
                task.cancel()
            await asyncio.gather(settling, *stuck, return_exceptions=True)
        if self.outbox is not None:
            await self.outbox.aclose()
        if self._flush_task is not None:
            self._flush_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._flush_task
            self._flush_task = None
        with contextlib.suppress(Exception):
            await self.api_keys.flush()
        if self._key_task is not None:
            self._key_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._key_task
            self._key_task = None
        if self.bus is not None:
            await self.bus.stop()
        if self.redis is not None:
            with contextlib.suppress(Exception):
                await self.redis.aclose()
        if self.oauth is not None:
            await self.oauth.aclose()
        if self._owns_store:
            await self.store.close()
        self._started = False

    # sign-in paths: each ends in `_start_session`, so the gate and the hooks cannot be skipped

    def now(self) -> int:
        """The service clock, in whole seconds."""
        return self.sessions.now()

    async def _start_session(
        self,
        user: User,
        *,
        ip: str | None,
        user_agent: str | None,
        create_user: bool = False,
        password_hash: str | None = None,
        provider: str | None = None,
        second_factor: str | None = None,
        passkey: str | None = None,
        accepted: Callable[[], Awaitable[object]] | None = None,
    ) -> TokenPair:
        """The `allow_signin` gate, then a new session; a refused new user is stored but not signed in.

        `password_hash`: the hash a password sign-in was checked against. Once the session exists, the
        stored hash must still be it: a reset or change that lands meanwhile (and ended the sessions
        before this one existed) ends this one too, so no sign-in with an old password outlives it.
        `accepted`: what the first factor records once the gate let the sign-in through (a passkey's
        new sign count), before the session starts.
        """
        refusal: Exception | None = None
        seen = {"user_id": user.id, "ip": ip, "user_agent": user_agent}
        if self.config.require_verified_email and not user.is_verified:
            refusal = EmailNotVerified("sign-in needs a verified email address")
        elif not await self.events.allow_signin(user):
            refusal = SigninNotAllowed("sign-in refused")
        if refusal is not None:
            if create_user:  # registered, but not signed in
                await self.store.create_user(user)
                await self.audit.record("signup", **seen)
            why = "email not verified" if isinstance(refusal, EmailNotVerified) else "refused by allow_signin"
            await self.audit.record("signin_failed", **seen, detail=why)
            if create_user:
                await self.events.registered(user)
                self._verify_after_register(user, ip=ip, user_agent=user_agent)
            raise refusal
        amr: tuple[str, ...] = ("fed",) if provider is not None else ("pwd",)
        if passkey is not None:  # user-verified: possession and a PIN or biometric, two factors at once
            amr = (passkey, "mfa")
        elif second_factor is not None:
            amr = (*amr, second_factor, "mfa")  # RFC 8176: mfa, and which factors
        elif not create_user and await self.mfa_enrolled(user):
            await self._challenge(user, provider)
        if accepted is not None:
            await accepted()
        pair = await self.sessions.start(user, ip=ip, user_agent=user_agent, create_user=create_user, amr=amr)
        if password_hash is not None:
            stored = await self.store.get_user(user.id)
            if stored is None or not stored.is_active or stored.hashed_password != password_hash:
                await self.sessions.revoke(pair.session_id)
                raise InvalidCredentials("the password changed during the sign-in")
        if create_user:
            await self.audit.record("signup", **seen)
        how = f" via {provider}" if provider is not None else " via passkey" if passkey is not None else ""
        await self.audit.record("signin", **seen, detail=f"session {pair.session_id}{how}")
        if create_user:
            await self.events.registered(user)
            self._verify_after_register(user, ip=ip, user_agent=user_agent)
        await self.events.signin(user, provider)
        return pair

    async def register(
        self,
        email: str,
        password: str,
        *,
        fields: Mapping[str, Any] | None = None,
        ip: str | None = None,
        user_agent: str | None = None,
    ) -> tuple[User, TokenPair]:
        """Create an account and sign it in, in one transaction (nothing half-written on failure).
        `fields`: the application's user fields the person chose (`Writable` and `SetOnce` ones only).

        Raises `RateLimited`, `InvalidEmail`, `PasswordPolicyError`, `InvalidUserFields`, `EmailTaken`,
        `FieldTaken`, or `SigninNotAllowed` / `EmailNotVerified` (the account then exists, its hooks
        have fired and its verification mail is on its way).
        """
        await self.rate_limits.check_register(ip)
        chosen = self.new_fields(fields, by_user=True)
        user = await self.accounts.new_user(email, password, fields=chosen)
        # Before any hook sees a user that will never exist (the insert also refuses a racing twin).
        if await self.store.get_user_by_email(user.email) is not None:
            raise EmailTaken("email already registered")
        await self._refuse_taken(user)
        pair = await self._start_session(user, ip=ip, user_agent=user_agent, create_user=True)
        return user, pair

    async def create_user(
        self,
        email: str,
        password: str,
        *,
        is_superuser: bool = False,
        is_verified: bool = False,
        fields: Mapping[str, Any] | None = None,
    ) -> User:
        """Create an account without signing it in (the CLI's `create-user`, an application's own
        route): the registration hooks fire, and an unverified address gets its verification mail.
        `fields` may set any of the application's user fields."""
        user = await self.accounts.register(
            email,
            password,
            is_superuser=is_superuser,
            is_verified=is_verified,
            fields=self.new_fields(fields, by_user=False),
        )
        await self.audit.record("signup", user_id=user.id, detail="created without a sign-in")
        await self.events.registered(user)
        self._verify_after_register(user)
        return user

    # the application's user fields

    def new_fields(self, given: Mapping[str, Any] | None, *, by_user: bool) -> UserFields:
        """A new account's user fields, validated by the application's model. `by_user`: the person
        registering chose them, so only `Writable` and `SetOnce` fields may be among them.
        `InvalidUserFields` names what is refused."""
        values = dict(given or {})
        self._refuse_names(values, lambda spec: spec.at_registration or not by_user, "at registration")
        try:
            return self.user_fields.model_validate(values)
        except ValidationError as error:
            raise _field_errors(error) from None

    async def _refuse_taken(self, user: User) -> None:
        """`FieldTaken` when another account holds one of `user`'s `Unique` field values."""
        for spec in self.field_specs.values():
            value = getattr(user.fields, spec.name)
            if spec.unique and value is not None:
                other = await self.store.get_user_by_field(spec.name, value)
                if other is not None and other.id != user.id:
                    raise FieldTaken(spec.name)

    def _refuse_names(
        self, values: Mapping[str, Any], allowed: Callable[[FieldSpec], bool], when: str
    ) -> None:
        unknown = sorted(name for name in values if name not in self.field_specs)
        if unknown:
            raise InvalidUserFields(f"not user fields: {', '.join(unknown)}")
        closed = sorted(name for name in values if not allowed(self.field_specs[name]))
        if closed:
            raise InvalidUserFields(f"cannot be set {when}: {', '.join(closed)}")

    async def update_fields(self, user: User, changes: Mapping[str, Any], *, by_user: bool = False) -> User:
        """Change some of `user`'s fields (only these are written: a concurrent change of another field
        survives). `by_user` (`PATCH /auth/me`): only `Writable` fields. The whole set is validated by
        the model, so a rule across fields holds. Fires `on_after_update` with the changed values.
        Raises `InvalidUserFields`, `FieldTaken`, or `InvalidCredentials` when the account is gone."""
        values = dict(changes)
        self._refuse_names(values, lambda spec: spec.writable or not by_user, "by the user")
        current = await self.accounts.get_user(user.id, fresh=True)
        if current is None:
            raise InvalidCredentials("the account no longer exists")
        if not values:
            return current
        try:
            merged = self.user_fields.model_validate({**current.fields.model_dump(), **values})
        except ValidationError as error:
            raise _field_errors(error) from None
        written = {name: getattr(merged, name) for name in values}
        updated = await self.accounts.update(user.id, **written)
        if updated is None:
            raise InvalidCredentials("the account no longer exists")
        await self.events.updated(updated, written)
        return updated

    async def sign_in(
        self, email: str, password: str, *, ip: str | None = None, user_agent: str | None = None
    ) -> tuple[User, TokenPair]:
        """Email and password: rate limits (one budget per account whatever its spelling), then the check.

        Raises `RateLimited`, `InvalidCredentials` (after `on_failed_login`) or `SigninNotAllowed`.
        """
        await self.rate_limits.check_login(rate_limit_key(email), ip)
        try:
            user = await self.accounts.authenticate(email, password)
        except InvalidCredentials:
            await self.audit.record(
                "signin_failed", user_id=None, ip=ip, user_agent=user_agent, detail=_address_or_none(email)
            )
            await self.events.failed_login(email, ip)
            raise
        pair = await self._start_session(
            user, ip=ip, user_agent=user_agent, password_hash=user.hashed_password
        )
        return user, pair

    async def refresh(
        self, refresh_token: str, *, ip: str | None = None, user_agent: str | None = None
    ) -> tuple[User, TokenPair]:
        """Rotate: a new pair for a refresh token, which is spent; a reused one revokes its session."""
        user, pair = await self.sessions.refresh(refresh_token, ip=ip, user_agent=user_agent)
        await self.events.token_refresh(user)
        return user, pair

    # requests

    async def authenticate(self, access_token: str, *, read_only: bool = False) -> VerifiedToken:
        """The verified, unrevoked access token, or `TokenError`.

        With `redis_fail_open_reads`, a `read_only` request whose revocation check cannot reach Redis is
        let through on the signature and claims alone (logged); everything else fails closed.
        """
        try:
            return await self.sessions.check_access(access_token)
        except StoreUnavailable:
            if not (read_only and self.config.redis_fail_open_reads):
                raise
        log.warning("revocation store unavailable; serving a read without the revocation check")
        return self.engine.verify_access(access_token)

    async def user_of(self, token: VerifiedToken) -> User:
        """The active user the token names (cached), or `RevokedToken` when gone or inactive."""
        user = await self.accounts.get_user(token.sub)
        if user is None or not user.is_active:
            raise RevokedToken("user is gone or inactive")
        return user

    async def verify_refresh(self, refresh_token: str) -> VerifiedToken:
        """A refresh token's signature and claims (not whether it is still current)."""
        return await self.sessions.verify(refresh_token, REFRESH)

    async def sign_out(
        self,
        *,
        access: VerifiedToken | None,
        refresh: VerifiedToken | None,
        presented: bool = True,
        ip: str | None = None,
        user_agent: str | None = None,
    ) -> None:
        """Logout: end the access token's session and the refresh token's, when they are the same user's.

        A refresh token of another user than the access token's is ignored (never ends a stranger's
        session). When neither token identifies a session: `RevokedToken` if a token was `presented`
        (it was bad), `NotAuthenticated` otherwise.
        """
        sessions: dict[str, str] = {}
        if access is not None:
            sessions[access.sid] = access.sub
        if refresh is not None and (access is None or refresh.sub == access.sub):
            sessions[refresh.sid] = refresh.sub
        if not sessions:
            if presented:
                raise RevokedToken("no valid token names a session")
            raise NotAuthenticated("no session to end")
        for sid in sessions:
            await self.sessions.revoke(sid)
        user_id = next(iter(sessions.values()))
        ended = " ".join(f"session {sid}" for sid in sessions)
        await self.audit.record("signout", user_id=user_id, ip=ip, user_agent=user_agent, detail=ended)
        user = await self.accounts.get_user(user_id)
        if user is not None:
            await self.events.signout(user)

    async def list_sessions(self, user: User) -> list[SessionRecord]:
        """The user's live sessions, newest first."""
        return await self.sessions.list(user.id)

    async def end_session(
        self, user: User, session_id: str, *, ip: str | None = None, user_agent: str | None = None
    ) -> None:
        """End one of `user`'s sessions not yet revoked; `SessionNotFound` for any other id (someone
        else's too)."""
        record = await self.store.get_session(session_id)
        if record is None or record.user_id != user.id or record.revoked_at is not None:
            raise SessionNotFound("no such session")
        await self.sessions.revoke(session_id)
        await self.audit.record(
            "signout", user_id=user.id, ip=ip, user_agent=user_agent, detail=f"session {session_id}"
        )

    async def end_all_sessions(
        self, user: User, *, ip: str | None = None, user_agent: str | None = None
    ) -> list[str]:
        """Sign out everywhere; fires `on_signout`."""
        ended = await self.sessions.revoke_all(user.id)
        await self.audit.record(
            "signout", user_id=user.id, ip=ip, user_agent=user_agent, detail="every session"
        )
        await self.events.signout(user)
        return ended

    async def change_password(
        self,
        user: User,
        current: str,
        new: str,
        *,
        ip: str | None = None,
        keep_session: str | None = None,
        user_agent: str | None = None,
    ) -> None:
        """Needs the current password (under the login budget); every other session is ended, pending
        reset and email-change codes are voided, and the address gets a notice."""
        await self.rate_limits.check_login(user.email, ip)
        await self.accounts.change_password(user, current, new)
        await self.sessions.revoke_all(user.id, except_session=keep_session)
        await self.codes.void(user.id, _VOIDED_BY_PASSWORD_CHANGE)
        await self.audit.record("password_changed", user_id=user.id, ip=ip, user_agent=user_agent)
        self._mail("password_changed", user.email)

    async def recently_revoked(self) -> list[tuple[str, int]]:
        """(sid, until) for sessions whose access tokens could still verify: the revocation list."""
        horizon = self.sessions.revocation_horizon
        now = self.now()
        revoked = await self.store.revoked_since(now - horizon)
        return [(sid, at + horizon) for sid, at in revoked if at + horizon > now]

    # mail flows: verification and password reset

    def _later(self, work: Coroutine[Any, Any, None]) -> None:
        """Run `work` off the request path (so no answer's timing depends on it); failures are logged.

        At most `MAX_BACKGROUND` steps wait at once: beyond that the step is dropped and logged (the
        answer stays the same), so a flood of requests cannot grow memory without bound.
        """
        if len(self._background) >= MAX_BACKGROUND:
            work.close()
            log.error("account mail step dropped: %d are pending already", len(self._background))
            return
        task = asyncio.get_running_loop().create_task(work)
        self._background.add(task)

        def done(finished: asyncio.Task[None]) -> None:
            self._background.discard(finished)
            if not finished.cancelled() and finished.exception() is not None:
                error = finished.exception()
                log.error("account mail step failed: %s", type(error).__name__)

        task.add_done_callback(done)

    async def settle(self) -> None:
        """Wait for the background mail steps started so far, and for the outbox to hand them over."""
        while self._background:
            await asyncio.gather(*list(self._background), return_exceptions=True)
        if self.outbox is not None:
            await self.outbox.join()

    def _mail(self, kind: Any, to: str, code: str | None = None, **values: str) -> None:
        """Queue one mail when fastauth sends mail (the application's hooks may send it instead)."""
        if self.outbox is not None and self.templates is not None:
            self.outbox.enqueue(self.templates.render(kind, to=to, code=code, **values))

    def _require_mail(self) -> None:
        if not self.mail_on:
            raise MailOff("no mail sender and no mail hook")

    def _verify_after_register(
        self, user: User, *, ip: str | None = None, user_agent: str | None = None
    ) -> None:
        if self.config.verify_email_on_register and self.mail_on and not user.is_verified:
            self._later(self._send_verification(user, ip=ip, user_agent=user_agent))

    async def _send_verification(
        self, user: User, *, ip: str | None = None, user_agent: str | None = None
    ) -> None:
        code = await self.codes.issue(user.id, "verify_email", data=user.email)
        try:
            self._mail("verify_email", user.email, code)
            await self.events.verification_requested(user, code)
        finally:  # after the hook, whatever it does: the request stands
            await self.audit.record(
                "verification_requested", user_id=user.id, ip=ip, user_agent=user_agent, detail=user.email
            )

    async def _account_for_mail(self, email: str) -> User | None:
        try:
            normalized = normalize_email(email)
        except InvalidEmail:
            return None
        user = await self.store.get_user_by_email(normalized)
        return user if user is not None and user.is_active else None

    async def request_verification(
        self, email: str, *, ip: str | None = None, user_agent: str | None = None
    ) -> None:
        """Mail a verification code to `email` if it names an active, unverified account.

        Answers alike for every address (known or not, verified or not): the lookup and the mail
        happen off the request path. Raises only `RateLimited`, `StoreUnavailable` or `MailOff`.
        """
        self._require_mail()
        await self.rate_limits.check_email(rate_limit_key(email), ip)

        async def send() -> None:
            user = await self._account_for_mail(email)
            if user is not None and not user.is_verified:
                await self._send_verification(user, ip=ip, user_agent=user_agent)

        self._later(send())

    async def verify_email(self, code: str, *, ip: str | None = None, user_agent: str | None = None) -> User:
        """Use a verification code: the account is verified. `InvalidVerifyToken` for any bad code
        (unknown, expired, spent, for another purpose, or for an address the account no longer has)."""
        await self.rate_limits.check_code(ip)
        try:
            record = await self.codes.check(code, "verify_email")
        except InvalidCode:
            raise InvalidVerifyToken("invalid verification code") from None
        user = await self.accounts.get_user(record.user_id, fresh=True)
        if user is None or not user.is_active or record.data != user.email:
            raise InvalidVerifyToken("invalid verification code")
        if user.is_verified:
            raise AlreadyVerified("the address is verified already")
        try:
            await self.codes.consume(code, "verify_email")
        except InvalidCode:  # a concurrent use won
            raise InvalidVerifyToken("invalid verification code") from None
        user = await self.accounts.update(user.id, is_verified=True) or user
        await self.audit.record(
            "email_verified", user_id=user.id, ip=ip, user_agent=user_agent, detail=user.email
        )
        await self.events.verified(user)
        return user

    async def forgot_password(
        self, email: str, *, ip: str | None = None, user_agent: str | None = None
    ) -> None:
        """Mail a reset code to `email` if it names an active account; answers alike for every address."""
        self._require_mail()
        await self.rate_limits.check_email(rate_limit_key(email), ip)

        async def send() -> None:
            user = await self._account_for_mail(email)
            if user is None:
                return
            code = await self.codes.issue(user.id, "reset_password")
            try:
                self._mail("reset_password", user.email, code)
                await self.events.reset_requested(user, code)
            finally:  # after the hook, whatever it does: the request stands
                await self.audit.record("reset_requested", user_id=user.id, ip=ip, user_agent=user_agent)

        self._later(send())

    async def reset_password(
        self, code: str, password: str, *, ip: str | None = None, user_agent: str | None = None
    ) -> User:
        """Set a new password with a reset code; every session of the account ends; no sign-in.

        The policy is checked before the code is looked at (a weak password never spends it), and the
        sessions end before the password changes (a failure there leaves the old password in place).
        """
        await self.rate_limits.check_code(ip)
        self.accounts.check_password(password)
        try:
            record = await self.codes.check(code, "reset_password")
        except InvalidCode:
            raise InvalidResetToken("invalid reset code") from None
        user = await self.accounts.get_user(record.user_id, fresh=True)
        if user is None or not user.is_active:
            raise InvalidResetToken("invalid reset code")
        new_hash = await self.accounts.hasher.hash(password)
        await self.sessions.revoke_all(user.id)
        try:
            await self.codes.consume(code, "reset_password")
        except InvalidCode:  # a concurrent use won
            raise InvalidResetToken("invalid reset code") from None
        user = await self._store_password(user, new_hash)
        await self.audit.record("password_reset", user_id=user.id, ip=ip, user_agent=user_agent)
        self._mail("password_changed", user.email)
        await self.events.password_reset(user)
        return user

    # email change and deletion

    async def _recent_session(self, user: User, session_id: str | None) -> SessionRecord | None:
        """The caller's live session of `user` when it signed in at most `recent_sign_in_window`
        seconds ago, else None."""
        session = await self.store.get_session(session_id) if session_id else None
        if (
            session is None
            or session.user_id != user.id
            or session.revoked_at is not None
            or session.created_at < self.now() - self.config.recent_sign_in_window
        ):
            return None
        return session

    async def require_fresh_sign_in(self, user: User, session_id: str | None) -> None:
        """A change of the account's ways in (adding or removing a passkey) needs the caller's session
        signed in at most `recent_sign_in_window` seconds ago, and with the second factor when the
        account has one: a stolen session must not add its thief's passkey (a lasting way in that
        survives a password reset) nor strip the owner's. `RecentSignInRequired` (RFC 9470)."""
        window = self.config.recent_sign_in_window
        session = await self._recent_session(user, session_id)
        if session is None:
            raise RecentSignInRequired("the sign-in is not recent enough", window)
        if await self.mfa_enrolled(user) and "mfa" not in (session.amr or "").split():
            raise RecentSignInRequired("a recent sign-in with the second factor is needed", window, "mfa")

    async def _confirm(
        self, user: User, password: str | None, session_id: str | None, *, factor_checked: bool = False
    ) -> User:
        """The stored user, once the caller confirmed it is them: the password, or (an account
        without one) a sign-in no older than `recent_sign_in_window`. An account with a second factor
        also needs its session to be that recent and signed in with the second factor (`amr` "mfa"),
        unless the caller checks a current code itself (`factor_checked`): a stolen session and a
        phished password must not change the email (then reset the password) or delete the account.
        `CurrentPasswordWrong`, `RecentSignInRequired` (RFC 9470: `max_age`, and `acr_values` "mfa"
        when the second factor is what is missing)."""
        current = await self.accounts.get_user(user.id, fresh=True)
        window = self.config.recent_sign_in_window
        session = await self._recent_session(current, session_id) if current is not None else None
        recent = session is not None
        if current is not None and current.hashed_password == NO_PASSWORD:
            if not recent:
                raise RecentSignInRequired("the sign-in is not recent enough", window)
        else:
            current = await self.accounts.confirm_password(user, password or "")
        if not factor_checked and await self.mfa_enrolled(current):
            methods = (session.amr or "").split() if session is not None else []
            if not (recent and "mfa" in methods):
                raise RecentSignInRequired("a recent sign-in with the second factor is needed", window, "mfa")
        return current

    async def request_email_change(
        self,
        user: User,
        new_email: str,
        password: str | None,
        *,
        session_id: str | None = None,
        ip: str | None = None,
        user_agent: str | None = None,
    ) -> None:
        """Mail a confirmation code to `new_email`; the address changes only when it is used.

        Needs the current password (under the login budget), or for an account without one a recent
        sign-in (`session_id`, the request's). A taken address answers the same as a free one (no
        enumeration): its confirmation fails cleanly later. Raises `RateLimited`,
        `CurrentPasswordWrong`, `RecentSignInRequired`, `InvalidEmail` (not an address) or `MailOff`.
        """
        self._require_mail()
        await self.rate_limits.check_login(user.email, ip)
        await self.rate_limits.check_email(rate_limit_key(new_email), ip)
        current = await self._confirm(user, password, session_id)
        address = normalize_email(new_email)
        if address == current.email:
            return
        await self.audit.record(
            "email_change_requested", user_id=current.id, ip=ip, user_agent=user_agent, detail=address
        )

        async def send() -> None:
            code = await self.codes.issue(current.id, "change_email", data=address)
            self._mail("email_change_confirm", address, code)

        self._later(send())

    async def confirm_email_change(
        self, code: str, *, owner: User, ip: str | None = None, user_agent: str | None = None
    ) -> User:
        """Use an email-change code, signed in as the account that asked for it (`owner`): the account
        moves to the proven address, the old one gets a notice.

        Binding the code to its account's session means that someone who asks to move *their* account
        to a victim's address cannot have the victim confirm it with one click. `InvalidChangeEmailToken`
        for any bad code (or another account's), `EmailTaken` when the address was taken meanwhile
        (nothing changes then, and the code stays unspent until it expires).
        """
        await self.rate_limits.check_code(ip)
        try:
            record = await self.codes.check(code, "change_email")
        except InvalidCode:
            raise InvalidChangeEmailToken("invalid email-change code") from None
        user = await self.accounts.get_user(record.user_id, fresh=True)
        if user is None or not user.is_active or record.data is None or record.user_id != owner.id:
            raise InvalidChangeEmailToken("invalid email-change code")
        if await self.store.get_user_by_email(record.data) is not None:
            raise EmailTaken("email already registered")
        try:
            await self.codes.consume(code, "change_email")
        except InvalidCode:  # a concurrent use won
            raise InvalidChangeEmailToken("invalid email-change code") from None
        old_email = user.email
        # Only these two fields: EmailTaken if another account took the address in between.
        user = await self.accounts.update(user.id, email=record.data, is_verified=True) or user
        await self.codes.void(user.id, PURPOSES)  # a reset link mailed to the old address dies too
        await self.audit.record(
            "email_changed", user_id=user.id, ip=ip, user_agent=user_agent, detail=old_email
        )
        self._mail("email_changed", old_email, new_email=user.email)
        await self.events.email_changed(user, old_email)
        return user

    async def delete_account(
        self,
        user: User,
        password: str | None,
        *,
        session_id: str | None = None,
        ip: str | None = None,
        user_agent: str | None = None,
    ) -> None:
        """Delete the account and all fastauth holds for it; every device is signed out at once.

        Needs the current password (under the login budget), or for an account without one a recent
        sign-in (`session_id`, the request's). The sessions are revoked first (their access tokens
        stop on the next request), then the user, its sessions, codes and identities are deleted.
        """
        await self.rate_limits.check_login(user.email, ip)
        current = await self._confirm(user, password, session_id)
        await self.sessions.revoke_all(current.id)
        await self.accounts.delete(current.id)
        await self.audit.record(
            "account_deleted", user_id=current.id, ip=ip, user_agent=user_agent, detail=current.email
        )
        self._mail("account_deleted", current.email)
        await self.events.account_deleted(current)

    # sign-in providers

    def _flows(self) -> OAuthFlows:
        if self.oauth is None:
            raise UnknownProvider("no sign-in providers are configured")
        return self.oauth

    async def oauth_start(
        self,
        provider: str,
        redirect_to: str | None,
        *,
        delivery: str = "code",
        link_user: User | None = None,
        link_session: str | None = None,
        ip: str | None = None,
    ) -> tuple[str, str]:
        """(the provider's authorization URL, the state for the browser's cookie). `link_user` (with
        the session it signed in with) starts a link flow: only a verified account links a provider,
        so nobody can attach their own provider account to an address they have not proven."""
        flows = self._flows()
        await self.rate_limits.check_oauth(ip)
        if link_user is not None and not link_user.is_verified:
            raise EmailNotVerified("linking a provider needs a verified email address")
        return await flows.start(
            provider,
            redirect_to,
            delivery=delivery,
            link_user_id=link_user.id if link_user is not None else None,
            link_session_id=link_session,
        )

    async def oauth_callback(
        self,
        provider: str,
        *,
        state: str | None,
        cookie_state: str | None,
        code: str | None,
        error: str | None = None,
        ip: str | None = None,
        user_agent: str | None = None,
    ) -> OAuthOutcome:
        """Finish a provider sign-in: the flow's checks, the linking policy, then (for a sign-in) the
        service's one session start with its gate and hooks, or a one-time code to exchange for it.
        Raises the `OAuthError` family, `EmailNotVerified`, `SigninNotAllowed`, `StoreUnavailable`."""
        flows = self._flows()
        await self.rate_limits.check_oauth(ip)
        try:
            record, identity = await flows.finish(
                provider, state=state, cookie_state=cookie_state, code=code, error=error
            )
        except OAuthError as refused:  # the reason is for the operator (no secret in it), not the client
            log.warning("sign-in with %s refused: %s (%s)", provider[:32], refused, refused.code)
            raise
        link_to: User | None = None
        if record.link_user_id is not None:
            session = await self.store.get_session(record.link_session_id or "")
            if session is None or session.user_id != record.link_user_id or session.revoked_at is not None:
                raise OAuthStateInvalid("the session that started the link has ended")
            link_to = await self.accounts.get_user(record.link_user_id, fresh=True)
            if link_to is None:
                raise OAuthStateInvalid("the account that started the link is gone")
        known = await self.store.get_identity(identity.issuer, identity.subject)
        known_user = await self.accounts.get_user(known.user_id, fresh=True) if known is not None else None
        email = _address_or_none(identity.email) if identity.email is not None else None
        if email is None and identity.email is not None:
            identity = _unverified(identity)  # an address fastauth cannot use proves nothing
        same_email = await self.store.get_user_by_email(email) if email is not None else None
        implicit = self.config.oauth[provider].link_verified_email
        decision = decide(
            identity, known=known, known_user=known_user, same_email=same_email, link_to=link_to,
            implicit_linking=implicit,
        )  # fmt: skip
        if decision.action == "link":
            assert decision.user is not None
            await self._link_identity(decision.user, identity, ip=ip, user_agent=user_agent)
            return OAuthOutcome(decision.user, record.redirect_to, linked=True)
        if decision.action == "create":
            assert email is not None
            user = await self._create_federated(email, identity, ip=ip, user_agent=user_agent)
        elif decision.action == "merge":
            assert decision.user is not None
            # The gates first: a refused sign-in must not take the account's password away.
            if not decision.user.is_active or not await self.events.allow_signin(decision.user):
                raise SigninNotAllowed("sign-in refused")
            user = await self._merge_into(decision.user, identity, ip=ip, user_agent=user_agent)
        else:
            assert decision.user is not None and known is not None
            user = decision.user
            await self.store.touch_identity(known.id, self.now(), identity.email)
            if link_to is not None:
                return OAuthOutcome(user, record.redirect_to, linked=True)
        if not user.is_active:
            raise SigninNotAllowed("the account is deactivated")
        if record.delivery == "cookie":
            try:
                pair = await self._start_session(user, ip=ip, user_agent=user_agent, provider=provider)
            except MFARequired as required:
                required.redirect_to = record.redirect_to
                raise
            return OAuthOutcome(user, record.redirect_to, pair=pair)
        exchange = await self.codes.issue(user.id, "oauth_exchange", data=provider)
        return OAuthOutcome(user, record.redirect_to, exchange_code=exchange)

    async def oauth_exchange(
        self, code: str, *, ip: str | None = None, user_agent: str | None = None
    ) -> tuple[User, TokenPair]:
        """Spend a provider sign-in's one-time code (`POST /auth/oauth/token`) for a session: the gate
        and the hooks run now. `InvalidCode` for a code that is unknown, spent or expired."""
        await self.rate_limits.check_code(ip)
        record = await self.codes.consume(code, "oauth_exchange")
        user = await self.accounts.get_user(record.user_id, fresh=True)
        if user is None or not user.is_active:
            raise InvalidCode("invalid or expired code")
        pair = await self._start_session(user, ip=ip, user_agent=user_agent, provider=record.data)
        return user, pair

    async def _identity_record(self, user: User, identity: ProviderIdentity) -> IdentityRecord:
        """The record linking `identity` to `user`; the provider's tokens sealed in it (bound to its id)
        only with `store_tokens`."""
        now, identity_id, sealed = self.now(), new_token_id(), None
        if self.config.oauth[identity.provider].store_tokens and identity.tokens:
            secret = self.config.secret.get_secret_value()
            sealed = seal(secret, f"identity:{identity_id}", json.dumps(dict(identity.tokens)))
        return IdentityRecord(
            id=identity_id,
            user_id=user.id,
            provider=identity.provider,
            issuer=identity.issuer,
            subject=identity.subject,
            email=identity.email,
            created_at=now,
            last_used_at=now,
            tokens_sealed=sealed,
        )

    async def _link_identity(
        self, user: User, identity: ProviderIdentity, *, ip: str | None, user_agent: str | None
    ) -> None:
        await self.store.insert_identity(await self._identity_record(user, identity))
        await self.audit.record(
            "identity_linked", user_id=user.id, ip=ip, user_agent=user_agent, detail=identity.provider
        )

    async def _create_federated(
        self, email: str, identity: ProviderIdentity, *, ip: str | None, user_agent: str | None
    ) -> User:
        """A new verified account without a password, and its identity; nothing of it stays behind when
        the identity cannot be stored (a racing twin, a store failure)."""
        user = User(
            id=new_user_id(),
            email=email,
            hashed_password=NO_PASSWORD,
            is_verified=True,
            created_at=self.now(),
            fields=self.new_fields(None, by_user=False),
        )
        await self.store.create_user(user)
        try:
            await self.store.insert_identity(await self._identity_record(user, identity))
        except BaseException:
            await self.accounts.delete(user.id)
            raise
        await self.audit.record(
            "signup", user_id=user.id, ip=ip, user_agent=user_agent, detail=f"via {identity.provider}"
        )
        await self.audit.record(
            "identity_linked", user_id=user.id, ip=ip, user_agent=user_agent, detail=identity.provider
        )
        await self.events.registered(user)
        return user

    async def _merge_into(
        self, user: User, identity: ProviderIdentity, *, ip: str | None, user_agent: str | None
    ) -> User:
        """Implicit linking: the local password goes and every session ends before the identity joins,
        so whoever registered the address first keeps nothing of the account."""
        merged = await self.accounts.update(user.id, hashed_password=NO_PASSWORD)
        await self.sessions.revoke_all(user.id)
        await self.codes.void(user.id, _VOIDED_BY_PASSWORD_CHANGE)
        await self._link_identity(user, identity, ip=ip, user_agent=user_agent)
        return merged or user

    async def list_identities(self, user: User) -> list[IdentityRecord]:
        """The provider accounts linked to `user`, oldest first."""
        return await self.store.list_identities(user.id)

    async def _ways_in(self, user: User) -> int:
        """How many ways the account has to sign in: its password, each linked provider, and each
        passkey while passkeys are on. Read again after a removal, so that two removals at once cannot
        both leave the account locked out (the second one undoes itself)."""
        current = await self.accounts.get_user(user.id, fresh=True)
        ways = int(current is not None and current.hashed_password != NO_PASSWORD)
        ways += len(await self.store.list_identities(user.id))
        if self.passkeys is not None:
            ways += len(await self.store.list_passkeys(user.id))
        return ways

    async def unlink_identity(
        self, user: User, identity_id: str, *, ip: str | None = None, user_agent: str | None = None
    ) -> None:
        """Unlink one of `user`'s identities; `IdentityNotFound` for any other id, `LastSignInMethod`
        when it is the account's only way in (no password, no other identity)."""
        identities = await self.store.list_identities(user.id)
        target = next((known for known in identities if known.id == identity_id), None)
        if target is None:
            raise IdentityNotFound("no such linked account")
        if await self._ways_in(user) <= 1:
            raise LastSignInMethod("the only way to sign in")
        if not await self.store.delete_identity(identity_id, user.id):
            raise IdentityNotFound("no such linked account")
        if await self._ways_in(user) == 0:  # a concurrent removal took the other way in: undo ours
            await self.store.insert_identity(target)
            raise LastSignInMethod("the only way to sign in")
        await self.audit.record(
            "identity_unlinked", user_id=user.id, ip=ip, user_agent=user_agent, detail=target.provider
        )

    # second factors: TOTP and recovery codes

    async def mfa_enrolled(self, user: User) -> bool:
        """Whether `user` has a confirmed TOTP."""
        record = await self.store.get_mfa(user.id)
        return record is not None and record.confirmed_at is not None

    async def _challenge(self, user: User, provider: str | None) -> None:
        """Stop a sign-in at its second factor: `MFARequired` with an MFA token whose `sid` is a fresh
        one-time code (so it is spent once; a newer challenge voids it) remembering the first factor."""
        first = json.dumps({"provider": provider})
        challenge = await self.codes.issue(user.id, "mfa_challenge", data=first)
        token = self.engine.issue(MFA, user.id, challenge).token
        methods: tuple[str, ...] = ("totp", "recovery_code")
        if self.passkeys is not None and await self.store.list_passkeys(user.id):
            methods = (*methods, "passkey")
        raise MFARequired("a second factor is required", token, methods)

    async def _pending_sign_in(self, mfa_token: str) -> tuple[User, VerifiedToken, str | None]:
        """The user, MFA token and first factor's provider of a sign-in waiting for its second factor;
        `TokenError` or `InvalidCode` (spent or superseded) otherwise."""
        verified = self.engine.verify(mfa_token, MFA)
        record = await self.codes.check(verified.sid, "mfa_challenge")
        user = await self.accounts.get_user(verified.sub, fresh=True)
        if user is None or record.user_id != user.id or not user.is_active:
            raise InvalidCode("invalid or expired code")
        first = json.loads(record.data or "{}")
        provider = first.get("provider") if isinstance(first, dict) else None
        return user, verified, provider if isinstance(provider, str) else None

    async def mfa_complete(
        self,
        mfa_token: str,
        code: str | None = None,
        *,
        credential: object = None,
        ip: str | None = None,
        user_agent: str | None = None,
    ) -> tuple[User, TokenPair]:
        """The second factor of a sign-in `MFARequired` stopped: the MFA token (verified as its own kind
        only) and a TOTP or recovery code, or a passkey assertion (`credential`, for the options of
        `passkey_second_factor_options`). A wrong code leaves the token usable until it expires (the
        attempts are rate-limited); the right one spends it and starts the session, whose tokens say
        `amr` [first, "otp" or "hwk"/"swk", "mfa"]. Raises `TokenError`, `InvalidCode` (spent or
        superseded), `InvalidMFACode`, `InvalidPasskey`, and the session start's refusals."""
        user, verified, provider = await self._pending_sign_in(mfa_token)
        if credential is not None:
            method = await self._passkey_factor(user, credential, verified.sid, ip=ip, user_agent=user_agent)
        else:
            method = await self.mfa_verify(user, code or "", ip=ip, user_agent=user_agent)
        await self.codes.consume(verified.sid, "mfa_challenge")
        pair = await self._start_session(
            user, ip=ip, user_agent=user_agent, provider=provider, second_factor=method
        )
        return user, pair

    async def mfa_status(self, user: User) -> tuple[bool, int]:
        """(TOTP on, recovery codes left)."""
        return await self.mfa_enrolled(user), await self.store.count_recovery_codes(user.id)

    async def mfa_setup(self, user: User) -> TotpSetup:
        """A new TOTP secret for `user`, not active until `mfa_confirm` sees a correct code: its
        `otpauth://` URI and the QR code of it (SVG). `MFAAlreadyEnabled` when TOTP is on."""
        if await self.mfa_enrolled(user):
            raise MFAAlreadyEnabled("TOTP is on already")
        totp = Totp.new(clock=self.engine.clock)
        sealed = totp.sealed_for(self.config.secret.get_secret_value(), user.id)
        try:
            await self.store.put_totp(MFARecord(user_id=user.id, totp_sealed=sealed, created_at=self.now()))
        except ValueError:
            raise MFAAlreadyEnabled("TOTP is on already") from None
        uri = totp.uri(user.email, self.config.email.app_name)
        return TotpSetup(secret=totp.secret, uri=uri, qr_svg=Totp.qr_svg(uri))

    def _totp(self, user_id: str, record: MFARecord) -> Totp:
        return Totp.unsealed(
            self.config.secret.get_secret_value(), user_id, record.totp_sealed, clock=self.engine.clock
        )

    async def _new_recovery_codes(self, user_id: str) -> list[str]:
        codes = new_recovery_codes()
        secret = self.config.secret.get_secret_value()
        hashes = [recovery_hash(secret, code) for code in codes]
        await self.store.replace_recovery_codes(user_id, [h for h in hashes if h is not None], self.now())
        return codes

    async def mfa_confirm(
        self,
        user: User,
        code: str,
        *,
        keep_session: str | None = None,
        ip: str | None = None,
        user_agent: str | None = None,
    ) -> list[str]:
        """Turn TOTP on with a correct code from the new secret: the ten recovery codes, shown once.
        Every other session ends (signed in without the second factor, they would outlive it).
        `MFANotEnabled` without an enrolment under way, `InvalidMFACode` for a wrong code."""
        await self.rate_limits.check_login(user.email, ip)
        record = await self.store.get_mfa(user.id)
        if record is None or record.confirmed_at is not None:
            raise MFANotEnabled("no TOTP enrolment to confirm")
        step = self._totp(user.id, record).matching_step(code)
        if step is None or not await self.store.confirm_totp(user.id, step, self.now()):
            await self.audit.record(
                "mfa_failed", user_id=user.id, ip=ip, user_agent=user_agent, detail="enrolment"
            )
            raise InvalidMFACode("the code does not match")
        codes = await self._new_recovery_codes(user.id)
        await self.sessions.revoke_all(user.id, except_session=keep_session)
        await self.audit.record("mfa_enabled", user_id=user.id, ip=ip, user_agent=user_agent, detail="totp")
        self._mail("mfa_enabled", user.email)
        return codes

    async def mfa_verify(
        self, user: User, code: str, *, ip: str | None = None, user_agent: str | None = None
    ) -> str:
        """A second factor of `user`'s: a current TOTP code (each time step accepted once, across every
        process: the store's compare-and-set) or an unused recovery code (spent). The RFC 8176 method
        that passed (`otp`); `InvalidMFACode` otherwise. Rate-limited like logins."""
        await self.rate_limits.check_login(f"mfa:{user.id}", ip)
        record = await self.store.get_mfa(user.id)
        if record is None or record.confirmed_at is None:
            raise MFANotEnabled("no second factor")
        step = self._totp(user.id, record).matching_step(code)
        if step is not None and await self.store.accept_totp_step(user.id, step):
            return "otp"
        hashed = recovery_hash(self.config.secret.get_secret_value(), code)
        if hashed is not None and await self.store.consume_recovery_code(user.id, hashed, self.now()):
            await self.audit.record("recovery_code_used", user_id=user.id, ip=ip, user_agent=user_agent)
            return "otp"
        await self.audit.record("mfa_failed", user_id=user.id, ip=ip, user_agent=user_agent)
        raise InvalidMFACode("the code does not match, or was used already")

    async def mfa_regenerate_recovery_codes(
        self, user: User, code: str, *, ip: str | None = None, user_agent: str | None = None
    ) -> list[str]:
        """A new set of recovery codes (the old set void), confirmed by a current second factor."""
        await self.mfa_verify(user, code, ip=ip, user_agent=user_agent)
        codes = await self._new_recovery_codes(user.id)
        await self.audit.record("recovery_codes_regenerated", user_id=user.id, ip=ip, user_agent=user_agent)
        return codes

    async def mfa_disable(
        self,
        user: User,
        password: str | None,
        code: str,
        *,
        session_id: str | None = None,
        ip: str | None = None,
        user_agent: str | None = None,
    ) -> None:
        """Turn TOTP off: the password (or, without one, a recent sign-in) and a current second factor."""
        await self.rate_limits.check_login(user.email, ip)
        current = await self._confirm(user, password, session_id, factor_checked=True)
        await self.mfa_verify(current, code, ip=ip, user_agent=user_agent)
        await self.store.delete_mfa(current.id)
        await self.audit.record("mfa_disabled", user_id=current.id, ip=ip, user_agent=user_agent)
        self._mail("mfa_disabled", current.email)

    async def mfa_reset(self, email: str) -> bool:
        """An administrator's recovery of a locked-out user (`fastauth users mfa-reset`): TOTP and
        recovery codes removed, every session ended; True if there was a second factor."""
        user = await self._account_by_email(email)
        if user is None:
            return False
        removed = await self.store.delete_mfa(user.id)
        passkeys = await self.store.list_passkeys(user.id)
        for passkey in passkeys:
            await self.store.delete_passkey(passkey.id, user.id)
        if removed or passkeys:
            await self.sessions.revoke_all(user.id)
            await self.audit.record(
                "mfa_disabled",
                user_id=user.id,
                detail=f"reset by an administrator ({len(passkeys)} passkeys removed)",
            )
            self._mail("mfa_disabled", user.email)
        return removed or bool(passkeys)

    # passkeys

    def _relying_party(self) -> Passkeys:
        if self.passkeys is None:
            raise PasskeysOff("no passkey relying party is configured")
        return self.passkeys

    async def _audit_passkey_failure(
        self, error: Exception, user_id: str | None, ip: str | None, user_agent: str | None
    ) -> None:
        if isinstance(error, PasskeyCloned):
            passkey = error.passkey
            assert isinstance(passkey, PasskeyRecord)
            await self.audit.record(
                "passkey_cloned", user_id=passkey.user_id, ip=ip, user_agent=user_agent, detail=passkey.id
            )
        else:
            owner = error.user_id if isinstance(error, InvalidPasskey) and error.user_id else user_id
            await self.audit.record("passkey_failed", user_id=owner, ip=ip, user_agent=user_agent)

    async def _assertion(
        self,
        credential: object,
        sign_in: str | None,
        user_id: str | None,
        ip: str | None,
        user_agent: str | None,
    ) -> VerifiedPasskey:
        """A verified assertion for a passwordless sign-in (`sign_in` None) or the second factor of
        the pending sign-in `sign_in`, not yet recorded; each refusal audited (a clone as such) and
        re-raised."""
        passkeys = self._relying_party()
        try:
            if sign_in is None:
                return await passkeys.authenticate(credential, "login")
            return await passkeys.authenticate(credential, "second_factor", sign_in=sign_in)
        except InvalidPasskey as error:
            await self._audit_passkey_failure(error, user_id, ip, user_agent)
            raise

    async def list_passkeys(self, user: User) -> list[PasskeyRecord]:
        """`user`'s passkeys, oldest first."""
        return await self.store.list_passkeys(user.id)

    async def passkey_registration_options(
        self, user: User, *, session_id: str | None = None, ip: str | None = None
    ) -> dict[str, Any]:
        """The options of `navigator.credentials.create()` for a new passkey of `user` (a random user
        handle, the passkeys they have excluded). Needs a fresh sign-in (`require_fresh_sign_in`, of
        the caller's session `session_id`); rate-limited like logins (each stores a challenge)."""
        passkeys = self._relying_party()
        await self.rate_limits.check_login(f"passkey:{user.id}", ip)
        await self.require_fresh_sign_in(user, session_id)
        return await passkeys.registration_options(user, await self.store.list_passkeys(user.id))

    async def passkey_register(
        self,
        user: User,
        credential: object,
        name: str | None = None,
        *,
        session_id: str | None = None,
        ip: str | None = None,
        user_agent: str | None = None,
    ) -> PasskeyRecord:
        """Verify and store the passkey `navigator.credentials.create()` made (a fresh sign-in of
        `session_id` needed, as for the options); `InvalidPasskey`."""
        passkeys = self._relying_party()
        await self.require_fresh_sign_in(user, session_id)
        label = clean_name(name, "Passkey")
        try:
            record = await passkeys.register(user, credential, label)
        except InvalidPasskey:
            await self.audit.record(
                "passkey_failed", user_id=user.id, ip=ip, user_agent=user_agent, detail="registration"
            )
            raise
        await self.audit.record(
            "passkey_added", user_id=user.id, ip=ip, user_agent=user_agent, detail=record.id
        )
        self._mail("passkey_added", user.email)  # a lasting way in: the owner hears of it
        return record

    async def rename_passkey(
        self,
        user: User,
        passkey_id: str,
        name: str,
        *,
        ip: str | None = None,
        user_agent: str | None = None,
    ) -> PasskeyRecord:
        """Rename one of `user`'s passkeys (audited); `PasskeyNotFound` for any other id."""
        if not PASSKEY_ID.fullmatch(passkey_id):
            raise PasskeyNotFound("no such passkey")
        label = clean_name(name, "Passkey")
        if not await self.store.rename_passkey(passkey_id, user.id, label):
            raise PasskeyNotFound("no such passkey")
        found = next((p for p in await self.store.list_passkeys(user.id) if p.id == passkey_id), None)
        if found is None:
            raise PasskeyNotFound("no such passkey")
        await self.audit.record(
            "passkey_renamed", user_id=user.id, ip=ip, user_agent=user_agent, detail=passkey_id
        )
        return found

    async def delete_passkey(
        self,
        user: User,
        passkey_id: str,
        *,
        session_id: str | None = None,
        ip: str | None = None,
        user_agent: str | None = None,
    ) -> None:
        """Remove one of `user`'s passkeys (a fresh sign-in of `session_id` needed); `PasskeyNotFound`
        for any other id, `LastSignInMethod` when it is the account's only way in (no password, no
        linked provider, no other passkey)."""
        if not PASSKEY_ID.fullmatch(passkey_id):
            raise PasskeyNotFound("no such passkey")
        passkeys = await self.store.list_passkeys(user.id)
        if not any(p.id == passkey_id for p in passkeys):
            raise PasskeyNotFound("no such passkey")
        await self.require_fresh_sign_in(user, session_id)
        target = next(p for p in passkeys if p.id == passkey_id)
        counts = self.passkeys is not None  # with passkeys off, removing one takes no way in away
        if counts and await self._ways_in(user) <= 1:
            raise LastSignInMethod("the only way to sign in")
        if not await self.store.delete_passkey(passkey_id, user.id):
            raise PasskeyNotFound("no such passkey")
        if counts and await self._ways_in(user) == 0:  # a concurrent removal took the other way: undo ours
            await self.store.insert_passkey(target)
            raise LastSignInMethod("the only way to sign in")
        await self.audit.record(
            "passkey_removed", user_id=user.id, ip=ip, user_agent=user_agent, detail=passkey_id
        )
        self._mail("passkey_removed", user.email)

    async def passkey_login_options(self, *, ip: str | None = None) -> dict[str, Any]:
        """The options of `navigator.credentials.get()` for a passwordless sign-in (any discoverable
        passkey of this RP, user verification required). Rate-limited per source: each stores a
        challenge."""
        passkeys = self._relying_party()
        await self.rate_limits.check_passkey(ip)
        return await passkeys.authentication_options("login")

    async def passkey_sign_in(
        self, credential: object, *, ip: str | None = None, user_agent: str | None = None
    ) -> tuple[User, TokenPair]:
        """A passwordless sign-in with a user-verified passkey: a session whose tokens say `amr`
        ["hwk" or "swk", "mfa"] (a TOTP on the account is not asked for: the passkey is two factors).
        Rate-limited per source like logins; `InvalidPasskey`, `InvalidCredentials` (an inactive
        account), and the session start's refusals."""
        await self.rate_limits.check_passkey(ip)
        verified = await self._assertion(credential, None, None, ip, user_agent)
        user = await self.accounts.get_user(verified.passkey.user_id, fresh=True)
        if user is None or not user.is_active:
            await self.audit.record(
                "signin_failed",
                user_id=verified.passkey.user_id,
                ip=ip,
                user_agent=user_agent,
                detail="inactive account",
            )
            raise InvalidCredentials("inactive account")
        pair = await self._start_session(
            user,
            ip=ip,
            user_agent=user_agent,
            passkey=amr_of(verified.passkey),
            accepted=lambda: self._record_use(verified, ip, user_agent),
        )
        return user, pair

    async def passkey_second_factor_options(self, mfa_token: str, *, ip: str | None = None) -> dict[str, Any]:
        """The options of `navigator.credentials.get()` for the second factor of a pending sign-in: the
        user's passkeys allowed, the ceremony bound to that sign-in. `TokenError`, `InvalidCode`,
        `MFANotEnabled` (no passkey)."""
        passkeys = self._relying_party()
        user, verified, _ = await self._pending_sign_in(mfa_token)
        await self.rate_limits.check_login(f"mfa:{user.id}", ip)
        mine = await self.store.list_passkeys(user.id)
        if not mine:
            raise MFANotEnabled("no passkey")
        return await passkeys.authentication_options(
            "second_factor", user_id=user.id, allow=mine, data=verified.sid
        )

    async def _passkey_factor(
        self, user: User, credential: object, sign_in: str, *, ip: str | None, user_agent: str | None
    ) -> str:
        """A passkey as the second factor of the pending sign-in `sign_in`: its RFC 8176 method."""
        await self.rate_limits.check_login(f"mfa:{user.id}", ip)
        verified = await self._assertion(credential, sign_in, user.id, ip, user_agent)
        await self._record_use(verified, ip, user_agent)
        return amr_of(verified.passkey)

    async def _record_use(self, verified: VerifiedPasskey, ip: str | None, user_agent: str | None) -> None:
        """Store an accepted assertion's use; losing its compare-and-set to a concurrent use is a
        refusal, audited."""
        try:
            await self._relying_party().record_use(verified)
        except InvalidPasskey as error:
            await self._audit_passkey_failure(error, verified.passkey.user_id, ip, user_agent)
            raise

    # administration

    async def _store_password(self, user: User, new_hash: str) -> User:
        """Write only the new password hash (never a copy read before the slow hashing), end
        every session again (one a sign-in started meanwhile, see `_start_session`) and void the codes
        that could take the account over."""
        latest = await self.accounts.update(user.id, hashed_password=new_hash) or user
        await self.sessions.revoke_all(latest.id)
        await self.codes.void(latest.id, _VOIDED_BY_PASSWORD_CHANGE)
        return latest

    async def set_password(self, email: str, password: str) -> User | None:
        """Set the password of the account `email` names (an operator's act, `fastauth users set-password`):
        every session ends, pending reset and email-change codes are voided. None when there is none."""
        self.accounts.check_password(password)
        user = await self._account_by_email(email)
        if user is None:
            return None
        new_hash = await self.accounts.hasher.hash(password)
        await self.sessions.revoke_all(user.id)  # first: a failure here leaves the old password in place
        user = await self._store_password(user, new_hash)
        await self.audit.record("password_changed", user_id=user.id, detail="set by an operator")
        return user

    async def mark_verified(self, email: str) -> User | None:
        """Mark the address of the account `email` names verified (`fastauth users verify`)."""
        user = await self._account_by_email(email)
        if user is None:
            return None
        if not user.is_verified:
            user = await self.accounts.update(user.id, is_verified=True) or user
            await self.codes.void(user.id, ("verify_email",))
            await self.audit.record("email_verified", user_id=user.id, detail=f"{user.email} by an operator")
        return user

    async def account_by_email(self, email: str) -> User | None:
        """The account of this address (any spelling), or None."""
        return await self._account_by_email(email)

    async def _account_by_email(self, email: str) -> User | None:
        user = await self.store.get_user_by_email(normalize_email(email))
        return None if user is None else await self.accounts.get_user(user.id, fresh=True)

    async def set_user_active(self, user_id: str, active: bool) -> User | None:
        """Activate or deactivate a user; deactivation ends every session of theirs at once."""
        user = await self.accounts.get_user(user_id, fresh=True)
        if user is None:
            return None
        user = await self.accounts.update(user.id, is_active=active) or user
        if not active:
            await self.sessions.revoke_all(user.id)
            await self.codes.void(user.id, _VOIDED_BY_PASSWORD_CHANGE)
        return user

    async def rotate_keys(self, *, immediately: bool = False) -> KeyRecord:
        """Publish a new signing key (see `KeyManager.rotate`) and tell the other processes."""
        if self.keys is None:
            raise ConfigError("keys come from the configuration (secret or PEM pair); nothing to rotate")
        record = await self.keys.rotate(immediately=immediately)
        await self.audit.record("key_rotated", user_id=None, detail=f"kid {record.kid}")
        await self._publish("keys")
        return record

    async def retire_key(self, kid: str) -> bool:
        """Emergency retirement; with Redis, every process refuses the key's tokens at once."""
        if self.keys is None:
            raise ConfigError("keys come from the configuration (secret or PEM pair); nothing to retire")
        done = await self.keys.retire(kid)
        if done:
            await self.audit.record("key_retired", user_id=None, detail=f"kid {kid}")
        await self._publish("keys")
        return done

    # authorization: roles and permissions

    async def holdable(self, user: User) -> frozenset[str] | None:
        """The permissions `user` holds now (from the store's roles); None for a superuser: every one."""
        if user.is_superuser:
            return None
        return await self.roles.permissions_of(user.roles)

    async def may_bypass(self, user_id: str) -> bool:
        """Whether the user passes permission and role checks as a superuser (`authz.superuser_bypass`
        and an active superuser now)."""
        if not self.config.authz.superuser_bypass:
            return False
        user = await self.accounts.get_user(user_id)
        return user is not None and user.is_active and user.is_superuser

    async def principal_of_token(self, token: VerifiedToken) -> Principal:
        """The principal of a verified access token; a token without `roles` (issued before fastauth
        wrote them, or with `roles_in_token` off) gets the user's roles and permissions now."""
        principal = Principal.of_token(token.claims)
        if principal.has_authz_claims:
            return principal
        user = await self.user_of(token)
        permissions = await self.roles.permissions_of(user.roles)
        return dataclasses.replace(principal, roles=user.roles, scopes=permissions, has_authz_claims=False)

    async def authenticate_api_key(self, text: str, *, rate_limit: bool = True) -> tuple[Principal, User]:
        """The principal of a presented API key, and its owner: `InvalidApiKey` for a malformed key (no
        database read), an unknown, revoked or expired one, or an owner gone or inactive; `RateLimited`
        over the key's budget (unless `rate_limit=False`: introspection asks about a key another
        service was shown, which is no request made with it here). Its scopes are cut down to what
        the owner holds now."""
        record = await self.api_keys.find(text)
        owner = await self.accounts.get_user(record.user_id)
        if owner is None or not owner.is_active:
            raise InvalidApiKey("the key's owner is gone or inactive")
        if rate_limit:
            await self.rate_limits.check_api_key(record.id)
        held = await self.holdable(owner)
        scopes = frozenset(record.scopes) if held is None else frozenset(record.scopes) & held
        self.api_keys.used(record)
        claims = {
            "sub": owner.id,
            "type": "api_key",
            "client_id": record.id,
            "scope": " ".join(sorted(scopes)),
            "roles": list(owner.roles),
            "iat": record.created_at,
            **({"exp": record.expires_at} if record.expires_at is not None else {}),
        }
        principal = Principal(
            kind="api_key",
            user_id=owner.id,
            roles=owner.roles,
            scopes=scopes,
            claims=claims,
            api_key_id=record.id,
        )
        return principal, owner

    async def admin_of(self, principal: Principal) -> tuple[User, frozenset[str] | None]:
        """The acting administrator and the permissions they may hand out (None: all, a superuser
        through an access token), read now (never from the token: taking admin rights away works at
        once). An API key acts with its own scopes, a superuser's too: a key is a standing credential,
        so it never sets `is_superuser` nor touches a superuser. `PermissionDenied` unless the
        principal is an active superuser (through a token) or holds `fastauth:admin`."""
        user = await self.accounts.get_user(principal.user_id, fresh=True)
        if user is None or not user.is_active:
            raise PermissionDenied("not an administrator")
        if principal.is_api_key:
            if ADMIN not in principal.scopes:
                raise PermissionDenied("the key lacks fastauth:admin")
            return user, principal.scopes
        held = await self.holdable(user)
        if held is not None and ADMIN not in held:
            raise PermissionDenied("not an administrator")
        return user, held

    @staticmethod
    def _within(wanted: Any, held: frozenset[str] | None, what: str) -> None:
        if held is None:
            return
        beyond = sorted(set(wanted) - held)
        if beyond:
            raise PermissionDenied(f"{what} beyond the administrator's own permissions: {' '.join(beyond)}")

    async def _role_audit(self, event: Any, actor: User, name: str, detail: str = "") -> None:
        await self.audit.record(event, user_id=None, actor_id=actor.id, detail=f"role {name}{detail}"[:200])

    async def create_role(
        self, actor: User, held: frozenset[str] | None, name: str, permissions: list[str], description: str
    ) -> RoleRecord:
        """A new role (audited); an administrator who is not a superuser grants only what they hold."""
        self._within(permissions, held, "permissions")
        role = await self.roles.create(name, permissions, description)
        await self._role_audit("role_created", actor, role.name, f": {' '.join(role.permissions)}")
        await self._publish("roles")
        return role

    async def update_role(
        self,
        actor: User,
        held: frozenset[str] | None,
        name: str,
        *,
        permissions: list[str] | None = None,
        description: str | None = None,
    ) -> RoleRecord:
        """Change a role (audited); it reaches its holders' tokens at their next refresh."""
        if permissions is not None:
            self._within(permissions, held, "permissions")
        if held is not None:
            self._within((await self.roles.get(name)).permissions, held, "the role grants permissions")
        role = await self.roles.update(name, permissions=permissions, description=description)
        await self._role_audit("role_changed", actor, role.name, f": {' '.join(role.permissions)}")
        self.accounts.cache.clear()
        await self._publish("roles")
        return role

    async def delete_role(self, actor: User, held: frozenset[str] | None, name: str) -> int:
        """Delete a role and take it from its holders (audited); returns how many held it."""
        if held is not None:
            self._within((await self.roles.get(name)).permissions, held, "the role grants permissions")
        count = await self.roles.delete(name)
        await self._role_audit("role_deleted", actor, name, f" (held by {count})")
        self.accounts.cache.clear()
        await self._publish("roles")
        return count

    # authorization: the admin API's users

    def _cursor(self, prefix: str, after: str) -> str:
        payload = base64.urlsafe_b64encode(json.dumps([prefix, after]).encode()).decode().rstrip("=")
        return f"{payload}.{self._cursor_mac(payload)}"

    def _cursor_mac(self, payload: str) -> str:
        key = self.config.secret.get_secret_value().encode()
        return hmac.new(key, b"fastauth-cursor:" + payload.encode(), hashlib.sha256).hexdigest()[:32]

    def _after(self, cursor: str, prefix: str) -> str:
        """The email a cursor continues after; `InvalidCursor` for one this server did not write for
        this query (signed, so a cursor is never a way to read rows or inject a value)."""
        payload, dot, mac = cursor.partition(".")
        if not (dot and len(cursor) <= 2048 and cursor.isascii()):  # ours are; compare_digest needs it
            raise InvalidCursor("cursor not ours")
        if not hmac.compare_digest(mac, self._cursor_mac(payload)):
            raise InvalidCursor("cursor not ours")
        try:
            values = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        except ValueError:
            raise InvalidCursor("cursor not ours") from None
        if not (isinstance(values, list) and len(values) == 2 and all(isinstance(v, str) for v in values)):
            raise InvalidCursor("cursor not ours")
        if values[0] != prefix:
            raise InvalidCursor("cursor of another query")
        return str(values[1])

    async def admin_list_users(
        self, *, query: str = "", limit: int = 50, cursor: str | None = None
    ) -> tuple[list[User], str | None]:
        """Users by email, those starting with `query` (lower-cased, as addresses are stored), a page
        of `limit` at a time; the cursor of the next page, or None after the last."""
        prefix = query.strip().lower()
        after = self._after(cursor, prefix) if cursor else None
        if "\x00" in prefix:  # no address holds one, and PostgreSQL refuses it in text
            return [], None
        users = await self.store.list_users(prefix=prefix, after=after, limit=limit + 1)
        more = len(users) > limit
        users = users[:limit]
        return users, self._cursor(prefix, users[-1].email) if more and users else None

    async def admin_get_user(self, user_id: str) -> User:
        """The user, or `UserNotFound`."""
        user = await self.accounts.get_user(user_id, fresh=True)
        if user is None:
            raise UserNotFound("no such user")
        return user

    async def admin_update_user(
        self,
        actor: User,
        held: frozenset[str] | None,
        user_id: str,
        changes: Mapping[str, Any],
        *,
        fields: Mapping[str, Any] | None = None,
        end_sessions: bool = False,
        ip: str | None = None,
        user_agent: str | None = None,
    ) -> User:
        """An administrator's change of an account (audited with the actor): `is_active`,
        `is_verified`, `is_superuser`, `roles`, the application's fields. Only a superuser changes
        `is_superuser` or acts on a superuser; a role is granted only by someone holding all it
        grants; nobody deactivates or demotes themselves. Deactivation ends the sessions at once; a
        change of roles reaches the tokens at their next refresh, or now with `end_sessions`."""
        target = await self.admin_get_user(user_id)
        unknown = set(changes) - {"is_active", "is_verified", "is_superuser", "roles"}
        if unknown:
            raise InvalidUserFields(f"not changeable here: {', '.join(sorted(unknown))}")
        if held is not None and (target.is_superuser or "is_superuser" in changes):
            raise PermissionDenied("only a superuser changes a superuser")
        if target.id == actor.id and (
            changes.get("is_active") is False or changes.get("is_superuser") is False
        ):
            raise PermissionDenied("an administrator does not deactivate or demote themselves")
        values = dict(changes)
        if "roles" in values:
            roles = await self.roles.check_assignable(values["roles"])
            added = set(roles) - set(target.roles)
            removed = set(target.roles) - set(roles)
            self._within(await self.roles.permissions_of(added | removed), held, "roles granting permissions")
            own = target.id == actor.id and held is not None  # a role administrator's own account
            if own and ADMIN not in await self.roles.permissions_of(roles):
                raise PermissionDenied("an administrator does not take their own fastauth:admin away")
            values["roles"] = roles
        seen = {"user_id": target.id, "actor_id": actor.id, "ip": ip, "user_agent": user_agent}
        user = target
        if fields:
            user = await self.update_fields(target, fields)
        if values:
            updated = await self.accounts.update(target.id, **values)
            if updated is None:
                raise UserNotFound("no such user")
            user = updated
        if values.get("is_active") is False:
            await self.sessions.revoke_all(user.id)
            await self.codes.void(user.id, _VOIDED_BY_PASSWORD_CHANGE)
        if "roles" in values and tuple(values["roles"]) != target.roles:
            await self.audit.record("roles_changed", **seen, detail=f"roles: {' '.join(user.roles)}"[:200])
        others = sorted(k for k in values if k != "roles" and values[k] != getattr(target, k))
        if others or fields:
            what = [f"{k}={values[k]}" for k in others] + sorted(fields or {})
            await self.audit.record("user_changed", **seen, detail=" ".join(what)[:200])
        if end_sessions:
            await self.admin_end_sessions(actor, held, user.id, ip=ip, user_agent=user_agent)
        return user

    async def admin_end_sessions(
        self,
        actor: User,
        held: frozenset[str] | None,
        user_id: str,
        *,
        ip: str | None = None,
        user_agent: str | None = None,
    ) -> int:
        """End every session of the user (audited); returns how many. A superuser's only by a
        superuser (`held` None)."""
        target = await self.admin_get_user(user_id)
        if held is not None and target.is_superuser:
            raise PermissionDenied("only a superuser ends a superuser's sessions")
        ended = await self.sessions.revoke_all(user_id)
        await self.audit.record(
            "sessions_ended",
            user_id=user_id,
            actor_id=actor.id,
            ip=ip,
            user_agent=user_agent,
            detail=f"{len(ended)} sessions",
        )
        return len(ended)

    async def admin_delete_user(
        self,
        actor: User,
        held: frozenset[str] | None,
        user_id: str,
        *,
        ip: str | None = None,
        user_agent: str | None = None,
    ) -> None:
        """Delete an account (audited with the actor); not one's own, and a superuser's only by a
        superuser."""
        target = await self.admin_get_user(user_id)
        if target.id == actor.id:
            raise PermissionDenied("an administrator deletes their own account at DELETE /auth/me")
        if held is not None and target.is_superuser:
            raise PermissionDenied("only a superuser deletes a superuser")
        await self.sessions.revoke_all(target.id)
        await self.accounts.delete(target.id)
        await self.audit.record(
            "account_deleted",
            user_id=target.id,
            actor_id=actor.id,
            ip=ip,
            user_agent=user_agent,
            detail="by an administrator",
        )
        await self.events.account_deleted(target)

    async def _first_superuser(self) -> None:
        """Create `authz.first_superuser_email` as a verified superuser when no account has it."""
        authz = self.config.authz
        if authz.first_superuser_email is None:
            return
        if await self.store.get_user_by_email(normalize_email(authz.first_superuser_email)) is not None:
            return
        password = authz.first_superuser_password
        try:
            await self.create_user(
                authz.first_superuser_email,
                password.get_secret_value() if password is not None else secrets.token_urlsafe(32),
                is_superuser=True,
                is_verified=True,
            )
        except EmailTaken:  # another process made it meanwhile
            return
        log.info("created the first superuser from the configuration (authz.first_superuser_email)")

    # authorization: API keys

    async def create_api_key(
        self,
        user: User,
        session_id: str | None,
        *,
        name: str,
        scopes: list[str],
        expires_in: int | None,
        ip: str | None = None,
        user_agent: str | None = None,
    ) -> tuple[str, ApiKeyRecord]:
        """A new API key of `user` (`POST /api-keys`): shown once (returned here), kept as its hash.
        Needs a recent sign-in (with the second factor when the account has one: a stolen session
        must not mint a lasting credential), then what `issue_api_key` checks."""
        await self.require_fresh_sign_in(user, session_id)
        return await self.issue_api_key(
            user, name=name, scopes=scopes, expires_in=expires_in, ip=ip, user_agent=user_agent
        )

    async def issue_api_key(
        self,
        user: User,
        *,
        name: str,
        scopes: list[str],
        expires_in: int | None,
        ip: str | None = None,
        user_agent: str | None = None,
        actor_id: str | None = None,
        via: str | None = None,
    ) -> tuple[str, ApiKeyRecord]:
        """A new API key of `user`, without the sign-in check (an operator's `fastauth api-keys
        create`): scopes the user holds now, an expiry within `authz.api_key_max_ttl` (the default
        `api_key_default_ttl`), fewer than `authz.api_keys_per_user` live keys. `InvalidScope`
        otherwise. Audited (`actor_id`: who acted, when not the user; `via`: a note such as
        "command line")."""
        authz = self.config.authz
        for scope in scopes:
            try:
                check_permission(scope)
            except FastAuthError:
                raise InvalidScope(f"not a scope: {scope[:130]!r}") from None
        held = await self.holdable(user)
        beyond = sorted(set(scopes) - held) if held is not None else []
        if beyond:
            raise InvalidScope(f"scopes you do not hold: {' '.join(beyond)}")
        ttl = expires_in if expires_in is not None else authz.api_key_default_ttl
        if ttl is not None and authz.api_key_max_ttl is not None and ttl > authz.api_key_max_ttl:
            raise InvalidScope(f"expires_in is at most {authz.api_key_max_ttl} seconds")
        if ttl is None and authz.api_key_max_ttl is not None:
            raise InvalidScope("a key must expire")
        if len(await self.store.list_api_keys(user.id)) >= authz.api_keys_per_user:
            raise InvalidScope(f"at most {authz.api_keys_per_user} live keys per user: revoke one first")
        now = self.now()
        text, record = await self.api_keys.create(
            user.id, name, scopes, now + ttl if ttl is not None else None, key_id=new_token_id()
        )
        await self.audit.record(
            "api_key_created",
            user_id=user.id,
            ip=ip,
            user_agent=user_agent,
            detail=f"key {record.id} {record.prefix}" + (f" ({via})" if via else ""),
            actor_id=actor_id,
        )
        return text, record

    async def list_api_keys(self, user: User) -> list[ApiKeyRecord]:
        """The user's live keys (never the keys themselves), newest first."""
        return await self.store.list_api_keys(user.id)

    async def revoke_api_key(
        self,
        key_id: str,
        *,
        user: User | None,
        actor_id: str | None = None,
        ip: str | None = None,
        user_agent: str | None = None,
    ) -> ApiKeyRecord:
        """Revoke a key (of `user`, when given; any, for the CLI and the admin API), in every process
        at once with Redis, within `authz.api_key_cache_ttl` otherwise. `ApiKeyNotFound`."""
        record = await self.api_keys.revoke(key_id, user_id=user.id if user is not None else None)
        if record is None:
            raise ApiKeyNotFound("no such key")
        await self._publish(f"apikey:{record.key_hash}")
        await self.audit.record(
            "api_key_revoked",
            user_id=record.user_id,
            actor_id=actor_id,
            ip=ip,
            user_agent=user_agent,
            detail=f"key {record.id} {record.prefix}",
        )
        return record

    async def _flush_loop(self) -> None:
        """Write the API keys' last uses once a minute."""
        while True:
            await asyncio.sleep(self.api_keys.touch_interval)
            try:
                await self.api_keys.flush()
            except Exception as error:  # kept for the next round
                log.warning("API-key last-use times not written: %s", type(error).__name__)

    # RFC 7662 introspection and RFC 7009 revocation

    async def introspect(self, token: str, hint: str | None = None) -> dict[str, Any]:
        """RFC 7662: what a token is, or only `{"active": false}` for anything not live (malformed,
        expired, revoked, unknown, an inactive owner, a refresh token already rotated). `hint`
        ("access_token", "refresh_token") only orders the tries.

        `token_type` is RFC 6749's (`Bearer`, for access tokens and API keys: RFC 7662 §2.2); which
        kind of token it is, is `token_use`: `access_token`, `refresh_token` or `api_key`."""
        inactive: dict[str, Any] = {"active": False}
        if not isinstance(token, str) or not token or len(token) > 16384:
            return inactive
        issuer = self.engine.issuer
        if looks_like_api_key(token):
            try:
                principal, owner = await self.authenticate_api_key(token, rate_limit=False)
            except TokenError:
                return inactive
            claims = principal.claims
            return {
                "active": True,
                "token_type": "Bearer",
                "token_use": "api_key",
                "sub": owner.id,
                "username": owner.email,
                "scope": claims["scope"],
                "client_id": claims["client_id"],
                "iat": claims["iat"],
                "iss": issuer,
                **({"exp": claims["exp"]} if "exp" in claims else {}),
            }
        order = ("refresh", "access") if hint == "refresh_token" else ("access", "refresh")
        for kind in order:
            try:
                verified = await (self.authenticate(token) if kind == "access" else self._live_refresh(token))
                user = await self.user_of(verified)
            except TokenError:
                continue
            claims = verified.claims
            answer: dict[str, Any] = {
                "active": True,
                # RFC 6749 gives a refresh token no token type: it is never presented as a credential.
                **({"token_type": "Bearer"} if kind == "access" else {}),
                "token_use": "access_token" if kind == "access" else "refresh_token",
                "username": user.email,
                **{
                    k: claims[k]
                    for k in ("sub", "scope", "exp", "iat", "iss", "aud", "sid", "client_id", "jti")
                    if k in claims
                },
            }
            return answer
        return inactive

    async def _live_refresh(self, token: str) -> VerifiedToken:
        """A refresh token that is its session's current one (`RevokedToken` otherwise)."""
        verified = await self.sessions.verify(token, REFRESH)
        session = await self.store.get_session(verified.sid)
        if (
            session is None
            or session.revoked_at is not None
            or session.user_id != verified.sub
            or session.refresh_jti != verified.jti
            or session.expires_at <= self.now()
        ):
            raise RevokedToken("not the session's current refresh token")
        return verified

    async def revoke_token(
        self,
        token: str,
        hint: str | None,
        caller: Principal,
        *,
        ip: str | None = None,
        user_agent: str | None = None,
    ) -> bool:
        """RFC 7009: end what `token` grants, when `caller` owns it or holds `fastauth:revoke`. An
        access or refresh token ends its whole session; an API key is revoked. Anything unknown,
        invalid or not the caller's changes nothing (and the answer is the same 200): True if done."""
        if not isinstance(token, str) or not token or len(token) > 16384:
            return False
        service_caller = caller.is_api_key and REVOKE in caller.scopes
        if looks_like_api_key(token):
            try:  # the cached check: a made-up key presented again costs no query
                record = await self.api_keys.find(token)
            except InvalidApiKey:  # malformed, unknown, revoked or expired: nothing to end
                return False
            if record.user_id != caller.user_id and not service_caller:
                return False
            try:
                await self.revoke_api_key(
                    record.id,
                    user=None,
                    actor_id=caller.user_id if record.user_id != caller.user_id else None,
                    ip=ip,
                    user_agent=user_agent,
                )
            except ApiKeyNotFound:  # revoked meanwhile (another request, another process)
                return False
            return True
        order = (REFRESH, "access") if hint == "refresh_token" else ("access", REFRESH)
        for kind in order:
            try:
                verified = await self.sessions.verify(token, kind)
            except TokenError:
                continue
            if verified.sub != caller.user_id and not service_caller:
                return False
            if not await self.sessions.revoke(verified.sid):
                return False
            await self.audit.record(
                "token_revoked",
                user_id=verified.sub,
                actor_id=caller.user_id if verified.sub != caller.user_id else None,
                ip=ip,
                user_agent=user_agent,
                detail=f"session {verified.sid}",
            )
            return True
        return False

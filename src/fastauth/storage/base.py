"""What fastauth needs from storage: records and the protocols that hold them.

Times are whole seconds since the epoch (UTC) so every backend stores them the same way.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, cast, runtime_checkable

from typing_extensions import TypeVar

from fastauth.fields import UserFields

__all__ = [
    "ApiKeyRecord",
    "ApiKeyStore",
    "AuditRecord",
    "AuditStore",
    "CodeRecord",
    "CodeStore",
    "IdentityRecord",
    "IdentityStore",
    "KeyRecord",
    "KeyStore",
    "MFARecord",
    "MFAStore",
    "OAuthStateRecord",
    "OAuthStateStore",
    "PasskeyChallengeRecord",
    "PasskeyRecord",
    "PasskeyStore",
    "RoleRecord",
    "RoleStore",
    "SessionRecord",
    "SessionStore",
    "Store",
    "User",
    "UserStore",
]


#: The application's user fields on a `User` (`User[Profile]`); plain `User` has `UserFields`.
F = TypeVar("F", bound=UserFields, default=UserFields)


@dataclass(slots=True)
class User(Generic[F]):
    """An account. `email` is normalised (lower case); `id` is a cuid2 string; `fields` holds the
    application's own fields (`fastauth.UserFields`), typed when the annotation says `User[Profile]`."""

    id: str
    email: str
    hashed_password: str = field(repr=False)
    is_active: bool = True
    is_verified: bool = False
    is_superuser: bool = False
    roles: tuple[str, ...] = ()
    created_at: int = 0
    fields: F = field(default_factory=cast(Any, UserFields))


@dataclass(slots=True)
class SessionRecord:
    """A login session: one refresh-token family. `refresh_jti` is the only refresh token that may be used."""

    id: str
    user_id: str
    refresh_jti: str
    created_at: int
    last_used_at: int
    #: Absolute end of the session (`session_max_age` after login); refreshing never moves it.
    expires_at: int
    ip: str | None = None
    user_agent: str | None = None
    revoked_at: int | None = None
    #: The refresh `jti` spent by the last rotation, and when: lets a configured grace window tell a
    #: client's concurrent refresh from a replay (`jwt.refresh_reuse_grace`).
    previous_jti: str | None = None
    rotated_at: int | None = None
    #: How the user signed in (RFC 8176 `amr` values, space-separated: `pwd`, `fed`, ...); `created_at`
    #: is when (`auth_time`). A refresh carries both on and never changes them. None: before 0.2.
    amr: str | None = None


@runtime_checkable
class UserStore(Protocol):
    """Accounts, found by id or by normalised email."""

    async def create_user(self, user: User) -> None:
        """Insert; raises `fastauth.errors.EmailTaken` when the email exists."""

    async def get_user(self, user_id: str) -> User | None:
        """The user with this id, or None."""

    async def get_user_by_email(self, email: str) -> User | None:
        """The user with this normalised email, or None."""

    async def get_user_by_field(self, name: str, value: Any) -> User | None:
        """The user whose `Unique` application field `name` has `value`, or None; `ValueError` when
        `name` is not a `Unique` field."""

    async def update_user(self, user: User) -> None:
        """Write every field of `user` back."""

    async def set_user_fields(self, user_id: str, changes: Mapping[str, Any]) -> User | None:
        """Write only these fields (names of `User`'s, not `id`, `created_at` or `fields`, and names of
        the application's fields, with values its model validated) and return the user as stored
        afterwards, or None when there is none; `EmailTaken` for another user's email, `FieldTaken`
        for another user's value of a `Unique` field. A concurrent change of another field is never
        overwritten (a reset racing a deactivation)."""

    async def list_users(self, *, prefix: str = "", after: str | None = None, limit: int = 50) -> list[User]:
        """At most `limit` users ordered by email: only those whose email starts with `prefix`, only
        those after the email `after` (keyset pagination: an index range, fast at any depth)."""

    async def remove_role(self, role: str) -> int:
        """Take the role `role` away from every user holding it; returns how many."""

    async def delete_user(self, user_id: str, *, now: int | None = None) -> bool:
        """Delete the user with its sessions, one-time codes and identities; True if it existed. The sessions'
        revocations outlive them (a live one revoked as of `now`, default the wall clock):
        `revoked_since` keeps listing them until `prune_sessions` passes them."""


@runtime_checkable
class SessionStore(Protocol):
    """Login sessions: the row each refresh rotates (compare-and-set), revokes and lists."""

    async def create_session(self, session: SessionRecord) -> None:
        """Insert a new session."""

    async def create_user(self, user: User) -> None:
        """Insert; raises `EmailTaken` when the email exists."""

    async def create_user_with_session(self, user: User, session: SessionRecord) -> None:
        """Insert both in one transaction; raises `EmailTaken` (and inserts nothing) for a known email."""

    async def get_session(self, session_id: str) -> SessionRecord | None:
        """The session with this id (revoked or not), or None."""

    async def rotate_refresh(self, session_id: str, old_jti: str, new_jti: str, now: int) -> bool:
        """Compare-and-set: replace `old_jti` by `new_jti` if it is still current and the session is live.

        Exactly one of many concurrent callers with the same `old_jti` gets True.
        """

    async def revoke_session(self, session_id: str, now: int) -> bool:
        """Mark revoked; True if it was live."""

    async def revoke_user_sessions(
        self, user_id: str, now: int, except_session: str | None = None
    ) -> list[str]:
        """Revoke every live session of a user (but one); returns the revoked ids."""

    async def list_sessions(self, user_id: str, now: int) -> list[SessionRecord]:
        """Live sessions (not revoked, not past `expires_at`), newest first."""

    async def revoked_since(self, since: int) -> list[tuple[str, int]]:
        """(session id, revoked_at) for sessions revoked at or after `since`, those of deleted accounts
        included: warms revocation caches."""

    async def prune_sessions(self, before: int) -> int:
        """Delete sessions that ended (expired or revoked) before `before`; returns how many."""


@dataclass(slots=True)
class KeyRecord:
    """A stored signing key; its state follows from the times (see `fastauth.keys.manager`)."""

    kid: str
    algorithm: str
    generation: int
    public_pem: str
    private_sealed: str
    created_at: int
    activate_at: int
    retired_at: int | None = None


@runtime_checkable
class KeyStore(Protocol):
    """Signing keys shared by every process (asymmetric algorithms without configured PEM keys)."""

    async def list_keys(self) -> list[KeyRecord]:
        """Every stored key, oldest generation first."""

    async def insert_key(self, record: KeyRecord) -> bool:
        """Insert; False (not an error) when another process took the generation or kid first."""

    async def retire_key(self, kid: str, now: int) -> bool:
        """Mark retired at `now`; True if it was not retired yet."""

    async def delete_key(self, kid: str) -> bool:
        """Delete a long-retired key's row; True if it existed."""


@dataclass(slots=True)
class CodeRecord:
    """A one-time code (email verification, password reset, email change), known only by its hash.

    `id` is random and unrelated to the code; `code_hash` is the hex SHA-256 of the code, which itself
    is never stored. `consumed_at` is set when the code is used or voided (by a newer code of its
    purpose, or a password change); `data` is what the purpose carries (the new email of a change).
    """

    id: str
    user_id: str
    purpose: str
    code_hash: str = field(repr=False)
    created_at: int
    expires_at: int
    consumed_at: int | None = None
    data: str | None = None


@runtime_checkable
class CodeStore(Protocol):
    """One-time codes: issued (voiding older ones of the purpose), consumed once, voided, pruned.

    A code is live while `consumed_at` is None and `expires_at` is after now.
    """

    async def insert_code(self, record: CodeRecord, *, void_older: bool = True) -> None:
        """Insert `record`; with `void_older`, in the same transaction mark every unconsumed code of the
        same user and purpose consumed at `record.created_at`."""

    async def consume_code(self, code_hash: str, purpose: str, now: int) -> CodeRecord | None:
        """Compare-and-set: mark the live code of this hash and purpose consumed at `now` and return it
        (as now stored); None when there is none. Exactly one of many concurrent callers gets it."""

    async def find_code(self, code_hash: str, purpose: str, now: int) -> CodeRecord | None:
        """The live code of this hash and purpose, not consumed; None when there is none."""

    async def void_codes(self, user_id: str, purposes: Iterable[str], now: int) -> int:
        """Mark the user's unconsumed codes of these purposes consumed at `now`; returns how many."""

    async def prune_codes(self, before: int) -> int:
        """Delete codes that expired or were consumed before `before`; returns how many."""


@dataclass(slots=True)
class AuditRecord:
    """One security event (account-security §9): when, what, whose, from where; never a secret.

    `user_id` is no foreign key, so the record of an account's deletion outlives the account. `ip` is
    at most 64 characters, `user_agent` 512, `detail` (a short note such as an address or a session id,
    never a password, a code or a token) 200.
    """

    id: str
    at: int
    event: str
    user_id: str | None = None
    ip: str | None = None
    user_agent: str | None = None
    detail: str | None = None
    #: Who did it when that is not `user_id` themselves (an administrator's action on an account).
    actor_id: str | None = None


@runtime_checkable
class AuditStore(Protocol):
    """The audit log: appended to, read newest first, pruned by age."""

    async def insert_audit(self, record: AuditRecord) -> None:
        """Append `record`; `ValueError` when its id is taken."""

    async def list_audit(
        self, *, user_id: str | None = None, before: int | None = None, limit: int = 100
    ) -> list[AuditRecord]:
        """At most `limit` records, newest first (by `at`, then by id): only `user_id`'s when given, only
        those with `at` before `before` when given."""

    async def prune_audit(self, before: int) -> int:
        """Delete the records with `at` before `before`; returns how many."""


@dataclass(slots=True)
class IdentityRecord:
    """An account at a sign-in provider linked to a user: keyed on (issuer, subject), never on the email.

    `issuer` is the provider's OpenID Connect issuer (GitHub: its web URL); `email` is the address the
    provider gave at the last sign-in (shown to the user, never used to find the account).
    `tokens_sealed`: the provider's tokens, sealed, only with `store_tokens`.
    """

    id: str
    user_id: str
    provider: str
    issuer: str
    subject: str
    email: str | None
    created_at: int
    last_used_at: int
    tokens_sealed: str | None = field(default=None, repr=False)


@runtime_checkable
class IdentityStore(Protocol):
    """Linked provider identities."""

    async def insert_identity(self, record: IdentityRecord) -> None:
        """Insert; `IdentityTaken` when (issuer, subject) is linked already, `ValueError` for an unknown
        user."""

    async def get_identity(self, issuer: str, subject: str) -> IdentityRecord | None:
        """The identity of this subject at this issuer, or None."""

    async def list_identities(self, user_id: str) -> list[IdentityRecord]:
        """The user's identities, oldest first."""

    async def touch_identity(self, identity_id: str, now: int, email: str | None) -> None:
        """Record a sign-in through the identity (its time, the address the provider gave)."""

    async def delete_identity(self, identity_id: str, user_id: str) -> bool:
        """Unlink one of `user_id`'s identities; True if it existed."""


@dataclass(slots=True)
class OAuthStateRecord:
    """A provider sign-in under way (the browser is at the provider), known by the hash of its `state`.

    Single-use: the callback consumes it (compare-and-delete). `verifier` is the PKCE code verifier and
    `nonce` the OpenID Connect nonce; `link_user_id`/`link_session_id` are set for a link flow started
    by a signed-in user; `delivery` is how the tokens go back (`cookie`, or `code` for an exchange).
    """

    id: str
    provider: str
    verifier: str = field(repr=False)
    nonce: str = field(repr=False)
    redirect_to: str
    delivery: str
    created_at: int
    expires_at: int
    link_user_id: str | None = None
    link_session_id: str | None = None


@runtime_checkable
class OAuthStateStore(Protocol):
    """Provider sign-ins under way: stored at the start, consumed once by the callback."""

    async def insert_oauth_state(self, record: OAuthStateRecord) -> None:
        """Insert (ids are random; a taken one is `ValueError`)."""

    async def consume_oauth_state(self, state_id: str, now: int) -> OAuthStateRecord | None:
        """Delete the unexpired record of this id and return it; None when there is none. Exactly one
        of many concurrent callers gets it."""

    async def prune_oauth_states(self, before: int) -> int:
        """Delete the records that expired before `before`; returns how many."""


@dataclass(slots=True)
class MFARecord:
    """A user's TOTP second factor: the secret sealed (bound to the user), whether enrolment was
    confirmed by a correct code, and the last time step accepted (RFC 6238 §5.2: never twice)."""

    user_id: str
    totp_sealed: str = field(repr=False)
    created_at: int
    confirmed_at: int | None = None
    last_step: int | None = None


@runtime_checkable
class MFAStore(Protocol):
    """Second factors: TOTP enrolment, its replay guard, and recovery codes (kept as hashes)."""

    async def get_mfa(self, user_id: str) -> MFARecord | None:
        """The user's TOTP record (confirmed or not), or None."""

    async def put_totp(self, record: MFARecord) -> None:
        """Store a new, unconfirmed TOTP secret for the user (replacing an unconfirmed one)."""

    async def confirm_totp(self, user_id: str, step: int, now: int) -> bool:
        """Mark the TOTP confirmed, its `step` the last accepted; True if it was unconfirmed."""

    async def accept_totp_step(self, user_id: str, step: int) -> bool:
        """Compare-and-set: record `step` as the last accepted if it is later than the last one; True for
        exactly one of many concurrent callers with the same step."""

    async def delete_mfa(self, user_id: str) -> bool:
        """Remove the user's TOTP and recovery codes; True if there was a TOTP."""

    async def replace_recovery_codes(self, user_id: str, code_hashes: list[str], now: int) -> None:
        """Store a new set of recovery codes (by hash), voiding the old set, in one transaction."""

    async def consume_recovery_code(self, user_id: str, code_hash: str, now: int) -> bool:
        """Spend one of the user's unused recovery codes; True for exactly one concurrent caller."""

    async def count_recovery_codes(self, user_id: str) -> int:
        """How many unused recovery codes the user has."""


@dataclass(slots=True)
class PasskeyRecord:
    """A registered WebAuthn credential (a passkey) of a user.

    `credential_id`, `public_key` (COSE) and `user_handle` are base64url without padding. The user
    handle is random, the same for all of a user's passkeys, and never the user's id or email (WebAuthn
    §14.6.1). `sign_count` only goes up: an assertion whose count does not is refused (a cloned
    authenticator). `backup_eligible`/`backed_up` say whether the key can be or is synced (`swk`) rather
    than bound to one device (`hwk`).
    """

    id: str
    user_id: str
    credential_id: str
    public_key: str = field(repr=False)
    sign_count: int
    user_handle: str = field(repr=False)
    name: str
    created_at: int
    transports: tuple[str, ...] = ()
    aaguid: str = ""
    backup_eligible: bool = False
    backed_up: bool = False
    last_used_at: int | None = None


@dataclass(slots=True)
class PasskeyChallengeRecord:
    """A WebAuthn ceremony under way, known by the SHA-256 of its challenge (`id`): single-use,
    short-lived, bound to its `purpose` ("register", "login" or "second_factor") and, except for a
    passwordless sign-in, to the user; `data` ties a second factor to its sign-in (the MFA token's id)."""

    id: str
    purpose: str
    created_at: int
    expires_at: int
    user_id: str | None = None
    data: str | None = None


@runtime_checkable
class PasskeyStore(Protocol):
    """Passkeys and the challenges of their ceremonies."""

    async def insert_passkey(self, record: PasskeyRecord) -> None:
        """Insert; `ValueError` for a credential id already registered (to anyone) or an unknown user."""

    async def get_passkey(self, credential_id: str) -> PasskeyRecord | None:
        """The passkey of this credential id, or None."""

    async def list_passkeys(self, user_id: str) -> list[PasskeyRecord]:
        """The user's passkeys, oldest first."""

    async def use_passkey(self, passkey_id: str, old_count: int, new_count: int, now: int) -> bool:
        """Compare-and-set: record a use and its new sign count if the stored count is still
        `old_count`; True for exactly one of many concurrent callers."""

    async def rename_passkey(self, passkey_id: str, user_id: str, name: str) -> bool:
        """Rename one of `user_id`'s passkeys; True if it exists."""

    async def delete_passkey(self, passkey_id: str, user_id: str) -> bool:
        """Delete one of `user_id`'s passkeys; True if it existed."""

    async def insert_passkey_challenge(self, record: PasskeyChallengeRecord) -> None:
        """Insert (challenges are random; a taken id is `ValueError`)."""

    async def consume_passkey_challenge(
        self, challenge_id: str, purpose: str, now: int
    ) -> PasskeyChallengeRecord | None:
        """Delete the unexpired challenge of this id and purpose and return it; None when there is
        none. Exactly one of many concurrent callers gets it."""

    async def prune_passkey_challenges(self, before: int) -> int:
        """Delete the challenges that expired before `before`; returns how many."""


@dataclass(slots=True)
class RoleRecord:
    """A role: a name users are given and the permissions (strings such as `posts:write`) it grants."""

    name: str
    permissions: tuple[str, ...] = ()
    description: str = ""
    created_at: int = 0
    updated_at: int = 0


@runtime_checkable
class RoleStore(Protocol):
    """The role table (which users hold a role is `User.roles`)."""

    async def list_roles(self) -> list[RoleRecord]:
        """Every role, by name."""

    async def get_role(self, name: str) -> RoleRecord | None:
        """The role of this name, or None."""

    async def put_role(self, record: RoleRecord, *, create: bool | None = None) -> bool:
        """Write `record`. `create=True`: only if no role has its name; `False`: only if one has;
        `None`: either way. True if written."""

    async def delete_role(self, name: str) -> bool:
        """Delete the role (users keep the name until `remove_role`); True if it existed."""


@dataclass(slots=True)
class ApiKeyRecord:
    """An API key of a user: only the SHA-256 of the key is kept (`key_hash`, unique, how a presented
    key is found), with `prefix` (its first characters, for people to recognise it) and the `scopes`
    it may use (never beyond its owner's permissions, checked again at each use)."""

    id: str
    user_id: str
    name: str
    key_hash: str = field(repr=False)
    prefix: str
    scopes: tuple[str, ...]
    created_at: int
    expires_at: int | None = None
    last_used_at: int | None = None
    revoked_at: int | None = None


@runtime_checkable
class ApiKeyStore(Protocol):
    """API keys: created, found by hash, listed, revoked, their last use recorded in batches."""

    async def insert_api_key(self, record: ApiKeyRecord) -> None:
        """Insert; `ValueError` when its id or hash is taken or its user does not exist."""

    async def get_api_key_by_hash(self, key_hash: str) -> ApiKeyRecord | None:
        """The key with this hash (revoked or expired ones too), or None."""

    async def get_api_key(self, key_id: str) -> ApiKeyRecord | None:
        """The key with this id, or None."""

    async def list_api_keys(self, user_id: str) -> list[ApiKeyRecord]:
        """The user's keys that are not revoked, newest first."""

    async def revoke_api_key(self, key_id: str, now: int, *, user_id: str | None = None) -> bool:
        """Revoke the key (only if it is `user_id`'s, when given); True if it was live."""

    async def touch_api_keys(self, used: Mapping[str, int]) -> None:
        """Record last-use times (key id -> time); a time never goes back."""


@runtime_checkable
class Store(
    UserStore,
    SessionStore,
    KeyStore,
    CodeStore,
    AuditStore,
    IdentityStore,
    OAuthStateStore,
    MFAStore,
    PasskeyStore,
    RoleStore,
    ApiKeyStore,
    Protocol,
):
    """Everything fastauth keeps, with its lifecycle: what the service starts, checks and closes.

    At start-up the service calls `create_tables()` when `auto_create_tables` is on, then
    `check_schema(keys=...)`, and `close()` at shutdown for a store it created itself.
    """

    async def create_tables(self) -> None:
        """Make the storage ready: create what is missing, bring an older layout up to date where that
        is safe to do at start-up. Idempotent, also when several processes start at once."""

    async def check_schema(self, *, keys: bool = False) -> None:
        """Raise `fastauth.errors.ConfigError` (saying what to do) when this fastauth cannot run on the
        storage as it is. `keys`: the signing keys live in this store, so their table is required."""

    async def close(self) -> None:
        """Release connections; the store is not used afterwards."""

"""`MemoryStore`: the whole `Store` in dictionaries, for fastauth's own tests of the core.

Same semantics as the SQL store (`tests/storage/test_store_contract.py` runs one set of assertions on
both); nothing survives the process and nothing is shared between processes, so it is never a default.
Every record goes in and comes out as a copy: a caller changing a returned object changes nothing here.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import fields, replace
from typing import Any

from fastauth.errors import EmailTaken, FieldTaken, IdentityTaken
from fastauth.fields import UserFields, describe
from fastauth.storage.base import (
    ApiKeyRecord,
    AuditRecord,
    CodeRecord,
    IdentityRecord,
    KeyRecord,
    MFARecord,
    OAuthStateRecord,
    PasskeyChallengeRecord,
    PasskeyRecord,
    RoleRecord,
    SessionRecord,
    User,
)

__all__ = ["MemoryStore"]


#: The fields of `User` a change may write (the application's fields are written by name).
_USER_WRITABLE = frozenset(f.name for f in fields(User)) - {"id", "created_at", "fields"}


class MemoryStore:
    """Users, sessions, signing keys, one-time codes, the audit log, provider identities and sign-ins
    under way in memory: a `fastauth.storage.base.Store` for tests.

    Each method runs without awaiting anything, so on one event loop it is atomic, as a SQL
    transaction is: of concurrent `rotate_refresh` (or `consume_code`) calls exactly one wins.
    """

    def __init__(self, *, user_fields: type[UserFields] | None = None) -> None:
        #: The application's user fields (None: none), as `SQLAlchemyAdapter(user_fields=...)`.
        self.user_fields = user_fields
        self._field_names = frozenset(spec.name for spec in describe(user_fields))
        self._unique = tuple(spec.name for spec in describe(user_fields) if spec.unique)
        self._users: dict[str, User] = {}
        self._sessions: dict[str, SessionRecord] = {}
        self._keys: dict[str, KeyRecord] = {}
        self._codes: dict[str, CodeRecord] = {}
        self._audit: dict[str, AuditRecord] = {}
        #: Revocations of deleted accounts' sessions: session id -> revoked_at.
        self._revoked: dict[str, int] = {}
        self._identities: dict[str, IdentityRecord] = {}
        self._mfa: dict[str, MFARecord] = {}
        #: Recovery codes: hash -> [user id, used_at].
        self._recovery: dict[str, list[Any]] = {}
        self._oauth_states: dict[str, OAuthStateRecord] = {}
        self._passkeys: dict[str, PasskeyRecord] = {}
        self._passkey_challenges: dict[str, PasskeyChallengeRecord] = {}
        self._roles: dict[str, RoleRecord] = {}
        self._api_keys: dict[str, ApiKeyRecord] = {}

    # lifecycle: nothing to create, check or release

    async def create_tables(self) -> None:
        """Nothing to create."""

    async def check_schema(self, *, keys: bool = False) -> None:
        """Always usable."""

    async def close(self) -> None:
        """Nothing to release; the data stays readable (tests look at it after shutdown)."""

    # users

    def _check_new_user(self, user: User) -> None:
        if user.id in self._users or any(known.email == user.email for known in self._users.values()):
            raise EmailTaken("email already registered")
        self._check_unique(user.id, user.fields)

    def _check_unique(self, user_id: str, values: UserFields) -> None:
        """`FieldTaken` when another user has the value of a `Unique` field (None is no value)."""
        for name in self._unique:
            value = getattr(values, name)
            if value is None:
                continue
            if any(
                getattr(known.fields, name) == value and known.id != user_id for known in self._users.values()
            ):
                raise FieldTaken(name)

    async def create_user(self, user: User) -> None:
        """Insert; raises `EmailTaken` when the email (or the id) exists."""
        self._check_new_user(user)
        self._users[user.id] = replace(user)

    async def create_user_with_session(self, user: User, session: SessionRecord) -> None:
        """Insert both, or (`EmailTaken` for a known email) neither."""
        self._check_new_user(user)
        if session.id in self._sessions:
            raise ValueError("session id already exists")
        self._users[user.id] = replace(user)
        self._sessions[session.id] = replace(session)

    async def get_user(self, user_id: str) -> User | None:
        """A copy of the user with this id, or None."""
        user = self._users.get(user_id)
        return replace(user) if user is not None else None

    async def get_user_by_email(self, email: str) -> User | None:
        """A copy of the user with this (normalised) email, or None."""
        for user in self._users.values():
            if user.email == email:
                return replace(user)
        return None

    async def get_user_by_field(self, name: str, value: Any) -> User | None:
        """A copy of the user whose `Unique` field `name` has `value`, or None."""
        if name not in self._unique:
            raise ValueError(f"{name!r} is not a Unique user field")
        for user in self._users.values():
            if getattr(user.fields, name) == value:
                return replace(user)
        return None

    async def update_user(self, user: User) -> None:
        """Write the fields back (not `id` or `created_at`); `EmailTaken` when another user has the
        email, `FieldTaken` a `Unique` field's value."""
        stored = self._users.get(user.id)
        if stored is None:
            return
        if any(known.email == user.email and known.id != user.id for known in self._users.values()):
            raise EmailTaken("email already registered")
        self._check_unique(user.id, user.fields)
        self._users[user.id] = replace(user, created_at=stored.created_at)

    async def set_user_fields(self, user_id: str, changes: Mapping[str, Any]) -> User | None:
        """Write only these fields (the application's by name); `EmailTaken` when another user has the
        new email, `FieldTaken` a `Unique` field's value."""
        unknown = set(changes) - _USER_WRITABLE - self._field_names
        if unknown:
            raise ValueError(f"not writable user fields: {sorted(unknown)}")
        stored = self._users.get(user_id)
        if stored is None:
            return None
        email = changes.get("email", stored.email)
        if any(known.email == email and known.id != user_id for known in self._users.values()):
            raise EmailTaken("email already registered")
        own = {name: value for name, value in changes.items() if name not in self._field_names}
        app = {name: value for name, value in changes.items() if name in self._field_names}
        updated = replace(stored, **own)
        if app:
            updated.fields = stored.fields.model_copy(update=app)
            self._check_unique(user_id, updated.fields)
        self._users[user_id] = updated
        return replace(self._users[user_id])

    async def list_users(self, *, prefix: str = "", after: str | None = None, limit: int = 50) -> list[User]:
        """Copies of at most `limit` users by email: starting with `prefix`, after `after`."""
        chosen = sorted(
            (
                u
                for u in self._users.values()
                if u.email.startswith(prefix) and (after is None or u.email > after)
            ),
            key=lambda u: u.email,
        )
        return [replace(u) for u in chosen[:limit]]

    async def remove_role(self, role: str) -> int:
        """Take `role` away from every user holding it."""
        holders = [u for u in self._users.values() if role in u.roles]
        for user in holders:
            user.roles = tuple(r for r in user.roles if r != role)
        return len(holders)

    async def delete_user(self, user_id: str, *, now: int | None = None) -> bool:
        """Delete the user with its sessions and codes (as SQL cascades), keeping the sessions'
        revocations (a live one's as of `now`); True if it existed."""
        if self._users.pop(user_id, None) is None:
            return False
        at = int(time.time()) if now is None else now
        for session in self._sessions.values():
            if session.user_id == user_id:
                self._revoked[session.id] = session.revoked_at if session.revoked_at is not None else at
        self._sessions = {key: value for key, value in self._sessions.items() if value.user_id != user_id}
        self._codes = {key: value for key, value in self._codes.items() if value.user_id != user_id}
        self._identities = {key: value for key, value in self._identities.items() if value.user_id != user_id}
        self._mfa.pop(user_id, None)
        self._recovery = {key: value for key, value in self._recovery.items() if value[0] != user_id}
        self._passkeys = {key: value for key, value in self._passkeys.items() if value.user_id != user_id}
        self._api_keys = {key: value for key, value in self._api_keys.items() if value.user_id != user_id}
        return True

    # sessions

    async def create_session(self, session: SessionRecord) -> None:
        """Insert a session of a known user."""
        if session.user_id not in self._users:
            raise ValueError("the session's user does not exist")
        if session.id in self._sessions:
            raise ValueError("session id already exists")
        self._sessions[session.id] = replace(session)

    async def get_session(self, session_id: str) -> SessionRecord | None:
        """A copy of the session with this id, live or not, or None."""
        session = self._sessions.get(session_id)
        return replace(session) if session is not None else None

    async def rotate_refresh(self, session_id: str, old_jti: str, new_jti: str, now: int) -> bool:
        """Compare-and-set: True once for the caller whose `old_jti` is current on a live session."""
        session = self._sessions.get(session_id)
        if (
            session is None
            or session.refresh_jti != old_jti
            or session.revoked_at is not None
            or session.expires_at <= now
        ):
            return False
        session.refresh_jti, session.previous_jti = new_jti, old_jti
        session.last_used_at = session.rotated_at = now
        return True

    async def revoke_session(self, session_id: str, now: int) -> bool:
        """Mark revoked; True if it was not revoked yet."""
        session = self._sessions.get(session_id)
        if session is None or session.revoked_at is not None:
            return False
        session.revoked_at = now
        return True

    async def revoke_user_sessions(
        self, user_id: str, now: int, except_session: str | None = None
    ) -> list[str]:
        """Revoke every unrevoked session of a user but `except_session`; returns the revoked ids."""
        revoked = []
        for session in self._sessions.values():
            if session.user_id == user_id and session.revoked_at is None and session.id != except_session:
                session.revoked_at = now
                revoked.append(session.id)
        return revoked

    async def list_sessions(self, user_id: str, now: int) -> list[SessionRecord]:
        """Copies of the live sessions (not revoked, not past `expires_at`), newest first, then by id."""
        live = [
            replace(session)
            for session in self._sessions.values()
            if session.user_id == user_id and session.revoked_at is None and session.expires_at > now
        ]
        live.sort(key=lambda session: session.id)
        live.sort(key=lambda session: session.created_at, reverse=True)
        return live

    async def revoked_since(self, since: int) -> list[tuple[str, int]]:
        """(session id, revoked_at) for sessions revoked at or after `since`, deleted accounts' too."""
        return [
            (session.id, session.revoked_at)
            for session in self._sessions.values()
            if session.revoked_at is not None and session.revoked_at >= since
        ] + [(sid, at) for sid, at in self._revoked.items() if at >= since]

    async def prune_sessions(self, before: int) -> int:
        """Delete sessions that expired or were revoked before `before`; returns how many."""
        ended = [
            session.id
            for session in self._sessions.values()
            if session.expires_at < before or (session.revoked_at is not None and session.revoked_at < before)
        ]
        for session_id in ended:
            del self._sessions[session_id]
        self._revoked = {sid: at for sid, at in self._revoked.items() if at >= before}
        return len(ended)

    # signing keys

    async def list_keys(self) -> list[KeyRecord]:
        """Copies of every stored key, oldest generation first."""
        return sorted((replace(key) for key in self._keys.values()), key=lambda key: key.generation)

    async def insert_key(self, record: KeyRecord) -> bool:
        """Insert; False when the kid or the generation is taken."""
        if record.kid in self._keys or any(
            key.generation == record.generation for key in self._keys.values()
        ):
            return False
        self._keys[record.kid] = replace(record)
        return True

    async def retire_key(self, kid: str, now: int) -> bool:
        """Mark retired; True if it was not retired yet."""
        key = self._keys.get(kid)
        if key is None or key.retired_at is not None:
            return False
        key.retired_at = now
        return True

    async def delete_key(self, kid: str) -> bool:
        """Delete the key; True if it existed."""
        return self._keys.pop(kid, None) is not None

    # one-time codes

    def _live_code(self, code_hash: str, purpose: str, now: int) -> CodeRecord | None:
        for record in self._codes.values():
            if record.code_hash == code_hash:
                live = record.purpose == purpose and record.consumed_at is None and record.expires_at > now
                return record if live else None
        return None

    async def insert_code(self, record: CodeRecord, *, void_older: bool = True) -> None:
        """Insert a code of a known user (ids and hashes are unique); with `void_older`, first mark the
        unconsumed codes of its user and purpose consumed at `record.created_at`."""
        if record.user_id not in self._users:
            raise ValueError("the code's user does not exist")
        if record.id in self._codes or any(
            known.code_hash == record.code_hash for known in self._codes.values()
        ):
            raise ValueError("code id or hash already exists")
        if void_older:
            self._void(record.user_id, {record.purpose}, record.created_at)
        self._codes[record.id] = replace(record)

    async def consume_code(self, code_hash: str, purpose: str, now: int) -> CodeRecord | None:
        """Mark the live code consumed at `now` and return a copy; None when there is none."""
        record = self._live_code(code_hash, purpose, now)
        if record is None:
            return None
        record.consumed_at = now
        return replace(record)

    async def find_code(self, code_hash: str, purpose: str, now: int) -> CodeRecord | None:
        """A copy of the live code of this hash and purpose, or None."""
        record = self._live_code(code_hash, purpose, now)
        return replace(record) if record is not None else None

    def _void(self, user_id: str, purposes: set[str], now: int) -> int:
        voided = 0
        for record in self._codes.values():
            if record.user_id == user_id and record.purpose in purposes and record.consumed_at is None:
                record.consumed_at = now
                voided += 1
        return voided

    async def void_codes(self, user_id: str, purposes: Iterable[str], now: int) -> int:
        """Mark the user's unconsumed codes of these purposes consumed at `now`; returns how many."""
        return self._void(user_id, set(purposes), now)

    async def prune_codes(self, before: int) -> int:
        """Delete codes that expired or were consumed before `before`; returns how many."""
        ended = [
            record.id
            for record in self._codes.values()
            if record.expires_at < before or (record.consumed_at is not None and record.consumed_at < before)
        ]
        for code_id in ended:
            del self._codes[code_id]
        return len(ended)

    # the audit log

    async def insert_audit(self, record: AuditRecord) -> None:
        """Append a copy of `record`; `ValueError` when its id is taken."""
        if record.id in self._audit:
            raise ValueError("audit record id already exists")
        self._audit[record.id] = replace(record)

    async def list_audit(
        self, *, user_id: str | None = None, before: int | None = None, limit: int = 100
    ) -> list[AuditRecord]:
        """Copies of at most `limit` records, newest first (by `at`, then id), filtered as asked."""
        found = [
            replace(record)
            for record in self._audit.values()
            if (user_id is None or record.user_id == user_id) and (before is None or record.at < before)
        ]
        found.sort(key=lambda record: (record.at, record.id), reverse=True)
        return found[: max(limit, 0)]

    async def prune_audit(self, before: int) -> int:
        """Delete the records with `at` before `before`; returns how many."""
        old = [record.id for record in self._audit.values() if record.at < before]
        for record_id in old:
            del self._audit[record_id]
        return len(old)

    # provider identities

    async def insert_identity(self, record: IdentityRecord) -> None:
        """Insert; `IdentityTaken` for a linked (issuer, subject), `ValueError` for an unknown user."""
        if record.user_id not in self._users:
            raise ValueError("the identity's user does not exist")
        if record.id in self._identities:
            raise ValueError("identity id already exists")
        if any(
            (known.issuer, known.subject) == (record.issuer, record.subject)
            for known in self._identities.values()
        ):
            raise IdentityTaken("this provider account is linked already")
        self._identities[record.id] = replace(record)

    async def get_identity(self, issuer: str, subject: str) -> IdentityRecord | None:
        """A copy of the identity of this subject at this issuer, or None."""
        for known in self._identities.values():
            if (known.issuer, known.subject) == (issuer, subject):
                return replace(known)
        return None

    async def list_identities(self, user_id: str) -> list[IdentityRecord]:
        """Copies of the user's identities, oldest first (then by id)."""
        mine = [replace(known) for known in self._identities.values() if known.user_id == user_id]
        return sorted(mine, key=lambda known: (known.created_at, known.id))

    async def touch_identity(self, identity_id: str, now: int, email: str | None) -> None:
        """Record a sign-in through the identity."""
        known = self._identities.get(identity_id)
        if known is not None:
            known.last_used_at, known.email = now, email

    async def delete_identity(self, identity_id: str, user_id: str) -> bool:
        """Unlink one of `user_id`'s identities; True if it existed."""
        known = self._identities.get(identity_id)
        if known is None or known.user_id != user_id:
            return False
        del self._identities[identity_id]
        return True

    # provider sign-ins under way

    async def insert_oauth_state(self, record: OAuthStateRecord) -> None:
        """Insert; `ValueError` for a taken id."""
        if record.id in self._oauth_states:
            raise ValueError("oauth state id already exists")
        self._oauth_states[record.id] = replace(record)

    async def consume_oauth_state(self, state_id: str, now: int) -> OAuthStateRecord | None:
        """Remove and return the unexpired record of this id; None when there is none."""
        record = self._oauth_states.pop(state_id, None)
        if record is None or record.expires_at <= now:
            return None
        return record

    async def prune_oauth_states(self, before: int) -> int:
        """Delete the records that expired before `before`."""
        ended = [key for key, record in self._oauth_states.items() if record.expires_at < before]
        for key in ended:
            del self._oauth_states[key]
        return len(ended)

    # second factors

    async def get_mfa(self, user_id: str) -> MFARecord | None:
        """A copy of the user's TOTP record, or None."""
        record = self._mfa.get(user_id)
        return replace(record) if record is not None else None

    async def put_totp(self, record: MFARecord) -> None:
        """Store a new unconfirmed secret; `ValueError` for an unknown user or a confirmed TOTP."""
        if record.user_id not in self._users:
            raise ValueError("the user does not exist")
        known = self._mfa.get(record.user_id)
        if known is not None and known.confirmed_at is not None:
            raise ValueError("a confirmed TOTP exists")
        self._mfa[record.user_id] = replace(record)

    async def confirm_totp(self, user_id: str, step: int, now: int) -> bool:
        """Mark confirmed with `step` the last accepted; True if it was unconfirmed."""
        record = self._mfa.get(user_id)
        if record is None or record.confirmed_at is not None:
            return False
        record.confirmed_at, record.last_step = now, step
        return True

    async def accept_totp_step(self, user_id: str, step: int) -> bool:
        """Record `step` if it is later than the last accepted one."""
        record = self._mfa.get(user_id)
        if record is None or record.confirmed_at is None:
            return False
        if record.last_step is not None and step <= record.last_step:
            return False
        record.last_step = step
        return True

    async def delete_mfa(self, user_id: str) -> bool:
        """Remove the TOTP and the recovery codes."""
        self._recovery = {key: value for key, value in self._recovery.items() if value[0] != user_id}
        return self._mfa.pop(user_id, None) is not None

    async def replace_recovery_codes(self, user_id: str, code_hashes: list[str], now: int) -> None:
        """A new set, the old one gone."""
        self._recovery = {key: value for key, value in self._recovery.items() if value[0] != user_id}
        for code_hash in code_hashes:
            self._recovery[code_hash] = [user_id, None]

    async def consume_recovery_code(self, user_id: str, code_hash: str, now: int) -> bool:
        """Spend the code if it is the user's and unused."""
        entry = self._recovery.get(code_hash)
        if entry is None or entry[0] != user_id or entry[1] is not None:
            return False
        entry[1] = now
        return True

    async def count_recovery_codes(self, user_id: str) -> int:
        """The user's unused codes."""
        return sum(1 for owner, used in self._recovery.values() if owner == user_id and used is None)

    # passkeys

    async def insert_passkey(self, record: PasskeyRecord) -> None:
        """Insert; `ValueError` for a registered credential id or an unknown user."""
        if record.user_id not in self._users:
            raise ValueError("the user does not exist")
        if any(known.credential_id == record.credential_id for known in self._passkeys.values()):
            raise ValueError("the credential is registered already")
        self._passkeys[record.id] = replace(record)

    async def get_passkey(self, credential_id: str) -> PasskeyRecord | None:
        """A copy of the passkey of this credential id, or None."""
        found = next((p for p in self._passkeys.values() if p.credential_id == credential_id), None)
        return replace(found) if found is not None else None

    async def list_passkeys(self, user_id: str) -> list[PasskeyRecord]:
        """Copies of the user's passkeys, oldest first."""
        mine = [replace(p) for p in self._passkeys.values() if p.user_id == user_id]
        return sorted(mine, key=lambda p: (p.created_at, p.id))

    async def use_passkey(self, passkey_id: str, old_count: int, new_count: int, now: int) -> bool:
        """Record the use if the count is still `old_count`."""
        record = self._passkeys.get(passkey_id)
        if record is None or record.sign_count != old_count:
            return False
        record.sign_count, record.last_used_at = new_count, now
        return True

    async def rename_passkey(self, passkey_id: str, user_id: str, name: str) -> bool:
        """Rename one of `user_id`'s passkeys."""
        record = self._passkeys.get(passkey_id)
        if record is None or record.user_id != user_id:
            return False
        record.name = name
        return True

    async def delete_passkey(self, passkey_id: str, user_id: str) -> bool:
        """Delete one of `user_id`'s passkeys."""
        record = self._passkeys.get(passkey_id)
        if record is None or record.user_id != user_id:
            return False
        del self._passkeys[passkey_id]
        return True

    async def insert_passkey_challenge(self, record: PasskeyChallengeRecord) -> None:
        """Insert; `ValueError` for a taken id."""
        if record.id in self._passkey_challenges:
            raise ValueError("passkey challenge id already exists")
        self._passkey_challenges[record.id] = replace(record)

    async def consume_passkey_challenge(
        self, challenge_id: str, purpose: str, now: int
    ) -> PasskeyChallengeRecord | None:
        """Remove and return the unexpired challenge of this id and purpose."""
        record = self._passkey_challenges.get(challenge_id)
        if record is None or record.purpose != purpose or record.expires_at <= now:
            return None
        del self._passkey_challenges[challenge_id]
        return record

    async def prune_passkey_challenges(self, before: int) -> int:
        """Delete the challenges that expired before `before`."""
        ended = [key for key, record in self._passkey_challenges.items() if record.expires_at < before]
        for key in ended:
            del self._passkey_challenges[key]
        return len(ended)

    # roles

    async def list_roles(self) -> list[RoleRecord]:
        """Copies of every role, by name."""
        return [replace(self._roles[name]) for name in sorted(self._roles)]

    async def get_role(self, name: str) -> RoleRecord | None:
        """A copy of the role, or None."""
        role = self._roles.get(name)
        return replace(role) if role is not None else None

    async def put_role(self, record: RoleRecord, *, create: bool | None = None) -> bool:
        """Write the role (`create`: only a new one / only an existing one); an existing role keeps its
        `created_at`, as the SQL store's UPDATE does."""
        current = self._roles.get(record.name)
        if (create is True and current is not None) or (create is False and current is None):
            return False
        created = current.created_at if current is not None else record.created_at
        self._roles[record.name] = replace(record, created_at=created)
        return True

    async def delete_role(self, name: str) -> bool:
        """Delete the role."""
        return self._roles.pop(name, None) is not None

    # API keys

    async def insert_api_key(self, record: ApiKeyRecord) -> None:
        """Insert a key of a known user; `ValueError` for a taken id or hash."""
        if record.user_id not in self._users:
            raise ValueError("the key's user does not exist")
        if record.id in self._api_keys or any(k.key_hash == record.key_hash for k in self._api_keys.values()):
            raise ValueError("API key id or hash already exists")
        self._api_keys[record.id] = replace(record)

    async def get_api_key_by_hash(self, key_hash: str) -> ApiKeyRecord | None:
        """A copy of the key with this hash, or None."""
        found = next((k for k in self._api_keys.values() if k.key_hash == key_hash), None)
        return replace(found) if found is not None else None

    async def get_api_key(self, key_id: str) -> ApiKeyRecord | None:
        """A copy of the key with this id, or None."""
        found = self._api_keys.get(key_id)
        return replace(found) if found is not None else None

    async def list_api_keys(self, user_id: str) -> list[ApiKeyRecord]:
        """Copies of the user's live keys, newest first."""
        mine = [replace(k) for k in self._api_keys.values() if k.user_id == user_id and k.revoked_at is None]
        return sorted(mine, key=lambda k: (-k.created_at, k.id))

    async def revoke_api_key(self, key_id: str, now: int, *, user_id: str | None = None) -> bool:
        """Revoke the key (of `user_id`, when given)."""
        found = self._api_keys.get(key_id)
        if (
            found is None
            or found.revoked_at is not None
            or (user_id is not None and found.user_id != user_id)
        ):
            return False
        found.revoked_at = now
        return True

    async def touch_api_keys(self, used: Mapping[str, int]) -> None:
        """Record last-use times, never going back."""
        for key_id, at in used.items():
            found = self._api_keys.get(key_id)
            if found is not None and (found.last_used_at is None or found.last_used_at < at):
                found.last_used_at = at

"""Passkeys (WebAuthn Level 3 through py_webauthn): the ceremonies' options, and the checks of what a
browser sends back.

fastauth owns the policy, py_webauthn the protocol (CBOR, attestation formats, signatures):

- Every challenge is 32 random bytes, stored server-side by its SHA-256 with its purpose ("register",
  "login", "second_factor") and, except for a passwordless sign-in, its user; consumed atomically
  before anything else is checked, so it is spent once whatever the outcome (account-security §6).
- The RP ID and the allowed origins come from configuration (`PasskeyConfig`), never from the request
  or the response.
- Registration asks for a discoverable credential with user verification, lists the user's passkeys in
  `excludeCredentials`, and gives the user a random handle (never the id or email).
- An assertion for a passwordless sign-in must be user-verified; the user handle it returns must be the
  passkey's. The sign count must go up (or stay 0 for authenticators that keep none): a count that does
  not, on a response whose signature verifies, is a cloned authenticator and is refused as
  `PasskeyCloned` so the service audits it. The new count is written with a compare-and-set.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from webauthn import (
    generate_authentication_options,
    generate_registration_options,
    verify_authentication_response,
    verify_registration_response,
)
from webauthn.helpers import bytes_to_base64url, options_to_json_dict, parse_authentication_credential_json
from webauthn.helpers.structs import (
    AuthenticatorSelectionCriteria,
    AuthenticatorTransport,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from fastauth.errors import InvalidPasskey, PasskeyCloned
from fastauth.storage.base import PasskeyChallengeRecord, PasskeyRecord, PasskeyStore, User

__all__ = ["CHALLENGE_BYTES", "PASSKEY_ID", "Ceremony", "Passkeys", "VerifiedPasskey", "amr_of", "clean_name"]

Ceremony = Literal["register", "login", "second_factor"]
#: Random bytes in a challenge (WebAuthn §13.4.3 asks for at least 16).
CHALLENGE_BYTES = 32
#: The longest base64url text a credential's fields may hold here (an attestation with certificates
#: fits well within it); anything longer is refused before parsing.
_MAX_FIELD = 16_384
_MAX_NAME = 64
_REFUSED = "the passkey response does not verify"
#: A credential id as a response names it: base64url of at most 1023 bytes (WebAuthn §5.8.3 step 17).
_MAX_CREDENTIAL_ID = 1023
_CREDENTIAL_ID = re.compile(r"[A-Za-z0-9_-]{1,1364}")
#: A passkey's own id (`PasskeyRecord.id`), as the routes take it.
PASSKEY_ID = re.compile(r"[0-9a-f]{32}")
#: Seconds between two prunings of expired challenges by a running process.
_PRUNE_EVERY = 3600


def _b64url_decode(text: object) -> bytes:
    if not isinstance(text, str) or len(text) > _MAX_FIELD:
        raise InvalidPasskey(_REFUSED)
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise InvalidPasskey(_REFUSED) from None


def _challenge_id(challenge: bytes) -> str:
    return hashlib.sha256(challenge).hexdigest()


def _sent_challenge(credential: object) -> bytes:
    """The challenge the browser signed over (from `clientDataJSON`), read without trusting it: it only
    picks the stored ceremony, which then pins what the library checks."""
    if not isinstance(credential, dict):
        raise InvalidPasskey(_REFUSED)
    response = credential.get("response")
    if not isinstance(response, dict):
        raise InvalidPasskey(_REFUSED)
    try:
        client_data = json.loads(_b64url_decode(response.get("clientDataJSON")))
    except (ValueError, RecursionError):  # not UTF-8, not JSON, or nested deep enough to overflow
        raise InvalidPasskey(_REFUSED) from None
    if not isinstance(client_data, dict):
        raise InvalidPasskey(_REFUSED)
    challenge = _b64url_decode(client_data.get("challenge"))
    if len(challenge) != CHALLENGE_BYTES:
        raise InvalidPasskey(_REFUSED)
    return challenge


def amr_of(passkey: PasskeyRecord) -> str:
    """RFC 8176: `swk` for a key that may be synced (backup-eligible), `hwk` for one bound to a device."""
    return "swk" if passkey.backup_eligible else "hwk"


def clean_name(name: object, default: str) -> str:
    """A passkey's display name: trimmed, at most 64 characters, no control characters."""
    if name is None:
        return default
    if not isinstance(name, str):
        raise InvalidPasskey("a passkey name is text")
    cleaned = " ".join(name.split())
    if not cleaned or len(cleaned) > _MAX_NAME or not cleaned.isprintable():
        raise InvalidPasskey(f"a passkey name is 1 to {_MAX_NAME} printable characters")
    return cleaned


@dataclass(frozen=True, slots=True)
class VerifiedPasskey:
    """An assertion that verified: the passkey (as stored before this use), the ceremony it answered,
    and the sign count it brought."""

    passkey: PasskeyRecord
    ceremony: PasskeyChallengeRecord
    user_verified: bool
    new_sign_count: int


class Passkeys:
    """The WebAuthn ceremonies of one relying party, over a `PasskeyStore`."""

    def __init__(
        self,
        store: PasskeyStore,
        *,
        rp_id: str,
        rp_name: str,
        origins: Sequence[str],
        challenge_ttl: int = 300,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.rp_id = rp_id
        self.rp_name = rp_name
        self.origins = list(origins)
        self.challenge_ttl = challenge_ttl
        self._clock = clock
        self._pruned_at = 0

    def _now(self) -> int:
        return int(self._clock())

    async def _new_challenge(self, ceremony: Ceremony, user_id: str | None, data: str | None) -> bytes:
        challenge = secrets.token_bytes(CHALLENGE_BYTES)
        now = self._now()
        if now - self._pruned_at >= _PRUNE_EVERY:  # a long-running process keeps the table small too
            self._pruned_at = now
            await self.store.prune_passkey_challenges(now)
        await self.store.insert_passkey_challenge(
            PasskeyChallengeRecord(
                id=_challenge_id(challenge),
                purpose=ceremony,
                created_at=now,
                expires_at=now + self.challenge_ttl,
                user_id=user_id,
                data=data,
            )
        )
        return challenge

    async def _spend(self, credential: object, ceremony: Ceremony) -> tuple[bytes, PasskeyChallengeRecord]:
        challenge = _sent_challenge(credential)
        record = await self.store.consume_passkey_challenge(_challenge_id(challenge), ceremony, self._now())
        if record is None:
            raise InvalidPasskey("the challenge is unknown, spent, expired or of another ceremony")
        return challenge, record

    @staticmethod
    def _descriptors(passkeys: Sequence[PasskeyRecord]) -> list[PublicKeyCredentialDescriptor]:
        known = {t.value for t in AuthenticatorTransport}
        return [
            PublicKeyCredentialDescriptor(
                id=_b64url_decode(p.credential_id),
                transports=[AuthenticatorTransport(t) for t in p.transports if t in known] or None,
            )
            for p in passkeys
        ]

    async def registration_options(self, user: User, existing: Sequence[PasskeyRecord]) -> dict[str, Any]:
        """`PublicKeyCredentialCreationOptionsJSON` for `navigator.credentials.create()`."""
        handle = existing[0].user_handle if existing else bytes_to_base64url(secrets.token_bytes(32))
        challenge = await self._new_challenge("register", user.id, handle)
        options = generate_registration_options(
            rp_id=self.rp_id,
            rp_name=self.rp_name,
            user_id=_b64url_decode(handle),
            user_name=user.email,
            user_display_name=user.email,
            challenge=challenge,
            timeout=self.challenge_ttl * 1000,
            authenticator_selection=AuthenticatorSelectionCriteria(
                resident_key=ResidentKeyRequirement.REQUIRED,
                user_verification=UserVerificationRequirement.REQUIRED,
            ),
            exclude_credentials=self._descriptors(existing),
        )
        return dict(options_to_json_dict(options))

    async def register(self, user: User, credential: object, name: str) -> PasskeyRecord:
        """Verify the attestation `navigator.credentials.create()` returned for `user` and store the new
        passkey. `InvalidPasskey` for anything that does not verify (or a credential already
        registered)."""
        challenge, ceremony = await self._spend(credential, "register")
        if ceremony.user_id != user.id or ceremony.data is None:
            raise InvalidPasskey("the challenge was issued to another user")
        try:
            verified = verify_registration_response(
                credential=credential,  # type: ignore[arg-type]  # a dict, checked by the library
                expected_challenge=challenge,
                expected_rp_id=self.rp_id,
                expected_origin=self.origins,
                require_user_verification=True,
            )
        except Exception:  # the library parses attacker-controlled CBOR: any failure is a refusal
            raise InvalidPasskey(_REFUSED) from None
        if len(verified.credential_id) > _MAX_CREDENTIAL_ID:
            raise InvalidPasskey("the credential id is longer than WebAuthn allows")
        response = credential.get("response") if isinstance(credential, dict) else None
        sent = response.get("transports") if isinstance(response, dict) else None
        known = {t.value for t in AuthenticatorTransport}
        transports = (
            tuple(t for t in sent if isinstance(t, str) and t in known) if isinstance(sent, list) else ()
        )
        record = PasskeyRecord(
            id=secrets.token_hex(16),
            user_id=user.id,
            credential_id=bytes_to_base64url(verified.credential_id),
            public_key=bytes_to_base64url(verified.credential_public_key),
            sign_count=verified.sign_count,
            user_handle=ceremony.data,
            name=name,
            created_at=self._now(),
            transports=transports[:8],
            aaguid=verified.aaguid,
            backup_eligible=verified.credential_device_type.value == "multi_device",
            backed_up=verified.credential_backed_up,
        )
        try:
            await self.store.insert_passkey(record)
        except ValueError:
            raise InvalidPasskey("this passkey is registered already") from None
        return record

    async def authentication_options(
        self,
        ceremony: Ceremony,
        *,
        user_id: str | None = None,
        allow: Sequence[PasskeyRecord] = (),
        data: str | None = None,
    ) -> dict[str, Any]:
        """`PublicKeyCredentialRequestOptionsJSON` for `navigator.credentials.get()`: a passwordless
        sign-in ("login": no user, empty `allowCredentials`, user verification required) or a second
        factor ("second_factor": the user's passkeys listed, `data` the sign-in it completes)."""
        challenge = await self._new_challenge(ceremony, user_id, data)
        options = generate_authentication_options(
            rp_id=self.rp_id,
            challenge=challenge,
            timeout=self.challenge_ttl * 1000,
            allow_credentials=self._descriptors(allow),
            user_verification=(
                UserVerificationRequirement.REQUIRED
                if ceremony == "login"
                else UserVerificationRequirement.PREFERRED
            ),
        )
        return dict(options_to_json_dict(options))

    async def authenticate(
        self, credential: object, ceremony: Ceremony, *, sign_in: str | None = None
    ) -> VerifiedPasskey:
        """Verify an assertion for `ceremony` ("login", or "second_factor" of the pending sign-in
        `sign_in`), writing nothing yet: `record_use` stores the new sign count once the caller
        accepts the sign-in. `InvalidPasskey` for anything that does not verify; `PasskeyCloned` (a
        subclass) when the signature verifies but the sign count went backwards."""
        challenge, spent = await self._spend(credential, ceremony)
        if ceremony == "second_factor" and (sign_in is None or spent.data != sign_in):
            raise InvalidPasskey("the challenge belongs to another sign-in")
        try:
            parsed = parse_authentication_credential_json(credential)  # type: ignore[arg-type]
        except Exception:
            raise InvalidPasskey(_REFUSED) from None
        known = isinstance(parsed.id, str) and _CREDENTIAL_ID.fullmatch(parsed.id)
        passkey = await self.store.get_passkey(parsed.id) if known else None
        if passkey is None or (spent.user_id is not None and spent.user_id != passkey.user_id):
            raise InvalidPasskey("the credential is not a passkey registered here (for this user)")
        handle = parsed.response.user_handle
        if (handle is None and ceremony == "login") or (
            handle is not None
            and not secrets.compare_digest(bytes(handle), _b64url_decode(passkey.user_handle))
        ):
            raise InvalidPasskey("the user handle is not the passkey's", user_id=passkey.user_id)
        try:
            # The count is compared below, after the signature verified (the library would compare it
            # first): so only a genuine authenticator's regression is reported as a clone.
            verified = verify_authentication_response(
                credential=parsed,
                expected_challenge=challenge,
                expected_rp_id=self.rp_id,
                expected_origin=self.origins,
                credential_public_key=_b64url_decode(passkey.public_key),
                credential_current_sign_count=0,
                require_user_verification=ceremony == "login",
            )
        except Exception:
            raise InvalidPasskey(_REFUSED, user_id=passkey.user_id) from None
        new_count = verified.new_sign_count
        if (new_count > 0 or passkey.sign_count > 0) and new_count <= passkey.sign_count:
            raise PasskeyCloned(passkey)
        return VerifiedPasskey(
            passkey=passkey, ceremony=spent, user_verified=verified.user_verified, new_sign_count=new_count
        )

    async def record_use(self, verified: VerifiedPasskey) -> PasskeyRecord:
        """Store the use of an accepted assertion: its sign count, compare-and-set against the count
        it was verified against (`InvalidPasskey` if another use got there first), and the time."""
        passkey = verified.passkey
        now = self._now()
        if not await self.store.use_passkey(passkey.id, passkey.sign_count, verified.new_sign_count, now):
            raise InvalidPasskey("the passkey was used concurrently", user_id=passkey.user_id)
        passkey.sign_count, passkey.last_used_at = verified.new_sign_count, now
        return passkey

    async def prune(self) -> int:
        """Delete the ceremonies that expired; returns how many."""
        return await self.store.prune_passkey_challenges(self._now())

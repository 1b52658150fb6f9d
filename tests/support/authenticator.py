"""A software WebAuthn authenticator and client, for tests below the browser.

It makes what `navigator.credentials.create()` and `.get()` return (`credential.toJSON()`), from the
options fastauth sends: a P-256 (ES256) key per credential, attestation format "none", a sign count,
and the flags. Unlike a browser it can also lie on purpose (another origin, another RP ID, a count that
goes backwards, no user verification), which is what the attack tests need. The browser tests use
Chromium's own virtual authenticator instead.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import struct
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from webauthn.helpers import encode_cbor

UP, UV, BE, BS, AT = 0x01, 0x04, 0x08, 0x10, 0x40


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class Credential:
    """One discoverable credential the authenticator holds."""

    id: bytes
    rp_id: str
    user_handle: bytes
    key: ec.EllipticCurvePrivateKey
    sign_count: int = 0

    def cose_key(self) -> bytes:
        numbers = self.key.public_key().public_numbers()
        return encode_cbor(
            {1: 2, 3: -7, -1: 1, -2: numbers.x.to_bytes(32, "big"), -3: numbers.y.to_bytes(32, "big")}
        )


@dataclass
class Authenticator:
    """A platform authenticator with user verification. `origin` is where the "page" runs; `counter`
    False makes it keep no sign count (always 0), as synced passkeys do; `backup` marks its credentials
    backup-eligible and backed up (a synced passkey)."""

    origin: str = "http://localhost"
    counter: bool = True
    backup: bool = False
    credentials: list[Credential] = field(default_factory=list)

    def _flags(self, *, uv: bool, attested: bool) -> int:
        flags = UP | (UV if uv else 0) | (AT if attested else 0)
        return flags | (BE | BS if self.backup else 0)

    @staticmethod
    def _client_data(kind: str, challenge: str, origin: str) -> bytes:
        return json.dumps(
            {"type": kind, "challenge": challenge, "origin": origin, "crossOrigin": False},
            separators=(",", ":"),
        ).encode()

    def create(
        self,
        options: dict[str, Any],
        *,
        origin: str | None = None,
        rp_id: str | None = None,
        uv: bool = True,
        challenge: str | None = None,
    ) -> dict[str, Any]:
        """`navigator.credentials.create(options).toJSON()`, refusing as a browser would when a
        credential in `excludeCredentials` is one of ours (`ValueError`)."""
        rp = rp_id or options["rp"]["id"]
        mine = {c.id for c in self.credentials}
        if any(unb64url(d["id"]) in mine for d in options.get("excludeCredentials", [])):
            raise ValueError("InvalidStateError: the authenticator already holds one of these credentials")
        credential = Credential(
            id=secrets.token_bytes(16),
            rp_id=rp,
            user_handle=unb64url(options["user"]["id"]),
            key=ec.generate_private_key(ec.SECP256R1()),
        )
        self.credentials.append(credential)
        attested = bytes(16) + struct.pack(">H", len(credential.id)) + credential.id + credential.cose_key()
        auth_data = (
            hashlib.sha256(rp.encode()).digest()
            + bytes([self._flags(uv=uv, attested=True)])
            + struct.pack(">I", 0)
            + attested
        )
        client_data = self._client_data(
            "webauthn.create", challenge or options["challenge"], origin or self.origin
        )
        attestation = encode_cbor({"fmt": "none", "attStmt": {}, "authData": auth_data})
        return {
            "id": b64url(credential.id),
            "rawId": b64url(credential.id),
            "type": "public-key",
            "response": {
                "clientDataJSON": b64url(client_data),
                "attestationObject": b64url(attestation),
                "transports": ["internal", "hybrid"],
            },
            "clientExtensionResults": {},
            "authenticatorAttachment": "platform",
        }

    def get(
        self,
        options: dict[str, Any],
        *,
        credential: Credential | None = None,
        origin: str | None = None,
        rp_id: str | None = None,
        uv: bool = True,
        sign_count: int | None = None,
        user_handle: bytes | bool | None = True,
        challenge: str | None = None,
    ) -> dict[str, Any]:
        """`navigator.credentials.get(options).toJSON()` with `credential` (default: the first one
        `allowCredentials` names, or the first of this RP). The keyword arguments lie on demand:
        `sign_count` sets the count sent, `user_handle=False` leaves it out, bytes replace it."""
        allowed = [unb64url(d["id"]) for d in options.get("allowCredentials", [])]
        if credential is None:
            pool = [c for c in self.credentials if not allowed or c.id in allowed]
            credential = next(c for c in pool if c.rp_id == options["rpId"])
        if sign_count is None:
            if self.counter:
                credential.sign_count += 1
            sign_count = credential.sign_count
        rp = rp_id or credential.rp_id
        auth_data = (
            hashlib.sha256(rp.encode()).digest()
            + bytes([self._flags(uv=uv, attested=False)])
            + struct.pack(">I", sign_count)
        )
        client_data = self._client_data(
            "webauthn.get", challenge or options["challenge"], origin or self.origin
        )
        signature = credential.key.sign(
            auth_data + hashlib.sha256(client_data).digest(), ec.ECDSA(hashes.SHA256())
        )
        handle = credential.user_handle if user_handle is True else user_handle or None
        response: dict[str, Any] = {
            "clientDataJSON": b64url(client_data),
            "authenticatorData": b64url(auth_data),
            "signature": b64url(signature),
        }
        if handle is not None:
            response["userHandle"] = b64url(handle)
        return {
            "id": b64url(credential.id),
            "rawId": b64url(credential.id),
            "type": "public-key",
            "response": response,
            "clientExtensionResults": {},
            "authenticatorAttachment": "platform",
        }

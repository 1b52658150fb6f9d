"""TOTP codes (RFC 6238 through pyotp) and recovery codes: made, shown once, checked.

- HMAC-SHA1, 6 digits, 30-second steps, one step of drift accepted each way (account-security §5).
- `Totp.matching_step` says *which* time step a code belongs to, so the caller can refuse a step at or
  before the last one accepted (RFC 6238 §5.2: a code is accepted at most once) with a compare-and-set
  in the shared store.
- The secret (160 random bits, base32) is sealed at rest with the signing keys' sealing, bound to the
  user: a sealed secret copied to another account does not open.
- Recovery codes: ten of 10 base32 characters (50 random bits each), stored as an HMAC-SHA256 under a key
  derived from `secret`, so a copy of the table cannot be searched offline without it; single-use.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import secrets
import time
from collections.abc import Callable

import pyotp
import segno

from fastauth.keys.sealing import seal, unseal

__all__ = ["DIGITS", "RECOVERY_CODES", "STEP", "Totp", "new_recovery_codes", "recovery_hash"]

DIGITS = 6
STEP = 30
#: How many recovery codes a set has.
RECOVERY_CODES = 10
_CODE_CHARS = 10


def _normalised(code: object, digits: int = DIGITS) -> str | None:
    """The code's digits (spaces and dashes, as apps print them, removed), or None for no code."""
    if not isinstance(code, str) or len(code) > 32:
        return None
    cleaned = code.replace(" ", "").replace("-", "")
    return cleaned if len(cleaned) == digits and cleaned.isascii() and cleaned.isdigit() else None


class Totp:
    """One user's TOTP: the base32 `secret`, and the checks of a code against it."""

    def __init__(self, secret: str, *, clock: Callable[[], float] = time.time) -> None:
        self.secret = secret
        self._otp = pyotp.TOTP(secret, digits=DIGITS, interval=STEP)
        self._clock = clock

    @classmethod
    def new(cls, *, clock: Callable[[], float] = time.time) -> Totp:
        """A fresh secret: 160 random bits (RFC 4226 §4's recommended length)."""
        return cls(pyotp.random_base32(32), clock=clock)

    @classmethod
    def unsealed(
        cls, server_secret: str, user_id: str, sealed: str, *, clock: Callable[[], float] = time.time
    ) -> Totp:
        """The TOTP whose secret `sealed_for` sealed for `user_id`."""
        return cls(unseal(server_secret, f"totp:{user_id}", sealed), clock=clock)

    def sealed_for(self, server_secret: str, user_id: str) -> str:
        """The secret sealed at rest, bound to `user_id`."""
        return seal(server_secret, f"totp:{user_id}", self.secret)

    def uri(self, account: str, issuer: str) -> str:
        """The `otpauth://` URI an authenticator app enrols from."""
        return str(self._otp.provisioning_uri(name=account, issuer_name=issuer))

    @staticmethod
    def qr_svg(uri: str) -> str:
        """The URI as a QR code, an SVG document (no image library, no network)."""
        out = io.BytesIO()
        segno.make(uri, error="m").save(out, kind="svg", scale=4, xmldecl=False, svgns=True)
        return out.getvalue().decode("utf-8")

    def matching_step(self, code: object) -> int | None:
        """The time step (now, one before or one after) whose code `code` is, or None; constant time
        per candidate."""
        digits = _normalised(code)
        if digits is None:
            return None
        now_step = int(self._clock()) // STEP
        found = None
        for step in (now_step - 1, now_step, now_step + 1):
            expected = self._otp.generate_otp(step)
            if hmac.compare_digest(expected, digits):
                found = step
        return found

    def code_at(self, step: int) -> str:
        """The code of a time step (for tests and enrolment checks)."""
        return str(self._otp.generate_otp(step))


def new_recovery_codes() -> list[str]:
    """A fresh set of recovery codes, as shown once to the user (`XXXXX-XXXXX`)."""
    codes = []
    for _ in range(RECOVERY_CODES):
        raw = base64.b32encode(secrets.token_bytes(7)).decode("ascii")[:_CODE_CHARS]
        codes.append(f"{raw[:5]}-{raw[5:]}")
    return codes


def recovery_hash(server_secret: str, code: object) -> str | None:
    """What a recovery code is stored and looked up under (HMAC-SHA256 under a key derived from the
    server's secret), or None for text that is no recovery code."""
    if not isinstance(code, str) or len(code) > 64:
        return None
    cleaned = code.replace("-", "").replace(" ", "").upper()
    if len(cleaned) != _CODE_CHARS or not all(ch in "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567" for ch in cleaned):
        return None
    key = hashlib.sha256(b"fastauth recovery codes v1\x00" + server_secret.encode("utf-8")).digest()
    return hmac.new(key, cleaned.encode("ascii"), hashlib.sha256).hexdigest()

"""Second factors: TOTP (RFC 6238) with recovery codes (`totp`), and passkeys (WebAuthn, `passkeys`),
which also sign in without a password.

Framework-free: the service (`AuthService.mfa_*`) owns enrolment, verification and the audit.
"""

from __future__ import annotations

from fastauth.mfa.totp import (
    DIGITS,
    RECOVERY_CODES,
    STEP,
    Totp,
    new_recovery_codes,
    recovery_hash,
)

__all__ = ["DIGITS", "RECOVERY_CODES", "STEP", "Totp", "new_recovery_codes", "recovery_hash"]

"""One error tree for everything fastauth raises.

Configuration errors say what to fix. Token and login errors say nothing an attacker could use: the
subclass and its short reason are for logs and tests, the HTTP layer answers every one the same way.
"""

from __future__ import annotations

__all__ = [
    "AlgorithmMismatch",
    "AuthError",
    "ConfigError",
    "EmailTaken",
    "ExpiredToken",
    "FastAuthError",
    "HookError",
    "InvalidClaims",
    "InvalidCredentials",
    "InvalidSignature",
    "MalformedToken",
    "PasswordPolicyError",
    "RevokedToken",
    "SigninNotAllowed",
    "StoreUnavailable",
    "TokenError",
    "UnknownKey",
    "WrongTokenType",
]


class FastAuthError(Exception):
    """Base class of every fastauth error."""


class ConfigError(FastAuthError, ValueError):
    """The configuration cannot work; the message says what to change."""


class HookError(FastAuthError):
    """An `EventHooks` method returned something fastauth refuses (e.g. a changed reserved claim)."""


class StoreUnavailable(FastAuthError):
    """A storage backend (database, Redis) did not answer; requests fail closed with 503."""


class TokenError(FastAuthError):
    """A token was refused. Every refusal is this type; subclasses only refine the log line."""

    def __init__(self, reason: str = "invalid token") -> None:
        super().__init__(reason)
        self.reason = reason


class MalformedToken(TokenError):
    """Not a well-formed compact JWS of the shape fastauth issues."""


class UnknownKey(TokenError):
    """The `kid` names no key this verifier trusts (or a retired one)."""


class AlgorithmMismatch(TokenError):
    """The header `alg` is not the one algorithm bound to the key."""


class InvalidSignature(TokenError):
    """The signature does not verify."""


class ExpiredToken(TokenError):
    """`exp` has passed (beyond the configured leeway)."""


class InvalidClaims(TokenError):
    """A claim is missing, of the wrong type, or has the wrong value."""


class WrongTokenType(TokenError):
    """An access token where a refresh token is expected, or the reverse."""


class RevokedToken(TokenError):
    """The token's session or `jti` has been revoked."""


class AuthError(FastAuthError):
    """An account operation failed."""


class InvalidCredentials(AuthError):
    """Unknown email, wrong password or inactive account: deliberately indistinguishable."""


class SigninNotAllowed(AuthError):
    """`EventHooks.allow_signin` refused the user."""


class EmailTaken(AuthError):
    """Registration with an email that already has an account."""


class PasswordPolicyError(AuthError, ValueError):
    """The new password does not meet the password policy."""

"""The token engine: framework-free, no I/O."""

from fastauth.tokens.claims import ACCESS, REFRESH
from fastauth.tokens.engine import IssuedToken, TokenEngine, VerifiedToken, new_token_id
from fastauth.tokens.keyring import KeyRing, SigningKey

__all__ = [
    "ACCESS",
    "REFRESH",
    "IssuedToken",
    "KeyRing",
    "SigningKey",
    "TokenEngine",
    "VerifiedToken",
    "new_token_id",
]

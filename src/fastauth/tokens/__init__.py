"""The token engine: framework-free, no I/O.

`algorithms` and `kinds` are pure data tables; the engine, key ring and codec load on first use, so
importing `fastauth.tokens.algorithms` (the CLI's `--help`) never imports `cryptography` or joserfc.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fastauth.tokens.kinds import ACCESS, REFRESH

if TYPE_CHECKING:
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

_LAZY = {
    "IssuedToken": "fastauth.tokens.engine",
    "TokenEngine": "fastauth.tokens.engine",
    "VerifiedToken": "fastauth.tokens.engine",
    "new_token_id": "fastauth.tokens.engine",
    "KeyRing": "fastauth.tokens.keyring",
    "SigningKey": "fastauth.tokens.keyring",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'fastauth.tokens' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value

"""fastauth: JWT authentication for FastAPI.

The core (config, tokens, accounts, sessions, storage protocols) knows nothing of FastAPI; `FastAuth`
is the thin FastAPI layer on top, imported on first use so the CLI and the verifier start fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fastauth.config import FastAuthConfig, JWTConfig
from fastauth.errors import ConfigError, FastAuthError, TokenError
from fastauth.hooks import EventHooks
from fastauth.storage.base import User

if TYPE_CHECKING:
    from fastauth.web.auth import FastAuth

__all__ = [
    "ConfigError",
    "EventHooks",
    "FastAuth",
    "FastAuthConfig",
    "FastAuthError",
    "JWTConfig",
    "TokenError",
    "User",
]
__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    if name == "FastAuth":
        from fastauth.web.auth import FastAuth

        return FastAuth
    raise AttributeError(f"module 'fastauth' has no attribute {name!r}")

"""fastauth: JWT authentication for FastAPI.

The core (config, tokens, accounts, sessions, storage protocols), composed by `AuthService`, knows
nothing of FastAPI; `FastAuth` is the thin FastAPI layer on top. Every name below is imported on first
use, so the CLI and the verifier start fast (the configuration alone pulls in pydantic).
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fastauth.config import FastAuthConfig, JWTConfig
    from fastauth.errors import ConfigError, FastAuthError, TokenError
    from fastauth.fields import Indexed, SetOnce, Unique, UserFields, Writable
    from fastauth.hooks import EventHooks
    from fastauth.service import AuthService
    from fastauth.storage.base import User
    from fastauth.web.auth import FastAuth

__all__ = [
    "AuthService",
    "ConfigError",
    "EventHooks",
    "FastAuth",
    "FastAuthConfig",
    "FastAuthError",
    "Indexed",
    "JWTConfig",
    "SetOnce",
    "TokenError",
    "Unique",
    "User",
    "UserFields",
    "Writable",
]
__version__ = "0.1.0"

_HOMES = {
    "AuthService": "fastauth.service",
    "ConfigError": "fastauth.errors",
    "EventHooks": "fastauth.hooks",
    "FastAuth": "fastauth.web.auth",
    "FastAuthConfig": "fastauth.config",
    "FastAuthError": "fastauth.errors",
    "JWTConfig": "fastauth.config",
    "TokenError": "fastauth.errors",
    "User": "fastauth.storage.base",
    "UserFields": "fastauth.fields",
    "Writable": "fastauth.fields",
    "SetOnce": "fastauth.fields",
    "Unique": "fastauth.fields",
    "Indexed": "fastauth.fields",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'fastauth' has no attribute {name!r}")
    value = getattr(import_module(home), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))

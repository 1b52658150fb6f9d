"""fastauth: JWT authentication for FastAPI.

The core (config, tokens, accounts, sessions, storage protocols) knows nothing of FastAPI; `FastAuth`
is the thin FastAPI layer on top.
"""

from fastauth.adapters.base import User
from fastauth.config import FastAuthConfig, JWTConfig
from fastauth.errors import ConfigError, FastAuthError, TokenError
from fastauth.hooks import EventHooks
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

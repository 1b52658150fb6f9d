"""fastauth: JWT authentication for FastAPI."""

from fastauth.config import FastAuthConfig, JWTConfig
from fastauth.errors import ConfigError, FastAuthError, TokenError

__all__ = ["ConfigError", "FastAuthConfig", "FastAuthError", "JWTConfig", "TokenError"]
__version__ = "0.1.0"

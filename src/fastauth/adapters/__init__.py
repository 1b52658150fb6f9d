"""Deprecated: the storage modules moved to `fastauth.storage` (0.2). This name keeps working for now."""

import warnings

from fastauth.storage.base import KeyRecord, KeyStore, SessionRecord, SessionStore, User, UserStore

warnings.warn(
    "fastauth.adapters is deprecated; import from fastauth.storage instead", DeprecationWarning, stacklevel=2
)

__all__ = ["KeyRecord", "KeyStore", "SessionRecord", "SessionStore", "User", "UserStore"]

"""Deprecated: moved to `fastauth.storage.base`."""

from fastauth.storage.base import KeyRecord, KeyStore, SessionRecord, SessionStore, User, UserStore

__all__ = ["KeyRecord", "KeyStore", "SessionRecord", "SessionStore", "User", "UserStore"]

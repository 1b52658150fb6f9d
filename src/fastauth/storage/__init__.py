"""Storage behind small protocols: `base` says what fastauth needs, the modules beside it provide it."""

from fastauth.storage.base import KeyRecord, KeyStore, SessionRecord, SessionStore, Store, User, UserStore

__all__ = ["KeyRecord", "KeyStore", "SessionRecord", "SessionStore", "Store", "User", "UserStore"]

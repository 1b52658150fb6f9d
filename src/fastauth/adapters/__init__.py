"""Storage behind small protocols: `base` says what fastauth needs, the modules beside it provide it."""

from fastauth.adapters.base import SessionRecord, SessionStore, User, UserStore

__all__ = ["SessionRecord", "SessionStore", "User", "UserStore"]

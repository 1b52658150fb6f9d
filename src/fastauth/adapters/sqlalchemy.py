"""Deprecated: moved to `fastauth.storage.sqlalchemy`."""

from fastauth.storage.sqlalchemy import Base, KeyRow, SessionRow, SQLAlchemyAdapter, UserRow, async_url

__all__ = ["Base", "KeyRow", "SQLAlchemyAdapter", "SessionRow", "UserRow", "async_url"]

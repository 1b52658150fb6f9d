"""Deprecated: moved to `fastauth.storage.sqlalchemy`."""

from fastauth.storage.sqlalchemy import SQLAlchemyAdapter, async_url

__all__ = ["SQLAlchemyAdapter", "async_url"]

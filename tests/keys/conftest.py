"""Fixtures for the key-store tests: a real adapter on SQLite and PostgreSQL (the settable `clock` is in
tests/conftest.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from fastauth.storage.sqlalchemy import SQLAlchemyAdapter


@pytest.fixture
async def adapter(database_url: str) -> AsyncIterator[SQLAlchemyAdapter]:
    """A real SQLAlchemyAdapter with its tables, on a fresh SQLite file or PostgreSQL database."""
    store = SQLAlchemyAdapter(database_url)
    await store.create_tables()
    try:
        yield store
    finally:
        await store.dispose()

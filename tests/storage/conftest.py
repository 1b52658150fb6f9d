"""Fixtures for the storage tests: every `Store` (memory, SQLite, PostgreSQL), and fresh databases."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from fresh_databases import new_postgres_database

from fastauth.storage.base import Store
from fastauth.storage.memory import MemoryStore
from fastauth.storage.sqlalchemy import SQLAlchemyAdapter


@pytest.fixture
async def postgres_url(postgres_server: str) -> str:
    """A fresh, empty PostgreSQL database."""
    return await new_postgres_database(postgres_server)


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """A fresh SQLite file (created on first use)."""
    return f"sqlite+aiosqlite:///{tmp_path / 'fastauth.db'}"


@pytest.fixture(params=["memory", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    """Each `Store` with its tables created: `MemoryStore`, SQLite, PostgreSQL."""
    created: Store
    if request.param == "memory":
        created = MemoryStore()
    elif request.param == "sqlite":
        created = SQLAlchemyAdapter(f"sqlite+aiosqlite:///{tmp_path / 'fastauth.db'}")
    else:
        created = SQLAlchemyAdapter(await new_postgres_database(request.getfixturevalue("postgres_server")))
    await created.create_tables()
    await created.check_schema(keys=True)
    try:
        yield created
    finally:
        await created.close()

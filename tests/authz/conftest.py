"""Fixtures for the authorization tests: every `Store` (memory, SQLite, PostgreSQL) for the `Roles`
tests; the HTTP tests use `make_app` (tests/conftest.py) through `authz_app.start`."""

from __future__ import annotations

import itertools
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from fastauth.storage.base import Store
from fastauth.storage.memory import MemoryStore
from fastauth.storage.sqlalchemy import SQLAlchemyAdapter
from support import servers

_counter = itertools.count()


@pytest.fixture(params=["memory", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    """Each `Store` with its tables: `MemoryStore`, SQLite, PostgreSQL (a fresh database each)."""
    created: Store
    if request.param == "memory":
        created = MemoryStore()
    elif request.param == "sqlite":
        created = SQLAlchemyAdapter(f"sqlite+aiosqlite:///{tmp_path / 'fastauth.db'}")
    else:
        server = request.getfixturevalue("postgres_server")
        name = f"fastauth_authz_{os.getpid()}_{next(_counter)}"
        created = SQLAlchemyAdapter(await servers.create_database(server, name))
    await created.create_tables()
    try:
        yield created
    finally:
        await created.close()

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


#: A revision after this fastauth's head, as the next release would ship one.
LATER_REVISION = '''"""Test only: the next release's revision.

Revision ID: 9999_test
Revises: {head}
"""

import sqlalchemy as sa
from alembic import op

revision = "9999_test"
down_revision = "{head}"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("fastauth_users", sa.Column("test_note", sa.String(16), nullable=True))


def downgrade() -> None:
    op.drop_column("fastauth_users", "test_note")
'''


@pytest.fixture
def later_revision(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """fastauth's migrations plus one revision after the head (`9999_test`, adds
    `fastauth_users.test_note`), used by this process from now on; returns the copy's folder."""
    import shutil

    from alembic.script import ScriptDirectory

    from fastauth.storage.sqlalchemy import schema

    copy = tmp_path / "migrations"
    shutil.copytree(schema.MIGRATIONS, copy, ignore=shutil.ignore_patterns("__pycache__"))
    head = ScriptDirectory(str(copy)).get_current_head()
    (copy / "versions" / "9999_test.py").write_text(LATER_REVISION.format(head=head))
    monkeypatch.setattr(schema, "MIGRATIONS", copy)
    return copy

"""The documented workflow for an application's user fields (docs/user-fields.md): its Alembic
autogenerates the revision that adds the columns to `fastauth_users`, on a database that has users
already, and nothing of fastauth's own tables leaks into the application's history.

`alembic` runs for real in a subprocess, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest
from sqlalchemy import inspect
from sqlalchemy.ext.asyncio import create_async_engine
from test_app_alembic import ALEMBIC_INI, alembic

from fastauth.errors import ConfigError
from fastauth.storage.base import User
from fastauth.storage.sqlalchemy import SQLAlchemyAdapter, async_url

MODELS = """\
from typing import Annotated, Literal

from pydantic import Field
from sqlalchemy.orm import DeclarativeBase

from fastauth import Indexed, SetOnce, Unique, UserFields, Writable


class Base(DeclarativeBase):
    pass


class Profile(UserFields):
    name: Annotated[str | None, Writable, Field(max_length=100)] = None
    username: Annotated[str | None, SetOnce, Unique, Field(max_length=30)] = None
    tenant_id: Annotated[str, Indexed, Field(max_length=64)] = "default"
    plan: Literal["free", "pro"] = "free"
    newsletter: bool = False
"""

ENV_PY = """\
import asyncio
import os

from alembic import context
from sqlalchemy.ext.asyncio import create_async_engine

from fastauth.storage.sqlalchemy import UserFieldsMigrations, async_url
from fastauth.storage.sqlalchemy import upgrade as upgrade_fastauth
from models import Base, Profile

fastauth = UserFieldsMigrations(Profile)
target_metadata = [Base.metadata, fastauth.metadata]


def run(connection):
    upgrade_fastauth(connection)
    connection.commit()
    context.configure(
        connection=connection, target_metadata=target_metadata, include_object=fastauth.include_object
    )
    with context.begin_transaction():
        context.run_migrations()


async def main():
    engine = create_async_engine(async_url(os.environ["APP_DATABASE_URL"]))
    async with engine.connect() as connection:
        await connection.run_sync(run)
    await engine.dispose()


asyncio.run(main())
"""


def make_project(root: Path) -> None:
    (root / "alembic.ini").write_text(ALEMBIC_INI)
    (root / "models.py").write_text(MODELS)
    (root / "migrations" / "versions").mkdir(parents=True)
    (root / "migrations" / "env.py").write_text(ENV_PY)
    templates = Path(sys.modules["alembic"].__file__ or "").parent / "templates" / "async"
    shutil.copy(templates / "script.py.mako", root / "migrations" / "script.py.mako")


def profile_model(root: Path) -> type:
    sys.path.insert(0, str(root))
    try:
        sys.modules.pop("models", None)
        import models  # type: ignore[import-not-found]

        return models.Profile  # type: ignore[no-any-return]
    finally:
        sys.path.remove(str(root))
        sys.modules.pop("models", None)


async def columns_and_indexes(database_url: str) -> tuple[set[str], dict[str, bool]]:
    engine = create_async_engine(async_url(database_url))
    try:
        async with engine.connect() as conn:

            def read(sync: object) -> tuple[set[str], dict[str, bool]]:
                inspector = inspect(sync)
                columns = {c["name"] for c in inspector.get_columns("fastauth_users")}
                indexes = {str(i["name"]): bool(i["unique"]) for i in inspector.get_indexes("fastauth_users")}
                return columns, indexes

            return await conn.run_sync(read)
    finally:
        await engine.dispose()


async def test_autogenerate_adds_the_fields_to_a_database_with_users(
    tmp_path: Path, database_url: str
) -> None:
    import alembic as _alembic  # noqa: F401  (for the template's path)

    # A database from before the fields: fastauth's tables and one user.
    before = SQLAlchemyAdapter(database_url)
    await before.create_tables()
    await before.create_user(User(id="u1", email="ada@example.com", hashed_password="h", created_at=1))
    await before.close()
    make_project(tmp_path)
    profile = profile_model(tmp_path)

    # fastauth refuses to run with fields its table lacks, and says how to add them.
    adapter = SQLAlchemyAdapter(database_url, user_fields=profile)
    with pytest.raises(ConfigError) as refused:
        await adapter.check_schema()
    message = str(refused.value)
    assert "name, username, tenant_id, plan, newsletter" in message
    assert "alembic revision --autogenerate" in message
    await adapter.close()

    made = alembic(tmp_path, database_url, "revision", "--autogenerate", "-m", "profile")
    assert made.returncode == 0, made.stderr
    (revision,) = (tmp_path / "migrations" / "versions").glob("*_profile.py")
    source = revision.read_text()
    for column in ("name", "username", "tenant_id", "plan", "newsletter"):
        assert f"op.add_column('fastauth_users', sa.Column('{column}'" in source
    assert (
        "op.create_index('uq_fastauth_users_username', 'fastauth_users', ['username'], unique=True)" in source
    )
    assert (
        "op.create_index('ix_fastauth_users_tenant_id', 'fastauth_users', ['tenant_id'], unique=False)"
        in source
    )
    # Nothing of fastauth's own: no other table, no column of its own, nothing dropped.
    for other in ("fastauth_sessions", "fastauth_codes", "fastauth_keys", "fastauth_audit", "'email'"):
        assert other not in source
    upgrade = source.split("def upgrade()", 1)[1].split("def downgrade()", 1)[0]
    assert "drop" not in upgrade

    upgraded = alembic(tmp_path, database_url, "upgrade", "head")
    assert upgraded.returncode == 0, upgraded.stderr
    checked = alembic(tmp_path, database_url, "check")
    assert (checked.returncode, checked.stdout) == (0, "No new upgrade operations detected.\n"), (
        checked.stderr
    )
    columns, indexes = await columns_and_indexes(database_url)
    assert {"name", "username", "tenant_id", "plan", "newsletter"} <= columns
    assert indexes["uq_fastauth_users_username"] is True
    assert indexes["ix_fastauth_users_tenant_id"] is False

    # fastauth now runs on it; the user from before has the declared defaults.
    after = SQLAlchemyAdapter(database_url, user_fields=profile)
    try:
        await after.check_schema()
        old = await after.get_user("u1")
        assert old is not None
        assert old.fields == profile()
        assert (old.fields.tenant_id, old.fields.plan, old.fields.newsletter) == ("default", "free", False)
    finally:
        await after.close()

    # Downgrading the application's revision takes exactly the fields away again.
    down = alembic(tmp_path, database_url, "downgrade", "base")
    assert down.returncode == 0, down.stderr
    columns, indexes = await columns_and_indexes(database_url)
    assert not {"name", "username", "tenant_id", "plan", "newsletter"} & columns
    assert "email" in columns


async def test_an_empty_database_gets_the_fields_at_creation_and_autogenerate_then_finds_nothing(
    tmp_path: Path, database_url: str
) -> None:
    import alembic as _alembic  # noqa: F401

    make_project(tmp_path)
    profile = profile_model(tmp_path)
    adapter = SQLAlchemyAdapter(database_url, user_fields=profile)
    try:
        await adapter.create_tables()
        await adapter.check_schema()
    finally:
        await adapter.close()
    columns, indexes = await columns_and_indexes(database_url)
    assert {"name", "username", "tenant_id", "plan", "newsletter"} <= columns
    assert indexes["uq_fastauth_users_username"] is True
    checked = alembic(tmp_path, database_url, "check")
    assert (checked.returncode, checked.stdout) == (0, "No new upgrade operations detected.\n"), (
        checked.stderr
    )

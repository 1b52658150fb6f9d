"""Start-up refuses tables an older fastauth created without today's columns, and says what to run."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from fastauth.errors import ConfigError
from fastauth.storage.sqlalchemy import Base, async_url

#: Columns later versions added to existing tables (both nullable), as an old database lacks them.
LATER_COLUMNS = (("fastauth_sessions", "previous_jti"), ("fastauth_sessions", "rotated_at"))


async def _execute(database_url: str, *statements: str) -> None:
    engine = create_async_engine(async_url(database_url))
    try:
        async with engine.begin() as conn:
            await conn.run_sync(Base.metadata.create_all)
            for statement in statements:
                await conn.execute(text(statement))
    finally:
        await engine.dispose()


async def test_an_old_schema_is_refused_with_the_statements_that_fix_it(
    database_url: str, make_app: Any
) -> None:
    await _execute(
        database_url, *(f"ALTER TABLE {table} DROP COLUMN {column}" for table, column in LATER_COLUMNS)
    )
    with pytest.raises(ConfigError) as info:
        await make_app()
    message = str(info.value)
    assert "created by an older fastauth" in message
    statements = message.split("run: ", 1)[1].split("; ")
    assert [statement.split()[2] + "." + statement.split()[5] for statement in statements] == [
        f"{table}.{column}" for table, column in LATER_COLUMNS
    ]
    # Running exactly what the message says is enough: the server starts and refresh rotation works.
    await _execute(database_url, *statements)
    app = await make_app()
    tokens = await app.register()
    refreshed = await app.client.post("/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert refreshed.status_code == 200
    reused = await app.client.post("/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert reused.status_code == 401


async def test_missing_tables_without_auto_create_are_refused(database_url: str, make_app: Any) -> None:
    with pytest.raises(ConfigError) as info:
        await make_app(auto_create_tables=False)
    assert "the tables fastauth_users, fastauth_sessions do not exist" in str(info.value)


async def test_tables_created_by_the_operator_are_accepted(database_url: str, make_app: Any) -> None:
    await _execute(database_url)  # e.g. by the operator's own migrations, before start-up
    app = await make_app(auto_create_tables=False)
    assert (await app.client.post("/auth/refresh", json={"refresh_token": "x"})).status_code == 401
    await app.register()


async def test_keys_table_is_required_when_keys_live_in_the_database(
    database_url: str, make_app: Any
) -> None:
    # RS256 without PEM keys keeps its signing keys in fastauth_keys.
    await _execute(database_url, "DROP TABLE fastauth_keys")
    with pytest.raises(ConfigError) as info:
        await make_app(auto_create_tables=False, jwt={"algorithm": "RS256"})
    assert "the tables fastauth_keys do not exist" in str(info.value)
    # HS256 never touches that table: its absence is fine.
    app = await make_app(auto_create_tables=False)
    await app.register()


async def test_a_missing_not_null_column_is_named_not_given_a_statement_that_would_fail(
    database_url: str, make_app: Any
) -> None:
    await _execute(database_url, "ALTER TABLE fastauth_users DROP COLUMN roles")
    with pytest.raises(ConfigError) as info:
        await make_app()
    message = str(info.value)
    assert "the columns fastauth_users.roles are missing and NOT NULL" in message
    assert "ADD COLUMN roles" not in message

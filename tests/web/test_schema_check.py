"""Start-up refuses a database this fastauth cannot use, and says what to run.

Tables without fastauth's version table (made by 0.1.0, by an older fastauth, or by the operator) are
checked column by column: with `auto_create_tables` they are adopted once they match (the tables here
are today's models, so they are stamped with the head revision; 0.1.0's get the first one, see
`tests/storage/`); without it the operator manages them and matching tables are accepted as they are.
Revisions behind or ahead are tested in `tests/storage/`.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from fastauth.errors import ConfigError
from fastauth.storage.sqlalchemy import Base, SQLAlchemyAdapter, async_url

#: Columns later versions added to existing tables (both nullable), as an old database lacks them.
LATER_COLUMNS = (("fastauth_sessions", "previous_jti"), ("fastauth_sessions", "rotated_at"))
MISMATCH = "the database does not match this fastauth: "
HEAD = "0009"


async def _execute(database_url: str, *statements: str) -> None:
    engine = create_async_engine(async_url(database_url))
    try:
        async with engine.begin() as conn:
            await conn.run_sync(Base.metadata.create_all)
            for statement in statements:
                await conn.execute(text(statement))
    finally:
        await engine.dispose()


async def _revision(database_url: str) -> str | None:
    store = SQLAlchemyAdapter(database_url)
    try:
        return (await store.schema_state()).revision
    finally:
        await store.close()


async def test_an_old_schema_is_refused_with_the_statements_that_fix_it(
    database_url: str, make_app: Any
) -> None:
    await _execute(
        database_url, *(f"ALTER TABLE {table} DROP COLUMN {column}" for table, column in LATER_COLUMNS)
    )
    with pytest.raises(ConfigError) as info:
        await make_app()
    message = str(info.value)
    assert message == (
        MISMATCH + "its tables were created by an older fastauth and lack columns; run: "
        "ALTER TABLE fastauth_sessions ADD COLUMN previous_jti VARCHAR(64); "
        "ALTER TABLE fastauth_sessions ADD COLUMN rotated_at BIGINT"
    )
    statements = message.split("run: ", 1)[1].split("; ")
    assert [statement.split()[2] + "." + statement.split()[5] for statement in statements] == [
        f"{table}.{column}" for table, column in LATER_COLUMNS
    ]
    assert await _revision(database_url) is None  # refused tables are not stamped
    # Running exactly what the message says is enough: the server starts and refresh rotation works.
    await _execute(database_url, *statements)
    app = await make_app()
    assert await _revision(database_url) == HEAD  # adopted
    tokens = await app.register()
    refreshed = await app.client.post("/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert refreshed.status_code == 200
    reused = await app.client.post("/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert reused.status_code == 401


async def test_missing_tables_without_auto_create_are_refused(database_url: str, make_app: Any) -> None:
    with pytest.raises(ConfigError) as info:
        await make_app(auto_create_tables=False)
    assert str(info.value) == (
        MISMATCH + "the tables fastauth_users, fastauth_sessions, fastauth_codes, fastauth_audit, "
        "fastauth_revoked_sessions, fastauth_identities, fastauth_oauth_states, fastauth_mfa, "
        "fastauth_recovery_codes, fastauth_passkeys, fastauth_passkey_challenges, fastauth_roles, "
        "fastauth_api_keys do not exist (set auto_create_tables, or create them with "
        "`fastauth db upgrade`)"
    )


async def test_tables_created_by_the_operator_are_accepted(database_url: str, make_app: Any) -> None:
    await _execute(database_url)  # e.g. by the operator's own migrations, before start-up
    app = await make_app(auto_create_tables=False)
    assert (await app.client.post("/auth/refresh", json={"refresh_token": "x"})).status_code == 401
    await app.register()
    assert await _revision(database_url) is None  # the operator's tables: fastauth does not stamp them


async def test_keys_table_is_required_when_keys_live_in_the_database(
    database_url: str, make_app: Any
) -> None:
    # RS256 without PEM keys keeps its signing keys in fastauth_keys.
    await _execute(database_url, "DROP TABLE fastauth_keys")
    with pytest.raises(ConfigError) as info:
        await make_app(auto_create_tables=False, jwt={"algorithm": "RS256"})
    assert str(info.value) == (
        MISMATCH + "the tables fastauth_keys do not exist "
        "(set auto_create_tables, or create them with `fastauth db upgrade`)"
    )
    # HS256 never touches that table: its absence is fine.
    app = await make_app(auto_create_tables=False)
    await app.register()


async def test_adoption_creates_a_missing_table_as_0_1_0_did(database_url: str, make_app: Any) -> None:
    await _execute(database_url, "DROP TABLE fastauth_keys")
    app = await make_app(jwt={"algorithm": "RS256"})
    await app.register()
    assert await _revision(database_url) == HEAD


async def test_a_missing_not_null_column_is_named_not_given_a_statement_that_would_fail(
    database_url: str, make_app: Any
) -> None:
    await _execute(database_url, "ALTER TABLE fastauth_users DROP COLUMN roles")
    with pytest.raises(ConfigError) as info:
        await make_app()
    assert str(info.value) == (
        MISMATCH + "the columns fastauth_users.roles are missing and NOT NULL: add them with a value "
        "for the existing rows (a migration), or recreate the tables"
    )


async def test_tables_missing_an_index_are_not_adopted_until_it_is_created(
    database_url: str, make_app: Any
) -> None:
    await _execute(database_url, "DROP INDEX ix_fastauth_sessions_user")
    with pytest.raises(ConfigError) as info:
        await make_app()
    message = str(info.value)
    assert message == (
        MISMATCH + "its tables lack indexes or unique constraints fastauth relies on; run: "
        "CREATE INDEX ix_fastauth_sessions_user ON fastauth_sessions (user_id)"
    )
    assert await _revision(database_url) is None
    await _execute(database_url, message.split("run: ", 1)[1])
    app = await make_app()
    assert await _revision(database_url) == HEAD
    await app.register()


async def test_tables_without_the_unique_email_are_not_adopted(database_url: str, make_app: Any) -> None:
    # As an operator's own migration might have made them: every column, but duplicate emails allowed.
    engine = create_async_engine(async_url(database_url))
    try:
        async with engine.begin() as conn:
            await conn.execute(
                text(
                    "CREATE TABLE fastauth_users (id VARCHAR(64) PRIMARY KEY, email VARCHAR(320) NOT NULL, "
                    "hashed_password TEXT NOT NULL, is_active BOOLEAN NOT NULL, is_verified BOOLEAN NOT NULL, "
                    "is_superuser BOOLEAN NOT NULL, roles TEXT NOT NULL, created_at BIGINT NOT NULL)"
                )
            )
            await conn.run_sync(Base.metadata.create_all)  # the other tables, as fastauth makes them
    finally:
        await engine.dispose()
    with pytest.raises(ConfigError) as info:
        await make_app()
    message = str(info.value)
    assert message == (
        MISMATCH + "its tables lack indexes or unique constraints fastauth relies on; run: "
        "CREATE UNIQUE INDEX uq_fastauth_users_email ON fastauth_users (email)"
    )
    await _execute(database_url, message.split("run: ", 1)[1])
    app = await make_app()
    await app.register()
    assert (
        await app.client.post("/auth/register", json={"email": "alice@example.com", "password": "x" * 12})
    ).status_code == 409

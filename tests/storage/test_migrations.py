"""fastauth's Alembic revisions: the first one is exactly 0.1.0's schema, the head matches the models,
the version table is fastauth's own, and migrators starting at once on one database agree."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import old_release
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.operations import Operations
from alembic.runtime.migration import MigrationStep
from alembic.script import ScriptDirectory
from fresh_databases import new_postgres_database
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from fastauth.errors import ConfigError
from fastauth.storage.sqlalchemy import VERSION_TABLE, Base, SQLAlchemyAdapter, async_url
from fastauth.storage.sqlalchemy.schema import MIGRATIONS


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def two_databases(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, str]:
    """Two fresh, empty databases of one kind."""
    if request.param == "sqlite":
        return (f"sqlite+aiosqlite:///{tmp_path / 'a.db'}", f"sqlite+aiosqlite:///{tmp_path / 'b.db'}")
    server = request.getfixturevalue("postgres_server")
    return (await new_postgres_database(server), await new_postgres_database(server))


def _describe(conn: Connection) -> dict[str, dict[str, Any]]:
    inspector = inspect(conn)
    tables = sorted(name for name in inspector.get_table_names() if name.startswith("fastauth_"))
    return {
        name: {
            "columns": [
                (column["name"], str(column["type"]), column["nullable"], column.get("default"))
                for column in inspector.get_columns(name)
            ],
            "primary_key": inspector.get_pk_constraint(name)["constrained_columns"],
            "indexes": sorted(
                (index["name"], tuple(index["column_names"]), bool(index["unique"]))
                for index in inspector.get_indexes(name)
            ),
            "unique": sorted(
                (str(unique["name"]), tuple(unique["column_names"]))
                for unique in inspector.get_unique_constraints(name)
            ),
            "foreign_keys": [
                (
                    tuple(key["constrained_columns"]),
                    key["referred_table"],
                    tuple(key["referred_columns"]),
                    key["options"].get("ondelete"),
                )
                for key in inspector.get_foreign_keys(name)
            ],
        }
        for name in tables
        if name != VERSION_TABLE
    }


async def describe(database_url: str) -> dict[str, dict[str, Any]]:
    engine = create_async_engine(async_url(database_url))
    try:
        async with engine.connect() as conn:
            return await conn.run_sync(_describe)
    finally:
        await engine.dispose()


async def upgrade(database_url: str, revision: str = "head") -> None:
    """Run fastauth's revisions on the database, up to the head or to `revision`."""
    await old_release.upgrade_to(database_url, revision)


async def test_the_first_revision_is_exactly_the_0_1_0_schema(two_databases: tuple[str, str]) -> None:
    old_url, new_url = two_databases
    await old_release.create_schema(old_url)
    await upgrade(new_url, "0001")
    old, new = await describe(old_url), await describe(new_url)
    assert new == old
    # Not vacuous: the facts 0.1.0 relies on are there.
    assert sorted(old) == ["fastauth_keys", "fastauth_sessions", "fastauth_users"]
    assert old["fastauth_sessions"]["foreign_keys"] == [(("user_id",), "fastauth_users", ("id",), "CASCADE")]
    assert [unique[1] for unique in old["fastauth_users"]["unique"]] == [("email",)]
    assert [unique[1] for unique in old["fastauth_keys"]["unique"]] == [("generation",)]
    assert [index[:2] for index in old["fastauth_sessions"]["indexes"]] == [
        ("ix_fastauth_sessions_expires", ("expires_at",)),
        ("ix_fastauth_sessions_revoked", ("revoked_at",)),
        ("ix_fastauth_sessions_user", ("user_id",)),
    ]
    nullable = {column[0] for column in old["fastauth_sessions"]["columns"] if column[2]}
    assert nullable == {"ip", "user_agent", "revoked_at", "previous_jti", "rotated_at"}


async def test_the_second_revision_adds_the_codes_table_and_changes_nothing_else(
    two_databases: tuple[str, str],
) -> None:
    first_url, second_url = two_databases
    await upgrade(first_url, "0001")
    await upgrade(second_url, "0002")
    first, second = await describe(first_url), await describe(second_url)
    codes = second.pop("fastauth_codes")
    assert second == first
    assert codes["columns"] == [
        ("id", "VARCHAR(64)", False, None),
        ("user_id", "VARCHAR(64)", False, None),
        ("purpose", "VARCHAR(32)", False, None),
        ("code_hash", "VARCHAR(64)", False, None),
        ("created_at", "BIGINT", False, None),
        ("expires_at", "BIGINT", False, None),
        ("consumed_at", "BIGINT", True, None),
        ("data", "TEXT", True, None),
    ]
    assert codes["primary_key"] == ["id"]
    assert codes["foreign_keys"] == [(("user_id",), "fastauth_users", ("id",), "CASCADE")]
    assert [unique[1] for unique in codes["unique"]] == [("code_hash",)]
    assert [index[:2] for index in codes["indexes"] if not index[2]] == [
        ("ix_fastauth_codes_user_purpose", ("user_id", "purpose"))
    ]


async def test_the_third_revision_adds_the_audit_table_and_changes_nothing_else(
    two_databases: tuple[str, str],
) -> None:
    second_url, third_url = two_databases
    await upgrade(second_url, "0002")
    await upgrade(third_url, "0003")
    second, third = await describe(second_url), await describe(third_url)
    audit = third.pop("fastauth_audit")
    assert third == second
    assert audit["columns"] == [
        ("id", "VARCHAR(64)", False, None),
        ("at", "BIGINT", False, None),
        ("event", "VARCHAR(32)", False, None),
        ("user_id", "VARCHAR(64)", True, None),
        ("ip", "VARCHAR(64)", True, None),
        ("user_agent", "VARCHAR(512)", True, None),
        ("detail", "VARCHAR(200)", True, None),
    ]
    assert audit["primary_key"] == ["id"]
    assert audit["foreign_keys"] == []  # the record of a deletion outlives the account
    assert audit["unique"] == []
    assert [index[:2] for index in audit["indexes"] if not index[2]] == [
        ("ix_fastauth_audit_at", ("at",)),
        ("ix_fastauth_audit_user_at", ("user_id", "at")),
    ]


async def test_the_fourth_revision_adds_the_revoked_sessions_table_and_changes_nothing_else(
    two_databases: tuple[str, str],
) -> None:
    third_url, fourth_url = two_databases
    await upgrade(third_url, "0003")
    await upgrade(fourth_url, "0004")
    third, fourth = await describe(third_url), await describe(fourth_url)
    revoked = fourth.pop("fastauth_revoked_sessions")
    assert fourth == third
    assert revoked["columns"] == [("id", "VARCHAR(64)", False, None), ("revoked_at", "BIGINT", False, None)]
    assert revoked["primary_key"] == ["id"]
    assert revoked["foreign_keys"] == []  # the account is gone; its sessions' revocations stay
    assert [index[:2] for index in revoked["indexes"] if not index[2]] == [
        ("ix_fastauth_revoked_sessions_revoked", ("revoked_at",))
    ]


async def test_the_fourth_revision_downgrades_to_the_third(database_url: str) -> None:
    await upgrade(database_url)
    engine = create_async_engine(async_url(database_url))
    try:
        async with engine.begin() as conn:
            await conn.run_sync(_downgrade_to, "0003")
    finally:
        await engine.dispose()
    tables = await describe(database_url)
    assert "fastauth_revoked_sessions" not in tables
    assert "fastauth_audit" in tables


async def test_the_fifth_revision_adds_the_identity_and_oauth_state_tables_and_changes_nothing_else(
    two_databases: tuple[str, str],
) -> None:
    fourth_url, fifth_url = two_databases
    await upgrade(fourth_url, "0004")
    await upgrade(fifth_url, "0005")
    fourth, fifth = await describe(fourth_url), await describe(fifth_url)
    identities = fifth.pop("fastauth_identities")
    states = fifth.pop("fastauth_oauth_states")
    assert fifth == fourth
    assert [column[0] for column in identities["columns"]] == [
        "id", "user_id", "provider", "issuer", "subject", "email", "created_at", "last_used_at", "tokens_sealed",
    ]  # fmt: skip
    assert identities["foreign_keys"] == [(("user_id",), "fastauth_users", ("id",), "CASCADE")]
    assert [unique[1] for unique in identities["unique"]] == [("issuer", "subject")]
    assert states["foreign_keys"] == []  # a sign-in that creates an account has no user yet
    assert [index[:2] for index in states["indexes"] if not index[2]] == [
        ("ix_fastauth_oauth_states_expires", ("expires_at",))
    ]


async def test_the_sixth_revision_adds_the_sessions_amr_column_and_changes_nothing_else(
    two_databases: tuple[str, str],
) -> None:
    fifth_url, sixth_url = two_databases
    await upgrade(fifth_url, "0005")
    await upgrade(sixth_url, "0006")
    fifth, sixth = await describe(fifth_url), await describe(sixth_url)
    sessions = sixth["fastauth_sessions"]
    assert sessions["columns"][-1] == ("amr", "VARCHAR(64)", True, None)
    sixth["fastauth_sessions"] = {**sessions, "columns": sessions["columns"][:-1]}
    assert sixth == fifth


async def test_the_sixth_revision_downgrades_to_the_fifth(database_url: str) -> None:
    await upgrade(database_url)
    engine = create_async_engine(async_url(database_url))
    try:
        async with engine.begin() as conn:
            await conn.run_sync(_downgrade_to, "0005")
    finally:
        await engine.dispose()
    columns = [column[0] for column in (await describe(database_url))["fastauth_sessions"]["columns"]]
    assert "amr" not in columns and "rotated_at" in columns


async def test_the_seventh_revision_adds_the_second_factor_tables_and_changes_nothing_else(
    two_databases: tuple[str, str],
) -> None:
    sixth_url, seventh_url = two_databases
    await upgrade(sixth_url, "0006")
    await upgrade(seventh_url, "0007")
    sixth, seventh = await describe(sixth_url), await describe(seventh_url)
    mfa = seventh.pop("fastauth_mfa")
    recovery = seventh.pop("fastauth_recovery_codes")
    assert seventh == sixth
    assert mfa["primary_key"] == ["user_id"]
    assert mfa["foreign_keys"] == [(("user_id",), "fastauth_users", ("id",), "CASCADE")]
    assert recovery["primary_key"] == ["code_hash"]
    assert recovery["foreign_keys"] == [(("user_id",), "fastauth_users", ("id",), "CASCADE")]


async def test_the_eighth_revision_adds_the_passkey_tables_and_changes_nothing_else(
    two_databases: tuple[str, str],
) -> None:
    seventh_url, eighth_url = two_databases
    await upgrade(seventh_url, "0007")
    await upgrade(eighth_url, "0008")
    seventh, eighth = await describe(seventh_url), await describe(eighth_url)
    passkeys = eighth.pop("fastauth_passkeys")
    challenges = eighth.pop("fastauth_passkey_challenges")
    assert eighth == seventh
    assert passkeys["primary_key"] == ["id"]
    assert passkeys["foreign_keys"] == [(("user_id",), "fastauth_users", ("id",), "CASCADE")]
    assert [unique[1] for unique in passkeys["unique"]] == [("credential_id",)]
    assert challenges["primary_key"] == ["id"]
    assert challenges["foreign_keys"] == []  # a passwordless sign-in's challenge has no user yet


async def test_the_eighth_revision_downgrades_to_the_seventh(database_url: str) -> None:
    await upgrade(database_url)
    engine = create_async_engine(async_url(database_url))
    try:
        async with engine.begin() as conn:
            await conn.run_sync(_downgrade_to, "0007")
    finally:
        await engine.dispose()
    tables = await describe(database_url)
    assert "fastauth_passkeys" not in tables and "fastauth_passkey_challenges" not in tables
    assert "fastauth_mfa" in tables


async def test_the_ninth_revision_adds_roles_api_keys_and_the_audit_actor_and_changes_nothing_else(
    two_databases: tuple[str, str],
) -> None:
    eighth_url, ninth_url = two_databases
    await upgrade(eighth_url, "0008")
    await upgrade(ninth_url, "0009")
    eighth, ninth = await describe(eighth_url), await describe(ninth_url)
    roles = ninth.pop("fastauth_roles")
    keys = ninth.pop("fastauth_api_keys")
    audit = ninth["fastauth_audit"]
    assert audit["columns"][-1] == ("actor_id", "VARCHAR(64)", True, None)
    ninth["fastauth_audit"] = {**audit, "columns": audit["columns"][:-1]}
    assert ninth == eighth
    assert roles["primary_key"] == ["name"]
    assert [column[0] for column in roles["columns"]] == [
        "name", "permissions", "description", "created_at", "updated_at",
    ]  # fmt: skip
    assert roles["foreign_keys"] == []  # which users hold a role is fastauth_users.roles
    assert keys["primary_key"] == ["id"]
    assert keys["foreign_keys"] == [(("user_id",), "fastauth_users", ("id",), "CASCADE")]
    # a presented key is found by its hash alone: one unique index, whichever way the dialect spells it
    unique_hash = {unique[1] for unique in keys["unique"]} | {i[1] for i in keys["indexes"] if i[2]}
    assert unique_hash == {("key_hash",)}
    assert [index[:2] for index in keys["indexes"] if not index[2]] == [
        ("ix_fastauth_api_keys_user", ("user_id",))
    ]
    nullable = {column[0] for column in keys["columns"] if column[2]}
    assert nullable == {"expires_at", "last_used_at", "revoked_at"}


async def test_the_ninth_revision_downgrades_to_the_eighth(database_url: str) -> None:
    await upgrade(database_url)
    engine = create_async_engine(async_url(database_url))
    try:
        async with engine.begin() as conn:
            await conn.run_sync(_downgrade_to, "0008")
    finally:
        await engine.dispose()
    tables = await describe(database_url)
    assert "fastauth_roles" not in tables and "fastauth_api_keys" not in tables
    assert "actor_id" not in [column[0] for column in tables["fastauth_audit"]["columns"]]
    assert "fastauth_passkeys" in tables


async def test_a_0008_database_keeps_its_users_sessions_and_audit_rows_at_0009(database_url: str) -> None:
    await upgrade(database_url, "0008")
    await old_release.execute(
        database_url,
        "INSERT INTO fastauth_users (id, email, hashed_password, is_active, is_verified, is_superuser, roles,"
        " created_at) VALUES ('u1', 'old@example.com', '$argon2id$old', :yes, :yes, :no, 'editor admin', 100)",
        "INSERT INTO fastauth_sessions (id, user_id, refresh_jti, created_at, last_used_at, expires_at, ip,"
        " user_agent, amr) VALUES ('s1', 'u1', 'jti1', 100, 150, 9999999999, '203.0.113.7', 'ua', 'pwd')",
        "INSERT INTO fastauth_audit (id, at, event, user_id, ip, user_agent, detail)"
        " VALUES ('a1', 120, 'signin', 'u1', '203.0.113.7', 'ua', 'session s1')",
        params=[{"yes": True, "no": False}, {}, {}],
    )
    store = SQLAlchemyAdapter(database_url)
    try:
        await store.upgrade()  # `fastauth db upgrade`: 0008 -> 0009
        await store.check_schema(keys=True)
        state = await store.schema_state()
        assert (state.revision, state.status) == ("0009", "head")
        user = await store.get_user("u1")
        assert user is not None
        assert (user.email, user.hashed_password, user.roles) == (
            "old@example.com",
            "$argon2id$old",
            ("editor", "admin"),
        )
        assert (user.is_active, user.is_verified, user.is_superuser) == (True, True, False)
        session = await store.get_session("s1")
        assert session is not None
        assert (session.user_id, session.refresh_jti, session.amr) == ("u1", "jti1", "pwd")
        [record] = await store.list_audit(user_id="u1")
        assert (record.id, record.event, record.detail, record.actor_id) == (
            "a1",
            "signin",
            "session s1",
            None,
        )
        # What 0009 adds is there and empty, and works for the old rows.
        assert await store.list_roles() == []
        assert await store.list_api_keys("u1") == []
        assert await store.remove_role("editor") == 1
        assert (await store.get_user("u1")).roles == ("admin",)  # type: ignore[union-attr]
    finally:
        await store.close()


async def test_the_third_revision_downgrades_to_the_second(database_url: str) -> None:
    await upgrade(database_url)
    engine = create_async_engine(async_url(database_url))
    try:
        async with engine.begin() as conn:
            await conn.run_sync(_downgrade_to, "0002")
    finally:
        await engine.dispose()
    assert "fastauth_audit" not in await describe(database_url)
    store = SQLAlchemyAdapter(database_url)
    try:
        assert (await store.schema_state()).revision == "0002"
    finally:
        await store.close()


def _downgrade_to(conn: Connection, target: str) -> None:
    """Run the revisions' `downgrade` from the database's revision down to `target` (tests only)."""
    script = ScriptDirectory(str(MIGRATIONS))

    def steps(revision: Any, _context: MigrationContext) -> list[MigrationStep]:
        return [
            MigrationStep.downgrade_from_script(script.revision_map, each)
            for each in script.iterate_revisions(revision, target)
        ]

    context = MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE, "fn": steps})
    with Operations.context(context):
        context.run_migrations()


def _differences(conn: Connection) -> list[Any]:
    context = MigrationContext.configure(
        conn, opts={"include_name": lambda name, type_, parents: name != VERSION_TABLE, "compare_type": True}
    )
    return list(compare_metadata(context, Base.metadata))


async def test_the_head_revision_matches_the_models(database_url: str) -> None:
    await upgrade(database_url)
    engine = create_async_engine(async_url(database_url))
    try:
        async with engine.connect() as conn:
            assert await conn.run_sync(_differences) == []
    finally:
        await engine.dispose()


async def test_an_applications_alembic_version_is_never_touched(database_url: str) -> None:
    await old_release.execute(
        database_url,
        "CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL PRIMARY KEY)",
        "INSERT INTO alembic_version VALUES ('app_rev_42')",
    )
    store = SQLAlchemyAdapter(database_url)
    try:
        await store.create_tables()
        await store.check_schema(keys=True)
        async with store.engine.connect() as conn:
            app = (await conn.execute(text("SELECT version_num FROM alembic_version"))).scalars().all()
            ours = (await conn.execute(text(f"SELECT version_num FROM {VERSION_TABLE}"))).scalars().all()
    finally:
        await store.close()
    assert (app, ours) == (["app_rev_42"], ["0009"])


async def test_six_stores_creating_tables_at_once_on_an_empty_database_agree(database_url: str) -> None:
    stores = [SQLAlchemyAdapter(database_url) for _ in range(6)]
    try:
        await asyncio.gather(*(store.create_tables() for store in stores))
        await asyncio.gather(*(store.check_schema(keys=True) for store in stores))
        async with stores[0].engine.connect() as conn:
            versions = (await conn.execute(text(f"SELECT version_num FROM {VERSION_TABLE}"))).scalars().all()
        assert versions == ["0009"]
    finally:
        for store in stores:
            await store.close()


async def test_a_revision_from_a_newer_fastauth_is_refused_at_start_and_not_touched(
    database_url: str,
) -> None:
    await upgrade(database_url)
    await old_release.execute(database_url, f"UPDATE {VERSION_TABLE} SET version_num = 'f00d'")
    store = SQLAlchemyAdapter(database_url)
    try:
        await store.create_tables()
        with pytest.raises(ConfigError) as refused:
            await store.check_schema()
        assert (await store.schema_state()).revision == "f00d"
    finally:
        await store.close()
    assert str(refused.value) == (
        "the database schema is at revision f00d, which this fastauth does not know (its newest is 0009): "
        "a newer fastauth migrated it; upgrade fastauth"
    )


async def test_sqlite_without_auto_create_refuses_a_schema_behind_with_the_command(sqlite_url: str) -> None:
    await upgrade(sqlite_url, "0001")  # as an earlier fastauth left it
    store = SQLAlchemyAdapter(sqlite_url)
    try:
        with pytest.raises(ConfigError) as refused:
            await store.check_schema()  # what start-up does when auto_create_tables is off
        assert str(refused.value) == (
            "the database schema is at revision 0001 and this fastauth needs 0009: run `fastauth db "
            "upgrade` (it migrates the database FASTAUTH_DATABASE_URL names), then start again"
        )
        await store.create_tables()  # with auto_create_tables SQLite upgrades itself
        state = await store.schema_state()
        assert (state.revision, state.status) == ("0009", "head")
        assert {"fastauth_codes", "fastauth_audit"} <= state.tables
        await store.check_schema(keys=True)
    finally:
        await store.close()


async def test_upgrade_stops_at_the_revision_asked_for(database_url: str) -> None:
    await upgrade(database_url, "0001")
    store = SQLAlchemyAdapter(database_url)
    try:
        state = await store.schema_state()
        assert (state.revision, state.status) == ("0001", "behind")
        assert state.tables == {"fastauth_users", "fastauth_sessions", "fastauth_keys"}
        before, after = await store.upgrade()
        assert (before.revision, after.revision, after.status) == ("0001", "0009", "head")
    finally:
        await store.close()


async def _create_todays_tables(database_url: str, *statements: str) -> None:
    """Today's tables without a version (as an operator's `Base.metadata.create_all` makes them)."""
    engine = create_async_engine(async_url(database_url))
    try:
        async with engine.begin() as conn:
            await conn.run_sync(Base.metadata.create_all)
            for statement in statements:
                await conn.execute(text(statement))
    finally:
        await engine.dispose()


async def test_unversioned_tables_with_a_later_revisions_table_are_adopted_at_the_head(
    database_url: str,
) -> None:
    await _create_todays_tables(database_url, "DROP TABLE fastauth_keys")
    store = SQLAlchemyAdapter(database_url)
    try:
        assert (await store.schema_state()).status == "unversioned"
        await store.create_tables()  # adopts on SQLite and PostgreSQL alike: nothing is left to run
        state = await store.schema_state()
        assert (state.revision, state.status) == ("0009", "head")
        assert state.tables == {
            "fastauth_users",
            "fastauth_sessions",
            "fastauth_keys",
            "fastauth_codes",
            "fastauth_audit",
            "fastauth_revoked_sessions",
            "fastauth_identities",
            "fastauth_oauth_states",
            "fastauth_mfa",
            "fastauth_recovery_codes",
            "fastauth_passkeys",
            "fastauth_passkey_challenges",
            "fastauth_roles",
            "fastauth_api_keys",
        }
        await store.check_schema(keys=True)
    finally:
        await store.close()


async def test_unversioned_codes_table_lacking_its_index_is_not_adopted(database_url: str) -> None:
    await _create_todays_tables(database_url, "DROP INDEX ix_fastauth_codes_user_purpose")
    store = SQLAlchemyAdapter(database_url)
    try:
        with pytest.raises(ConfigError) as refused:
            await store.upgrade()
        assert str(refused.value) == (
            "the database does not match this fastauth: its tables lack indexes or unique constraints "
            "fastauth relies on; run: "
            "CREATE INDEX ix_fastauth_codes_user_purpose ON fastauth_codes (user_id, purpose)"
        )
        assert (await store.schema_state()).revision is None
    finally:
        await store.close()

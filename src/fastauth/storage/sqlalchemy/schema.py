"""fastauth's schema under Alembic: where a database stands, and how it reaches the head revision.

The revisions live in `fastauth/storage/migrations/versions` (shipped in the wheel) and are run here
programmatically, on the adapter's own connection: no `alembic.ini` and no `env.py` are involved, so
an application's Alembic set-up is never read or touched. fastauth records its revision in its own
table, `fastauth_alembic_version`, never in the application's `alembic_version`.

A database is in one of five states (`SchemaState.status`):

- ``empty``: no fastauth table and no version; `upgrade` creates everything.
- ``unversioned``: fastauth tables without a version, as fastauth 0.1.0 (or the operator) made them.
  `upgrade` adopts them: checks them against the first revision (0.1.0's schema: columns, indexes,
  unique constraints), creates a table of that revision that is missing, stamps the first revision,
  then upgrades. Tables that include one only a later revision creates were made from today's models
  (the operator's `create_all`), not by 0.1.0: they are checked against the models and stamped with
  the head instead. Nothing is dropped.
- ``behind``: a revision older than this fastauth's head.
- ``head``: up to date.
- ``ahead``: a revision this fastauth does not know (a newer fastauth migrated it).

A new revision (developers; docs/migrations.md, "Adding a revision"):
`alembic.command.revision(alembic_config(), "message", rev_id="0003")` writes one from `script.py.mako`;
fill in `upgrade`/`downgrade`, change `tables.py` to match, and extend
`tests/storage/test_upgrade_from_0_1_0.py`.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.operations import Operations
from alembic.runtime.migration import MigrationStep
from alembic.script import ScriptDirectory
from sqlalchemy import MetaData, Table, UniqueConstraint, inspect, text
from sqlalchemy.engine import Connection
from sqlalchemy.schema import CreateIndex

from fastauth.errors import ConfigError
from fastauth.storage.sqlalchemy.tables import Base

__all__ = [
    "FIRST_REVISION",
    "MIGRATIONS",
    "UPGRADE_HINT",
    "VERSION_TABLE",
    "SchemaState",
    "adopt_or_create",
    "alembic_config",
    "check",
    "read_state",
    "upgrade",
]

#: fastauth's own Alembic version table (an application's `alembic_version` is never used).
VERSION_TABLE = "fastauth_alembic_version"
#: The Alembic script directory inside the installed package.
MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"
#: The revision that is fastauth 0.1.0's schema; an unversioned database is stamped with it.
FIRST_REVISION = "0001"
#: What an operator runs to bring a server database to the head revision.
UPGRADE_HINT = "run `fastauth db upgrade` (it migrates the database FASTAUTH_DATABASE_URL names)"

#: Tables every configuration uses; fastauth_keys is required only for keys kept in the database.
REQUIRED_TABLES: tuple[str, ...] = (
    "fastauth_users",
    "fastauth_sessions",
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
)
KEYS_TABLE = "fastauth_keys"
#: Any value, the same in every fastauth process: PostgreSQL's advisory lock for migrations.
_PG_LOCK_KEY = 0x66617374617574  # "fastaut"

Status = Literal["empty", "unversioned", "behind", "head", "ahead"]


def alembic_config() -> Config:
    """An Alembic `Config` for fastauth's script directory and version table (no file behind it)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("version_table", VERSION_TABLE)
    return config


@functools.cache
def _script_at(location: Path) -> ScriptDirectory:
    return ScriptDirectory(str(location))


def _script() -> ScriptDirectory:
    """The revisions, read once per process (`MIGRATIONS` is looked up at each call)."""
    return _script_at(MIGRATIONS)


@dataclass(frozen=True, slots=True)
class SchemaState:
    """Where a database stands: its recorded revision, this fastauth's head, the fastauth tables present."""

    revision: str | None
    head: str
    tables: frozenset[str]
    #: False when `revision` is not one of this fastauth's revisions (a newer fastauth wrote it).
    known: bool = True

    @property
    def status(self) -> Status:
        """One of ``empty``, ``unversioned``, ``behind``, ``head``, ``ahead`` (see the module docstring)."""
        if self.revision is None:
            return "unversioned" if self.tables else "empty"
        if not self.known:
            return "ahead"
        return "head" if self.revision == self.head else "behind"


def _context(connection: Connection, **opts: Any) -> MigrationContext:
    return MigrationContext.configure(connection, opts={"version_table": VERSION_TABLE, **opts})


def read_state(connection: Connection) -> SchemaState:
    """The `SchemaState` of the database behind `connection` (reads only)."""
    script = _script()
    head = script.get_current_head()
    assert head is not None
    revision = _context(connection).get_current_revision()
    known = True
    if revision is not None:
        known = any(rev.revision == revision for rev in script.walk_revisions())
    names = set(inspect(connection).get_table_names())
    fastauth = frozenset(names & (set(Base.metadata.tables) | set(_first_revision_schema().tables)))
    return SchemaState(revision=revision, head=head, tables=fastauth, known=known)


def _lock(connection: Connection) -> None:
    """Serialise migrators until the transaction ends, so two processes starting at once on one
    database do not both create (PostgreSQL: advisory lock; SQLite: the write lock, taken up front)."""
    name = connection.dialect.name
    if name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK_KEY})
    elif name == "sqlite" and not getattr(connection.connection.driver_connection, "in_transaction", True):
        # The driver opens a transaction only before a write, so DDL would run outside one and a
        # second process could see half a schema; BEGIN IMMEDIATE takes the write lock now and
        # waits (busy_timeout) while another process holds it.
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def _gaps(connection: Connection, metadata: MetaData, required: Iterable[str]) -> list[str]:
    """What the existing tables lack against `metadata`, as the sentences a `ConfigError` gives."""
    inspector = inspect(connection)
    existing = set(inspector.get_table_names())
    statements: list[str] = []
    not_null: list[str] = []
    for table in metadata.sorted_tables:
        if table.name not in existing:
            continue
        present = {column["name"] for column in inspector.get_columns(table.name)}
        for column in table.columns:
            if column.name in present:
                continue
            if column.nullable:
                kind = column.type.compile(dialect=connection.dialect)
                statements.append(f"ALTER TABLE {table.name} ADD COLUMN {column.name} {kind}")
            else:
                not_null.append(f"{table.name}.{column.name}")
    missing = [name for name in required if name not in existing]
    found = []
    if missing:
        found.append(
            f"the tables {', '.join(missing)} do not exist "
            "(set auto_create_tables, or create them with `fastauth db upgrade`)"
        )
    if statements:
        found.append(
            "its tables were created by an older fastauth and lack columns; run: " + "; ".join(statements)
        )
    if not_null:
        found.append(
            f"the columns {', '.join(not_null)} are missing and NOT NULL: add them with a value "
            "for the existing rows (a migration), or recreate the tables"
        )
    return found


def _refuse(found: list[str]) -> None:
    if found:
        raise ConfigError("the database does not match this fastauth: " + " and ".join(found))


def _first_revision_schema() -> MetaData:
    module = _script().get_revision(FIRST_REVISION)
    assert module is not None
    schema: MetaData = module.module.SCHEMA
    return schema


def _missing_indexes(connection: Connection, metadata: MetaData) -> list[str]:
    """The sentence naming the indexes and unique constraints of `metadata` the existing tables lack
    (compared by their columns), with statements that create them; empty when none is missing."""
    inspector = inspect(connection)
    existing = set(inspector.get_table_names())
    statements: list[str] = []
    for table in metadata.sorted_tables:
        if table.name not in existing:
            continue
        present = {column["name"] for column in inspector.get_columns(table.name)}
        indexes = inspector.get_indexes(table.name)
        indexed = {tuple(index["column_names"]) for index in indexes}
        unique = {tuple(index["column_names"]) for index in indexes if index["unique"]}
        unique |= {
            tuple(constraint["column_names"]) for constraint in inspector.get_unique_constraints(table.name)
        }
        for index in sorted(table.indexes, key=lambda index: str(index.name)):
            columns = tuple(column.name for column in index.columns)
            if columns not in indexed and present.issuperset(columns):
                statements.append(str(CreateIndex(index).compile(dialect=connection.dialect)))
        for constraint in table.constraints:
            if not isinstance(constraint, UniqueConstraint):
                continue
            columns = tuple(column.name for column in constraint.columns)
            if columns not in unique and present.issuperset(columns):
                name = f"uq_{table.name}_{'_'.join(columns)}"
                statements.append(f"CREATE UNIQUE INDEX {name} ON {table.name} ({', '.join(columns)})")
    if not statements:
        return []
    return ["its tables lack indexes or unique constraints fastauth relies on; run: " + "; ".join(statements)]


def _adopt(connection: Connection) -> None:
    """Take over unversioned fastauth tables: check them (columns, indexes, unique constraints), create
    the tables they lack, and stamp them. Rows are not touched.

    0.1.0's tables are checked against the first revision, completed as 0.1.0's `create_all` did, and
    stamped with it (the upgrade runs the rest). Tables that include one only a later revision creates
    come from today's models: they are checked against those, completed, and stamped with the head."""
    first = _first_revision_schema()
    later = set(Base.metadata.tables) - set(first.tables)
    if later & set(inspect(connection).get_table_names()):
        schema, revision = Base.metadata, _script().get_current_head()
    else:
        schema, revision = first, FIRST_REVISION
    assert revision is not None
    _refuse(_gaps(connection, schema, ()) + _missing_indexes(connection, schema))
    schema.create_all(connection, checkfirst=True)
    _context(connection).stamp(_script(), revision)


def _upgrade_to_head(connection: Connection, target: str = "head") -> None:
    script = _script()

    def steps(revision: Any, _context: MigrationContext) -> list[MigrationStep]:
        scripts = script.iterate_revisions(target, revision, implicit_base=True)
        return [
            MigrationStep.upgrade_from_script(script.revision_map, each) for each in reversed(list(scripts))
        ]

    context = _context(connection, fn=steps, target_metadata=Base.metadata)
    with Operations.context(context):
        context.run_migrations()


def _refuse_ahead(state: SchemaState) -> None:
    if state.status == "ahead":
        raise ConfigError(
            f"the database schema is at revision {state.revision}, which this fastauth does not know "
            f"(its newest is {state.head}): a newer fastauth migrated it; upgrade fastauth"
        )


def upgrade(connection: Connection, *, revision: str = "head") -> tuple[SchemaState, SchemaState]:
    """Bring the database to the head revision: create it when empty, adopt unversioned (0.1.0) tables,
    run the revisions it lacks. Returns the states before and after. `revision` stops at an earlier
    revision instead (tests build a database that is behind); it never downgrades.

    Runs in the caller's transaction (commit it), so it also works from an application's own Alembic
    `env.py`. Raises `ConfigError` when the tables cannot be adopted or a newer fastauth migrated them.
    """
    _lock(connection)
    before = read_state(connection)
    _refuse_ahead(before)
    if before.status == "unversioned":
        _adopt(connection)
    if before.status != "head":
        _upgrade_to_head(connection, revision)
    return before, read_state(connection)


def adopt_or_create(
    connection: Connection, *, upgrade_behind: bool, users: Table | None = None
) -> SchemaState:
    """What start-up does with `auto_create_tables`: create an empty database at the head revision and
    adopt unversioned tables; upgrade one that is behind only when `upgrade_behind` (SQLite).

    `users`: `fastauth_users` with the application's field columns. A database created here gets them
    at once (it has no rows to migrate); an existing one only through the application's own revision
    (docs/user-fields.md), which `check` asks for."""
    _lock(connection)
    state = read_state(connection)
    if state.status == "empty":
        _upgrade_to_head(connection)
        if users is not None:
            _add_field_columns(connection, users)
    elif state.status == "unversioned":
        _adopt(connection)
        if upgrade_behind:
            _upgrade_to_head(connection)
    elif state.status == "behind" and upgrade_behind:
        _upgrade_to_head(connection)
    return read_state(connection)


def _field_columns(users: Table) -> list[Any]:
    """The columns of `users` that are the application's fields (not in fastauth's own table)."""
    own = set(Base.metadata.tables[users.name].columns.keys())
    return [column for column in users.columns if column.name not in own]


def _add_field_columns(connection: Connection, users: Table) -> None:
    """Add the application's field columns, unique indexes and indexes to a `fastauth_users` that has
    none of them yet (a database created a moment ago)."""
    operations = Operations(_context(connection))
    own = set(Base.metadata.tables[users.name].columns.keys())
    for column in _field_columns(users):
        operations.add_column(users.name, column._copy())
    for index in users.indexes:
        columns = [column.name for column in index.columns]
        if not set(columns) & own:
            operations.create_index(str(index.name), users.name, columns, unique=bool(index.unique))


def _field_gaps(connection: Connection, users: Table) -> list[str]:
    """The sentence naming the application's field columns `fastauth_users` lacks, if any."""
    if users.name not in inspect(connection).get_table_names():
        return []
    present = {column["name"] for column in inspect(connection).get_columns(users.name)}
    missing = [column for column in _field_columns(users) if column.name not in present]
    if not missing:
        return []
    statements = "; ".join(
        f"ALTER TABLE {users.name} ADD COLUMN {column.name} {column.type.compile(dialect=connection.dialect)}"
        for column in missing
    )
    return [
        f"{users.name} lacks the columns of the application's user fields "
        f"{', '.join(column.name for column in missing)}: add them with a revision of the application's "
        f"Alembic history (`alembic revision --autogenerate`, docs/user-fields.md), like {statements}"
    ]


def check(connection: Connection, *, keys: bool, users: Table | None = None) -> None:
    """Raise `ConfigError` when this fastauth cannot run on the database: a revision behind (with the
    command that fixes it) or ahead, missing tables, unversioned tables lacking columns, or (`users`,
    the table with the application's fields) field columns no revision has added yet."""
    state = read_state(connection)
    _refuse_ahead(state)
    if state.status == "behind":
        raise ConfigError(
            f"the database schema is at revision {state.revision} and this fastauth needs {state.head}: "
            f"{UPGRADE_HINT}, then start again"
        )
    required = (*REQUIRED_TABLES, KEYS_TABLE) if keys else REQUIRED_TABLES
    gaps = _gaps(connection, Base.metadata, required)
    if users is not None:
        gaps += _field_gaps(connection, users)
    _refuse(gaps)

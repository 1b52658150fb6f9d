"""SQLAlchemy 2 async storage: SQLite (aiosqlite) as the embedded default, PostgreSQL (asyncpg) in production.

    adapter = SQLAlchemyAdapter(engine_url="sqlite+aiosqlite:///./fastauth.db")
    await adapter.create_tables()

`tables` holds the models (`Base.metadata` has fastauth's tables and nothing else), `users`,
`sessions`, `keys`, `codes` and `audit` the queries, `schema` the Alembic revisions' bookkeeping
(`fastauth db ...`), `autogenerate` what an application's Alembic needs for its user fields.
"""

from fastauth.storage.sqlalchemy.adapter import SQLAlchemyAdapter, async_url
from fastauth.storage.sqlalchemy.autogenerate import UserFieldsMigrations
from fastauth.storage.sqlalchemy.schema import VERSION_TABLE, SchemaState, upgrade
from fastauth.storage.sqlalchemy.tables import AuditRow, Base, CodeRow, KeyRow, SessionRow, UserRow

__all__ = [
    "VERSION_TABLE",
    "AuditRow",
    "Base",
    "CodeRow",
    "KeyRow",
    "SQLAlchemyAdapter",
    "SchemaState",
    "SessionRow",
    "UserFieldsMigrations",
    "UserRow",
    "async_url",
    "upgrade",
]

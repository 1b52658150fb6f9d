"""An application with its own Alembic includes fastauth: its `env.py` runs fastauth's revisions first
(fastauth's version table), then its own (`alembic_version`), and autogenerate ignores fastauth's tables.

The `env.py` below is the one `docs/migrations.md` shows; `alembic` runs for real in a subprocess.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from fastauth.storage.sqlalchemy import VERSION_TABLE, async_url

ALEMBIC = shutil.which("alembic", path=os.path.dirname(sys.executable))

ALEMBIC_INI = """\
[alembic]
script_location = %(here)s/migrations
"""

MODELS = """\
from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from fastauth.storage.sqlalchemy import UserRow


class Base(DeclarativeBase):
    pass


class Note(Base):
    __tablename__ = "app_notes"

    id: Mapped[int] = mapped_column(primary_key=True)
    # A foreign key to fastauth's table through its mapped column: it resolves without fastauth's
    # tables being part of the app's metadata.
    user_id: Mapped[str] = mapped_column(String(64), ForeignKey(UserRow.id, ondelete="CASCADE"))
    body: Mapped[str] = mapped_column(String(200))
"""

ENV_PY = """\
import asyncio
import os

from alembic import context
from sqlalchemy.ext.asyncio import create_async_engine

from fastauth.storage.sqlalchemy import async_url
from fastauth.storage.sqlalchemy import upgrade as upgrade_fastauth
from models import Base

target_metadata = Base.metadata


def include_name(name, type_, parent_names):
    # fastauth's tables and its version table belong to fastauth's own revisions: autogenerate skips them.
    return not (type_ == "table" and name.startswith("fastauth_"))


def run(connection):
    upgrade_fastauth(connection)  # fastauth's revisions, recorded in fastauth_alembic_version
    connection.commit()
    context.configure(connection=connection, target_metadata=target_metadata, include_name=include_name)
    with context.begin_transaction():
        context.run_migrations()


async def main():
    engine = create_async_engine(async_url(os.environ["APP_DATABASE_URL"]))
    async with engine.connect() as connection:
        await connection.run_sync(run)
    await engine.dispose()


asyncio.run(main())
"""

APP_REVISION = '''\
"""notes

Revision ID: a1
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "a1"
down_revision = None
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "app_notes",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("user_id", sa.String(64), sa.ForeignKey("fastauth_users.id", ondelete="CASCADE"), nullable=False),
        sa.Column("body", sa.String(200), nullable=False),
    )


def downgrade():
    op.drop_table("app_notes")
'''


def make_project(root: Path) -> None:
    (root / "alembic.ini").write_text(ALEMBIC_INI)
    (root / "models.py").write_text(MODELS)
    versions = root / "migrations" / "versions"
    versions.mkdir(parents=True)
    (root / "migrations" / "env.py").write_text(ENV_PY)
    templates = Path(sys.modules["alembic"].__file__ or "").parent / "templates" / "async"
    shutil.copy(templates / "script.py.mako", root / "migrations" / "script.py.mako")
    (versions / "a1_notes.py").write_text(APP_REVISION)


def alembic(root: Path, database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    assert ALEMBIC is not None, "alembic's console script is installed with fastauth"
    env = {key: value for key, value in os.environ.items() if not key.upper().startswith("FASTAUTH_")}
    env.update(APP_DATABASE_URL=database_url, PYTHONPATH=os.pathsep.join([str(root), *sys.path]))
    return subprocess.run([ALEMBIC, *args], cwd=root, env=env, capture_output=True, text=True, timeout=120)


async def versions(database_url: str) -> tuple[list[str], list[str]]:
    engine = create_async_engine(async_url(database_url))
    try:
        async with engine.connect() as conn:
            app = (await conn.execute(text("SELECT version_num FROM alembic_version"))).scalars().all()
            ours = (await conn.execute(text(f"SELECT version_num FROM {VERSION_TABLE}"))).scalars().all()
            notes = (await conn.execute(text("SELECT count(*) FROM app_notes"))).scalar_one()
    finally:
        await engine.dispose()
    assert notes == 0
    return list(app), list(ours)


async def test_an_apps_alembic_runs_fastauths_revisions_and_ignores_its_tables(
    tmp_path: Path, database_url: str
) -> None:
    import alembic as _alembic  # noqa: F401  (for the template's path)

    make_project(tmp_path)
    upgraded = alembic(tmp_path, database_url, "upgrade", "head")
    assert upgraded.returncode == 0, upgraded.stderr
    assert await versions(database_url) == (["a1"], ["0009"])
    # Autogenerate sees nothing to do: the app's table matches, fastauth's are not the app's business.
    checked = alembic(tmp_path, database_url, "check")
    assert checked.returncode == 0, checked.stderr
    assert checked.stdout == "No new upgrade operations detected.\n"
    # Running it again changes nothing.
    again = alembic(tmp_path, database_url, "upgrade", "head")
    assert again.returncode == 0, again.stderr
    assert await versions(database_url) == (["a1"], ["0009"])

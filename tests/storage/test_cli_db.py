"""`fastauth db upgrade | current | check`, run for real in subprocesses on SQLite and PostgreSQL."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import old_release
import pytest

FASTAUTH = shutil.which("fastauth", path=os.path.dirname(sys.executable))
SECRET = "cli-db-secret-" + "c" * 50

pytestmark = pytest.mark.skipif(FASTAUTH is None, reason="console script not installed (pip install -e .)")


def start(cwd: Path, database_url: str, *args: str, **extra_env: str) -> subprocess.Popen[str]:
    assert FASTAUTH is not None
    env = {key: value for key, value in os.environ.items() if not key.upper().startswith("FASTAUTH_")}
    env.update(FASTAUTH_DATABASE_URL=database_url, FASTAUTH_SECRET=SECRET, **extra_env)
    return subprocess.Popen(
        [FASTAUTH, "db", *args], cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def finish(process: subprocess.Popen[str]) -> tuple[int, str, str]:
    try:
        stdout, stderr = process.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()
        raise
    return process.returncode, stdout, stderr


def db(cwd: Path, database_url: str, *args: str) -> tuple[int, str, str]:
    return finish(start(cwd, database_url, *args))


BEHIND_EMPTY = "behind: empty: no fastauth tables yet; run `fastauth db upgrade`\n"


async def test_an_empty_database_is_behind_until_upgraded(tmp_path: Path, database_url: str) -> None:
    assert db(tmp_path, database_url, "current") == (0, "empty: no fastauth tables yet\n", "")
    assert db(tmp_path, database_url, "check") == (1, "", BEHIND_EMPTY)
    assert db(tmp_path, database_url, "upgrade") == (0, "created fastauth's tables at revision 0009\n", "")
    assert db(tmp_path, database_url, "current") == (0, "0009 (head)\n", "")
    assert db(tmp_path, database_url, "check") == (0, "up to date: 0009 (head)\n", "")
    assert db(tmp_path, database_url, "upgrade") == (0, "already at the head revision 0009\n", "")


async def test_0_1_0_tables_are_unversioned_and_adopted_by_upgrade(tmp_path: Path, database_url: str) -> None:
    await old_release.create_schema(database_url)
    assert db(tmp_path, database_url, "current") == (
        0,
        "unversioned: fastauth 0.1.0 tables without a revision\n",
        "",
    )
    assert db(tmp_path, database_url, "check") == (
        1,
        "",
        "behind: unversioned: fastauth 0.1.0 tables without a revision; run `fastauth db upgrade`\n",
    )
    assert db(tmp_path, database_url, "upgrade") == (
        0,
        "adopted the fastauth 0.1.0 tables and upgraded them to revision 0009\n",
        "",
    )
    assert db(tmp_path, database_url, "check") == (0, "up to date: 0009 (head)\n", "")


async def test_a_database_at_an_older_revision_is_behind_until_upgraded(
    tmp_path: Path, database_url: str
) -> None:
    await old_release.upgrade_to(database_url, "0001")  # as the fastauth before one-time codes left it
    behind = "0001: behind this fastauth's head 0009"
    assert db(tmp_path, database_url, "current") == (0, behind + "\n", "")
    assert db(tmp_path, database_url, "check") == (1, "", f"behind: {behind}; run `fastauth db upgrade`\n")
    assert db(tmp_path, database_url, "upgrade") == (0, "upgraded from revision 0001 to 0009\n", "")
    assert db(tmp_path, database_url, "check") == (0, "up to date: 0009 (head)\n", "")


async def test_tables_that_do_not_match_0_1_0_are_not_adopted(tmp_path: Path, database_url: str) -> None:
    await old_release.create_schema(database_url)
    await old_release.execute(database_url, "ALTER TABLE fastauth_users DROP COLUMN roles")
    assert db(tmp_path, database_url, "upgrade") == (
        1,
        "",
        "error: the database does not match this fastauth: the columns fastauth_users.roles are missing and "
        "NOT NULL: add them with a value for the existing rows (a migration), or recreate the tables\n",
    )
    assert db(tmp_path, database_url, "current") == (
        0,
        "unversioned: fastauth 0.1.0 tables without a revision\n",
        "",
    )


async def test_a_revision_from_a_newer_fastauth_is_reported_and_left_alone(
    tmp_path: Path, database_url: str
) -> None:
    assert db(tmp_path, database_url, "upgrade")[0] == 0
    await old_release.execute(database_url, "UPDATE fastauth_alembic_version SET version_num = 'f00d'")
    newer = "f00d: unknown to this fastauth (head 0009), a newer fastauth migrated it"
    assert db(tmp_path, database_url, "current") == (0, newer + "\n", "")
    assert db(tmp_path, database_url, "check") == (1, "", f"not usable: {newer}; upgrade fastauth\n")
    assert db(tmp_path, database_url, "upgrade") == (
        1,
        "",
        "error: the database schema is at revision f00d, which this fastauth does not know (its newest is "
        "0009): a newer fastauth migrated it; upgrade fastauth\n",
    )


async def test_four_upgrades_at_once_on_an_empty_database_all_succeed(
    tmp_path: Path, database_url: str
) -> None:
    results = [finish(process) for process in [start(tmp_path, database_url, "upgrade") for _ in range(4)]]
    assert [code for code, _, _ in results] == [0, 0, 0, 0], results
    outputs = sorted(stdout for _, stdout, _ in results)
    assert outputs == ["already at the head revision 0009\n"] * 3 + [
        "created fastauth's tables at revision 0009\n"
    ]
    assert db(tmp_path, database_url, "check") == (0, "up to date: 0009 (head)\n", "")


def test_an_unreachable_database_is_a_one_line_error(tmp_path: Path) -> None:
    code, stdout, stderr = db(tmp_path, "postgresql://fastauth@127.0.0.1:9/none", "check")
    assert (code, stdout) == (1, "")
    assert stderr.startswith("error: the database is unavailable (database unavailable: ")
    assert stderr.count("\n") == 1


def test_the_db_commands_load_neither_fastapi_nor_the_web_layer(tmp_path: Path, sqlite_url: str) -> None:
    code, stdout, stderr = finish(start(tmp_path, sqlite_url, "current", PYTHONPROFILEIMPORTTIME="1"))
    assert (code, stdout) == (0, "empty: no fastauth tables yet\n")
    imported = {
        line.rsplit("|", 1)[-1].strip() for line in stderr.splitlines() if line.startswith("import time:")
    }
    assert "fastauth.storage.sqlalchemy.schema" in imported  # the profile is real
    assert sorted(name for name in imported if name.split(".")[0] in ("fastapi", "starlette")) == []
    assert sorted(name for name in imported if name.startswith(("fastauth.web", "fastauth.server"))) == []

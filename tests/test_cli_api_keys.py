"""`fastauth api-keys create|list|revoke` and `fastauth roles list|create|delete|grant|revoke` on a real
SQLite database: a service account made from the command line, given a role and a key that an
application then accepts; each refusal its own exit code and line; every change audited, the key
never."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import Depends, FastAPI
from sqlalchemy import create_engine, text
from typer.testing import CliRunner

from fastauth import FastAuth, FastAuthConfig
from fastauth.authz import Principal
from fastauth.authz.api_keys import well_formed
from support.servers import clean_env

SECRET = "cli-api-keys-test-secret-" + "k" * 40
PASSWORD = "correct horse battery"
SERVICE = "export-bot@example.com"
FASTAUTH = shutil.which("fastauth", path=os.path.dirname(sys.executable))


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """`cli(*args, input=...)` -> the CliRunner result, on a database in `tmp_path`."""
    monkeypatch.setenv("FASTAUTH_SECRET", SECRET)
    monkeypatch.setenv("FASTAUTH_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}")
    monkeypatch.setenv("FASTAUTH_AUTHZ__ROLES", '{"auditor": ["audit:read"]}')
    monkeypatch.chdir(tmp_path)
    from fastauth.cli import app

    runner = CliRunner()

    def invoke(*args: str, input: str | None = None) -> Any:
        return runner.invoke(app, list(args), input=input)

    made = invoke("create-user", SERVICE, "--password-stdin", input=PASSWORD + "\n")
    assert made.exit_code == 0, made.stderr
    return invoke


def rows(tmp_path: Path, query: str) -> list[tuple[Any, ...]]:
    engine = create_engine(f"sqlite:///{tmp_path / 'cli.db'}")
    try:
        with engine.connect() as conn:
            return [tuple(row) for row in conn.execute(text(query))]
    finally:
        engine.dispose()


def call_app(key: str, path: str = "/reports") -> int:
    """The status an application on the same database answers `path` with, the key as bearer."""

    async def run() -> int:
        auth = FastAuth(FastAuthConfig())
        app = FastAPI()
        auth.mount(app)

        @app.get("/reports")
        async def reports(p: Principal = Depends(auth.require_permissions("reports:read"))) -> dict[str, str]:
            return {"for": p.user_id}

        await auth.startup()
        try:
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
                answer = await client.get(path, headers={"Authorization": f"Bearer {key}"})
                return answer.status_code
        finally:
            await auth.shutdown()

    return asyncio.run(run())


def test_a_service_account_gets_a_role_and_a_key_the_application_accepts(cli: Any, tmp_path: Path) -> None:
    created = cli("roles", "create", "reports-reader", "--permission", "reports:read", "-p", "reports:list")
    assert (created.exit_code, created.stdout) == (
        0,
        "created role reports-reader: reports:list reports:read\n",
    )
    listed = cli("roles", "list")
    assert listed.stdout.splitlines() == [
        f"{'role':<30} permissions",
        f"{'auditor*':<30} audit:read",
        f"{'reports-reader':<30} reports:list reports:read",
    ]
    granted = cli("roles", "grant", SERVICE, "reports-reader")
    assert (granted.exit_code, granted.stdout) == (
        0,
        f"granted reports-reader to {SERVICE}; roles: reports-reader\n",
    )
    again = cli("roles", "grant", SERVICE, "reports-reader")
    assert again.stdout == f"{SERVICE} already holds reports-reader; roles: reports-reader\n"

    made = cli(
        "api-keys", "create", "--email", SERVICE, "--name", "nightly export", "--scope", "reports:read"
    )
    assert made.exit_code == 0, made.stderr
    key = made.stdout.strip()
    assert made.stdout == key + "\n" and well_formed(key)  # the key alone on stdout: KEY=$(fastauth ...)
    (key_id,) = rows(tmp_path, "SELECT id FROM fastauth_api_keys")[0]
    assert made.stderr.startswith(
        f"created key {key_id} ({key[:8]}...) for {SERVICE}, scopes: reports:read, "
    )
    assert made.stderr.rstrip().endswith("UTC; shown only this once")
    assert key not in made.stderr
    assert call_app(key) == 200

    listing = cli("api-keys", "list", "--email", SERVICE)
    assert listing.exit_code == 0, listing.stderr
    lines = listing.stdout.splitlines()
    assert lines[0].split() == ["id", "prefix", "expires", "last", "used", "name", "scopes"]
    assert lines[1].startswith(f"{key_id:<24} {key[:8]:<10} ") and lines[1].endswith(
        "nightly export       reports:read"
    )
    assert key not in listing.stdout and key[8:] not in listing.stdout

    # The role taken away: the key loses the permission at its next use.
    took = cli("roles", "revoke", SERVICE, "reports-reader")
    assert (took.exit_code, took.stdout) == (0, f"took reports-reader from {SERVICE}; roles: (none)\n")
    assert cli("roles", "revoke", SERVICE, "reports-reader").stdout == (
        f"{SERVICE} does not hold reports-reader; roles: (none)\n"
    )
    assert call_app(key) == 403

    revoked = cli("api-keys", "revoke", key_id)
    assert (revoked.exit_code, revoked.stdout) == (0, f"revoked {key_id} ({key[:8]}...)\n")
    twice = cli("api-keys", "revoke", key_id)
    assert (twice.exit_code, twice.stderr) == (1, f"error: no live key {key_id!r}\n")
    assert call_app(key) == 401
    assert cli("api-keys", "list", "--email", SERVICE).stdout.count("\n") == 1  # the header alone

    deleted = cli("roles", "delete", "reports-reader")
    assert (deleted.exit_code, deleted.stdout) == (0, "deleted role reports-reader; 0 user(s) held it\n")

    audit = rows(tmp_path, "SELECT event, detail FROM fastauth_audit ORDER BY at, id")
    events = [event for event, _ in audit]
    for event in ("role_created", "roles_changed", "api_key_created", "api_key_revoked", "role_deleted"):
        assert event in events, events
    assert (
        "api_key_created",
        f"key {key_id} {key[:8]} (command line)",
    ) in audit
    assert all(key[8:] not in (detail or "") for _, detail in audit)


def test_api_keys_create_refuses_what_the_web_refuses(cli: Any, tmp_path: Path) -> None:
    beyond = cli("api-keys", "create", "--email", SERVICE, "--name", "k", "--scope", "reports:write")
    assert (beyond.exit_code, beyond.stdout, beyond.stderr) == (
        1,
        "",
        "error: scopes you do not hold: reports:write\n",
    )
    bad_scope = cli("api-keys", "create", "--email", SERVICE, "--name", "k", "--scope", "two words")
    assert (bad_scope.exit_code, bad_scope.stderr) == (1, "error: not a scope: 'two words'\n")
    nobody = cli("api-keys", "create", "--email", "nobody@example.com", "--name", "k")
    assert (nobody.exit_code, nobody.stderr) == (1, "error: no user nobody@example.com\n")
    too_long = cli(
        "api-keys", "create", "--email", SERVICE, "--name", "k", "--expires-in", str(366 * 24 * 3600)
    )
    assert (too_long.exit_code, too_long.stderr) == (
        1,
        f"error: expires_in is at most {365 * 24 * 3600} seconds\n",
    )
    for name in ("", "x" * 101, "tab\there"):
        refused = cli("api-keys", "create", "--email", SERVICE, "--name", name)
        assert (refused.exit_code, refused.stderr) == (
            1,
            "error: --name is 1 to 100 characters, no control characters\n",
        ), name
    zero = cli("api-keys", "create", "--email", SERVICE, "--name", "k", "--expires-in", "0")
    assert zero.exit_code == 2  # typer's own usage error
    assert rows(tmp_path, "SELECT count(*) FROM fastauth_api_keys") == [(0,)]
    # A deactivated account gets no key (it would be refused at once).
    rows_changed = create_engine(f"sqlite:///{tmp_path / 'cli.db'}")
    with rows_changed.begin() as conn:
        conn.execute(text("UPDATE fastauth_users SET is_active = 0"))
    rows_changed.dispose()
    inactive = cli("api-keys", "create", "--email", SERVICE, "--name", "k")
    assert (inactive.exit_code, inactive.stderr) == (
        1,
        f"error: {SERVICE} is deactivated: its keys would be refused\n",
    )


def test_api_keys_create_without_expiry_follows_the_default(cli: Any, tmp_path: Path) -> None:
    made = cli("api-keys", "create", "--email", SERVICE, "--name", "k")
    assert made.exit_code == 0, made.stderr
    ((created, expires),) = rows(tmp_path, "SELECT created_at, expires_at FROM fastauth_api_keys")
    assert expires - created == 90 * 24 * 3600
    short = cli("api-keys", "create", "--email", SERVICE, "--name", "k", "--expires-in", "60")
    assert short.exit_code == 0, short.stderr
    assert sorted(
        e - c for c, e in rows(tmp_path, "SELECT created_at, expires_at FROM fastauth_api_keys")
    ) == [
        60,
        90 * 24 * 3600,
    ]


@pytest.mark.parametrize(
    ("args", "stderr"),
    [
        (
            ("roles", "create", "auditor"),
            "error: a role 'auditor' exists already\n",
        ),
        (
            ("roles", "delete", "auditor"),
            "error: the role 'auditor' is declared in FASTAUTH_AUTHZ__ROLES; change it there\n",
        ),
        (("roles", "delete", "nope"), "error: no role 'nope'\n"),
        (("roles", "grant", SERVICE, "nope"), "error: no role 'nope'\n"),
        (("roles", "grant", "nobody@example.com", "auditor"), "error: no user nobody@example.com\n"),
        (
            ("roles", "create", "has space"),
            "error: a role name is 1 to 64 letters, digits or _ . : - (starting with a letter or digit)\n",
        ),
        (
            ("roles", "create", "ok", "-p", "bad perm"),
            "error: a permission is 1 to 128 letters, digits or _ . : / * - (starting with a letter or digit)\n",
        ),
        (("api-keys", "revoke", "nonexistent"), "error: no live key 'nonexistent'\n"),
        (("api-keys", "revoke", "a\x1b[2Jb"), "error: no live key 'a\\x1b[2Jb'\n"),
        (("api-keys", "list", "--email", "nobody@example.com"), "error: no user nobody@example.com\n"),
    ],
    ids=lambda value: " ".join(value) if isinstance(value, tuple) else None,
)
def test_each_refusal_is_one_line_and_exit_code_1(cli: Any, args: tuple[str, ...], stderr: str) -> None:
    result = cli(*args)
    assert (result.exit_code, result.stdout, result.stderr) == (1, "", stderr)


def test_existing_role_and_grant_of_a_configured_role(cli: Any) -> None:
    assert cli("roles", "create", "ops").exit_code == 0
    taken = cli("roles", "create", "ops")
    assert (taken.exit_code, taken.stderr) == (1, "error: a role 'ops' exists already\n")
    granted = cli("roles", "grant", SERVICE, "auditor")
    assert granted.stdout == f"granted auditor to {SERVICE}; roles: auditor\n"
    both = cli("roles", "grant", SERVICE, "ops")
    assert both.stdout == f"granted ops to {SERVICE}; roles: auditor ops\n"
    made = cli("api-keys", "create", "--email", SERVICE, "--name", "k", "--scope", "audit:read")
    assert made.exit_code == 0, made.stderr
    assert cli("roles", "delete", "ops").stdout == "deleted role ops; 1 user(s) held it\n"


@pytest.mark.skipif(FASTAUTH is None, reason="console script not installed (pip install -e .)")
def test_the_console_script_prints_the_key_once(tmp_path: Path) -> None:
    env = clean_env(
        FASTAUTH_SECRET=SECRET, FASTAUTH_DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"
    )
    assert FASTAUTH is not None

    def run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [FASTAUTH, *args], cwd=tmp_path, env=env, input=stdin, capture_output=True, text=True, timeout=120
        )

    user = run("create-user", SERVICE, "--password-stdin", stdin=PASSWORD + "\n")
    assert user.returncode == 0, user.stderr
    made = run("api-keys", "create", "--email", SERVICE, "--name", "deploy")
    assert made.returncode == 0, made.stderr
    key = made.stdout.strip()
    assert well_formed(key) and made.stdout == key + "\n"
    listed = run("api-keys", "list", "--email", SERVICE)
    assert listed.returncode == 0 and key[:8] in listed.stdout and key[8:] not in listed.stdout

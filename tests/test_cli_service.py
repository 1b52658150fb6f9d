"""The CLI runs on the service: `decode --verify` changes nothing in the database, no command but `serve`
loads the web layer, and each error family ends with its own exit code and line."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from typer.testing import CliRunner

from fastauth import FastAuthConfig
from fastauth.cli import app
from fastauth.service import AuthService
from support.servers import clean_env, free_port

SECRET = "cli-service-test-secret-" + "s" * 40
PASSWORD = "correct horse battery"


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    return {
        "FASTAUTH_SECRET": SECRET,
        "FASTAUTH_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}",
        **extra,
    }


def _rows(tmp_path: Path, query: str) -> list[tuple[object, ...]]:
    engine = create_engine(f"sqlite:///{tmp_path / 'cli.db'}")
    try:
        with engine.connect() as conn:
            return [tuple(row) for row in conn.execute(text(query))]
    finally:
        engine.dispose()


def test_decode_verify_reads_the_stored_keys_and_changes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = _env(tmp_path, FASTAUTH_JWT__ALGORITHM="ES256", FASTAUTH_JWT__KEY_ROTATION_INTERVAL="2")
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(tmp_path)

    async def prepare() -> str:
        service = AuthService.from_config(FastAuthConfig())
        await service.startup()
        try:
            await service.create_user("ada@example.com", PASSWORD)
            _, pair = await service.sign_in("ada@example.com", PASSWORD)
            return pair.access_token
        finally:
            await service.aclose()

    token = asyncio.run(prepare())
    # A session that ended long ago (start-up would prune it) and a rotation that is due (start-up would
    # publish a key): `decode --verify` must do neither.
    engine = create_engine(f"sqlite:///{tmp_path / 'cli.db'}")
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO fastauth_sessions (id, user_id, refresh_jti, created_at, last_used_at, expires_at,"
                " revoked_at) SELECT 'ended-long-ago', id, 'j', 1, 1, 2, 2 FROM fastauth_users"
            )
        )
    engine.dispose()
    keys_before = _rows(tmp_path, "SELECT kid, activate_at, retired_at FROM fastauth_keys ORDER BY kid")
    time.sleep(2.2)  # past the rotation interval

    result = CliRunner().invoke(app, ["decode", "--verify", token])

    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith("VERIFIED: access token")
    assert (
        _rows(tmp_path, "SELECT kid, activate_at, retired_at FROM fastauth_keys ORDER BY kid") == keys_before
    )
    assert _rows(tmp_path, "SELECT id FROM fastauth_sessions WHERE id = 'ended-long-ago'") == [
        ("ended-long-ago",)
    ]


_PROBE = """
import atexit, sys
def report():
    loaded = sorted({"fastapi", "starlette", "fastauth.web", "fastauth.server"} & set(sys.modules))
    sys.__stderr__.write("LOADED " + ",".join(loaded) + "\\n")
atexit.register(report)
sys.argv = ["fastauth", *sys.argv[1:]]
from fastauth.cli import main
main()
"""


def _probe(tmp_path: Path, *args: str, stdin: str = "") -> tuple[int, str, str]:
    env = {**clean_env(), **_env(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, *args],
        cwd=tmp_path, env=env, input=stdin, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    loaded = [line for line in done.stderr.splitlines() if line.startswith("LOADED ")]
    assert loaded, done.stderr
    return done.returncode, loaded[-1].removeprefix("LOADED "), done.stderr


@pytest.mark.parametrize(
    ("args", "stdin"),
    [
        (("create-user", "grace@example.com", "--password-stdin"), PASSWORD + "\n"),
        (("keys", "list"), ""),
        (("decode", "--verify", "-"), "not-a-token\n"),
        (("db", "current"), ""),
        (("generate-secret",), ""),
    ],
    ids=lambda value: " ".join(value) if isinstance(value, tuple) else None,
)
def test_no_command_but_serve_loads_the_web_layer(tmp_path: Path, args: tuple[str, ...], stdin: str) -> None:
    code, loaded, stderr = _probe(tmp_path, *args, stdin=stdin)
    assert loaded == "", f"{args} loaded {loaded}"
    assert code in (0, 1, 2), stderr  # keys list says "nothing stored" for HS256 (2); decode refuses (1)


def test_an_unreachable_database_ends_with_exit_code_3(tmp_path: Path) -> None:
    env = {
        **clean_env(),
        "FASTAUTH_SECRET": SECRET,
        "FASTAUTH_DATABASE_URL": f"postgresql+asyncpg://nobody@127.0.0.1:{free_port()}/nothing",
    }
    done = subprocess.run(
        [str(Path(sys.executable).parent / "fastauth"), "create-user", "ada@example.com", "--password-stdin"],
        cwd=tmp_path, env=env, input=PASSWORD + "\n", capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 3, done.stderr
    assert done.stderr.startswith("error: the database is unavailable (")
    assert "Traceback" not in done.stderr
    assert PASSWORD not in done.stderr


def test_a_taken_email_and_a_bad_email_end_with_exit_code_1(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in _env(tmp_path).items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    first = runner.invoke(app, ["create-user", "ada@example.com", "--password-stdin"], input=PASSWORD + "\n")
    assert first.exit_code == 0, first.stderr
    again = runner.invoke(app, ["create-user", "Ada@Example.com", "--password-stdin"], input=PASSWORD + "\n")
    assert (again.exit_code, again.stderr) == (1, "error: Ada@Example.com is already registered\n")
    bad = runner.invoke(app, ["create-user", "not an email", "--password-stdin"], input=PASSWORD + "\n")
    assert bad.exit_code == 1 and bad.stderr.startswith("error: not a valid email: ")
    short = runner.invoke(app, ["create-user", "bob@example.com", "--password-stdin"], input="short\n")
    assert (short.exit_code, short.stderr) == (1, "error: password must be at least 8 characters long\n")


def test_users_set_password_and_verify(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in _env(tmp_path).items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    made = runner.invoke(
        app, ["create-user", "ada@example.com", "--unverified", "--password-stdin"], input=PASSWORD + "\n"
    )
    assert made.exit_code == 0, made.stderr

    async def sign_in(password: str) -> tuple[bool, str]:
        service = AuthService.from_config(FastAuthConfig())
        await service.startup()
        try:
            user, pair = await service.sign_in("ada@example.com", password)
            return user.is_verified, pair.access_token
        finally:
            await service.aclose()

    verified, _ = asyncio.run(sign_in(PASSWORD))
    assert verified is False

    new_password = "an operator's new password"
    done = runner.invoke(
        app, ["users", "set-password", "Ada@Example.com", "--password-stdin"], input=new_password + "\n"
    )
    assert (done.exit_code, done.stdout) == (0, "password set for Ada@Example.com; its sessions have ended\n")
    assert _rows(tmp_path, "SELECT count(*) FROM fastauth_sessions WHERE revoked_at IS NULL") == [(0,)]

    assert (
        runner.invoke(app, ["users", "verify", "ada@example.com"]).stdout == "ada@example.com is verified\n"
    )
    verified, _ = asyncio.run(sign_in(new_password))
    assert verified is True

    missing = runner.invoke(app, ["users", "verify", "nobody@example.com"])
    assert (missing.exit_code, missing.stderr) == (1, "error: no user nobody@example.com\n")
    weak = runner.invoke(
        app, ["users", "set-password", "ada@example.com", "--password-stdin"], input="short\n"
    )
    assert (weak.exit_code, weak.stderr) == (1, "error: password must be at least 8 characters long\n")


def test_users_mfa_reset_removes_a_locked_out_users_second_factor(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from fastauth.mfa import STEP, Totp

    for name, value in _env(tmp_path).items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    assert (
        runner.invoke(
            app, ["create-user", "ada@example.com", "--password-stdin"], input=PASSWORD + "\n"
        ).exit_code
        == 0
    )

    async def enrol_then_sign_in() -> str:
        service = AuthService.from_config(FastAuthConfig())
        await service.startup()
        try:
            user = await service.account_by_email("ada@example.com")
            setup = await service.mfa_setup(user)
            import time

            await service.mfa_confirm(user, Totp(setup.secret).code_at(int(time.time()) // STEP))
            try:
                await service.sign_in("ada@example.com", PASSWORD)
            except Exception as error:  # MFARequired: the second factor stands in the way
                return type(error).__name__
            return "signed in"
        finally:
            await service.aclose()

    assert asyncio.run(enrol_then_sign_in()) == "MFARequired"
    done = runner.invoke(app, ["users", "mfa-reset", "Ada@Example.com"])
    assert (done.exit_code, done.stdout) == (
        0,
        "second factor removed for Ada@Example.com; its sessions have ended\n",
    )
    assert _rows(tmp_path, "SELECT count(*) FROM fastauth_mfa") == [(0,)]
    again = runner.invoke(app, ["users", "mfa-reset", "ada@example.com"])
    assert (again.exit_code, again.stdout) == (0, "ada@example.com had no second factor\n")
    missing = runner.invoke(app, ["users", "mfa-reset", "nobody@example.com"])
    assert (missing.exit_code, missing.stderr) == (1, "error: no user nobody@example.com\n")

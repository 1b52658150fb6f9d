"""`fastauth keys list|rotate|retire`, in-process (typer's CliRunner) against a real SQLite database.

The real-process version (`keys retire` reaching running servers) is in test_key_processes.py.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from typer.testing import CliRunner

from fastauth import FastAuth, FastAuthConfig
from fastauth.cli import app
from fastauth.errors import ConfigError

SECRET = "cli-keys-test-secret-" + "c" * 40
NEW_SECRET = "a-rotated-app-secret-" + "n" * 40


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("FASTAUTH_SECRET", SECRET)
    monkeypatch.setenv("FASTAUTH_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'keys.db'}")
    monkeypatch.setenv("FASTAUTH_JWT__ALGORITHM", "ES256")
    return tmp_path


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def listed() -> dict[str, str]:
    code, out, err = run("keys", "list")
    assert code == 0, err
    return {line.split()[0]: line.split()[2] for line in out.splitlines()[1:] if line.strip()}


def test_list_rotate_retire(env: Path) -> None:
    assert listed() == {}, "listing creates nothing"
    code, out, _ = run("keys", "rotate")  # starts like a server (first key), then publishes the next
    assert code == 0 and out.startswith("new key ")
    b = out.split()[2]
    states = listed()
    assert states.pop(b) == "next"
    (a,) = states
    assert states[a] == "active"

    code, out, _ = run("keys", "rotate", "--now")
    c = out.split()[2]
    assert listed() == {a: "retiring", b: "next", c: "active"}

    code, out, _ = run("keys", "retire", c)
    assert code == 0 and f"retired {c}" in out
    states = listed()
    assert (states.pop(a), states.pop(b), states.pop(c)) == ("retiring", "next", "retired")
    assert list(states.values()) == ["active"], "retiring the active key puts a fresh one in its place"

    code, _, err = run("keys", "retire", c)
    assert code == 1 and "no live key" in err
    code, _, err = run("keys", "retire", "never-existed")
    assert code == 1 and "no live key" in err


def test_retire_takes_a_kid_that_starts_with_a_dash(env: Path) -> None:
    """Thumbprint kids are base64url: about one in 64 starts with "-", which is no option."""
    code, _, err = run("keys", "retire", "-2FghMpj1NA0ffIKQ6abEBCwxtsd7goU5negL0QhJ5I")
    assert code == 1, err
    assert "no live key '-2FghMpj1NA0ffIKQ6abEBCwxtsd7goU5negL0QhJ5I'" in err


def test_keys_commands_with_configured_keys_say_there_is_nothing_stored(
    env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FASTAUTH_JWT__ALGORITHM", "HS256")
    for args in (("keys", "list"), ("keys", "rotate"), ("keys", "retire", "x")):
        code, _, err = run(*args)
        assert code == 2 and "not from the database" in err, args


async def _start_and_stop(auth: FastAuth) -> None:
    try:
        await auth.startup()
    finally:
        await auth.shutdown()


def start(auth: FastAuth) -> None:
    asyncio.run(_start_and_stop(auth))


def test_a_changed_secret_can_list_and_retire_its_way_out(env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The unseal error says: use the original secret, or retire the stored keys. Both must work."""
    start(FastAuth(FastAuthConfig()))  # a server ran once with the original secret
    (old,) = listed()
    monkeypatch.setenv("FASTAUTH_SECRET", NEW_SECRET)

    refused = FastAuth(FastAuthConfig())
    with pytest.raises(ConfigError, match="FASTAUTH_SECRET differs"):
        start(refused)

    assert listed() == {old: "active"}, "listing needs no private key"
    code, out, err = run("keys", "retire", old)
    assert code == 0, err
    assert f"retired {old}" in out
    states = listed()
    assert states.pop(old) == "retired"
    assert list(states.values()) == ["active"]
    start(FastAuth(FastAuthConfig()))  # the new secret now starts cleanly

"""Shared signing keys across REAL `fastauth serve` processes on one database, over HTTP on 127.0.0.1.

Two servers starting at once on an empty database agree on one key and accept each other's tokens; a
restart keeps tokens valid; a 4-second rotation gives a new kid while old tokens stay valid, both keys
are published and no request in between gets a spurious 401; `fastauth keys retire` (another process)
makes every server refuse that key's tokens within its reload interval; `fastauth keys list` shows the
states. Waits poll with a deadline; nothing sleeps blindly.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from support.forge import kid_of
from support.keys import cli, running_clean, server_env
from support.servers import create_database, eventually, fastauth_serve, jwks_kids, login, me_status, register


def key_states(cwd: Path, env: dict[str, str]) -> dict[str, str]:
    """`fastauth keys list` as {kid: state}."""
    result = cli(cwd, env, "keys", "list")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split()[:3] == ["kid", "alg", "state"]
    rows = [line.split() for line in lines[1:] if line.strip()]
    assert all(row[1] == "ES256" for row in rows)
    return {row[0]: row[2] for row in rows}


_counter = 0


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def shared_database(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """An empty database for several processes: a SQLite file, or a new PostgreSQL database."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'shared.db'}"
        return
    global _counter
    _counter += 1
    server = request.getfixturevalue("postgres_server")
    yield await create_database(server, f"fastauth_proc_{os.getpid()}_{_counter}")


def test_servers_on_one_database_share_keys_survive_a_restart_and_honour_retire(
    shared_database: str, tmp_path: Path
) -> None:
    # jwks_cache_max_age=2 -> lead 2 s -> every server reloads the key store each second.
    env = server_env(shared_database, FASTAUTH_JWT__JWKS_CACHE_MAX_AGE="2")
    # Both start at once on the empty database: tables and the first key are created in a race.
    a, b = fastauth_serve(tmp_path, env), fastauth_serve(tmp_path, env)
    with running_clean(a, b):
        assert jwks_kids(a.base) == jwks_kids(b.base)
        (kid,) = jwks_kids(a.base)
        from_a = register(a.base, "alice@example.com")
        from_b = login(b.base, "alice@example.com")
        assert kid_of(from_a["access_token"]) == kid_of(from_b["access_token"]) == kid
        for base in (a.base, b.base):
            assert me_status(base, from_a["access_token"]) == 200
            assert me_status(base, from_b["access_token"]) == 200
        # A refresh token issued by one server is spent at the other.
        r = httpx.post(f"{b.base}/auth/refresh", json={"refresh_token": from_a["refresh_token"]}, timeout=10)
        assert r.status_code == 200
        refreshed = r.json()

        # A restarted process has no key in memory: it finds the same one in the database.
        a.stop()
        with running_clean(fastauth_serve(tmp_path, env)) as (a2,):
            assert jwks_kids(a2.base) == {kid}
            assert me_status(a2.base, from_b["access_token"]) == 200
            assert me_status(a2.base, refreshed["access_token"]) == 200
            login(a2.base, "alice@example.com")

            # Emergency: `fastauth keys retire` in a third process; each server refuses the key's tokens
            # within its reload interval, and signs with the key the CLI made in its place.
            result = cli(tmp_path, env, "keys", "retire", kid)
            assert result.returncode == 0, result.stderr
            assert f"retired {kid}" in result.stdout
            for base in (a2.base, b.base):
                assert eventually(lambda base=base: me_status(base, refreshed["access_token"]) == 401, 10), (
                    f"{base} still accepts a token of the retired key"
                )
                assert eventually(lambda base=base: kid not in jwks_kids(base), 5)
            r = httpx.post(
                f"{b.base}/auth/refresh", json={"refresh_token": refreshed["refresh_token"]}, timeout=10
            )
            assert r.status_code == 401, "refresh tokens of the retired key are refused too"
            states = key_states(tmp_path, env)
            assert states.pop(kid) == "retired"
            assert list(states.values()) == ["active"]
            (new_kid,) = states
            fresh = login(b.base, "alice@example.com")["access_token"]
            assert kid_of(fresh) == new_kid
            assert me_status(a2.base, fresh) == 200
            assert jwks_kids(a2.base) == jwks_kids(b.base) == {new_kid}


def test_rotation_across_processes(tmp_path: Path) -> None:
    env = server_env(
        f"sqlite+aiosqlite:///{tmp_path / 'rotating.db'}", FASTAUTH_JWT__KEY_ROTATION_INTERVAL="4"
    )
    with running_clean(fastauth_serve(tmp_path, env), fastauth_serve(tmp_path, env)) as (a, b):
        first = register(a.base, "rot@example.com")
        old_kid = kid_of(first["access_token"])
        seen: dict[str, str] = {}  # kid -> a token it signed
        statuses: list[tuple[str, int]] = []

        def rotated() -> bool:
            # Log in at one server, use the token at both: during rotation no request may get a 401.
            for issuer in (a, b):
                token = login(issuer.base, "rot@example.com")["access_token"]
                seen.setdefault(kid_of(token), token)
                statuses.extend((kid_of(token), me_status(base, token)) for base in (a.base, b.base))
            return len(seen) >= 2

        assert eventually(rotated, timeout=20, interval=0.2), "no new kid within 20 s of a 4 s rotation"
        bad = [(kid, status) for kid, status in statuses if status != 200]
        assert not bad, f"spurious refusals during rotation: {bad}"
        new_kid = next(kid for kid in seen if kid != old_kid)
        # Old tokens stay valid, on both servers, and both keys are published by both.
        for base in (a.base, b.base):
            assert me_status(base, first["access_token"]) == 200
            assert me_status(base, seen[new_kid]) == 200
            assert {old_kid, new_kid} <= jwks_kids(base)
        r = httpx.post(f"{b.base}/auth/refresh", json={"refresh_token": first["refresh_token"]}, timeout=10)
        assert r.status_code == 200, "a refresh token of the previous key is still good"
        states = key_states(tmp_path, env)
        assert states[old_kid] == "retiring"
        assert "active" in states.values()

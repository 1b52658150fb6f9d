"""`fastauth serve` and `fastauth create-user` as real processes, over real HTTP on 127.0.0.1."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from support import servers
from support.http import bearer
from support.servers import FASTAUTH, Process, clean_env, free_port, serve


@contextmanager
def server(cwd: Path, *args: str, **env: str) -> Iterator[Process]:
    with serve(cwd, clean_env(**env), *args) as running:
        yield running


def test_serve_with_no_configuration_runs_in_development_mode(tmp_path: Path) -> None:
    with server(tmp_path) as process:
        base = process.base
        r = httpx.post(f"{base}/auth/register", json={"email": "dev@example.com", "password": "password123"})
        assert r.status_code == 201
        tokens = r.json()
        me = httpx.get(f"{base}/auth/me", headers=bearer(tokens["access_token"]))
        assert me.status_code == 200 and me.json()["email"] == "dev@example.com"
        assert httpx.get(f"{base}/docs").status_code == 200
        assert httpx.get(f"{base}/openapi.json").json()["paths"]["/auth/login"]
        out = process.stop()
    assert "DEVELOPMENT MODE" in out
    assert "passkeys are off: an IP address cannot be their RP ID" in out  # it listens on 127.0.0.1
    secret_file = tmp_path / ".fastauth-dev-secret"
    assert secret_file.stat().st_mode & 0o777 == 0o600
    assert secret_file.read_text().strip() not in out  # the secret is never printed
    assert (tmp_path / "fastauth.db").exists()

    # A restart keeps the secret, so the tokens issued before stay valid.
    with server(tmp_path) as process:
        base = process.base
        me = httpx.get(f"{base}/auth/me", headers=bearer(tokens["access_token"]))
        assert me.status_code == 200
        r = httpx.post(f"{base}/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
        assert r.status_code == 200


def test_serve_with_configuration_is_not_in_development_mode(tmp_path: Path) -> None:
    secret = "configured-secret-" + "q" * 50
    db = tmp_path / "custom.db"
    with server(
        tmp_path, FASTAUTH_SECRET=secret, FASTAUTH_DATABASE_URL=f"sqlite+aiosqlite:///{db}"
    ) as process:
        base = process.base
        r = httpx.post(f"{base}/auth/register", json={"email": "prod@example.com", "password": "password123"})
        assert r.status_code == 201
        out = process.stop()
    assert "DEVELOPMENT MODE" not in out
    assert secret not in out
    assert db.exists()
    assert not (tmp_path / ".fastauth-dev-secret").exists()


def test_serve_refuses_a_bad_configuration_with_a_clear_message(tmp_path: Path) -> None:
    assert FASTAUTH
    result = subprocess.run(
        [FASTAUTH, "serve", "--port", str(free_port())],
        cwd=tmp_path,
        env=clean_env(FASTAUTH_SECRET="too-short"),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert "secret is too short for HS256" in result.stderr
    assert "too-short" not in result.stderr + result.stdout


def test_create_user_then_login_through_the_server(tmp_path: Path) -> None:
    assert FASTAUTH
    secret = "configured-secret-" + "z" * 50
    env = clean_env(FASTAUTH_SECRET=secret)
    created = subprocess.run(
        [FASTAUTH, "create-user", "Admin@Example.com", "--superuser", "--password-stdin"],
        cwd=tmp_path,
        env=env,
        input="a strong password\n",
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert created.returncode == 0, created.stderr
    assert "created superuser Admin@Example.com" in created.stdout
    again = subprocess.run(
        [FASTAUTH, "create-user", "admin@example.com", "--password-stdin"],
        cwd=tmp_path,
        env=env,
        input="another password\n",
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert again.returncode == 1 and "already registered" in again.stderr
    short = subprocess.run(
        [FASTAUTH, "create-user", "b@example.com", "--password-stdin"],
        cwd=tmp_path,
        env=env,
        input="short\n",
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert short.returncode == 1 and "at least 8 characters" in short.stderr

    with server(tmp_path, FASTAUTH_SECRET=secret) as process:
        base = process.base
        r = httpx.post(
            f"{base}/auth/login", data={"username": "admin@example.com", "password": "a strong password"}
        )
        assert r.status_code == 200
        me = httpx.get(f"{base}/auth/me", headers=bearer(r.json()["access_token"]))
        assert me.json()["is_superuser"] is True and me.json()["is_verified"] is True


def test_serve_refuses_several_workers_without_redis(tmp_path: Path) -> None:
    assert FASTAUTH
    result = subprocess.run(
        [FASTAUTH, "serve", "--workers", "2", "--port", str(free_port())],
        cwd=tmp_path,
        env=clean_env(FASTAUTH_SECRET="configured-secret-" + "w" * 50),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert "--workers 2 needs FASTAUTH_REDIS_URL" in result.stderr


@pytest.mark.redis
def test_serve_refuses_a_redis_that_may_evict(tmp_path: Path, redis_server: str) -> None:
    assert FASTAUTH
    with servers.redis_server("--maxmemory", "64mb", "--maxmemory-policy", "volatile-lru") as url:
        result = subprocess.run(
            [FASTAUTH, "serve", "--workers", "2", "--port", str(free_port())],
            cwd=tmp_path,
            env=clean_env(FASTAUTH_SECRET="configured-secret-" + "w" * 50, FASTAUTH_REDIS_URL=url),
            capture_output=True,
            text=True,
            timeout=30,
        )
    assert result.returncode == 2
    assert result.stderr.startswith("configuration error: Redis may evict keys")
    assert "maxmemory-policy volatile-lru" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.redis
def test_serve_with_several_workers_shares_database_and_redis(tmp_path: Path, redis_server: str) -> None:
    secret = "configured-secret-" + "w" * 50
    with server(
        tmp_path, "--workers", "2", FASTAUTH_SECRET=secret, FASTAUTH_REDIS_URL=redis_server
    ) as process:
        base = process.base
        r = httpx.post(f"{base}/auth/register", json={"email": "w@example.com", "password": "password123"})
        assert r.status_code == 201
        headers = bearer(r.json()["access_token"])
        # New connections land on either worker; every one accepts the token...
        for _ in range(6):
            with httpx.Client() as client:
                assert client.get(f"{base}/auth/me", headers=headers).status_code == 200
        # ...and after a logout on one of them, every one refuses it.
        assert httpx.post(f"{base}/auth/logout", headers=headers).status_code == 204
        for _ in range(6):
            with httpx.Client() as client:
                assert client.get(f"{base}/auth/me", headers=headers).status_code == 401

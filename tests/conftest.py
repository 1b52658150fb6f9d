"""Shared fixtures: a clean environment, real databases (SQLite always, PostgreSQL when it can run).

PostgreSQL: `FASTAUTH_TEST_POSTGRES_URL` if set, else a throw-away cluster started from the machine's
PostgreSQL binaries (initdb/pg_ctl) on 127.0.0.1. Without binaries the PostgreSQL half is skipped,
unless `FASTAUTH_TEST_REQUIRE_SERVICES=1` (CI), where a missing server is a failure.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

import servertools
from fastauth import FastAuth, FastAuthConfig
from fastauth.passwords import Argon2Params, PasswordHasher
from servertools import PgCluster

REQUIRE_SERVICES = os.environ.get("FASTAUTH_TEST_REQUIRE_SERVICES") == "1"


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def pytest_configure(config: pytest.Config) -> None:
    # `timeout` and CI runners stop a run with SIGTERM. As a KeyboardInterrupt pytest still tears the
    # session fixtures down, so the throw-away PostgreSQL clusters and Redis servers stop with the run.
    signal.signal(signal.SIGTERM, _interrupt)


TEST_SECRET = "test-secret-" + "x" * 40
#: Real argon2id, cheaper parameters so the suite stays fast; the OWASP default is tested on its own.
FAST_HASHER_PARAMS = Argon2Params(time_cost=1, memory_cost=1024, parallelism=1)

_ENV_NAMES = ("SECRET_KEY", "ALGORITHM", "ACCESS_TOKEN_EXPIRE_MINUTES", "REFRESH_TOKEN_EXPIRE_DAYS")


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        upper = name.upper()  # pydantic-settings reads names case-insensitively
        if (upper.startswith("FASTAUTH_") and not upper.startswith("FASTAUTH_TEST_")) or upper in _ENV_NAMES:
            monkeypatch.delenv(name, raising=False)


def _missing(reason: str) -> None:
    if REQUIRE_SERVICES:
        pytest.fail(f"{reason} (FASTAUTH_TEST_REQUIRE_SERVICES=1)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """A base URL `postgresql+asyncpg://postgres@127.0.0.1:PORT` (no database part)."""
    url = os.environ.get("FASTAUTH_TEST_POSTGRES_URL")
    if url:
        yield url.rsplit("/", 1)[0]
        return
    try:
        cluster = PgCluster()
    except (FileNotFoundError, subprocess.SubprocessError, KeyError, LookupError) as error:
        _missing(f"PostgreSQL not available: {error}")
        return
    try:
        yield cluster.url
    finally:
        cluster.close()


@pytest.fixture(scope="session")
def redis_server() -> Iterator[str]:
    """A throw-away `redis-server` on 127.0.0.1 (or FASTAUTH_TEST_REDIS_URL); yields its URL."""
    url = os.environ.get("FASTAUTH_TEST_REDIS_URL")
    if url:
        yield url
        return
    if shutil.which("redis-server") is None:
        _missing("redis-server not installed (apt-get install redis-server)")
        return
    with servertools.redis_server() as server_url:
        yield server_url


@pytest.fixture
async def redis_url(redis_server: str) -> AsyncIterator[str]:
    """The Redis URL, flushed after the test."""
    yield redis_server
    from redis.asyncio import Redis

    client = Redis.from_url(redis_server)
    try:
        await client.flushall()
    finally:
        await client.aclose()


_db_counter = 0


async def _create_database(server: str) -> str:
    global _db_counter
    _db_counter += 1
    return await servertools.create_database(server, f"fastauth_test_{os.getpid()}_{_db_counter}")


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, empty database: a SQLite file, or a new PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'fastauth.db'}"
    server = request.getfixturevalue("postgres_server")
    return await _create_database(server)


def make_config(database_url: str, **overrides: Any) -> FastAuthConfig:
    values: dict[str, Any] = {
        "secret": TEST_SECRET,
        "database_url": database_url,
        "rate_limit_enabled": False,
    }
    values.update(overrides)
    return FastAuthConfig(**values)


class AuthApp:
    """A FastAuth mounted on a FastAPI app with protected routes, and an httpx client for it."""

    def __init__(self, auth: FastAuth, app: FastAPI, client: httpx.AsyncClient) -> None:
        self.auth, self.app, self.client = auth, app, client

    async def register(
        self, email: str = "alice@example.com", password: str = "correct horse"
    ) -> dict[str, Any]:
        response = await self.client.post(
            f"{self.auth.config.route_prefix}/register", json={"email": email, "password": password}
        )
        assert response.status_code == 201, response.text
        return dict(response.json())


def build_app(auth: FastAuth) -> FastAPI:
    from fastapi import Depends

    app = FastAPI()
    auth.mount(app)

    @app.get("/private")
    async def private(user: Any = Depends(auth.get_current_user)) -> dict[str, Any]:
        return {"id": user.id, "email": user.email}

    @app.post("/private")
    async def private_post(user: Any = Depends(auth.get_current_user)) -> dict[str, Any]:
        return {"id": user.id}

    @app.get("/claims")
    async def claims(claims: dict[str, Any] = Depends(auth.get_current_claims)) -> dict[str, Any]:
        return claims

    @app.get("/admin")
    async def admin(user: Any = Depends(auth.get_current_superuser)) -> dict[str, Any]:
        return {"id": user.id}

    @app.get("/optional")
    async def optional(user: Any = Depends(auth.get_optional_user)) -> dict[str, Any]:
        return {"user": user.id if user else None}

    @app.get("/editor")
    async def editor(user: Any = Depends(auth.require_roles("editor"))) -> dict[str, Any]:
        return {"id": user.id}

    return app


@pytest.fixture
async def make_app(database_url: str) -> AsyncIterator[Any]:
    """`await make_app(**config_overrides, hooks=..., clock=...)` -> AuthApp (closed at teardown)."""
    opened: list[AuthApp] = []

    async def factory(*, hooks: Any = None, clock: Any = None, **overrides: Any) -> AuthApp:
        kwargs: dict[str, Any] = {"password_hasher": PasswordHasher(FAST_HASHER_PARAMS)}
        if hooks is not None:
            kwargs["hooks"] = hooks
        if clock is not None:
            kwargs["clock"] = clock
        auth = FastAuth(make_config(database_url, **overrides), **kwargs)
        app = build_app(auth)
        await auth.startup()
        client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")
        result = AuthApp(auth, app, client)
        opened.append(result)
        return result

    yield factory
    for opened_app in opened:
        await opened_app.client.aclose()
        await opened_app.auth.shutdown()

"""Shared fixtures: a clean environment, real databases (SQLite always, PostgreSQL when it can run), the
`make_app` factory (the app itself is `support.app`; helpers shared by test modules live in `support/`).

PostgreSQL: `FASTAUTH_TEST_POSTGRES_URL` if set, else a throw-away cluster started from the machine's
PostgreSQL binaries (initdb/pg_ctl) on 127.0.0.1. Without binaries the PostgreSQL half is skipped,
unless `FASTAUTH_TEST_REQUIRE_SERVICES=1` (CI), where a missing server is a failure.
"""

from __future__ import annotations

import os
import shutil
import signal
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

pytest.register_assert_rewrite("support")  # before the first import of a support module

from fastauth import FastAuth  # noqa: E402
from fastauth.passwords import PasswordHasher  # noqa: E402
from support import servers  # noqa: E402
from support.app import FAST_HASHER_PARAMS, AuthApp, build_app, make_config  # noqa: E402
from support.clock import Clock  # noqa: E402
from support.servers import is_setting, missing, pg_cluster  # noqa: E402


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def pytest_configure(config: pytest.Config) -> None:
    # `timeout` and CI runners stop a run with SIGTERM. As a KeyboardInterrupt pytest still tears the
    # session fixtures down, so the throw-away PostgreSQL clusters and Redis servers stop with the run.
    signal.signal(signal.SIGTERM, _interrupt)


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if is_setting(name) and not name.upper().startswith("FASTAUTH_TEST_"):
            monkeypatch.delenv(name, raising=False)


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Path]:
    """No configuration from the shell (not even FASTAUTH_TEST_*) and an empty working directory, so no
    `.env` is read; yields that directory. `os.environ` comes back afterwards, also when a test (or a docs
    example) set variables directly."""
    for name in list(os.environ):
        if is_setting(name):
            monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    saved = dict(os.environ)
    try:
        yield tmp_path
    finally:
        os.environ.clear()
        os.environ.update(saved)


@pytest.fixture
def clock() -> Clock:
    """A clock the test moves by hand, at the real time: for `make_app(clock=...)`, key managers and
    verifiers."""
    return Clock()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """A base URL `postgresql+asyncpg://postgres@127.0.0.1:PORT` (no database part)."""
    url = os.environ.get("FASTAUTH_TEST_POSTGRES_URL")
    if url:
        yield url.rsplit("/", 1)[0]
        return
    cluster = pg_cluster()
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
        missing("redis-server not installed (apt-get install redis-server)")
        return
    with servers.redis_server() as server_url:
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
    return await servers.create_database(server, f"fastauth_test_{os.getpid()}_{_db_counter}")


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, empty database: a SQLite file, or a new PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'fastauth.db'}"
    server = request.getfixturevalue("postgres_server")
    return await _create_database(server)


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

"""An API key revoked in one server process is refused by another: at once when they share Redis (the
revocation is published as `apikey:<hash>` and every process drops the key from its cache), within
`authz.api_key_cache_ttl` seconds without Redis (docs/api-keys.md).

A and B are two uvicorn processes of an application with a route behind `get_current_principal`, on
one PostgreSQL database (and one Redis for the first pair). B's cache TTL is long in the Redis case,
so only the published event can explain B's refusal.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from support.http import INVALID_TOKEN_BODY, bearer
from support.scale import server_env
from support.servers import Process, create_database, free_port, register, running

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.timeout(240)]

PASSWORD = "correct horse battery"
#: The application: fastauth's server and one route of its own that takes a key.
APP = """
from typing import Any

from fastapi import Depends

from fastauth.authz import Principal
from fastauth.server import create_app_from_env

app = create_app_from_env()
auth = app.state.fastauth


@app.get("/whoami")
async def whoami(principal: Principal = Depends(auth.get_current_principal)) -> dict[str, Any]:
    return {"kind": principal.kind, "user_id": principal.user_id}
"""
#: Without Redis, how long B may keep accepting a key A revoked.
SHORT_TTL = 3.0
_counter = 0


def keyed_app(cwd: Path, env: dict[str, str], name: str) -> Process:
    (cwd / "keyed_app.py").write_text(APP)
    port = free_port()
    argv = [sys.executable, "-m", "uvicorn", "keyed_app:app", "--port", str(port), "--log-level", "warning"]
    return Process(argv, cwd, env, port, name=name)


def pair(
    postgres_server: str, redis_url: str | None, cwd: Path, tag: str, ttl: float
) -> Iterator[tuple[Process, Process]]:
    database = asyncio.run(
        create_database(postgres_server, f"fastauth_api_key_processes_{tag}_{os.getpid()}")
    )
    env = server_env(database, redis_url, FASTAUTH_AUTHZ__API_KEY_CACHE_TTL=str(ttl))
    with running(keyed_app(cwd, env, f"{tag}-a"), keyed_app(cwd, env, f"{tag}-b")) as (a, b):
        yield a, b
        for server in (a, b):
            assert server.unhandled() is None, server.output


@pytest.fixture(scope="module")
def shared(
    postgres_server: str, redis_server: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Process, Process]]:
    """A and B on one database and one Redis; B would keep a key cached for an hour."""
    yield from pair(postgres_server, redis_server, tmp_path_factory.mktemp("keys_redis"), "redis", 3600.0)


@pytest.fixture(scope="module")
def apart(
    postgres_server: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Process, Process]]:
    """A and B on one database, no Redis: a checked key stays cached `SHORT_TTL` seconds."""
    yield from pair(postgres_server, None, tmp_path_factory.mktemp("keys_alone"), "alone", SHORT_TTL)


def key_of_a_new_account(server: Process) -> tuple[dict[str, str], dict[str, str]]:
    """A new account on `server` and a key it made there: (the account's headers, the key as JSON)."""
    global _counter
    _counter += 1
    headers = bearer(register(server.base, f"owner-{_counter}@example.com", PASSWORD)["access_token"])
    made = httpx.post(f"{server.base}/auth/api-keys", json={"name": "k"}, headers=headers, timeout=30)
    assert made.status_code == 201, made.text
    return headers, made.json()


def whoami(server: Process, key: str) -> httpx.Response:
    return httpx.get(f"{server.base}/whoami", headers=bearer(key), timeout=30)


@pytest.mark.parametrize("round_", range(3))
def test_with_redis_a_key_revoked_on_a_is_refused_by_b_at_once(
    shared: tuple[Process, Process], round_: int
) -> None:
    a, b = shared
    headers, made = key_of_a_new_account(a)
    key = made["key"]
    for server in (b, a):  # each has checked it, so each holds it in its cache
        assert whoami(server, key).json()["kind"] == "api_key"
    revoked = httpx.delete(f"{a.base}/auth/api-keys/{made['id']}", headers=headers, timeout=30)
    assert revoked.status_code == 204
    # The event goes out before A answers; B handles it as soon as Redis delivers it (well under a
    # millisecond here). The hour-long cache could not explain a refusal: only the event does.
    deadline = time.monotonic() + 1.0
    refused = whoami(b, key)
    while refused.status_code == 200 and time.monotonic() < deadline:
        time.sleep(0.01)
        refused = whoami(b, key)
    assert (refused.status_code, refused.json()) == (401, INVALID_TOKEN_BODY)
    assert (whoami(a, key).status_code, whoami(a, key).json()) == (401, INVALID_TOKEN_BODY)


def test_without_redis_b_refuses_a_revoked_key_within_the_cache_ttl(apart: tuple[Process, Process]) -> None:
    a, b = apart
    headers, made = key_of_a_new_account(a)
    key = made["key"]
    asked = time.monotonic()  # B reads the key (and caches it) after this moment...
    assert whoami(b, key).status_code == 200
    answered = time.monotonic()  # ...and before this one
    assert (
        httpx.delete(f"{a.base}/auth/api-keys/{made['id']}", headers=headers, timeout=30).status_code == 204
    )
    assert whoami(a, key).status_code == 401  # the process that revoked it: at once
    still = whoami(b, key)
    if time.monotonic() - asked < SHORT_TTL:  # (a very slow machine may already be past it)
        assert still.status_code == 200, "without Redis, B only learns of it when its cache entry ends"
    time.sleep(max(0.0, answered + SHORT_TTL + 0.2 - time.monotonic()))
    refused = whoami(b, key)
    assert (refused.status_code, refused.json()) == (401, INVALID_TOKEN_BODY)

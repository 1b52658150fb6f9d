"""Stores failing under a real `fastauth serve`: Redis crashes, PostgreSQL stops and comes back.

These tests start their own redis-server and PostgreSQL cluster (never the session-wide ones, which
other tests share) and kill or stop them while requests are in flight. The server must answer
every request cleanly (503 with the documented body, never a 500, never a 200 for a token that may
be revoked, never a hang), leave no half-written rows, and recover by itself when the store returns.
"""

from __future__ import annotations

import asyncio
import itertools
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from support.forge import decode
from support.http import bearer
from support.scale import UNAVAILABLE, plain_url, server_env
from support.servers import PgCluster, Process, RedisServer, create_database, missing, pg_cluster, serve

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.timeout(180)]

PASSWORD = "correct horse battery"
#: Any request slower than this counts as a hang.
DEADLINE = 20.0

#: The exact 503 body (the error table's text and code).
UNAVAILABLE_BODY = (
    '{"detail":"Authentication store unavailable; try again shortly","code":"store_unavailable"}'
)


@pytest.fixture(scope="module")
def pg() -> Iterator[PgCluster]:
    """A PostgreSQL cluster of this module's own, free to stop and restart."""
    cluster = pg_cluster()
    try:
        yield cluster
    finally:
        cluster.close()


@pytest.fixture
def redis() -> Iterator[RedisServer]:
    """A redis-server of this test's own, free to kill and restart."""
    try:
        server = RedisServer()
    except FileNotFoundError as error:
        missing(str(error))
        return
    try:
        yield server
    finally:
        server.close()


def _assert_unavailable(r: httpx.Response) -> None:
    assert r.status_code == 503, r.text
    assert r.json() == UNAVAILABLE
    assert r.headers["Retry-After"] == "1"


def _wait_for(check: Any, what: str, attempts: int = 200) -> None:
    """Poll `check()` (a few tenths of a second apart) until it is true; fail after `attempts`."""
    import time

    for _ in range(attempts):
        if check():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


class Traffic:
    """A thread sending protected requests in a loop and recording every answer."""

    def __init__(self, base: str, tokens: dict[str, str]) -> None:
        self.base, self.tokens = base, tokens
        self.seen: list[tuple[str, int, str]] = []
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run)

    def _run(self) -> None:
        with httpx.Client(timeout=DEADLINE) as client:
            for name in itertools.cycle(self.tokens):
                if self._stop.is_set():
                    return
                try:
                    r = client.get(f"{self.base}/auth/me", headers=bearer(self.tokens[name]))
                    self.seen.append((name, r.status_code, r.text))
                except httpx.HTTPError as error:
                    self.errors.append(f"{name}: {type(error).__name__}: {error}")

    def __enter__(self) -> Traffic:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=60)

    def statuses(self, name: str) -> set[int]:
        return {status for n, status, _ in self.seen if n == name}


def test_redis_crash_fails_closed_and_the_server_recovers_when_it_returns(
    pg: PgCluster, redis: RedisServer, tmp_path: Path
) -> None:
    database = asyncio.run(create_database(pg.url, "faults_redis"))
    env = server_env(
        database,
        redis.url,
        FASTAUTH_RATE_LIMIT_ENABLED="true",
        FASTAUTH_LOGIN_RATE_LIMIT_PER_IP="1000/minute",
        FASTAUTH_REGISTER_RATE_LIMIT_PER_IP="1000/hour",
    )
    with serve(tmp_path, env) as server, httpx.Client(base_url=server.base, timeout=DEADLINE) as http:
        creds = {"email": "redis-fault@example.com", "password": PASSWORD}
        live = http.post("/auth/register", json=creds).json()
        logged_out = http.post("/auth/login", json=creds).json()
        stolen = http.post("/auth/login", json=creds).json()
        assert http.post("/auth/logout", headers=bearer(logged_out["access_token"])).status_code == 204
        assert http.get("/auth/me", headers=bearer(live["access_token"])).status_code == 200
        assert http.get("/auth/me", headers=bearer(logged_out["access_token"])).status_code == 401

        tokens = {"live": live["access_token"], "logged_out": logged_out["access_token"]}
        with Traffic(server.base, tokens) as traffic:
            _wait_for(lambda: traffic.statuses("live") == {200}, "traffic before the crash")
            redis.kill()
            _wait_for(lambda: 503 in traffic.statuses("live"), "a 503 after the crash")

            # While Redis is down: every protected request, revoked or not, fails closed with 503.
            for token in (live["access_token"], logged_out["access_token"], stolen["access_token"]):
                _assert_unavailable(http.get("/auth/me", headers=bearer(token)))
            _assert_unavailable(http.post("/auth/logout", headers=bearer(live["access_token"])))
            _assert_unavailable(http.post("/auth/login", json=creds))  # rate limits fail closed too
            # Refresh is decided by the database, which is up: a revoked session stays refused...
            r = http.post("/auth/refresh", json={"refresh_token": logged_out["refresh_token"]})
            assert r.status_code == 401, r.text
            # ...and a stolen refresh token replayed now ends its session in the database; telling
            # Redis fails, so the caller sees 503, but the session must stay dead once Redis is back.
            assert (
                http.post("/auth/refresh", json={"refresh_token": stolen["refresh_token"]}).status_code == 200
            )
            r = http.post("/auth/refresh", json={"refresh_token": stolen["refresh_token"]})
            assert r.status_code in (401, 503), r.text

            redis.start()  # same port, empty: everything Redis held is gone
            _wait_for(lambda: traffic.seen[-1][1] != 503, "recovery after Redis returned")
            _wait_for(
                lambda: http.get("/auth/me", headers=bearer(live["access_token"])).status_code == 200,
                "a protected request to pass again",
            )

        # After recovery, without a restart: revocations made before and during the outage still hold.
        assert http.get("/auth/me", headers=bearer(logged_out["access_token"])).status_code == 401
        assert http.get("/auth/me", headers=bearer(stolen["access_token"])).status_code == 401
        assert http.post("/auth/login", json=creds).status_code == 200
        assert http.post("/auth/logout", headers=bearer(live["access_token"])).status_code == 204
        assert http.get("/auth/me", headers=bearer(live["access_token"])).status_code == 401

        assert traffic.errors == []
        assert traffic.statuses("live") == {200, 503}
        assert traffic.statuses("logged_out") <= {401, 503}  # never a 200 for the revoked token
        for name, status, body in traffic.seen:
            if status == 503:
                assert body == UNAVAILABLE_BODY, name
        assert server.unhandled() is None, server.output


async def _db_rows(database: str) -> tuple[list[Any], list[Any], list[Any]]:
    import asyncpg

    conn = await asyncpg.connect(plain_url(database))
    try:
        users = await conn.fetch("SELECT id, email, hashed_password FROM fastauth_users")
        sessions = await conn.fetch("SELECT id, user_id, refresh_jti FROM fastauth_sessions")
        keys = await conn.fetch("SELECT kid, public_pem, private_sealed FROM fastauth_keys")
    finally:
        await conn.close()
    return list(users), list(sessions), list(keys)


async def test_postgres_stop_and_start_during_a_login_burst(pg: PgCluster, tmp_path: Path) -> None:
    database = await create_database(pg.url, "faults_postgres")
    redis = RedisServer()
    try:
        env = server_env(database, redis.url, FASTAUTH_JWT__ALGORITHM="ES256")
        with serve(tmp_path, env) as server:
            await _login_burst(pg, server, database)
    finally:
        redis.close()


async def _login_burst(pg: PgCluster, server: Process, database: str) -> None:
    accounts = [f"burst-{i}@example.com" for i in range(4)]
    results: list[tuple[str, str, int, str]] = []  # (kind, email, status, body)
    errors: list[str] = []
    stop = asyncio.Event()
    counter = itertools.count()

    async with httpx.AsyncClient(base_url=server.base, timeout=DEADLINE) as http:
        for email in accounts:
            r = await http.post("/auth/register", json={"email": email, "password": PASSWORD})
            assert r.status_code == 201, r.text
        _, _, keys_before = await _db_rows(database)

        async def client(worker: int) -> None:
            while not stop.is_set():
                n = next(counter)
                if n % 3 == 0:
                    kind, email, password = "register", f"new-{n}@example.com", PASSWORD
                    path = "/auth/register"
                else:
                    kind, email = "login", accounts[n % len(accounts)]
                    password = PASSWORD if n % 5 else "wrong password"
                    path = "/auth/login"
                    kind = "login" if password == PASSWORD else "bad-login"
                try:
                    r = await http.post(path, json={"email": email, "password": password})
                    results.append((kind, email, r.status_code, r.text))
                except httpx.HTTPError as error:
                    errors.append(f"{kind} {email}: {type(error).__name__}: {error}")

        burst = [asyncio.create_task(client(i)) for i in range(6)]
        try:
            while len(results) < 10:  # the burst is under way
                await asyncio.sleep(0.05)
            await asyncio.to_thread(pg.stop, "fast")  # cuts every connection, in-flight transactions too
            # While it is down, a login and a registration are refused cleanly.
            for path, email in (("/auth/login", accounts[0]), ("/auth/register", "while-down@example.com")):
                r = await http.post(path, json={"email": email, "password": PASSWORD})
                _assert_unavailable(r)
            down_until = len(results) + 12
            while len(results) < down_until:  # the burst goes on against the stopped database
                await asyncio.sleep(0.05)
            await asyncio.to_thread(pg.start)
            back_from = len(results)
            # The server recovers by itself: logins succeed again, with no restart.
            for _ in range(300):
                if any(s == 200 for kind, _, s, _ in results[back_from:] if kind == "login"):
                    break
                await asyncio.sleep(0.1)
            else:
                raise AssertionError("no successful login after the database came back")
            await asyncio.sleep(0.5)
        finally:
            stop.set()
            await asyncio.gather(*burst)

        assert errors == [], errors[:5]
        allowed = {"register": {201, 503}, "login": {200, 503}, "bad-login": {401, 503}}
        for kind, email, status, body in results:
            assert status in allowed[kind], (kind, email, status, body)
            if status == 503:
                assert body == UNAVAILABLE_BODY
        assert {s for _, _, s, _ in results} >= {200, 201, 401, 503}, "the burst did not meet the fault"

        # A full flow works after the restart.
        r = await http.post("/auth/register", json={"email": "after@example.com", "password": PASSWORD})
        assert r.status_code == 201, r.text
        tokens = r.json()
        assert (await http.get("/auth/me", headers=bearer(tokens["access_token"]))).status_code == 200
        r = await http.post("/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
        assert r.status_code == 200, r.text
        assert (await http.post("/auth/logout", headers=bearer(r.json()["access_token"]))).status_code == 204

        # No half-written rows.
        users, sessions, keys = await _db_rows(database)
        by_email = {u["email"]: u for u in users}
        user_ids = {u["id"] for u in users}
        session_ids = {s["id"]: s for s in sessions}
        for user in users:
            assert user["hashed_password"].startswith("$argon2id$"), user["email"]
        for session in sessions:
            assert session["user_id"] in user_ids and session["refresh_jti"]
        for _, email, status, body in results:
            if status in (200, 201):  # every success is in the database: its user and its session
                _, claims = decode(httpx.Response(200, text=body).json()["access_token"])
                assert email in by_email and by_email[email]["id"] == claims["sub"]
                assert session_ids[claims["sid"]]["user_id"] == claims["sub"]
        assert {(k["kid"], k["public_pem"], k["private_sealed"]) for k in keys} >= {
            (k["kid"], k["public_pem"], k["private_sealed"]) for k in keys_before
        }
        # A registration answered 503 may or may not have created its account; one that exists is whole:
        # its owner can sign in with the password.
        for kind, email, status, _ in results:
            if kind == "register" and status == 503 and email in by_email:
                r = await http.post("/auth/login", json={"email": email, "password": PASSWORD})
                assert r.status_code == 200, (email, r.text)
    assert server.unhandled() is None, server.output

"""Real `fastauth serve` processes on one PostgreSQL database and one Redis.

A and B are two servers (as on two machines) started at the same moment on an empty database, with
ES256 keys that live in that database. Every check runs right after the change it depends on: no
sleeps, so "at once" means at once.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from support.forge import claims, header_of
from support.http import bearer
from support.scale import server_env, socket_owner
from support.servers import (
    FASTAUTH,
    Process,
    create_database,
    fastauth_serve,
    me_status,
    register,
    running,
    serve,
)

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.timeout(180)]

PASSWORD = "correct horse battery"
_counter = 0


def _email(tag: str) -> str:
    global _counter
    _counter += 1
    return f"{tag}-{_counter}@example.com"


def _login(base: str, email: str, password: str = PASSWORD) -> httpx.Response:
    return httpx.post(f"{base}/auth/login", json={"email": email, "password": password}, timeout=30)


def _clean(*servers: Process) -> None:
    for server in servers:
        assert server.unhandled() is None, f"a request ended in an unhandled exception:\n{server.output}"


@pytest.fixture(scope="module")
def cluster(
    postgres_server: str, redis_server: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Process, Process, dict[str, str]]]:
    """Servers A and B, started together on one new database and one Redis."""
    database = asyncio.run(create_database(postgres_server, f"fastauth_processes_{os.getpid()}"))
    env = server_env(
        database,
        redis_server,
        FASTAUTH_JWT__ALGORITHM="ES256",
        FASTAUTH_RATE_LIMIT_ENABLED="true",
        FASTAUTH_LOGIN_RATE_LIMIT_PER_ACCOUNT="3/minute",
        FASTAUTH_LOGIN_RATE_LIMIT_PER_IP="1000/minute",
        FASTAUTH_REGISTER_RATE_LIMIT_PER_IP="1000/hour",
    )
    cwd = tmp_path_factory.mktemp("processes")
    # Both create tables and the first key: they race on purpose.
    with running(fastauth_serve(cwd, env, name="a"), fastauth_serve(cwd, env, name="b")) as (a, b):
        yield a, b, env


def test_both_servers_sign_with_the_same_shared_key(cluster: tuple[Process, Process, dict[str, str]]) -> None:
    a, b, _ = cluster
    jwks_a = httpx.get(f"{a.base}/.well-known/jwks.json").json()
    jwks_b = httpx.get(f"{b.base}/.well-known/jwks.json").json()
    assert jwks_a == jwks_b and len(jwks_a["keys"]) >= 1
    from_a = register(a.base, _email("samekey"))
    from_b_tokens = register(b.base, _email("samekey"))
    assert header_of(from_a["access_token"])["kid"] == header_of(from_b_tokens["access_token"])["kid"]
    assert me_status(b.base, from_a["access_token"]) == 200
    assert me_status(a.base, from_b_tokens["access_token"]) == 200
    _clean(a, b)


def test_logout_on_a_is_refused_on_b_at_once(cluster: tuple[Process, Process, dict[str, str]]) -> None:
    a, b, _ = cluster
    tokens = register(a.base, _email("logout"))
    assert me_status(b.base, tokens["access_token"]) == 200  # B knows the session (and caches the user)
    r = httpx.post(f"{a.base}/auth/logout", headers=bearer(tokens["access_token"]))
    assert r.status_code == 204
    assert me_status(b.base, tokens["access_token"]) == 401
    assert me_status(a.base, tokens["access_token"]) == 401
    r = httpx.post(f"{b.base}/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert r.status_code == 401
    _clean(a, b)


def test_session_revoked_on_b_dies_on_a(cluster: tuple[Process, Process, dict[str, str]]) -> None:
    a, b, _ = cluster
    email = _email("revoke")
    first = register(a.base, email)
    second = _login(a.base, email).json()
    assert me_status(a.base, first["access_token"]) == 200
    sessions = httpx.get(f"{b.base}/auth/sessions", headers=bearer(second["access_token"])).json()
    first_sid = claims(first["access_token"])["sid"]
    assert {s["id"] for s in sessions} == {first_sid, claims(second["access_token"])["sid"]}
    r = httpx.delete(f"{b.base}/auth/sessions/{first_sid}", headers=bearer(second["access_token"]))
    assert r.status_code == 204
    assert me_status(a.base, first["access_token"]) == 401
    r = httpx.post(f"{a.base}/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert r.status_code == 401
    assert me_status(a.base, second["access_token"]) == 200  # the other session lives on
    _clean(a, b)


def test_login_rate_limit_counts_across_both(cluster: tuple[Process, Process, dict[str, str]]) -> None:
    a, b, _ = cluster
    email = _email("ratelimit")
    register(b.base, email)
    codes = [_login(server.base, email, "wrong password").status_code for server in (a, b, a)]
    assert codes == [401, 401, 401]
    for server in (b, a):  # the budget of 3 per minute is spent on both servers together
        r = _login(server.base, email)
        assert r.status_code == 429, r.text
        assert int(r.headers["Retry-After"]) >= 1
    assert _login(a.base, _email("ratelimit-other")).status_code == 401  # per account: others go on
    _clean(a, b)


async def test_twenty_concurrent_refreshes_over_both_give_one_success(
    cluster: tuple[Process, Process, dict[str, str]],
) -> None:
    a, b, _ = cluster
    tokens = register(a.base, _email("race"))
    body = {"refresh_token": tokens["refresh_token"]}
    limits = httpx.Limits(max_connections=20)
    async with httpx.AsyncClient(timeout=30, limits=limits) as client:
        start = asyncio.Event()

        async def refresh(i: int) -> httpx.Response:
            await start.wait()
            return await client.post(f"{(a, b)[i % 2].base}/auth/refresh", json=body)

        tasks = [asyncio.create_task(refresh(i)) for i in range(20)]
        await asyncio.sleep(0.05)
        start.set()
        responses = await asyncio.gather(*tasks)
    codes = sorted(r.status_code for r in responses)
    assert codes == [200] + [401] * 19, codes
    # The losers showed a spent token: reuse, so the whole session ends, the winner's new pair too.
    winner = next(r for r in responses if r.status_code == 200).json()
    assert me_status(a.base, winner["access_token"]) == 401
    assert me_status(b.base, tokens["access_token"]) == 401
    _clean(a, b)


def test_key_rotation_by_the_cli_is_honoured_by_both(
    cluster: tuple[Process, Process, dict[str, str]],
) -> None:
    a, b, env = cluster
    assert FASTAUTH
    tokens = register(a.base, _email("rotate"))
    old_kid = header_of(tokens["access_token"])["kid"]

    # Requests keep flowing to both servers while the key changes: not one may be refused.
    failures: list[str] = []
    stop = threading.Event()

    def traffic() -> None:
        with httpx.Client(timeout=30) as client:
            while not stop.is_set():
                for server in (a, b):
                    r = client.get(f"{server.base}/auth/me", headers=bearer(tokens["access_token"]))
                    if r.status_code != 200:
                        failures.append(f"{server.base}: {r.status_code} {r.text}")

    thread = threading.Thread(target=traffic)
    thread.start()
    try:
        rotated = subprocess.run(
            [FASTAUTH, "keys", "rotate", "--now"],
            cwd=a.cwd,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert rotated.returncode == 0, rotated.stderr
        new_kid = rotated.stdout.split()[2]
        assert new_kid != old_kid

        # A learns of the key through Redis (asynchronously): refresh until A signs with it.
        refresh_token, fresh = tokens["refresh_token"], None
        for _ in range(100):
            r = httpx.post(f"{a.base}/auth/refresh", json={"refresh_token": refresh_token}, timeout=30)
            assert r.status_code == 200, r.text
            fresh = r.json()
            refresh_token = fresh["refresh_token"]
            if header_of(fresh["access_token"])["kid"] == new_kid:
                break
        assert fresh is not None and header_of(fresh["access_token"])["kid"] == new_kid
        # B accepts the new key's tokens at once, access and refresh alike...
        assert me_status(b.base, fresh["access_token"]) == 200
        r = httpx.post(f"{b.base}/auth/refresh", json={"refresh_token": fresh["refresh_token"]})
        assert r.status_code == 200, r.text
        assert header_of(r.json()["access_token"])["kid"] == new_kid  # ...and signs with it too
        # ...and both publish both keys: the old one until its tokens have expired.
        for server in (a, b):
            kids = {k["kid"] for k in httpx.get(f"{server.base}/.well-known/jwks.json").json()["keys"]}
            assert {old_kid, new_kid} <= kids
    finally:
        stop.set()
        thread.join(timeout=60)
    assert failures == []
    assert me_status(b.base, tokens["access_token"]) == 200  # the old key still verifies its tokens
    _clean(a, b)


def test_serve_with_two_workers_refuses_a_logout_on_every_worker(
    postgres_server: str, redis_server: str, tmp_path: Path
) -> None:
    database = asyncio.run(create_database(postgres_server, f"fastauth_workers_{os.getpid()}"))
    env = server_env(database, redis_server, FASTAUTH_JWT__ALGORITHM="ES256")
    with serve(tmp_path, env, "--workers", "2") as server:
        workers = server.worker_pids()
        assert len(workers) == 2, workers
        tokens = register(server.base, _email("workers"))
        headers = bearer(tokens["access_token"])

        # Keep-alive connections until both workers hold one (the kernel picks the worker; the second
        # may still be starting).
        clients: dict[int, list[httpx.Client]] = {pid: [] for pid in workers}
        opened: list[httpx.Client] = []
        found_at: dict[httpx.Client, float] = {}
        try:
            for _ in range(300):
                client = httpx.Client(timeout=30)
                opened.append(client)
                r = client.get(f"{server.base}/auth/me", headers=headers)
                assert r.status_code == 200
                client_port = r.extensions["network_stream"].get_extra_info("client_addr")[1]
                owner = socket_owner(server.port, client_port, workers)
                assert owner is not None
                clients[owner].append(client)
                found_at[client] = time.monotonic()
                for pid in workers:  # keep the few newest: uvicorn closes idle connections after 5 s
                    clients[pid] = [c for c in clients[pid] if time.monotonic() - found_at[c] < 2][-3:]
                if all(clients.values()):
                    break
                time.sleep(0.03)
            assert all(clients.values()), {pid: len(c) for pid, c in clients.items()}

            # Log out through a connection of the first worker; every connection of both refuses at once.
            first, second = workers
            r = clients[first][0].post(f"{server.base}/auth/logout", headers=headers)
            assert r.status_code == 204
            refused_by = set()
            for pid in (second, first):
                for client in clients[pid]:
                    r = client.get(f"{server.base}/auth/me", headers=headers)
                    assert r.status_code == 401, (pid, r.text)
                    # (an idle connection may have been closed and reopened: ask who answered)
                    client_port = r.extensions["network_stream"].get_extra_info("client_addr")[1]
                    refused_by.add(socket_owner(server.port, client_port, workers))
                    r = client.post(
                        f"{server.base}/auth/refresh", json={"refresh_token": tokens["refresh_token"]}
                    )
                    assert r.status_code == 401, (pid, r.text)
            assert refused_by == set(workers)
        finally:
            for client in opened:
                client.close()
        _clean(server)


async def test_the_workers_listener_gives_every_connection_tcp_nodelay() -> None:
    """`serve --workers N` binds the socket itself: it must not leave Nagle on (uvicorn issue #3149)."""
    import socket

    from fastauth.cli.serve import tcp_listener

    plain = socket.socket(socket.AF_INET)  # how uvicorn binds the socket it hands to its workers
    plain.bind(("127.0.0.1", 0))
    listener = tcp_listener(plain)
    assert listener.proto == socket.IPPROTO_TCP
    nodelay: list[int] = []

    class Probe(asyncio.Protocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            nodelay.append(
                transport.get_extra_info("socket").getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
            )
            transport.close()

    server = await asyncio.get_running_loop().create_server(Probe, sock=listener)
    try:
        reader, writer = await asyncio.open_connection(*listener.getsockname())
        await reader.read()  # closed by the server once it has looked
        writer.close()
    finally:
        server.close()
        await server.wait_closed()
    assert nodelay and nodelay[0] != 0

"""Redis killed and restarted under running `fastauth serve` processes.

While Redis is down every protected request fails closed (503, promptly); once it is back on the same
port, the **first** request on every process succeeds: a pooled connection that died with the old
server is retried once on a fresh one, never answered with a 503. The pub/sub listener of every
process subscribes again by itself.

On 127.0.0.1 a killed redis-server closes its sockets (FIN), which redis-py notices before it reuses
a connection. Across a network the dead connection often looks alive until it is used: a restarted
machine answers the next write with a reset (RST). `HostPath` relays Redis that way, so the second
test meets the stale connection for real.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import struct
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from support.http import bearer
from support.scale import UNAVAILABLE, server_env
from support.servers import (
    Process,
    RedisServer,
    create_database,
    eventually,
    fastauth_serve,
    login,
    missing,
    register,
    running,
)

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.timeout(180)]

#: How many `fastauth serve` processes share the Redis.
PROCESSES = 3
#: A request during the outage must be refused within this many seconds (no hang).
PROMPT = 5.0
CHANNEL = "fastauth:events"


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


def _reset(sock: socket.socket) -> None:
    """Close `sock` with a reset (RST) instead of an orderly FIN."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def _shut(sock: socket.socket) -> None:
    """Close `sock`, waking a thread blocked reading it."""
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    sock.close()


class HostPath:
    """A TCP relay on 127.0.0.1 to `target_port` that behaves like the network path to another machine.

    When the server closes a relayed connection (it was killed), the client is told nothing; its next
    write is answered with a reset, as a restarted machine's kernel answers a connection it does not
    know. New connections reach the server as it is now (refused with a reset while it is down).
    """

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self.listener.getsockname()[1])
        self._sockets: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return  # closed
            try:
                server = socket.create_connection(("127.0.0.1", self.target_port), timeout=5)
            except OSError:
                _reset(client)
                continue
            server.settimeout(None)
            self._sockets += [client, server]
            gone = threading.Event()
            threading.Thread(target=self._upstream, args=(client, server, gone), daemon=True).start()
            threading.Thread(target=self._downstream, args=(server, client, gone), daemon=True).start()

    @staticmethod
    def _upstream(client: socket.socket, server: socket.socket, gone: threading.Event) -> None:
        while True:
            try:
                data = client.recv(65536)
            except OSError:
                data = b""
            if not data:  # the client closed: close both
                _shut(server)
                client.close()
                return
            if gone.is_set():  # the server died: the "restarted machine" resets the connection
                _reset(client)
                return
            try:
                server.sendall(data)
            except OSError:
                gone.set()
                _reset(client)
                return

    @staticmethod
    def _downstream(server: socket.socket, client: socket.socket, gone: threading.Event) -> None:
        while True:
            try:
                data = server.recv(65536)
            except OSError:
                data = b""
            if not data:  # the server died or closed: the client hears nothing until it writes
                gone.set()
                server.close()
                return
            try:
                client.sendall(data)
            except OSError:
                _shut(server)
                return

    def close(self) -> None:
        self.listener.close()
        for sock in self._sockets:
            _shut(sock)


def _subscribers(redis: RedisServer) -> int:
    """How many clients listen on fastauth's channel (PUBSUB NUMSUB); 0 when Redis does not answer."""
    from redis import Redis
    from redis.exceptions import RedisError

    client = Redis.from_url(redis.url, socket_timeout=1.0, socket_connect_timeout=1.0)
    try:
        return int(dict(client.pubsub_numsub(CHANNEL)).get(CHANNEL.encode(), 0))
    except RedisError:
        return 0
    finally:
        client.close()


def _me(base: str, token: str) -> tuple[httpx.Response, float]:
    """GET /auth/me with a new HTTP connection; the answer and how long it took."""
    start = time.monotonic()
    r = httpx.get(f"{base}/auth/me", headers=bearer(token), timeout=30)
    return r, time.monotonic() - start


def _scenario(postgres_server: str, redis: RedisServer, url: str, tmp_path: Path, name: str) -> None:
    """PROCESSES servers on `url` (Redis, directly or through a `HostPath`): kill Redis, ask, restart it,
    then the first request on every process."""
    database = asyncio.run(create_database(postgres_server, f"fastauth_{name}_{os.getpid()}"))
    # Rate limits on: their storage is Redis too (a client of its own, through `limits`).
    env = server_env(database, url, FASTAUTH_RATE_LIMIT_ENABLED="true")
    servers: list[Process] = [fastauth_serve(tmp_path, env, name=f"p{i}") for i in range(PROCESSES)]
    with running(*servers):
        live = register(servers[0].base, "restart@example.com")["access_token"]
        revoked = login(servers[0].base, "restart@example.com")["access_token"]
        r = httpx.post(f"{servers[0].base}/auth/logout", headers=bearer(revoked), timeout=30)
        assert r.status_code == 204, r.text

        # Every process's rate limiter holds a Redis connection of its own: a login opens it.
        for server in servers:
            assert login(server.base, "restart@example.com")["access_token"]
        # Every process holds several pooled Redis connections: requests at once open them.
        with ThreadPoolExecutor(max_workers=8) as pool:
            for server in servers:
                answers = [r.status_code for r, _ in pool.map(_me, [server.base] * 8, [live] * 8)]
                assert answers == [200] * 8
                assert _me(server.base, revoked)[0].status_code == 401
        assert eventually(lambda: _subscribers(redis) == PROCESSES, timeout=15), "listeners before the kill"

        redis.kill()
        # During the outage: fail closed, promptly, on the processes asked (the last one is left idle).
        for server in servers[:-1]:
            for token in (live, revoked):
                r, took = _me(server.base, token)
                assert r.status_code == 503, r.text
                assert r.json() == UNAVAILABLE
                assert r.headers["Retry-After"] == "1"
                assert took < PROMPT, f"a refusal took {took:.1f} s"

        redis.start()  # the same port, empty
        # Every listener subscribes again by itself (a silent dead connection is found by the health
        # check's PING); meanwhile no request reaches the servers.
        assert eventually(lambda: _subscribers(redis) == PROCESSES, timeout=20), "listeners after the restart"

        # The first request on every process succeeds, and the revocation made before the crash holds
        # (the list is rebuilt from the database).
        firsts = [_me(server.base, live)[0] for server in servers]
        assert [r.status_code for r in firsts] == [200] * PROCESSES, [r.text for r in firsts]
        for server in servers:
            assert _me(server.base, revoked)[0].status_code == 401
        # The first login on every process too: the rate limiter's connection died with Redis as well.
        for server in servers:
            assert login(server.base, "restart@example.com")["access_token"]
    for server in servers:
        assert server.unhandled() is None, server.output


def test_first_request_on_every_process_after_a_redis_restart_succeeds(
    postgres_server: str, redis: RedisServer, tmp_path: Path
) -> None:
    _scenario(postgres_server, redis, redis.url, tmp_path, "redis_restart")


def test_a_connection_reset_by_the_restarted_host_is_retried_on_a_fresh_one(
    postgres_server: str, redis: RedisServer, tmp_path: Path
) -> None:
    path = HostPath(redis.port)
    try:
        _scenario(postgres_server, redis, path.url, tmp_path, "redis_host_restart")
    finally:
        path.close()

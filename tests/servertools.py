"""Process tools shared by every test module: free ports, a clean environment, PostgreSQL clusters,
throw-away Redis servers, and `fastauth serve` as a real process on 127.0.0.1.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

FASTAUTH = shutil.which("fastauth", path=os.path.dirname(sys.executable))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def clean_env(**extra: str) -> dict[str, str]:
    """The environment without any FASTAUTH_* or legacy setting, plus `extra`."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.upper().startswith("FASTAUTH_")
        and k.upper()
        not in {"SECRET_KEY", "ALGORITHM", "ACCESS_TOKEN_EXPIRE_MINUTES", "REFRESH_TOKEN_EXPIRE_DAYS"}
    }
    env.update(extra)
    return env


def pg_bin(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return candidates[-1] if candidates else None


class PgCluster:
    """A throw-away PostgreSQL cluster on 127.0.0.1 that can be restarted (as `postgres` when root)."""

    def __init__(self, *, durable: bool = False, options: str = "") -> None:
        """`durable=False` turns fsync off (tests); `options` adds server settings (`-c name=value ...`)."""
        initdb, pg_ctl = pg_bin("initdb"), pg_bin("pg_ctl")
        if not initdb or not pg_ctl:
            raise FileNotFoundError("PostgreSQL binaries (initdb, pg_ctl) not found")
        self.pg_ctl = pg_ctl
        self.root = os.geteuid() == 0
        self.dir = tempfile.mkdtemp(prefix="fastauth-pg-")
        self.data = os.path.join(self.dir, "data")
        self.port = free_port()
        if self.root:
            shutil.chown(self.dir, "postgres", "postgres")
        sync = [] if durable else ["--no-sync"]
        self.run([initdb, "-D", self.data, "-A", "trust", "-U", "postgres", "-E", "UTF8", *sync])
        self.options = f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c max_connections=200"
        if not durable:
            self.options += " -c fsync=off"
        if options:
            self.options += " " + options
        self.start()

    @property
    def url(self) -> str:
        """`postgresql+asyncpg://postgres@127.0.0.1:PORT`, without a database."""
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}"

    def run(self, argv: list[str], timeout: float = 120) -> None:
        if self.root:
            argv = ["runuser", "-u", "postgres", "--", *argv]
        subprocess.run(argv, check=True, capture_output=True, timeout=timeout)

    def start(self) -> None:
        log = os.path.join(self.dir, "log")
        self.run([self.pg_ctl, "-D", self.data, "-o", self.options, "-l", log, "-w", "start"])

    def stop(self, mode: str = "fast") -> None:
        self.run([self.pg_ctl, "-D", self.data, "-m", mode, "-w", "stop"])

    def restart(self) -> None:
        """`pg_ctl restart -m fast`: every connection is cut, the server is back when this returns."""
        self.run([self.pg_ctl, "-D", self.data, "-m", "fast", "-w", "restart"])

    def close(self) -> None:
        try:
            self.stop("immediate")
        except subprocess.SubprocessError:
            pass
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)


async def create_database(server_url: str, name: str) -> str:
    """CREATE DATABASE on a server given as `postgresql+asyncpg://user@host:port`; returns its URL."""
    import asyncpg

    conn = await asyncpg.connect(server_url.replace("postgresql+asyncpg", "postgresql") + "/postgres")
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return f"{server_url}/{name}"


@contextmanager
def redis_server(*args: str) -> Iterator[str]:
    """A throw-away `redis-server` on 127.0.0.1 (extra `args` are its options); yields its URL.

    The caller checks `shutil.which("redis-server")` first.
    """
    binary = shutil.which("redis-server")
    assert binary, "redis-server is not installed"
    port = free_port()
    workdir = tempfile.mkdtemp(prefix="fastauth-redis-")
    command = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    proc = subprocess.Popen(
        [*command, "--dir", workdir, *args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError("redis-server did not start") from None
                time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        shutil.rmtree(workdir, ignore_errors=True)


@contextmanager
def serve(cwd: Path, *args: str, env: dict[str, str]) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    """`fastauth serve` on a free port, ready (GET /health) when entered; yields (base URL, process).

    Output goes to a pipe: callers that read it call `proc.communicate()` after terminating.
    """
    assert FASTAUTH, "the fastauth console script is not installed"
    port = free_port()
    proc = subprocess.Popen(
        [FASTAUTH, "serve", "--port", str(port), "--log-level", "warning", *args],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise AssertionError(f"fastauth serve did not start:\n{proc.communicate()[0]}")
        time.sleep(0.1)
    try:
        yield base, proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stdout is not None and not proc.stdout.closed:
            proc.stdout.close()

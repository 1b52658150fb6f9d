"""Process tools shared by every test module: free ports, a clean environment, PostgreSQL clusters,
Redis servers, and `fastauth serve` (or any HTTP server) as a real process on 127.0.0.1.

- `clean_env(...)`: the environment without fastauth settings (`is_setting`: `FASTAUTH_*`, `LEGACY_ENV_NAMES`);
  `missing(reason)` skips a test whose service cannot run, or fails it under
  `FASTAUTH_TEST_REQUIRE_SERVICES=1` (CI).

- `Process`: a server process on its own port. Its output goes to a log file in its working directory,
  never a pipe (a chatty server would block once a pipe nobody reads is full); `output` reads it back,
  `unhandled()` finds the tracebacks of requests that ended in a 500.
- `fastauth_serve(...)` starts `fastauth serve` (not yet waited for, so several can start at once);
  `running(*processes)` waits for them and stops them all at the end; `serve(...)` does both for one.
- `RedisServer`: a redis-server without persistence that can be killed and restarted on its port;
  `redis_server(*args)` is a throw-away one as a context manager.
- `wait_for_port` and `eventually` poll with a deadline; nothing sleeps blindly.
- `register`, `login`, `me_status`, `jwks_kids`: plain HTTP against a running server at `base`.
"""

from __future__ import annotations

import glob
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NoReturn

import httpx

from fastauth.config import LEGACY_ENV
from support.http import bearer

FASTAUTH = shutil.which("fastauth", path=os.path.dirname(sys.executable))
#: The unprefixed names fastauth still reads (0.0.x settings).
#: The plain names fastauth also reads (written once, in `fastauth.config.LEGACY_ENV`).
LEGACY_ENV_NAMES = tuple(LEGACY_ENV)
#: CI sets it: a service (PostgreSQL, Redis, Chromium) that cannot run is a failure, not a skip.
REQUIRE_SERVICES = os.environ.get("FASTAUTH_TEST_REQUIRE_SERVICES") == "1"
#: What uvicorn logs for a request that raised out of the app (answered with a 500).
UNHANDLED_MARKERS = ("Exception in ASGI application", "Traceback (most recent call last)")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def is_setting(name: str) -> bool:
    """Whether fastauth reads configuration from the variable `name`: FASTAUTH_* or a legacy name.

    pydantic-settings reads names case-insensitively, so this does too.
    """
    upper = name.upper()
    return upper.startswith("FASTAUTH_") or upper in LEGACY_ENV_NAMES


def clean_env(**extra: str) -> dict[str, str]:
    """The environment without any FASTAUTH_* or legacy setting, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not is_setting(k)}
    env.update(extra)
    return env


def missing(reason: str) -> NoReturn:
    """Skip: a service this test needs cannot run here (a failure under FASTAUTH_TEST_REQUIRE_SERVICES=1)."""
    import pytest  # not at the top: bench/ scripts import this module too

    if REQUIRE_SERVICES:
        pytest.fail(f"{reason} (FASTAUTH_TEST_REQUIRE_SERVICES=1)")
    pytest.skip(reason)


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


def pg_cluster(**options: Any) -> PgCluster:
    """A new `PgCluster(**options)`; `missing(...)` when PostgreSQL cannot run here."""
    try:
        return PgCluster(**options)
    except (FileNotFoundError, subprocess.SubprocessError, KeyError, LookupError) as error:
        missing(f"PostgreSQL not available: {error}")


async def create_database(server_url: str, name: str) -> str:
    """CREATE DATABASE on a server given as `postgresql+asyncpg://user@host:port`; returns its URL."""
    import asyncpg

    conn = await asyncpg.connect(server_url.replace("postgresql+asyncpg", "postgresql") + "/postgres")
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return f"{server_url}/{name}"


# --- waiting with a deadline ---------------------------------------------------------------------


def eventually(
    check: Callable[[], bool],
    timeout: float,
    interval: float = 0.1,
    proc: subprocess.Popen[Any] | None = None,
) -> bool:
    """Poll `check` until it holds (True), or until `timeout` seconds pass or `proc` exits (False)."""
    deadline = time.monotonic() + timeout
    while True:
        if check():
            return True
        if (proc is not None and proc.poll() is not None) or time.monotonic() > deadline:
            return False
        time.sleep(interval)


def listening(port: int) -> bool:
    """Whether something accepts TCP connections on 127.0.0.1:`port` right now."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def wait_for_port(port: int, proc: subprocess.Popen[Any] | None = None, timeout: float = 15.0) -> None:
    """Wait until something accepts TCP connections on 127.0.0.1:`port`; RuntimeError when `proc` exits
    first or `timeout` seconds pass."""
    if not eventually(lambda: listening(port), timeout, interval=0.05, proc=proc):
        raise RuntimeError(f"nothing listens on 127.0.0.1:{port}")


# --- server processes ----------------------------------------------------------------------------


class Process:
    """A server process on 127.0.0.1:`port`; `base` is its URL, `log_path` the file its output goes to."""

    def __init__(
        self, argv: list[str], cwd: Path, env: dict[str, str], port: int, name: str = "process"
    ) -> None:
        self.argv, self.cwd, self.env, self.port, self.name = argv, cwd, env, port, name
        self.base = f"http://127.0.0.1:{port}"
        # Output goes to a file, never a pipe nobody reads (a chatty server would block once it is full);
        # the child keeps its own descriptor of the file, so ours is closed at once.
        self.log_path = cwd / f"{name}-{port}.log"
        with self.log_path.open("w") as log:
            self.proc = subprocess.Popen(argv, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT)

    @property
    def output(self) -> str:
        """Everything the process has written so far (stdout and stderr)."""
        return self.log_path.read_text(errors="replace")

    def unhandled(self) -> str | None:
        """The output, when it shows a request that raised out of the app; None when it shows none."""
        text = self.output
        return text if any(marker in text for marker in UNHANDLED_MARKERS) else None

    def wait_ready(self, path: str = "/health", timeout: float = 60.0) -> Process:
        """Wait until GET `path` answers 200; when the process exits or `timeout` passes first, stop it and
        fail with its output."""

        def ready() -> bool:
            try:
                return httpx.get(f"{self.base}{path}", timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        if not eventually(ready, timeout, interval=0.05, proc=self.proc):
            output = self.stop()
            raise AssertionError(f"{self.name} ({' '.join(self.argv[:3])}) did not start:\n{output}")
        return self

    def terminate(self) -> None:
        """SIGTERM without waiting (to stop several at once); `stop()` waits."""
        if self.proc.poll() is None:
            self.proc.terminate()

    def stop(self) -> str:
        """SIGTERM, SIGKILL after 15 s; returns the output. Stopping a stopped process is harmless."""
        self.terminate()
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
        return self.output

    def worker_pids(self) -> list[int]:
        """The uvicorn worker processes (children started with multiprocessing's spawn)."""
        pids = []
        for pid in children(self.proc.pid):
            try:
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
            except OSError:
                continue
            if b"spawn_main" in cmdline:
                pids.append(pid)
        return pids


def children(pid: int) -> list[int]:
    """Direct children of `pid`, from /proc."""
    found = []
    for stat in glob.glob("/proc/[0-9]*/stat"):
        try:
            text = Path(stat).read_text()
        except OSError:
            continue
        # pid (comm) state ppid ...: comm may hold spaces or parentheses, so split after the last ')'.
        fields = text.rsplit(")", 1)[1].split()
        if int(fields[1]) == pid:
            found.append(int(stat.split("/")[2]))
    return found


def fastauth_serve(
    cwd: Path, env: dict[str, str], *args: str, port: int | None = None, name: str = "server"
) -> Process:
    """`fastauth serve *args` on `port` (else a free one), logging to `cwd/NAME-PORT.log`.

    Not yet waited for: call `wait_ready` (or use `running`), so that several can start at once.
    """
    assert FASTAUTH, "the fastauth console script is not installed"
    port = port or free_port()
    argv = [FASTAUTH, "serve", "--port", str(port), "--log-level", "warning", *args]
    return Process(argv, cwd, env, port, name=name)


@contextmanager
def running(*processes: Process) -> Iterator[tuple[Process, ...]]:
    """Wait for every process, stop them all at the end (also when a test fails)."""
    try:
        for process in processes:
            process.wait_ready()
        yield processes
    finally:
        for process in processes:  # all at once, then wait for each
            process.terminate()
        for process in processes:
            process.stop()


@contextmanager
def serve(cwd: Path, env: dict[str, str], *args: str, name: str = "server") -> Iterator[Process]:
    """`fastauth serve *args` on a free port, ready (GET /health) when entered, stopped on exit."""
    with running(fastauth_serve(cwd, env, *args, name=name)) as (server,):
        yield server


# --- HTTP helpers against a running auth server -------------------------------------------------


def register(base: str, email: str, password: str = "correct horse battery") -> dict[str, Any]:
    """POST /auth/register on the server at `base`; the token pair."""
    r = httpx.post(f"{base}/auth/register", json={"email": email, "password": password}, timeout=30)
    assert r.status_code == 201, r.text
    return dict(r.json())


def login(base: str, email: str, password: str = "correct horse battery") -> dict[str, Any]:
    """POST /auth/login on the server at `base`; the token pair."""
    r = httpx.post(f"{base}/auth/login", json={"email": email, "password": password}, timeout=30)
    assert r.status_code == 200, r.text
    return dict(r.json())


def me_status(base: str, token: str) -> int:
    """The status of GET /auth/me on the server at `base` with `token` as bearer."""
    return httpx.get(f"{base}/auth/me", headers=bearer(token), timeout=30).status_code


def jwks_kids(base: str) -> set[str]:
    """The kids the server at `base` publishes in its JWKS."""
    r = httpx.get(f"{base}/.well-known/jwks.json", timeout=30)
    assert r.status_code == 200, r.text
    return {key["kid"] for key in r.json()["keys"]}


# --- Redis ---------------------------------------------------------------------------------------


class RedisServer:
    """A redis-server of our own on 127.0.0.1, without persistence; extra `args` are its options.

    Started when made. `kill()` is a crash (SIGKILL: everything in memory is lost) and `start()` brings
    it back, empty, on the same port with the same options; `close()` stops it for good.
    """

    def __init__(self, *args: str) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise FileNotFoundError("redis-server not installed")
        self.binary, self.args = binary, args
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix="fastauth-redis-")
        self.proc: subprocess.Popen[bytes] | None = None
        try:
            self.start()
        except BaseException:
            self.close()
            raise

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        options = ["--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        self.proc = subprocess.Popen(
            [self.binary, *options, "--dir", self.dir, *self.args],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for_port(self.port, self.proc)

    def kill(self) -> None:
        """A crash: SIGKILL, everything in memory lost."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=10)
        self.proc = None

    def close(self) -> None:
        """SIGTERM (SIGKILL after 10 s), then remove its directory."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()
        self.proc = None
        shutil.rmtree(self.dir, ignore_errors=True)


@contextmanager
def redis_server(*args: str) -> Iterator[str]:
    """A throw-away `RedisServer` (extra `args` are its options); yields its URL.

    The caller checks `shutil.which("redis-server")` first (FileNotFoundError otherwise).
    """
    server = RedisServer(*args)
    try:
        yield server.url
    finally:
        server.close()

"""Real processes for the scale tests: `fastauth serve`, a redis-server, a PostgreSQL cluster.

Everything listens on 127.0.0.1 only. Servers write their output to a log file (never a pipe, which
would block a chatty server once full); `Server.log()` reads it back for failure messages and
`Server.unhandled()` finds the tracebacks of requests that ended in a 500.
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
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from servertools import clean_env, free_port

FASTAUTH = shutil.which("fastauth", path=os.path.dirname(sys.executable))
SECRET = "scale-test-secret-" + "s" * 50
#: The body of every 503 fastauth answers when a store is down.
UNAVAILABLE = {"detail": "Authentication store unavailable; try again shortly"}
#: What uvicorn logs for a request that raised out of the app (answered with a 500).
UNHANDLED_MARKERS = ("Exception in ASGI application", "Traceback (most recent call last)")


def wait_for_port(port: int, proc: subprocess.Popen[Any] | None = None, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            if (proc is not None and proc.poll() is not None) or time.monotonic() > deadline:
                raise RuntimeError(f"nothing listens on 127.0.0.1:{port}") from None
            time.sleep(0.05)


def server_env(database_url: str, redis_url: str | None, **extra: str) -> dict[str, str]:
    """A production-like configuration (no development mode): shared database and Redis."""
    values = {
        "FASTAUTH_SECRET": SECRET,
        "FASTAUTH_DATABASE_URL": database_url,
        "FASTAUTH_RATE_LIMIT_ENABLED": "false",
        # The sign-in page is not what these tests are about; keep the API alone.
        "FASTAUTH_UI_ENABLED": "false",
    }
    if redis_url is not None:
        values["FASTAUTH_REDIS_URL"] = redis_url
    values.update(extra)
    return clean_env(**values)


class Server:
    """One `fastauth serve` process (with `--workers N`: uvicorn's supervisor and its workers)."""

    def __init__(self, cwd: Path, env: dict[str, str], *args: str, name: str = "server") -> None:
        assert FASTAUTH, "the fastauth console script is not installed"
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log_path = cwd / f"{name}-{self.port}.log"
        self._log = open(self.log_path, "w")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [FASTAUTH, "serve", "--port", str(self.port), "--log-level", "warning", *args],
            cwd=cwd,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            text=True,
        )

    def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                if httpx.get(f"{self.base}/health", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise AssertionError(f"server did not start:\n{self.log()}")
            time.sleep(0.1)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def unhandled(self) -> str | None:
        """The log, when it shows a request that raised out of the app; None when it shows none."""
        text = self.log()
        return text if any(marker in text for marker in UNHANDLED_MARKERS) else None

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

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self._log.close()


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


@contextmanager
def serving(cwd: Path, env: dict[str, str], *args: str, name: str = "server") -> Iterator[Server]:
    server = Server(cwd, env, *args, name=name)
    try:
        server.wait_ready()
        yield server
    finally:
        server.stop()


def socket_owner(server_port: int, client_port: int, pids: list[int]) -> int | None:
    """Which of `pids` holds the server side of the TCP connection from `client_port` (via /proc)."""
    wanted_local = f"0100007F:{server_port:04X}"
    wanted_remote = f"0100007F:{client_port:04X}"
    inode = None
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[1] == wanted_local and fields[2] == wanted_remote:
            inode = fields[9]
            break
    if inode is None:
        return None
    target = f"socket:[{inode}]"
    for pid in pids:
        for fd in glob.glob(f"/proc/{pid}/fd/*"):
            try:
                if os.readlink(fd) == target:
                    return pid
            except OSError:
                continue
    return None


class RedisProcess:
    """A redis-server of our own, without persistence, that can be killed and restarted on its port."""

    def __init__(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise FileNotFoundError("redis-server not installed")
        self.binary = binary
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix="fastauth-redis-")
        self.proc: subprocess.Popen[bytes] | None = None
        self.start()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        argv = [
            self.binary,
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ]
        self.proc = subprocess.Popen(
            [*argv, "--dir", self.dir], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        wait_for_port(self.port, self.proc)

    def kill(self) -> None:
        """A crash: SIGKILL, everything in memory lost."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=10)
        self.proc = None

    def close(self) -> None:
        self.kill()
        shutil.rmtree(self.dir, ignore_errors=True)


def plain_url(database_url: str) -> str:
    """The asyncpg-style URL of a SQLAlchemy `postgresql+asyncpg://` URL."""
    return database_url.replace("postgresql+asyncpg", "postgresql")


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def unverified_claims(token: str) -> dict[str, Any]:
    import base64
    import json

    payload = token.split(".")[1]
    return dict(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))))


def unverified_header(token: str) -> dict[str, Any]:
    import base64
    import json

    header = token.split(".")[0]
    return dict(json.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4))))

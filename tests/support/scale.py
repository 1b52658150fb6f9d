"""Domain helpers for the scale tests: a production-like server configuration, who owns a socket.

The processes themselves (`fastauth serve` as `Process`, `RedisServer`, `PgCluster`) come from
`support.servers`; everything listens on 127.0.0.1 only.
"""

from __future__ import annotations

import glob
import os
from pathlib import Path

from support.servers import clean_env

SECRET = "scale-test-secret-" + "s" * 50
#: The body of every 503 fastauth answers when a store is down.
UNAVAILABLE = {"detail": "Authentication store unavailable; try again shortly", "code": "store_unavailable"}


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


def plain_url(database_url: str) -> str:
    """The asyncpg-style URL of a SQLAlchemy `postgresql+asyncpg://` URL."""
    return database_url.replace("postgresql+asyncpg", "postgresql")

"""Fresh databases for the storage tests."""

from __future__ import annotations

import itertools
import os

_numbers = itertools.count(1)


async def new_postgres_database(server: str) -> str:
    """CREATE DATABASE on the test server (`postgresql+asyncpg://user@host:port`); returns its URL."""
    import asyncpg

    name = f"fastauth_storage_{os.getpid()}_{next(_numbers)}"
    conn = await asyncpg.connect(server.replace("postgresql+asyncpg", "postgresql") + "/postgres")
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return f"{server}/{name}"

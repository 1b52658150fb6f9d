"""`serve`: the auth server under uvicorn."""

from __future__ import annotations

import os
import socket
from typing import Annotated

import typer

from fastauth.cli import app
from fastauth.cli._common import (
    EXIT_USAGE,
    fail,
    server_config,
)
from fastauth.errors import ConfigError, StoreUnavailable

__all__ = ["serve", "tcp_listener"]


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
    workers: Annotated[
        int, typer.Option(min=1, help="Worker processes (share state through the database).")
    ] = 1,
    log_level: Annotated[str, typer.Option(help="uvicorn log level.")] = "info",
) -> None:
    """Run the auth server (uvicorn): the /auth routes, OpenAPI docs at /docs.

    Configured by FASTAUTH_* variables or .env; with no secret configured it runs in development mode.
    """
    import uvicorn

    from fastauth.devmode import SERVE_URL
    from fastauth.server import BANNER_SHOWN, banner

    # Development-mode mail links point where this server listens (the workers inherit it).
    link_host = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host  # noqa: S104 - a link, not a bind
    os.environ.setdefault(SERVE_URL, f"http://{link_host}:{port}")
    config, dev_mode = server_config()
    if workers > 1 and not config.redis_url:
        fail(
            f"error: --workers {workers} needs FASTAUTH_REDIS_URL. Each worker keeps revocations and rate "
            "limits in its own memory, so a logout on one worker would not be seen by the others. Set "
            "FASTAUTH_REDIS_URL=redis://host:6379/0, or run one worker.",
            EXIT_USAGE,
        )
    if config.redis_url:
        _check_redis(config.redis_url)
    if dev_mode:
        banner(config)
        os.environ[BANNER_SHOWN] = "1"  # inherited by the workers, which then stay quiet
    if workers == 1:
        uvicorn.run(
            "fastauth.server:create_app_from_env", factory=True, host=host, port=port, log_level=log_level
        )
        return
    from uvicorn.supervisors import Multiprocess

    # What uvicorn.run does for several workers, with the listening socket fixed (see tcp_listener).
    uvicorn_config = uvicorn.Config(
        "fastauth.server:create_app_from_env",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level=log_level,
    )
    Multiprocess(uvicorn_config, sockets=[tcp_listener(uvicorn_config.bind_socket())]).run()


def tcp_listener(sock: socket.socket) -> socket.socket:
    """The listening socket declared as IPPROTO_TCP, so asyncio sets TCP_NODELAY on every connection.

    uvicorn binds the socket it hands to its workers with `proto` 0; connections accepted from it
    inherit that, asyncio then leaves Nagle's algorithm on, and every keep-alive response waits about
    40 ms for the client's delayed ACK (uvicorn issue #3149). One worker is not affected.
    """
    if sock.family in (socket.AF_INET, socket.AF_INET6) and sock.proto != socket.IPPROTO_TCP:
        fixed = socket.socket(sock.family, sock.type, socket.IPPROTO_TCP, fileno=sock.detach())
        fixed.set_inheritable(True)
        return fixed
    return sock


def _check_redis(url: str) -> None:
    """The start-up Redis check, once before any worker starts, as one readable line on failure."""
    import asyncio

    from fastauth.storage.redis import check_no_eviction, redis_client

    async def check() -> None:
        client = redis_client(url)
        try:
            await check_no_eviction(client)
        finally:
            await client.aclose()

    try:
        asyncio.run(check())
    except ConfigError as error:
        fail(f"configuration error: {error}", EXIT_USAGE)
    except StoreUnavailable:
        pass  # Redis is not up yet: the server checks when it answers (503 until then)

"""Helpers every command shares: errors end a command with a message and an exit code, never a traceback.

Only typer and light standard modules are imported here at module level: `fastauth --help` and
`generate-secret` load this module, and the configuration (pydantic), the token engine (cryptography)
and the FastAPI layer are imported by the helpers that need them.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import warnings
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import typer

from fastauth.errors import ConfigError

if TYPE_CHECKING:
    from fastauth.config import FastAuthConfig

T = TypeVar("T")

EXIT_FAILED = 1
EXIT_USAGE = 2

SECRET_BYTES = 64


def fail(message: str, code: int = EXIT_FAILED) -> NoReturn:
    """Print `message` on stderr and end the command with `code` (no traceback)."""
    typer.echo(message, err=True)
    raise typer.Exit(code)


def echo_json(value: Any) -> None:
    """Pretty JSON on stdout. `ensure_ascii` escapes control and bidi characters an untrusted token may
    carry, so decoding a hostile token cannot rewrite the terminal."""
    typer.echo(json.dumps(value, indent=2, ensure_ascii=True, sort_keys=False))


def load_config() -> FastAuthConfig:
    """`FastAuthConfig()` from the environment and `.env`; configuration errors end with exit code 2.

    Warnings (e.g. a short secret next to PEM keys) are shown as one `warning:` line each on stderr.
    """
    from fastauth.config import FastAuthConfig

    return configured(FastAuthConfig)


def configured(build: Callable[[], T]) -> T:
    """Run a configuration builder: errors end the command (exit 2), warnings become `warning:` lines."""
    from pydantic_settings import SettingsError

    from fastauth.config import FastAuthSecurityWarning

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", FastAuthSecurityWarning)
        try:
            result = build()
        except (ConfigError, SettingsError) as error:
            fail(f"configuration error: {error}", EXIT_USAGE)
    for warning in caught:
        typer.echo(f"warning: {warning.message}", err=True)
    return result


def read_token(argument: str) -> str:
    """The token from the argument, or from stdin when it is `-` (keeps it out of shell history)."""
    if argument == "-":
        from fastauth.tokens.codec import MAX_TOKEN_LENGTH

        # Read a little more than the longest acceptable token; the codec refuses anything longer.
        argument = sys.stdin.read(MAX_TOKEN_LENGTH * 2)
    token = argument.strip()
    if not token:
        fail("error: no token given", EXIT_FAILED)
    return token


def write_file(path: Path, data: str, *, mode: int, overwrite: bool) -> None:
    """Write `data` to `path`, created with `mode` from the start (never briefly wider).

    Without `overwrite` an existing path (even a dangling symlink) is an error. With it, the new file
    is written beside the old one and renamed over it, so a reader never sees a half-written key and
    the old file's (possibly wider) mode is not inherited.
    """
    if overwrite:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)  # mkstemp uses 0o600
        try:
            os.fchmod(fd, mode)
            with os.fdopen(fd, "w", encoding="ascii") as handle:
                handle.write(data)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), mode)
    os.fchmod(fd, mode)  # the umask can only narrow `mode`; make it exact
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(data)


def server_config() -> tuple[FastAuthConfig, bool]:
    """The configuration `serve` and the database commands use: the environment, or development mode."""
    from fastauth.devmode import load_config as server_config

    return configured(server_config)


#: How the CLI ends on each error of the tree (by `code`, the nearest parent's when a subclass has no
#: row): the exit code and the line printed on stderr. 1: refused, 2: usage or configuration,
#: 3: the database or Redis did not answer, 4: an application hook failed.
EXITS: dict[str, tuple[int, str]] = {
    "config_error": (EXIT_USAGE, "configuration error: {error}"),
    "store_unavailable": (3, "error: the database is unavailable ({error})"),
    "hook_error": (4, "error: {error}"),
    "invalid_token": (EXIT_FAILED, "REFUSED: {error}"),
    "email_taken": (EXIT_FAILED, "error: {email} is already registered"),
    "invalid_email": (EXIT_FAILED, "error: not a valid email: {error}"),
    "password_policy": (EXIT_FAILED, "error: {error}"),
    "invalid_code": (EXIT_FAILED, "error: {error}"),
    "email_not_verified": (EXIT_FAILED, "error: {error}"),
    "verify_user_already_verified": (EXIT_FAILED, "error: {error}"),
    "mail_off": (EXIT_USAGE, "error: {error}"),
    "fastauth_error": (EXIT_FAILED, "error: {error}"),
}
EXIT_UNAVAILABLE = EXITS["store_unavailable"][0]


def fail_with(error: BaseException, **details: str) -> NoReturn:
    """End the command as `EXITS` says for `error` (`details` fill the message's other fields)."""
    for cls in type(error).__mro__:
        row = EXITS.get(getattr(cls, "code", ""))
        if row is not None:
            code, template = row
            fail(template.format(error=error, **details), code)
    raise error


def run_service(
    config: FastAuthConfig, action: Callable[[Any], Awaitable[T]], *, start: bool = True, **details: str
) -> T:
    """Run `action(service)` on an `AuthService` for `config`, then close it; errors end the command.

    `start=False` opens the store only (schema brought up to date and checked) and loads no signing
    key: `keys list` and `keys retire` must work when the stored keys cannot be opened (a changed
    FASTAUTH_SECRET), since retiring them is how to recover from that. `details` fill the error
    messages' other fields (`email`).
    """
    import asyncio

    from fastauth.errors import FastAuthError
    from fastauth.service import AuthService

    async def run() -> T:
        service = AuthService.from_config(config)
        try:
            if start:
                await service.startup()
            else:
                await service.open_store()
            return await action(service)
        finally:
            await service.aclose()

    try:
        return asyncio.run(run())
    except FastAuthError as error:
        fail_with(error, **details)

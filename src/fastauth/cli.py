"""The `fastauth` command line.

Commands live on the one Typer `app`; the small helpers below (`fail`, `echo_json`, `load_config`,
`write_file`, ...) are shared so later commands (`serve`, `create-user`, `keys ...`) report errors and
read the configuration the same way. Conventions: results go to stdout, diagnostics to stderr; exit
code 1 means "refused / failed", 2 means "wrong usage or configuration". Nothing here ever prints the
secret, a private key, or (on refusal) the token.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import secrets
import shlex
import socket
import sys
import tempfile
import warnings
from collections.abc import Awaitable, Callable
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, NoReturn, TypeVar

import typer
from pydantic_settings import SettingsError

from fastauth.config import FastAuthConfig, FastAuthSecurityWarning
from fastauth.errors import ConfigError, StoreUnavailable, TokenError
from fastauth.keys.pem import (
    ASYMMETRIC_ALGORITHMS,
    HMAC_ALGORITHMS,
    MIN_RSA_BITS,
    RSA_ALGORITHMS,
    generate_private_key,
    private_key_to_pem,
    public_key_to_pem,
)
from fastauth.tokens import ACCESS, REFRESH, TokenEngine
from fastauth.tokens.codec import MAX_TOKEN_LENGTH, decode_unverified
from fastauth.tokens.keyring import SigningKey

__all__ = ["app", "main"]

T = TypeVar("T")

app = typer.Typer(
    no_args_is_help=True,
    help="fastauth: JWT authentication for FastAPI. Auth server, users, secrets, keys, token inspection.",
    # A traceback with locals would print the secret, a private key or a token; older typer showed them.
    pretty_exceptions_show_locals=False,
)

EXIT_FAILED = 1
EXIT_USAGE = 2

SECRET_BYTES = 64
MAX_RSA_BITS = 16384
PRIVATE_FILE = "private.pem"
PUBLIC_FILE = "public.pem"
#: Key algorithms in the order `--help` lists them.
KEY_ALGORITHMS = tuple(
    alg
    for alg in ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA")
    if alg in ASYMMETRIC_ALGORITHMS
)


class TokenKind(StrEnum):
    """The token types `decode --verify --type` accepts."""

    access = ACCESS
    refresh = REFRESH


# --- shared helpers ----------------------------------------------------------------------------------


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
    return _configured(FastAuthConfig)


def _configured(build: Callable[[], T]) -> T:
    """Run a configuration builder: errors end the command (exit 2), warnings become `warning:` lines."""
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


def key_algorithm(value: str) -> str:
    """The canonical spelling of an asymmetric algorithm name (case-insensitive), or exit 2."""
    by_upper = {alg.upper(): alg for alg in KEY_ALGORITHMS}
    canonical = by_upper.get(value.upper())
    if canonical is not None:
        return canonical
    if value.upper() in HMAC_ALGORITHMS:
        fail(
            f"error: {value.upper()} signs with the shared secret, it has no key pair. Generate a secret "
            "with `fastauth generate-secret`, or choose one of: " + ", ".join(KEY_ALGORITHMS) + ".",
            EXIT_USAGE,
        )
    fail(f"error: unknown algorithm {value!r}; choose one of: " + ", ".join(KEY_ALGORITHMS) + ".", EXIT_USAGE)


# --- commands ----------------------------------------------------------------------------------------


@app.command("generate-secret")
def generate_secret() -> None:
    """Print a new secret for FASTAUTH_SECRET: 64 random bytes, URL-safe base64 (86 characters)."""
    secret = base64.urlsafe_b64encode(secrets.token_bytes(SECRET_BYTES)).rstrip(b"=").decode("ascii")
    typer.echo(secret)


@app.command("generate-keys")
def generate_keys(
    algorithm: Annotated[
        str, typer.Option("--algorithm", "-a", help="One of: " + ", ".join(KEY_ALGORITHMS) + ".")
    ],
    out: Annotated[Path, typer.Option("--out", "-o", help="Directory for private.pem and public.pem.")],
    bits: Annotated[
        int, typer.Option(help=f"RSA key size (RS*/PS* only), at least {MIN_RSA_BITS}.")
    ] = MIN_RSA_BITS,
    force: Annotated[bool, typer.Option("--force", help="Overwrite existing key files.")] = False,
) -> None:
    """Write a new key pair: OUT/private.pem (mode 0600) and OUT/public.pem."""
    alg = key_algorithm(algorithm)
    if bits < MIN_RSA_BITS:
        fail(f"error: --bits {bits} is too small; RSA keys need at least {MIN_RSA_BITS} bits.", EXIT_USAGE)
    if bits > MAX_RSA_BITS:
        fail(f"error: --bits {bits} is too large; at most {MAX_RSA_BITS}.", EXIT_USAGE)
    if out.exists() and not out.is_dir():
        fail(f"error: {out} exists and is not a directory.", EXIT_USAGE)
    private_path, public_path = out / PRIVATE_FILE, out / PUBLIC_FILE
    if not force:
        existing = [str(p) for p in (private_path, public_path) if p.exists() or p.is_symlink()]
        if existing:
            verb = "exists" if len(existing) == 1 else "exist"
            fail(f"error: {' and '.join(existing)} already {verb}; use --force to replace.", EXIT_FAILED)

    private = generate_private_key(alg, bits)
    public = private.public_key()
    kid = SigningKey.from_keys(alg, private, public).kid
    try:
        out.mkdir(mode=0o700, parents=True, exist_ok=True)
        write_file(private_path, private_key_to_pem(private), mode=0o600, overwrite=force)
        write_file(public_path, public_key_to_pem(public), mode=0o644, overwrite=force)
    except FileExistsError as error:  # created by someone else since the check above
        fail(f"error: {error.filename} already exists; use --force to replace.", EXIT_FAILED)
    except OSError as error:
        fail(f"error: cannot write the keys: {error.strerror} ({error.filename})", EXIT_FAILED)

    size = f" ({bits} bits)" if alg in RSA_ALGORITHMS else ""
    typer.echo(f"algorithm: {alg}{size}")
    typer.echo(f"private key: {private_path} (mode 0600, keep it secret)")
    typer.echo(f"public key: {public_path}")
    typer.echo(f"kid: {kid}")
    quoted = shlex.quote(str(private_path))
    typer.echo(f'use: FASTAUTH_JWT__ALGORITHM={alg} FASTAUTH_JWT__PRIVATE_KEY="$(cat {quoted})"')


@app.command()
def decode(
    token: Annotated[str, typer.Argument(help="The token, or - to read it from stdin.")],
    verify: Annotated[
        bool, typer.Option("--verify", help="Check signature and claims with the configuration.")
    ] = False,
    kind: Annotated[
        TokenKind, typer.Option("--type", help="Token type expected by --verify.")
    ] = TokenKind.access,
) -> None:
    """Show a token's header and claims: UNVERIFIED, or with --verify checked against the config
    (FASTAUTH_* environment variables and .env)."""
    text = read_token(token)
    if not verify:
        try:
            header, claims = decode_unverified(text)
        except TokenError as error:
            fail(f"error: not a readable token: {error.reason}", EXIT_FAILED)
        typer.echo("UNVERIFIED: the signature and claims were NOT checked (use --verify).")
        echo_json({"header": header, "claims": claims})
        return

    config = load_config()
    try:
        engine = TokenEngine.from_config(config)
        if engine.keyring is None:  # keys live in the database's key store
            engine = _run_with_auth(config, lambda auth: _engine_of(auth))
    except ConfigError as error:
        fail(f"configuration error: {error}", EXIT_USAGE)
    try:
        verified = engine.verify(text, kind.value)
    except TokenError as error:
        fail(f"REFUSED: {error.reason}", EXIT_FAILED)
    header, _ = decode_unverified(text)  # the signature already holds; this only re-reads the header
    typer.echo(f"VERIFIED: {kind.value} token, signature and claims checked (kid {verified.kid}).")
    echo_json({"header": header, "claims": verified.claims})


def _server_config() -> tuple[FastAuthConfig, bool]:
    """The configuration `serve` and `create-user` use: the environment, or development mode."""
    from fastauth.server import load_config as server_config

    return _configured(server_config)


def _check_redis(url: str) -> None:
    """The start-up Redis check, once before any worker starts, as one readable line on failure."""
    from fastauth.adapters.redis import check_no_eviction, redis_client

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

    from fastauth.server import BANNER_SHOWN, banner

    config, dev_mode = _server_config()
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
    server_config = uvicorn.Config(
        "fastauth.server:create_app_from_env",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level=log_level,
    )
    Multiprocess(server_config, sockets=[tcp_listener(server_config.bind_socket())]).run()


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


@app.command("create-user")
def create_user(
    email: Annotated[str, typer.Argument(help="The new user's email.")],
    superuser: Annotated[bool, typer.Option("--superuser", help="Make the user a superuser.")] = False,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from stdin instead of prompting.")
    ] = False,
) -> None:
    """Add a user to the configured database (FASTAUTH_DATABASE_URL)."""
    import asyncio

    from fastauth.errors import EmailTaken, PasswordPolicyError
    from fastauth.web.auth import FastAuth

    config, _ = _server_config()
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)

    async def run() -> str:
        auth = FastAuth(config)
        try:
            await auth.startup()
            user = await auth.accounts.register(email, password, is_superuser=superuser, is_verified=True)
            return user.id
        finally:
            await auth.shutdown()

    try:
        user_id = asyncio.run(run())
    except EmailTaken:
        fail(f"error: {email} is already registered", EXIT_FAILED)
    except PasswordPolicyError as error:
        fail(f"error: {error}", EXIT_FAILED)
    except ValueError as error:
        fail(f"error: not a valid email: {error}", EXIT_FAILED)
    kind = "superuser" if superuser else "user"
    typer.echo(f"created {kind} {email} (id {user_id})")


def _run_with_auth(config: FastAuthConfig, action: Callable[[Any], Awaitable[T]]) -> T:
    """Run `action(auth)` against a started FastAuth for `config` (database, key store), then close it."""
    import asyncio

    from fastauth.errors import StoreUnavailable
    from fastauth.web.auth import FastAuth

    async def run() -> T:
        auth = FastAuth(config)
        try:
            await auth.startup()
            return await action(auth)
        finally:
            await auth.shutdown()

    try:
        return asyncio.run(run())
    except StoreUnavailable as error:
        fail(f"error: the database is unavailable ({error})", EXIT_FAILED)


def _run_with_key_store(config: FastAuthConfig, action: Callable[[Any], Awaitable[T]]) -> T:
    """Run `action(auth)` with the database open but no signing key loaded.

    `keys list` and `keys retire` must work when the stored keys cannot be opened (FASTAUTH_SECRET
    changed): retiring them is how to recover from that, as the error message says.
    """
    import asyncio

    from fastauth.errors import StoreUnavailable
    from fastauth.web.auth import FastAuth

    async def run() -> T:
        auth = FastAuth(config)
        try:
            if config.auto_create_tables and hasattr(auth.adapter, "create_tables"):
                await auth.adapter.create_tables()
            return await action(auth)
        finally:
            await auth.shutdown()

    try:
        return asyncio.run(run())
    except StoreUnavailable as error:
        fail(f"error: the database is unavailable ({error})", EXIT_FAILED)


async def _engine_of(auth: Any) -> TokenEngine:
    return auth.engine  # type: ignore[no-any-return]


keys_app = typer.Typer(
    no_args_is_help=True, help="Signing keys stored in the database (asymmetric algorithms)."
)
app.add_typer(keys_app, name="keys")


def _stamp(epoch: int | None) -> str:
    from datetime import UTC, datetime

    return "-" if epoch is None else datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M:%S")


def _key_store_or_exit(auth: Any) -> Any:
    if auth.keys is None:
        fail(
            f"error: {auth.config.jwt.algorithm} keys come from the configuration (secret or PEM pair), "
            "not from the database; nothing to list, rotate or retire here.",
            EXIT_USAGE,
        )
    return auth.keys


@keys_app.command("list")
def keys_list() -> None:
    """Every stored key with its state: next, active, retiring, retired."""
    config, _ = _server_config()

    async def action(auth: Any) -> list[Any]:
        return list(await _key_store_or_exit(auth).load())

    states = _run_with_key_store(config, action)
    typer.echo(f"{'kid':<45} {'alg':<6} {'state':<9} {'activates (UTC)':<20} {'verifies until / retired'}")
    for state in states:
        record = state.record
        end = _stamp(record.retired_at) if state.state == "retired" else _stamp(state.verifies_until)
        typer.echo(
            f"{record.kid:<45} {record.algorithm:<6} {state.state:<9} {_stamp(record.activate_at):<20} {end}"
        )


@keys_app.command("rotate")
def keys_rotate(
    now: Annotated[
        bool,
        typer.Option("--now", help="Sign with the new key at once instead of after the publish lead time."),
    ] = False,
) -> None:
    """Publish a new signing key; it signs after the JWKS cache lifetime (or at once with --now)."""
    config, _ = _server_config()

    async def action(auth: Any) -> Any:
        _key_store_or_exit(auth)
        return await auth.rotate_keys(immediately=now)

    try:
        record = _run_with_auth(config, action)
    except ConfigError as error:
        fail(f"error: {error}", EXIT_FAILED)
    typer.echo(f"new key {record.kid} ({record.algorithm}), signs from {_stamp(record.activate_at)} UTC")


@keys_app.command("retire", context_settings={"ignore_unknown_options": True})
def keys_retire(kid: Annotated[str, typer.Argument(help="The key id to retire.")]) -> None:
    """Emergency: refuse every token signed by KID from now on (a new key takes over if it was active)."""
    config, _ = _server_config()

    async def action(auth: Any) -> tuple[bool, str | None]:
        keys = _key_store_or_exit(auth)
        if not any(s.record.kid == kid and s.state != "retired" for s in await keys.load()):
            return False, None
        try:
            return bool(await auth.retire_key(kid)), None
        except ConfigError as error:
            # Stored as retired; what failed is loading the keys left (they need the original secret).
            return True, str(error)

    done, problem = _run_with_key_store(config, action)
    if not done:
        fail(f"error: no live key {kid!r} in the store", EXIT_FAILED)
    typer.echo(f"retired {kid}: its tokens are refused (other processes notice within their reload interval)")
    if problem is not None:
        typer.echo(f"warning: the other stored keys cannot be loaded: {problem}", err=True)


def main() -> None:
    app()

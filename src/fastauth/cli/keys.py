"""`generate-secret`, `generate-keys` and `keys list|rotate|retire`."""

from __future__ import annotations

import base64
import secrets
import shlex
from pathlib import Path
from typing import Annotated, Any

import typer

from fastauth.cli import app
from fastauth.cli._common import (
    EXIT_FAILED,
    EXIT_USAGE,
    SECRET_BYTES,
    fail,
    run_service,
    server_config,
    write_file,
)
from fastauth.errors import ConfigError
from fastauth.tokens.algorithms import HMAC_ALGORITHMS, KEY_ALGORITHMS, MIN_RSA_BITS, RSA_ALGORITHMS

__all__ = ["generate_keys", "generate_secret", "key_algorithm", "keys_list", "keys_retire", "keys_rotate"]

# `fastauth --help` imports this module, so cryptography (fastauth.tokens.pem, the engine) is only
# imported inside the commands; the algorithm table above is pure data.

MAX_RSA_BITS = 16384
PRIVATE_FILE = "private.pem"
PUBLIC_FILE = "public.pem"


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
    from fastauth.tokens.keyring import SigningKey
    from fastauth.tokens.pem import generate_private_key, private_key_to_pem, public_key_to_pem

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


keys_app = typer.Typer(
    no_args_is_help=True, help="Signing keys stored in the database (asymmetric algorithms)."
)
app.add_typer(keys_app, name="keys")


def _stamp(epoch: int | None) -> str:
    from datetime import UTC, datetime

    return "-" if epoch is None else datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M:%S")


def _key_store_or_exit(service: Any) -> Any:
    if service.keys is None:
        fail(
            f"error: {service.config.jwt.algorithm} keys come from the configuration (secret or PEM pair), "
            "not from the database; nothing to list, rotate or retire here.",
            EXIT_USAGE,
        )
    return service.keys


@keys_app.command("list")
def keys_list() -> None:
    """Every stored key with its state: next, active, retiring, retired."""
    config, _ = server_config()

    async def action(service: Any) -> list[Any]:
        return list(await _key_store_or_exit(service).load())

    states = run_service(config, action, start=False)
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
    config, _ = server_config()

    async def action(service: Any) -> Any:
        _key_store_or_exit(service)
        try:
            return await service.rotate_keys(immediately=now)
        except ConfigError as error:
            return error

    record = run_service(config, action)
    if isinstance(record, ConfigError):
        fail(f"error: {record}", EXIT_FAILED)
    typer.echo(f"new key {record.kid} ({record.algorithm}), signs from {_stamp(record.activate_at)} UTC")


@keys_app.command("retire", context_settings={"ignore_unknown_options": True})
def keys_retire(kid: Annotated[str, typer.Argument(help="The key id to retire.")]) -> None:
    """Emergency: refuse every token signed by KID from now on (a new key takes over if it was active)."""
    config, _ = server_config()

    async def action(service: Any) -> tuple[bool, str | None]:
        keys = _key_store_or_exit(service)
        if not any(s.record.kid == kid and s.state != "retired" for s in await keys.load()):
            return False, None
        try:
            return bool(await service.retire_key(kid)), None
        except ConfigError as error:
            # Stored as retired; what failed is loading the keys left (they need the original secret).
            return True, str(error)

    done, problem = run_service(config, action, start=False)
    if not done:
        fail(f"error: no live key {kid!r} in the store", EXIT_FAILED)
    typer.echo(f"retired {kid}: its tokens are refused (other processes notice within their reload interval)")
    if problem is not None:
        typer.echo(f"warning: the other stored keys cannot be loaded: {problem}", err=True)


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

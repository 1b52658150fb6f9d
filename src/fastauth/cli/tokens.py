"""`decode`: show a token, or verify it against the configuration."""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any

import typer

from fastauth.cli import app
from fastauth.cli._common import (
    EXIT_FAILED,
    EXIT_USAGE,
    echo_json,
    fail,
    load_config,
    read_token,
    run_service,
)
from fastauth.errors import ConfigError, TokenError
from fastauth.tokens.kinds import ACCESS, REFRESH  # pure data: no token engine, no cryptography

__all__ = ["TokenKind", "decode"]

if TYPE_CHECKING:
    from fastauth.tokens import TokenEngine


class TokenKind(StrEnum):
    """The token types `decode --verify --type` accepts."""

    access = ACCESS
    refresh = REFRESH


# --- shared helpers ----------------------------------------------------------------------------------


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
    from fastauth.tokens import TokenEngine
    from fastauth.tokens.codec import decode_unverified

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
        if engine.keyring is None:  # keys live in the database's key store: read them, change nothing
            engine = run_service(config, _stored_keys_engine, start=False)
    except ConfigError as error:
        fail(f"configuration error: {error}", EXIT_USAGE)
    try:
        verified = engine.verify(text, kind.value)
    except TokenError as error:
        fail(f"REFUSED: {error.reason}", EXIT_FAILED)
    header, _ = decode_unverified(text)  # the signature already holds; this only re-reads the header
    typer.echo(f"VERIFIED: {kind.value} token, signature and claims checked (kid {verified.kid}).")
    echo_json({"header": header, "claims": verified.claims})


async def _stored_keys_engine(service: Any) -> TokenEngine:
    """The service's engine with the stored keys loaded read-only: no key created, rotated or pruned."""
    await service.keys.load_ring()
    return service.engine  # type: ignore[no-any-return]

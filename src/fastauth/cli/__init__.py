"""The `fastauth` command line.

Commands live on the one Typer `app`; the small helpers below (`fail`, `echo_json`, `load_config`,
`write_file`, ...) are shared so later commands (`serve`, `create-user`, `keys ...`) report errors and
read the configuration the same way. Conventions: results go to stdout, diagnostics to stderr; exit
code 1 means "refused / failed", 2 means "wrong usage or configuration". Nothing here ever prints the
secret, a private key, or (on refusal) the token.
"""

from __future__ import annotations

import typer

__all__ = ["app", "main"]


app = typer.Typer(
    no_args_is_help=True,
    help="fastauth: JWT authentication for FastAPI. Auth server, users, secrets, keys, token inspection.",
    # A traceback with locals would print the secret, a private key or a token; older typer showed them.
    pretty_exceptions_show_locals=False,
)


from fastauth.cli import api_keys, db, keys, roles, serve, tokens, users  # noqa: E402, F401  (registers the commands)


def main() -> None:
    """The `fastauth` console script."""
    app()
